package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"strings"
	"testing"
)

func master(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func mustBox(t *testing.T, m []byte, purpose string) *Box {
	t.Helper()
	b, err := New(m, purpose)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"empty", nil, nil},
		{"short with aad", []byte("hello"), []byte("kid-1")},
		{"binary without aad", bytes.Repeat([]byte{0, 1, 2, 255}, 1000), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustBox(t, master(1), "test")
			sealed, err := b.Seal(tt.plaintext, tt.aad)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if sealed[0] != 1 {
				t.Errorf("version byte = %d, want 1", sealed[0])
			}
			if want := 1 + 12 + len(tt.plaintext) + 16; len(sealed) != want {
				t.Errorf("len(sealed) = %d, want %d", len(sealed), want)
			}
			if len(tt.plaintext) > 4 && bytes.Contains(sealed, tt.plaintext) {
				t.Error("sealed output contains the plaintext")
			}
			got, err := b.Open(sealed, tt.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open = %q, want %q", got, tt.plaintext)
			}
			again, err := b.Seal(tt.plaintext, tt.aad)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if bytes.Equal(again, sealed) {
				t.Error("two seals of the same plaintext are identical; nonce not random")
			}
		})
	}
}

func TestTamperAnyByte(t *testing.T) {
	b := mustBox(t, master(1), "test")
	sealed, err := b.Seal([]byte("secret key material"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		_, err := b.Open(bad, []byte("aad"))
		want := ErrOpen
		if i == 0 {
			want = ErrVersion
		}
		if !errors.Is(err, want) {
			t.Errorf("byte %d flipped: err = %v, want %v", i, err, want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	sealedBy := func(t *testing.T, m []byte, purpose string, aad string) []byte {
		t.Helper()
		s, err := mustBox(t, m, purpose).Seal([]byte("payload"), []byte(aad))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name    string
		sealed  func(t *testing.T) []byte
		aad     string
		wantErr error
	}{
		{"wrong aad", func(t *testing.T) []byte { return sealedBy(t, master(1), "test", "kid-1") }, "kid-2", ErrOpen},
		{"missing aad", func(t *testing.T) []byte { return sealedBy(t, master(1), "test", "kid-1") }, "", ErrOpen},
		{"wrong master", func(t *testing.T) []byte { return sealedBy(t, master(2), "test", "a") }, "a", ErrOpen},
		{"other purpose", func(t *testing.T) []byte { return sealedBy(t, master(1), "other", "a") }, "a", ErrOpen},
		{"unknown version", func(t *testing.T) []byte {
			s := sealedBy(t, master(1), "test", "a")
			s[0] = 2
			return s
		}, "a", ErrVersion},
		{"truncated", func(t *testing.T) []byte { return sealedBy(t, master(1), "test", "a")[:20] }, "a", ErrShort},
		{"empty", func(t *testing.T) []byte { return nil }, "a", ErrShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustBox(t, master(1), "test")
			_, err := b.Open(tt.sealed(t), []byte(tt.aad))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestNewRejectsShortMaster(t *testing.T) {
	tests := []struct {
		name    string
		master  []byte
		wantErr bool
	}{
		{"nil", nil, true},
		{"31 bytes", master(1)[:31], true},
		{"32 bytes", master(1), false},
		{"64 bytes", bytes.Repeat([]byte{7}, 64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.master, "test")
			if (err != nil) != tt.wantErr {
				t.Fatalf("New err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "at least 32") {
				t.Errorf("error %q does not name the minimum length", err)
			}
		})
	}
}

func TestDerive(t *testing.T) {
	tests := []struct {
		name   string
		a, b   func() []byte
		wantEq bool
	}{
		{"same inputs", func() []byte { return Derive(master(1), "token-hmac", 32) }, func() []byte { return Derive(master(1), "token-hmac", 32) }, true},
		{"distinct purposes", func() []byte { return Derive(master(1), "token-hmac", 32) }, func() []byte { return Derive(master(1), "cookies", 32) }, false},
		{"distinct masters", func() []byte { return Derive(master(1), "token-hmac", 32) }, func() []byte { return Derive(master(2), "token-hmac", 32) }, false},
		{"box key differs from other purposes", func() []byte { return Derive(master(1), "signing-keys", 32) }, func() []byte { return Derive(master(1), "token-hmac", 32) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := tt.a(), tt.b()
			if len(a) != 32 || len(b) != 32 {
				t.Fatalf("lengths %d, %d, want 32", len(a), len(b))
			}
			if bytes.Equal(a, b) != tt.wantEq {
				t.Errorf("equal = %v, want %v", !tt.wantEq, tt.wantEq)
			}
		})
	}
	if n := len(Derive(master(1), "x", 64)); n != 64 {
		t.Errorf("Derive n=64 returned %d bytes", n)
	}
}

// The Box key is the HKDF output for "atrium/"+purpose, so a box built from
// a derived key matches: sealing under one purpose opens only under it.
func TestDistinctPurposesDistinctKeys(t *testing.T) {
	tests := []struct {
		name     string
		sealWith string
		openWith string
		wantErr  error
	}{
		{"same purpose", "signing-keys", "signing-keys", nil},
		{"different purpose", "signing-keys", "totp", ErrOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := mustBox(t, master(1), tt.sealWith).Seal([]byte("x"), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = mustBox(t, master(1), tt.openWith).Open(s, nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// The Box key is exactly HKDF-SHA256(master, nil, "atrium/"+purpose).
func TestBoxKeyIsHKDF(t *testing.T) {
	s, err := mustBox(t, master(3), "signing-keys").Seal([]byte("payload"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(Derive(master(3), "signing-keys", 32))
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := gcm.Open(nil, s[1:13], s[13:], []byte("aad"))
	if err != nil || string(pt) != "payload" {
		t.Fatalf("opening with the HKDF key: %q, %v", pt, err)
	}
}
