package login

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckNewPassword(t *testing.T) {
	const email = "Ada.Lovelace@example.com"
	tests := []struct {
		name string
		pw   string
		want Reason // 0: accepted
		msg  string
	}{
		{"fine", "correct horse battery", 0, ""},
		{"fine, non-ASCII", "Grüße aus Köln!", 0, ""},
		{"exactly the minimum", "kq3v9zxw", 0, ""},
		{"exactly the maximum", strings.Repeat("ab", MaxPasswordLength/2), 0, ""},
		{"empty", "", TooShort, "Use at least 8 characters"},
		{"too short", "kq3v9zx", TooShort, "Use at least 8 characters"},
		{"short in characters, long in bytes", "ääääääа", TooShort, "Use at least 8 characters"},
		{"too long", strings.Repeat("ab", MaxPasswordLength/2) + "c", TooLong, "Use at most 256 characters"},
		{"far too long", strings.Repeat("x", 100000), TooLong, "Use at most 256 characters"},
		{"common", "password1", Common, "This password is too common; choose another"},
		{"common, capitalized", "Password1", Common, "This password is too common; choose another"},
		{"common, upper case", "PASSWORD1", Common, "This password is too common; choose another"},
		{"common, mixed case", "QwErTyUiOp", Common, "This password is too common; choose another"},
		{"common, full-width letters", "ｐａｓｓｗｏｒｄ１", Common, "This password is too common; choose another"},
		{"common, long", "iloveyou2", Common, "This password is too common; choose another"},
		{"equal to email", email, Related, "Don't use your email address as password"},
		{"equal to email, other case", "ada.lovelace@EXAMPLE.COM", Related, "Don't use your email address as password"},
		{"equal to email's local part", "ADA.LOVELACE", Related, "Don't use your email address as password"},
		{"equal to name", "Ada Lovelace", Related, "Don't use your name or account details as password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckNewPassword(tc.pw, email, "Ada Lovelace", "")
			if tc.want == 0 {
				if err != nil {
					t.Fatalf("CheckNewPassword = %v, want nil", err)
				}
				return
			}
			var pe *PasswordError
			if !errors.As(err, &pe) || pe.Reason != tc.want || err.Error() != tc.msg {
				t.Fatalf("CheckNewPassword = %#v (%v), want reason %d %q", err, err, tc.want, tc.msg)
			}
			if !errors.Is(err, ErrWeakPassword) {
				t.Errorf("errors.Is(%v, ErrWeakPassword) = false", err)
			}
		})
	}
}

func TestCommonPasswordList(t *testing.T) {
	m := commonPasswords()
	if n := len(m); n < 9900 || n > 10000 {
		t.Fatalf("common password list has %d entries, want about 10,000", n)
	}
	for _, pw := range []string{"123456", "password", "qwerty", "iloveyou", "trustno1", "sunshine"} {
		if _, ok := m[pw]; !ok {
			t.Errorf("%q is not in the common password list", pw)
		}
	}
}

// TestNFKCEquivalence: a password set in one Unicode normalization form
// verifies when typed in another (composed é versus e plus a combining
// accent, full-width versus ASCII letters, the "ﬁ" ligature versus "fi").
func TestNFKCEquivalence(t *testing.T) {
	tests := []struct{ name, set, typed string }{
		{"composed, then decomposed", "caf\u00e9 au lait chaud", "cafe\u0301 au lait chaud"},
		{"decomposed, then composed", "cafe\u0301 au lait chaud", "caf\u00e9 au lait chaud"},
		{"full-width, then ASCII", "ｚｅｂｒａ ｃｏｒｎ ９", "zebra corn 9"},
		{"ligature, then letters", "\ufb01refly lanterns", "firefly lanterns"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.set == tc.typed {
				t.Fatal("forms are byte-equal; the case tests nothing")
			}
			hash, err := HashPassword(tc.set)
			if err != nil {
				t.Fatal(err)
			}
			for _, pw := range []string{tc.set, tc.typed} {
				ok, err := VerifyPassword(hash, pw)
				if err != nil || !ok {
					t.Errorf("VerifyPassword(%q) = %v, %v; want true", pw, ok, err)
				}
			}
			if ok, _ := VerifyPassword(hash, "cafe au lait chaud"); ok {
				t.Error("a password without the accent verified")
			}
		})
	}
}
