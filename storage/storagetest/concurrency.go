package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// race runs fn(i) for i in [0, n) on n goroutines released together and
// returns the errors by i.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// checkOneWinner fails t unless exactly one error is nil and every other
// is (wraps) loser. It returns the index of the winner, or -1.
func checkOneWinner(t *testing.T, what string, errs []error, loser error) int {
	t.Helper()
	winner := -1
	var wins int
	var unexpected []string
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
			winner = i
		case !errors.Is(err, loser):
			unexpected = append(unexpected, fmt.Sprintf("caller %d: %v", i, err))
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent %s: %d succeeded, want exactly 1", len(errs), what, wins)
		winner = -1
	}
	if len(unexpected) > 0 {
		t.Errorf("%d concurrent %s: want %v from every loser, got:\n\t%s", len(errs), what, loser, strings.Join(unexpected, "\n\t"))
	}
	return winner
}

// checkAllOK fails t unless every error is nil.
func checkAllOK(t *testing.T, what string, errs []error) {
	t.Helper()
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Sprintf("caller %d: %v", i, err))
		}
	}
	if len(failed) > 0 {
		t.Errorf("%d concurrent %s: want every call to succeed, got:\n\t%s", len(errs), what, strings.Join(failed, "\n\t"))
	}
}

// stateConcurrencyTests need only storage.StateStore.
var stateConcurrencyTests = []stateTest{
	{"DeactivateToken", func(t *testing.T, s storage.StateStore, clock *Clock) {
		tok := fullToken(storage.KindRefreshToken, "sig-1", "req-1", clock.Now())
		must(t, s.CreateToken(t.Context(), tok), "CreateToken")
		errs := race(16, func(int) error { return s.DeactivateToken(t.Context(), tok.Kind, tok.Signature) })
		checkOneWinner(t, "DeactivateToken of one token", errs, storage.ErrConflict)
		got, err := s.GetToken(t.Context(), tok.Kind, tok.Signature)
		must(t, err, "GetToken")
		if got.Active {
			t.Error("GetToken after concurrent DeactivateToken: Active = true, want false")
		}
	}},
	{"UseOnce", func(t *testing.T, s storage.StateStore, clock *Clock) {
		exp := clock.Now().Add(time.Minute)
		errs := race(16, func(int) error { return s.UseOnce(t.Context(), "jti-1", exp) })
		checkOneWinner(t, "UseOnce of one key", errs, storage.ErrAlreadyExists)
	}},
	{"UseOnceAfterExpiry", func(t *testing.T, s storage.StateStore, clock *Clock) {
		// An expired marker is replaced by exactly one of the callers.
		must(t, s.UseOnce(t.Context(), "jti-1", clock.Now().Add(time.Minute)), "UseOnce")
		clock.Advance(time.Hour)
		exp := clock.Now().Add(time.Minute)
		errs := race(16, func(int) error { return s.UseOnce(t.Context(), "jti-1", exp) })
		checkOneWinner(t, "UseOnce of one key whose marker expired", errs, storage.ErrAlreadyExists)
	}},
	{"PutSession", func(t *testing.T, s storage.StateStore, clock *Clock) {
		errs := race(16, func(i int) error {
			sess := fullSession("sess-1", "user-1", clock.Now())
			sess.ACR = fmt.Sprintf("acr-%d", i)
			return s.PutSession(t.Context(), sess)
		})
		checkAllOK(t, "PutSession of one ID", errs)
		l, err := s.ListUserSessions(t.Context(), "user-1")
		must(t, err, "ListUserSessions")
		if len(l) != 1 {
			t.Errorf("ListUserSessions after concurrent PutSession of one ID = %d sessions, want 1", len(l))
		}
	}},
	{"Hit", func(t *testing.T, s storage.StateStore, clock *Clock) {
		testConcurrentHits(t, s, "Hit of one key")
	}},
	{"HitAfterWindow", func(t *testing.T, s storage.StateStore, clock *Clock) {
		// Callers arriving together after a window has passed share one
		// new window: exactly one restarts it.
		for range 3 {
			_, err := s.Hit(t.Context(), "login:user-1", time.Minute)
			must(t, err, "Hit")
		}
		clock.Advance(time.Hour)
		testConcurrentHits(t, s, "Hit of one key whose window has passed")
	}},
}

var concurrencyTests = []test{
	{"CreateUserSameEmail", func(t *testing.T, s Store, clock *Clock) {
		cases := []string{"race@example.com", "RACE@example.com", "Race@Example.Com", "race@EXAMPLE.COM"}
		errs := race(16, func(i int) error {
			return s.CreateUser(t.Context(), fullUser(fmt.Sprintf("user-%02d", i), cases[i%len(cases)], clock.Now()))
		})
		winner := checkOneWinner(t, "CreateUser with one email (in several cases)", errs, storage.ErrAlreadyExists)
		got, err := s.GetUserByEmail(t.Context(), "race@example.com")
		must(t, err, "GetUserByEmail")
		if want := fmt.Sprintf("user-%02d", winner); winner >= 0 && got.ID != want {
			t.Errorf("GetUserByEmail = %q, want the caller that succeeded, %q", got.ID, want)
		}
		users, _, err := s.ListUsers(t.Context(), storage.Page{})
		must(t, err, "ListUsers")
		if len(users) != 1 {
			t.Errorf("ListUsers after concurrent CreateUser = %q, want exactly one user", ids(users, userID))
		}
	}},
	{"RotateKey", func(t *testing.T, s Store, clock *Clock) {
		first := fullKey("kid-first", clock.Now())
		must(t, s.RotateKey(t.Context(), first, clock.Now()), "RotateKey(first key)")
		clock.Advance(time.Minute)
		retireAfter := clock.Now().Add(time.Hour)
		errs := race(8, func(i int) error {
			return s.RotateKey(t.Context(), fullKey(fmt.Sprintf("kid-%d", i), clock.Now().Add(time.Duration(i)*time.Second)), retireAfter)
		})
		succeeded := map[string]bool{}
		for i, err := range errs {
			switch {
			case err == nil:
				succeeded[fmt.Sprintf("kid-%d", i)] = true
			case !errors.Is(err, storage.ErrConflict):
				t.Errorf("concurrent RotateKey(kid-%d) = %v, want success or ErrConflict", i, err)
			}
		}
		if len(succeeded) == 0 {
			t.Fatal("8 concurrent RotateKey: none succeeded, want at least one")
		}
		keys, err := s.ListKeys(t.Context())
		must(t, err, "ListKeys")
		var active []string
		listed := map[string]bool{}
		for _, k := range keys {
			listed[k.ID] = true
			switch k.Status {
			case storage.KeyActive:
				active = append(active, k.ID)
				if !k.NotAfter.IsZero() {
					t.Errorf("active key %s has NotAfter %s, want zero", k.ID, fmtTime(k.NotAfter))
				}
			case storage.KeyRetired:
				if !sameInstant(k.NotAfter, retireAfter) {
					t.Errorf("retired key %s has NotAfter %s, want %s", k.ID, fmtTime(k.NotAfter), fmtTime(retireAfter))
				}
			default:
				t.Errorf("key %s has status %q, want %q or %q", k.ID, k.Status, storage.KeyActive, storage.KeyRetired)
			}
		}
		if len(active) != 1 {
			t.Errorf("after 8 concurrent RotateKey, active keys = %q, want exactly one", active)
		} else if !succeeded[active[0]] {
			t.Errorf("active key after concurrent RotateKey = %s, want one whose RotateKey succeeded", active[0])
		}
		for id := range succeeded {
			if !listed[id] {
				t.Errorf("key %s, whose RotateKey succeeded, is missing from ListKeys", id)
			}
		}
		for i, err := range errs {
			if id := fmt.Sprintf("kid-%d", i); err != nil && listed[id] {
				t.Errorf("key %s is listed although its RotateKey failed (%v), want a failed rotation to store nothing", id, err)
			}
		}
		if !listed[first.ID] {
			t.Errorf("key %s, retired until an hour from now, is missing from ListKeys", first.ID)
		}
	}},
	{"PutConsent", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		seedClient(t, s, "client-1", clock.Now())
		errs := race(16, func(i int) error {
			c := fullConsent("user-1", "client-1", clock.Now())
			c.Scopes = []string{"openid", fmt.Sprintf("scope-%d", i)}
			return s.PutConsent(t.Context(), c)
		})
		checkAllOK(t, "PutConsent of one user and client", errs)
		l, err := s.ListConsents(t.Context(), "user-1")
		must(t, err, "ListConsents")
		if len(l) != 1 {
			t.Errorf("ListConsents after concurrent PutConsent = %d consents, want 1", len(l))
		}
	}},
	{"PutCredential", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		errs := race(16, func(i int) error {
			return s.PutCredential(t.Context(), fullCredential(fmt.Sprintf("cred-%d", i), "user-1", storage.CredentialPassword, clock.Now()))
		})
		checkAllOK(t, "PutCredential of one user and type", errs)
		_, err := s.GetCredential(t.Context(), "user-1", storage.CredentialPassword)
		must(t, err, "GetCredential after concurrent PutCredential")
	}},
}

// testConcurrentHits hits one key from 32 goroutines at once and checks
// that they got the counts 1 to 32, each exactly once.
func testConcurrentHits(t *testing.T, s storage.StateStore, what string) {
	t.Helper()
	const n = 32
	counts := make([]int64, n)
	errs := race(n, func(i int) error {
		var err error
		counts[i], err = s.Hit(t.Context(), "login:user-1", time.Minute)
		return err
	})
	checkAllOK(t, what, errs)
	slices.Sort(counts)
	for i, c := range counts {
		if c != int64(i+1) {
			t.Errorf("%d concurrent %s returned (sorted) %v, want 1 to %d each once", n, what, counts, n)
			break
		}
	}
}
