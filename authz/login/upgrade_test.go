package login

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/atrium-id/atrium/storage"
)

// oldHash is a PHC argon2id hash of password as given (not normalized)
// with the parameters m, t, p: a hash from an earlier release.
func oldHash(t *testing.T, password string, m, tm uint32, p uint8) string {
	t.Helper()
	salt := make([]byte, saltLen)
	rand.Read(salt)
	b64 := base64.RawStdEncoding
	key := argon2.IDKey([]byte(password), salt, tm, m, p, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, tm, p, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// memCreds is a CredentialStore in a map.
type memCreds map[string]storage.Credential

func (m memCreds) PutCredential(_ context.Context, c *storage.Credential) error {
	m[c.UserID+" "+c.Type] = *c
	return nil
}

func (m memCreds) GetCredential(_ context.Context, userID, typ string) (*storage.Credential, error) {
	c, ok := m[userID+" "+typ]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return &c, nil
}

func (m memCreds) DeleteCredential(_ context.Context, userID, typ string) error {
	delete(m, userID+" "+typ)
	return nil
}

func TestVerifyPasswordUpgrade(t *testing.T) {
	const pw = "correct horse battery"
	current, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		hash        string
		password    string
		ok, upgrade bool
	}{
		{"current parameters", current, pw, true, false},
		{"current parameters, wrong password", current, pw + "!", false, false},
		{"less memory", oldHash(t, pw, 19*1024, 2, 1), pw, true, true},
		{"fewer passes", oldHash(t, pw, argonMemory, 1, argonThreads), pw, true, true},
		{"older parameters, wrong password", oldHash(t, pw, 19*1024, 2, 1), "Correct horse battery", false, false},
		{"made before normalization", oldHash(t, "cafe\u0301 au lait chaud", argonMemory, argonTime, argonThreads), "cafe\u0301 au lait chaud", true, true},
		{"made before normalization, typed composed", oldHash(t, "cafe\u0301 au lait chaud", argonMemory, argonTime, argonThreads), "caf\u00e9 au lait chaud", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, upgrade, err := VerifyPasswordUpgrade(context.Background(), tc.hash, tc.password)
			if err != nil || ok != tc.ok || upgrade != tc.upgrade {
				t.Fatalf("VerifyPasswordUpgrade = %v, %v, %v; want %v, %v", ok, upgrade, err, tc.ok, tc.upgrade)
			}
		})
	}
}

func TestRehash(t *testing.T) {
	ctx := context.Background()
	const pw = "correct horse battery"
	t.Run("replaces an old hash", func(t *testing.T) {
		creds := memCreds{}
		old := &storage.Credential{ID: "u1:password", UserID: "u1", Type: storage.CredentialPassword,
			Secret: []byte(oldHash(t, pw, 19*1024, 2, 1))}
		creds.PutCredential(ctx, old)
		now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
		if err := Rehash(ctx, creds, old, pw, now); err != nil {
			t.Fatal(err)
		}
		got, _ := creds.GetCredential(ctx, "u1", storage.CredentialPassword)
		if !strings.HasPrefix(string(got.Secret), "$argon2id$v=19$m=65536,t=3,p=2$") || !got.UpdatedAt.Equal(now) {
			t.Fatalf("after Rehash: %s, updated %s", got.Secret, got.UpdatedAt)
		}
		ok, upgrade, err := VerifyPasswordUpgrade(ctx, string(got.Secret), pw)
		if !ok || upgrade || err != nil {
			t.Fatalf("new hash: ok %v, upgrade %v, %v", ok, upgrade, err)
		}
	})
	t.Run("leaves a changed password alone", func(t *testing.T) {
		creds := memCreds{}
		old := &storage.Credential{ID: "u1:password", UserID: "u1", Type: storage.CredentialPassword,
			Secret: []byte(oldHash(t, pw, 19*1024, 2, 1))}
		if err := SetPassword(ctx, creds, "u1", "a brand new passphrase", time.Now()); err != nil {
			t.Fatal(err)
		}
		before, _ := creds.GetCredential(ctx, "u1", storage.CredentialPassword)
		if err := Rehash(ctx, creds, old, pw, time.Now()); err != nil {
			t.Fatal(err)
		}
		after, _ := creds.GetCredential(ctx, "u1", storage.CredentialPassword)
		if string(after.Secret) != string(before.Secret) {
			t.Fatal("Rehash replaced a password changed since it was read")
		}
	})
}

func TestSetPasswordAppliesRules(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, pw string }{
		{"too short", "short"},
		{"common", "Sunshine1"},
		{"email", "ADA@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds := memCreds{}
			err := SetPassword(ctx, creds, "u1", tc.pw, time.Now(), "ada@example.com")
			if _, ok := err.(*PasswordError); !ok {
				t.Fatalf("SetPassword = %v, want a *PasswordError", err)
			}
			if len(creds) != 0 {
				t.Fatal("a refused password was stored")
			}
		})
	}
}
