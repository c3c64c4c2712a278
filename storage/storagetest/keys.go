package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

func keyID(k *storage.SigningKey) string { return k.ID }

func retired(k *storage.SigningKey, notAfter time.Time) *storage.SigningKey {
	r := clone(k)
	r.Status, r.NotAfter = storage.KeyRetired, notAfter
	return r
}

func checkKeys(t *testing.T, what string, s Store, want ...*storage.SigningKey) {
	t.Helper()
	got, err := s.ListKeys(t.Context())
	must(t, err, "ListKeys")
	checkList(t, what, got, want, keyID, "PublicJWK")
}

var keyTests = []test{
	{"Empty", func(t *testing.T, s Store, clock *Clock) {
		checkEmpty(t, "ListKeys(empty store)", func(ctx context.Context) (int, error) {
			l, err := s.ListKeys(ctx)
			return len(l), err
		})
	}},
	{"FirstRotate", func(t *testing.T, s Store, clock *Clock) {
		k := fullKey("kid-1", clock.Now())
		must(t, s.RotateKey(t.Context(), clone(k), clock.Now().Add(time.Hour)), "RotateKey(first key)")
		checkKeys(t, "ListKeys after the first RotateKey", s, k)
	}},
	{"RotateRetires", func(t *testing.T, s Store, clock *Clock) {
		// Created in the order b, c, a: neither ID order gives the
		// newest-first order, only CreatedAt does.
		k1 := fullKey("kid-b", clock.Now())
		must(t, s.RotateKey(t.Context(), clone(k1), clock.Now().Add(time.Hour)), "RotateKey(kid-b)")
		clock.Advance(24 * time.Hour)
		k2 := fullKey("kid-c", clock.Now())
		r2 := clock.Now().Add(48 * time.Hour)
		must(t, s.RotateKey(t.Context(), clone(k2), r2), "RotateKey(kid-c)")
		checkKeys(t, "ListKeys after a second RotateKey (newest first, the old key retired until retireAfter)", s,
			k2, retired(k1, r2))

		clock.Advance(24 * time.Hour)
		k3 := fullKey("kid-a", clock.Now())
		r3 := clock.Now().Add(72 * time.Hour)
		must(t, s.RotateKey(t.Context(), clone(k3), r3), "RotateKey(kid-a)")
		checkKeys(t, "ListKeys after a third RotateKey (only the active key newly retired)", s,
			k3, retired(k2, r3), retired(k1, r2))

		// r2 is 24h away: kid-b is still published a moment before.
		clock.Set(r2.Add(-time.Second))
		checkKeys(t, "ListKeys just before kid-b's NotAfter", s, k3, retired(k2, r3), retired(k1, r2))
		clock.Set(r2.Add(time.Second))
		checkKeys(t, "ListKeys after kid-b's NotAfter", s, k3, retired(k2, r3))
		clock.Set(r3.Add(time.Hour))
		checkKeys(t, "ListKeys after kid-c's NotAfter", s, k3)
		clock.Advance(1000 * time.Hour)
		checkKeys(t, "ListKeys long after (the active key never lapses)", s, k3)
	}},
	{"OneActiveKeyPerAlgorithm", func(t *testing.T, s Store, clock *Clock) {
		ed := fullKey("kid-ed", clock.Now())
		must(t, s.RotateKey(t.Context(), clone(ed), clock.Now().Add(time.Hour)), "RotateKey(EdDSA key)")
		clock.Advance(time.Minute)
		es := fullKey("kid-es", clock.Now())
		es.Algorithm = "ES256"
		must(t, s.RotateKey(t.Context(), clone(es), clock.Now().Add(time.Hour)), "RotateKey(ES256 key)")
		checkKeys(t, "ListKeys after rotating in a key of another algorithm (both active)", s, es, ed)
		clock.Advance(time.Minute)
		es2 := fullKey("kid-es2", clock.Now())
		es2.Algorithm = "ES256"
		r := clock.Now().Add(2 * time.Hour)
		must(t, s.RotateKey(t.Context(), clone(es2), r), "RotateKey(second ES256 key)")
		checkKeys(t, "ListKeys after rotating ES256 (only the ES256 key retired)", s, es2, retired(es, r), ed)
	}},
	{"Delete", func(t *testing.T, s Store, clock *Clock) {
		k1 := fullKey("kid-1", clock.Now())
		must(t, s.RotateKey(t.Context(), clone(k1), clock.Now()), "RotateKey(kid-1)")
		clock.Advance(time.Minute)
		k2 := fullKey("kid-2", clock.Now())
		r := clock.Now().Add(time.Hour)
		must(t, s.RotateKey(t.Context(), clone(k2), r), "RotateKey(kid-2)")
		must(t, s.DeleteKey(t.Context(), "kid-1"), "DeleteKey(retired key)")
		checkKeys(t, "ListKeys after DeleteKey", s, k2)
		wantErr(t, s.DeleteKey(t.Context(), "kid-1"), storage.ErrNotFound, "DeleteKey(already deleted)")
		wantErr(t, s.DeleteKey(t.Context(), "nope"), storage.ErrNotFound, "DeleteKey(missing)")
		// With the active key gone, the next rotation still succeeds.
		must(t, s.DeleteKey(t.Context(), "kid-2"), "DeleteKey(active key)")
		clock.Advance(time.Minute)
		k3 := fullKey("kid-3", clock.Now())
		must(t, s.RotateKey(t.Context(), clone(k3), clock.Now().Add(time.Hour)), "RotateKey after deleting every key")
		checkKeys(t, "ListKeys after rotating into an empty key set", s, k3)
	}},
}
