package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// RunKeySchedule runs the suite of rotation with overlap: a next key
// published before it signs, then promoted, by several nodes at once;
// newStore is as for Run.
func RunKeySchedule(t *testing.T, newStore func(t *testing.T, clock *Clock) storage.KeyScheduler) {
	run(t, newStore, []suite[storage.KeyScheduler]{{"KeySchedule", keyScheduleTests}})
}

type keyScheduleTest = testCase[storage.KeyScheduler]

func nextKey(k *storage.SigningKey) *storage.SigningKey {
	n := clone(k)
	n.Status = storage.KeyNext
	return n
}

// promoted is k as PromoteKey leaves it at now: active, created now.
func promoted(k *storage.SigningKey, now time.Time) *storage.SigningKey {
	p := clone(k)
	p.Status, p.CreatedAt = storage.KeyActive, now
	return p
}

// seedActiveKey rotates in the active key id, created now, and moves the
// clock a minute on.
func seedActiveKey(t *testing.T, s storage.KeyScheduler, clock *Clock, id string) *storage.SigningKey {
	t.Helper()
	k := fullKey(id, clock.Now())
	must(t, s.RotateKey(t.Context(), clone(k), clock.Now()), "RotateKey(%s)", id)
	clock.Advance(time.Minute)
	return k
}

func checkScheduledKeys(t *testing.T, what string, s storage.KeyScheduler, want ...*storage.SigningKey) {
	t.Helper()
	got, err := s.ListKeys(t.Context())
	must(t, err, "ListKeys")
	checkList(t, what, got, want, keyID, "PublicJWK")
}

var keyScheduleTests = []keyScheduleTest{
	{"PublishThenPromote", func(t *testing.T, s storage.KeyScheduler, clock *Clock) {
		ctx := t.Context()
		k1 := fullKey("kid-1", clock.Now())
		must(t, s.RotateKey(ctx, clone(k1), clock.Now()), "RotateKey(kid-1)")
		clock.Advance(time.Hour)
		k2 := fullKey("kid-2", clock.Now())
		must(t, s.PublishKey(ctx, clone(k2)), "PublishKey(kid-2)")
		checkScheduledKeys(t, "ListKeys after PublishKey (the next key listed, the active key untouched)", s, nextKey(k2), k1)

		clock.Advance(time.Hour)
		r := clock.Now().Add(24 * time.Hour)
		must(t, s.PromoteKey(ctx, "kid-2", r), "PromoteKey(kid-2)")
		p2 := promoted(k2, clock.Now())
		checkScheduledKeys(t, "ListKeys after PromoteKey (the next key active since now, the old one retired)", s, p2, retired(k1, r))
		clock.Advance(time.Minute)
		wantErr(t, s.PromoteKey(ctx, "kid-2", clock.Now()), storage.ErrNotFound, "PromoteKey(kid-2 again)")
		checkScheduledKeys(t, "ListKeys after promoting the same key again (nothing changed)", s, p2, retired(k1, r))

		// The next round publishes a new next key.
		clock.Advance(time.Hour)
		k3 := fullKey("kid-3", clock.Now())
		must(t, s.PublishKey(ctx, clone(k3)), "PublishKey(kid-3)")
		checkScheduledKeys(t, "ListKeys after the second PublishKey", s, nextKey(k3), p2, retired(k1, r))
		clock.Set(r.Add(time.Second))
		checkScheduledKeys(t, "ListKeys after kid-1's NotAfter (a next key never lapses)", s, nextKey(k3), p2)
	}},
	{"OneNextKeyPerAlgorithm", func(t *testing.T, s storage.KeyScheduler, clock *Clock) {
		ctx := t.Context()
		k1 := seedActiveKey(t, s, clock, "kid-1")
		n1 := fullKey("kid-next", clock.Now())
		must(t, s.PublishKey(ctx, clone(n1)), "PublishKey(kid-next)")
		clock.Advance(time.Minute)
		wantErr(t, s.PublishKey(ctx, fullKey("kid-other", clock.Now())), storage.ErrAlreadyExists, "PublishKey(a second next EdDSA key)")
		wantErr(t, s.PublishKey(ctx, fullKey("kid-next", clock.Now())), storage.ErrAlreadyExists, "PublishKey(the same kid again)")
		es := fullKey("kid-es", clock.Now())
		es.Algorithm = "ES256"
		must(t, s.PublishKey(ctx, clone(es)), "PublishKey(a next ES256 key)")
		checkScheduledKeys(t, "ListKeys after publishing per algorithm (a refused PublishKey stores nothing)", s, nextKey(es), nextKey(n1), k1)
	}},
	{"PromoteRefusesWhatIsNotNext", func(t *testing.T, s storage.KeyScheduler, clock *Clock) {
		ctx := t.Context()
		k1 := seedActiveKey(t, s, clock, "kid-1")
		k2 := fullKey("kid-2", clock.Now())
		r := clock.Now().Add(time.Hour)
		must(t, s.RotateKey(ctx, clone(k2), r), "RotateKey(kid-2)")
		wantErr(t, s.PromoteKey(ctx, "kid-2", clock.Now()), storage.ErrNotFound, "PromoteKey(the active key)")
		wantErr(t, s.PromoteKey(ctx, "kid-1", clock.Now()), storage.ErrNotFound, "PromoteKey(a retired key)")
		wantErr(t, s.PromoteKey(ctx, "nope", clock.Now()), storage.ErrNotFound, "PromoteKey(a missing key)")
		checkScheduledKeys(t, "ListKeys after refused promotions (nothing changed)", s, k2, retired(k1, r))
	}},
	{"PromoteWithoutActiveKey", func(t *testing.T, s storage.KeyScheduler, clock *Clock) {
		ctx := t.Context()
		n := fullKey("kid-next", clock.Now())
		must(t, s.PublishKey(ctx, clone(n)), "PublishKey(into an empty store)")
		clock.Advance(time.Minute)
		must(t, s.PromoteKey(ctx, "kid-next", clock.Now().Add(time.Hour)), "PromoteKey(with no active key)")
		checkScheduledKeys(t, "ListKeys after promoting with no active key", s, promoted(n, clock.Now()))
	}},
	{"OtherAlgorithmsUntouched", func(t *testing.T, s storage.KeyScheduler, clock *Clock) {
		ctx := t.Context()
		ed := fullKey("kid-ed", clock.Now())
		must(t, s.RotateKey(ctx, clone(ed), clock.Now()), "RotateKey(EdDSA)")
		es := fullKey("kid-es", clock.Now().Add(time.Second))
		es.Algorithm = "ES256"
		must(t, s.RotateKey(ctx, clone(es), clock.Now()), "RotateKey(ES256)")
		clock.Advance(time.Minute)
		es2 := fullKey("kid-es2", clock.Now())
		es2.Algorithm = "ES256"
		must(t, s.PublishKey(ctx, clone(es2)), "PublishKey(ES256)")
		r := clock.Now().Add(time.Hour)
		must(t, s.PromoteKey(ctx, "kid-es2", r), "PromoteKey(ES256)")
		checkScheduledKeys(t, "ListKeys after promoting an ES256 key (the EdDSA key still active)", s, promoted(es2, clock.Now()), retired(es, r), ed)
	}},
	{"RotateKeyKeepsNextKey", func(t *testing.T, s storage.KeyScheduler, clock *Clock) {
		ctx := t.Context()
		k1 := seedActiveKey(t, s, clock, "kid-1")
		n := fullKey("kid-next", clock.Now())
		must(t, s.PublishKey(ctx, clone(n)), "PublishKey(kid-next)")
		clock.Advance(time.Minute)
		k2 := fullKey("kid-2", clock.Now())
		r := clock.Now().Add(time.Hour)
		must(t, s.RotateKey(ctx, clone(k2), r), "RotateKey(kid-2, by hand)")
		checkScheduledKeys(t, "ListKeys after a rotation by hand (the next key still next)", s, k2, nextKey(n), retired(k1, r))
		must(t, s.DeleteKey(ctx, "kid-next"), "DeleteKey(the next key)")
		checkScheduledKeys(t, "ListKeys after deleting the next key", s, k2, retired(k1, r))
	}},
	{"ConcurrentPublish", func(t *testing.T, s storage.KeyScheduler, clock *Clock) {
		k1 := seedActiveKey(t, s, clock, "kid-1")
		errs := race(8, func(i int) error {
			return s.PublishKey(t.Context(), fullKey(fmt.Sprintf("kid-next-%d", i), clock.Now()))
		})
		winner := checkOneWinner(t, "PublishKey", errs, storage.ErrAlreadyExists)
		if winner < 0 {
			return
		}
		checkScheduledKeys(t, "ListKeys after 8 concurrent PublishKey", s,
			nextKey(fullKey(fmt.Sprintf("kid-next-%d", winner), clock.Now())), k1)
	}},
	{"ConcurrentPromote", func(t *testing.T, s storage.KeyScheduler, clock *Clock) {
		k1 := seedActiveKey(t, s, clock, "kid-1")
		n := fullKey("kid-next", clock.Now())
		must(t, s.PublishKey(t.Context(), clone(n)), "PublishKey(kid-next)")
		clock.Advance(time.Hour)
		r := clock.Now().Add(time.Hour)
		errs := race(8, func(i int) error {
			// Each caller asks for a different NotAfter: the winner's holds.
			return s.PromoteKey(t.Context(), "kid-next", r.Add(time.Duration(i)*time.Second))
		})
		winner := checkOneWinner(t, "PromoteKey", errs, storage.ErrNotFound)
		if winner < 0 {
			return
		}
		checkScheduledKeys(t, "ListKeys after 8 concurrent PromoteKey (promoted once: one active key, the old one retired by the winner)", s,
			promoted(n, clock.Now()), retired(k1, r.Add(time.Duration(winner)*time.Second)))
	}},
}
