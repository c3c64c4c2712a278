package login

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/atrium-id/atrium/internal/secretbox"
	"github.com/atrium-id/atrium/storage"
)

// usedKeys is a UseOnce in a map.
type usedKeys struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (u *usedKeys) use(_ context.Context, key string, _ time.Time) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.keys == nil {
		u.keys = map[string]bool{}
	}
	if u.keys[key] {
		return storage.ErrAlreadyExists
	}
	u.keys[key] = true
	return nil
}

func testFactors(t *testing.T) *Factors {
	t.Helper()
	box, err := secretbox.New([]byte(strings.Repeat("m", 32)), "totp")
	if err != nil {
		t.Fatal(err)
	}
	return &Factors{Box: box, RecoveryKey: []byte(strings.Repeat("r", 32)), Issuer: "Atrium Test"}
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTOTPEnrolAndVerify(t *testing.T) {
	ctx := context.Background()
	f := testFactors(t)
	now := time.Unix(1_800_000_000, 0)
	enrol, err := f.NewTOTP("ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enrol.URL, "otpauth://totp/") || !strings.Contains(enrol.URL, "secret="+enrol.Secret) ||
		!strings.HasPrefix(string(enrol.QR), "data:image/png;base64,") {
		t.Fatalf("enrolment = %+v", enrol)
	}

	// The pending secret survives the form only for the same user and context.
	sealed, err := f.SealPending("u1", "ctx", enrol.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, enrol.Secret) {
		t.Fatal("sealed pending secret shows the secret")
	}
	back, err := f.OpenPending("u1", "ctx", sealed, "ada@example.com")
	if err != nil || back.Secret != enrol.Secret {
		t.Fatalf("OpenPending = %v, %v", back, err)
	}
	for _, c := range [][2]string{{"u2", "ctx"}, {"u1", "other"}} {
		if _, err := f.OpenPending(c[0], c[1], sealed, "x"); err == nil {
			t.Errorf("OpenPending(%q, %q) opened another's secret", c[0], c[1])
		}
	}
	// A character in the middle, which every bit of counts (the last
	// one may carry unused bits), changed to another.
	mid := len(sealed) / 2
	swap := "A"
	if sealed[mid] == 'A' {
		swap = "B"
	}
	if _, err := f.OpenPending("u1", "ctx", sealed[:mid]+swap+sealed[mid+1:], "x"); err == nil {
		t.Error("OpenPending accepted a tampered field")
	}

	used := &usedKeys{}
	if _, err := f.ConfirmTOTP(ctx, "u1", enrol.Secret, "123", now, used.use); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("short code: %v", err)
	}
	cred, err := f.ConfirmTOTP(ctx, "u1", enrol.Secret, code(t, enrol.Secret, now), now, used.use)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Type != storage.CredentialTOTP || strings.Contains(string(cred.Secret), enrol.Secret) {
		t.Fatalf("credential holds the secret in the clear or has type %q", cred.Type)
	}

	tests := []struct {
		name string
		code string
		at   time.Time
		want error
	}{
		{"same step again: replay", code(t, enrol.Secret, now), now, ErrReplayedCode},
		{"next step", code(t, enrol.Secret, now.Add(30*time.Second)), now.Add(30 * time.Second), nil},
		{"previous step's code, one step late", code(t, enrol.Secret, now.Add(60*time.Second)), now.Add(90 * time.Second), nil},
		{"two steps late", code(t, enrol.Secret, now.Add(120*time.Second)), now.Add(190 * time.Second), ErrWrongCode},
		{"spaces are ignored", spaced(code(t, enrol.Secret, now.Add(300*time.Second))), now.Add(300 * time.Second), nil},
		{"letters", "12a456", now.Add(400 * time.Second), ErrWrongCode},
		{"wrong digits", wrong(code(t, enrol.Secret, now.Add(500*time.Second))), now.Add(500 * time.Second), ErrWrongCode},
	}
	for _, tt := range tests {
		err := f.VerifyTOTP(ctx, cred, tt.code, tt.at, used.use)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: VerifyTOTP = %v, want %v", tt.name, err, tt.want)
		}
	}
	other := *cred
	other.UserID = "u2"
	if err := f.VerifyTOTP(ctx, &other, code(t, enrol.Secret, now.Add(600*time.Second)), now.Add(600*time.Second), used.use); err == nil {
		t.Error("a TOTP credential opened for another user")
	}
}

func spaced(c string) string { return c[:3] + " " + c[3:] }

func wrong(c string) string {
	b := []byte(c)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func TestRecoveryCodes(t *testing.T) {
	ctx := context.Background()
	f := testFactors(t)
	now := time.Now()
	codes, cred, err := f.NewRecoveryCodes("u1", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodeCount || RemainingRecoveryCodes(cred) != RecoveryCodeCount {
		t.Fatalf("%d codes, %d stored", len(codes), RemainingRecoveryCodes(cred))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !LooksLikeRecoveryCode(c) || seen[c] || strings.Contains(string(cred.Secret), strings.ReplaceAll(c, "-", "")) {
			t.Fatalf("code %q: malformed, repeated or stored in the clear", c)
		}
		seen[c] = true
	}
	used := &usedKeys{}
	next, err := f.UseRecoveryCode(ctx, cred, strings.ToUpper(strings.ReplaceAll(codes[3], "-", " ")), now, used.use)
	if err != nil {
		t.Fatalf("typed differently: %v", err)
	}
	if RemainingRecoveryCodes(next) != RecoveryCodeCount-1 {
		t.Fatalf("%d left after one use", RemainingRecoveryCodes(next))
	}
	if _, err := f.UseRecoveryCode(ctx, next, codes[3], now, used.use); !errors.Is(err, ErrWrongCode) {
		t.Errorf("second use of a code: %v", err)
	}
	// Two requests racing with the same code, both holding the old set.
	if _, err := f.UseRecoveryCode(ctx, cred, codes[3], now, used.use); !errors.Is(err, ErrWrongCode) {
		t.Errorf("second use of a code from a stale read: %v", err)
	}
	if _, err := f.UseRecoveryCode(ctx, next, "aaaaa-aaaaa", now, used.use); !errors.Is(err, ErrWrongCode) {
		t.Errorf("made-up code: %v", err)
	}
	// Codes are bound to their user.
	other := *next
	other.UserID = "u2"
	if _, err := f.UseRecoveryCode(ctx, &other, codes[4], now, used.use); !errors.Is(err, ErrWrongCode) {
		t.Errorf("another user's code: %v", err)
	}
}
