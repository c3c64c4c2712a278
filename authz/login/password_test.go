package login

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
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

// TestHashingIsBounded: no more password checks run at once than there are
// slots; a check that cannot get one in time fails with ErrBusy, which
// callers answer as "temporarily unavailable", and a cancelled one returns
// at once.
func TestHashingIsBounded(t *testing.T) {
	hash, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	// Take every slot, as a burst of sign-ins would.
	var releases []func()
	for range cap(slots) {
		release, err := acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := VerifyPasswordContext(ctx, hash, "correct horse battery"); !errors.Is(err, context.Canceled) {
		t.Errorf("check with a cancelled context while saturated: %v, want context.Canceled", err)
	}
	start := time.Now()
	if _, err := VerifyPasswordContext(context.Background(), hash, "correct horse battery"); !errors.Is(err, ErrBusy) || !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("check while saturated: %v, want ErrBusy (a storage.ErrUnavailable)", err)
	}
	if d := time.Since(start); d < MaxSlotWait-100*time.Millisecond {
		t.Errorf("gave up after %s, want about MaxSlotWait %s", d, MaxSlotWait)
	}
	releases[0]()
	ok, err := VerifyPasswordContext(context.Background(), hash, "correct horse battery")
	if err != nil || !ok {
		t.Errorf("check with a free slot: %v %v, want true", ok, err)
	}
	for _, r := range releases[1:] {
		r()
	}
}
