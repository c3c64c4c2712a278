package login

import (
	"errors"
	"strings"
	"testing"
)

func TestHashAndVerifyPassword(t *testing.T) {
	hash, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("unexpected hash format %q", hash)
	}
	tests := []struct {
		name     string
		password string
		want     bool
	}{
		{"right password", "correct horse battery", true},
		{"wrong password", "correct horse batterY", false},
		{"empty", "", false},
		{"prefix", "correct horse", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := VerifyPassword(hash, tc.password)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.want {
				t.Fatalf("VerifyPassword = %v, want %v", ok, tc.want)
			}
		})
	}
	other, _ := HashPassword("correct horse battery")
	if other == hash {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestHashPasswordRejectsWeak(t *testing.T) {
	for _, pw := range []string{"", "short", strings.Repeat("a", MaxPasswordLength+1)} {
		if _, err := HashPassword(pw); !errors.Is(err, ErrWeakPassword) {
			t.Errorf("HashPassword(%d chars) err = %v, want ErrWeakPassword", len(pw), err)
		}
	}
}

func TestVerifyPasswordMalformedHash(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$YQ$YQ", "$argon2id$v=19$m=x$YQ$YQ", "$argon2id$v=19$m=1,t=1,p=1$!!$YQ"} {
		if _, err := VerifyPassword(h, "whatever1"); err == nil {
			t.Errorf("VerifyPassword(%q) accepted a malformed hash", h)
		}
	}
}
