package keys

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/atrium-id/atrium/internal/secretbox"
	"github.com/atrium-id/atrium/storage"
	sqlstore "github.com/atrium-id/atrium/storage/sql"
	"github.com/atrium-id/atrium/storage/sql/sqltest"
)

// sqlBackends runs fn against SQLite and PostgreSQL (sqltest.Backends);
// open opens one more store (one more node) on the same database.
func sqlBackends(t *testing.T, fn func(t *testing.T, open func(c *clock) *sqlstore.Store)) {
	sqltest.Backends(t, func(t *testing.T, open func(now func() time.Time) *sqlstore.Store) {
		fn(t, func(c *clock) *sqlstore.Store { return open(c.Now) })
	})
}

// newSQLClock is a clock at a whole microsecond, the precision the SQL
// store keeps.
func newSQLClock() *clock { return &clock{t: time.Now().Truncate(time.Microsecond)} }

// A schedule of 90 days with keys published a day ahead, for ES256 keys
// signing tokens of an hour.
const (
	rotateEvery   = 90 * 24 * time.Hour
	publishBefore = 24 * time.Hour
	tokenLifespan = time.Hour
)

func scheduled(t *testing.T, st storage.KeyStore, c *clock) *Manager {
	t.Helper()
	m := newManager(t, st, masterSecret(1), Options{
		Algorithm: ES256, TokenLifespan: tokenLifespan, RotateEvery: rotateEvery, PublishBefore: publishBefore, Now: c.Now,
	})
	if err := m.Ensure(t.Context()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return m
}

// kidOf returns the kid in a compact JWS's header.
func kidOf(t *testing.T, token string) string {
	t.Helper()
	head, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	var h struct {
		KID string `json:"kid"`
	}
	if err != nil || json.Unmarshal(raw, &h) != nil {
		t.Fatalf("token header %q does not decode", head)
	}
	return h.KID
}

func signedBy(t *testing.T, m *Manager, what, want string) string {
	t.Helper()
	token, err := m.Sign(t.Context(), map[string]any{"sub": "user-1"}, "")
	if err != nil {
		t.Fatalf("%s: Sign: %v", what, err)
	}
	if got := kidOf(t, token); got != want {
		t.Errorf("%s: token signed by %s, want %s", what, got, want)
	}
	return token
}

// jwksKIDs fetches the JWKS document the way a relying party does.
func jwksKIDs(t *testing.T, m *Manager) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.JWKSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jwks", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("JWKS: status %d", rec.Code)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=60" {
		t.Errorf("JWKS Cache-Control = %q, want public, max-age=60", cc)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func wantKIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func rotateDue(t *testing.T, m *Manager, what string, want ...string) []Change {
	t.Helper()
	changes, err := m.RotateDue(t.Context())
	if err != nil {
		t.Fatalf("%s: RotateDue: %v", what, err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, c.Action)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: RotateDue did %q, want %q", what, got, want)
	}
	return changes
}

func TestScheduledRotation(t *testing.T) {
	sqlBackends(t, func(t *testing.T, open func(c *clock) *sqlstore.Store) {
		c := newSQLClock()
		m := scheduled(t, open(c), c)
		start := c.Now()
		k0 := m.state.Load().active.kid
		rotateDue(t, m, "a fresh key")

		c.Add(rotateEvery - publishBefore - time.Second)
		rotateDue(t, m, "a second before the next key is due")
		signedBy(t, m, "before the next key", k0)

		c.Add(time.Second)
		changes := rotateDue(t, m, "when the next key is due", ActionPublished)
		next := changes[0].Key
		if next.Status != storage.KeyNext || next.Algorithm != ES256 || next.KID == k0 {
			t.Fatalf("published %+v, want a next ES256 key", next)
		}
		n1 := next.KID
		wantKIDs(t, "JWKS with the next key published", jwksKIDs(t, m), k0, n1)
		oldToken := signedBy(t, m, "with the next key published", k0)
		list, err := m.List(t.Context())
		if err != nil || len(list) != 2 || list[1].KID != n1 || list[1].Status != storage.KeyNext ||
			list[1].SignsFrom == nil || !list[1].SignsFrom.Equal(start.Add(rotateEvery)) {
			t.Errorf("List = %+v, %v; want the next key second, signing from %s", list, err, start.Add(rotateEvery))
		}
		rotateDue(t, m, "again with the next key published")

		c.Add(publishBefore - time.Second)
		rotateDue(t, m, "a second before the next key signs")
		oldToken = signedBy(t, m, "a second before the next key signs", k0)

		c.Add(time.Second)
		promoted := c.Now()
		changes = rotateDue(t, m, "when the next key signs", ActionPromoted)
		if changes[0].Key.KID != n1 || changes[0].Key.Status != storage.KeyActive {
			t.Fatalf("promoted %+v, want %s active", changes[0].Key, n1)
		}
		signedBy(t, m, "after the promotion", n1)
		wantKIDs(t, "JWKS after the promotion", jwksKIDs(t, m), n1, k0)
		if _, err := m.Verify(t.Context(), oldToken); err != nil {
			t.Errorf("a token of the retired key does not verify: %v", err)
		}
		// RetireAfter defaults to a day: longer than the tokens' hour plus
		// the reload interval and the JWKS max-age.
		retire := promoted.Add(DefaultRetireAfter)
		list, _ = m.List(t.Context())
		if len(list) != 2 || list[1].KID != k0 || list[1].NotAfter == nil || !list[1].NotAfter.Equal(retire) {
			t.Errorf("List = %+v, want %s retired until %s", list, k0, retire)
		}

		c.Add(DefaultRetireAfter - time.Second)
		rotateDue(t, m, "a second before the retired key drops")
		wantKIDs(t, "JWKS a second before the retired key drops", jwksKIDs(t, m), n1, k0)
		if _, err := m.Verify(t.Context(), oldToken); err != nil {
			t.Errorf("a second before its NotAfter, a token of the retired key does not verify: %v", err)
		}
		c.Add(time.Second)
		if _, err := m.Verify(t.Context(), oldToken); err == nil {
			t.Error("after its NotAfter, a token of the retired key still verifies")
		}
		wantKIDs(t, "JWKS after the retired key's NotAfter", jwksKIDs(t, m), n1)

		// The next round counts from the promotion.
		c.Add(promoted.Add(rotateEvery - publishBefore - time.Second).Sub(c.Now()))
		rotateDue(t, m, "the second round, a second early")
		c.Add(time.Second)
		rotateDue(t, m, "the second round", ActionPublished)
	})
}

func TestScheduleTwoNodes(t *testing.T) {
	sqlBackends(t, func(t *testing.T, open func(c *clock) *sqlstore.Store) {
		c := newSQLClock()
		a := scheduled(t, open(c), c)
		b := scheduled(t, open(c), c)
		k0 := a.state.Load().active.kid
		if got := b.state.Load().active.kid; got != k0 {
			t.Fatalf("node b signs with %s, node a with %s; want one key", got, k0)
		}
		// race runs RotateDue on both nodes at once and returns every
		// change either made.
		race := func(what string) []Change {
			var (
				mu  sync.Mutex
				all []Change
				wg  sync.WaitGroup
			)
			start := make(chan struct{})
			for _, m := range []*Manager{a, b, a, b} {
				wg.Go(func() {
					<-start
					changes, err := m.RotateDue(t.Context())
					if err != nil {
						t.Errorf("%s: RotateDue: %v", what, err)
					}
					mu.Lock()
					all = append(all, changes...)
					mu.Unlock()
				})
			}
			close(start)
			wg.Wait()
			return all
		}
		prev := k0
		for round := range 3 {
			c.Add(rotateEvery - publishBefore)
			published := race("publish")
			if len(published) != 1 || published[0].Action != ActionPublished {
				t.Fatalf("round %d: four RotateDue on two nodes did %+v, want one key published", round, published)
			}
			next := published[0].Key.KID
			// The other node serves the next key within its reload interval.
			c.Add(DefaultRefresh)
			for _, m := range []*Manager{a, b} {
				kids := jwksKIDs(t, m)
				if len(kids) < 2 || kids[0] != prev || kids[1] != next {
					t.Errorf("round %d: JWKS = %q, want the active key %s then the next key %s", round, kids, prev, next)
				}
			}
			c.Add(publishBefore - DefaultRefresh)
			promoted := race("promote")
			if len(promoted) != 1 || promoted[0].Action != ActionPromoted || promoted[0].Key.KID != next {
				t.Fatalf("round %d: four RotateDue on two nodes did %+v, want %s promoted once", round, promoted, next)
			}
			c.Add(DefaultRefresh)
			signedBy(t, a, "node a after the promotion", next)
			signedBy(t, b, "node b after the promotion", next)
			recs, err := a.store.ListKeys(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var active, nexts []string
			for _, r := range recs {
				switch r.Status {
				case storage.KeyActive:
					active = append(active, r.ID)
				case storage.KeyNext:
					nexts = append(nexts, r.ID)
				}
			}
			if !slices.Equal(active, []string{next}) || len(nexts) != 0 {
				t.Errorf("round %d: stored active keys %q, next keys %q; want %s active and none next", round, active, nexts, next)
			}
			prev = next
		}
	})
}

// A rotation by hand (a compromised key) signs at once; the published
// next key waits until the new active key is RotateEvery old.
func TestRotateByHandKeepsSchedule(t *testing.T) {
	sqlBackends(t, func(t *testing.T, open func(c *clock) *sqlstore.Store) {
		c := newSQLClock()
		m := scheduled(t, open(c), c)
		c.Add(rotateEvery - publishBefore)
		n1 := rotateDue(t, m, "when the next key is due", ActionPublished)[0].Key.KID
		c.Add(time.Hour)
		manual, err := m.Rotate(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		rotatedAt := c.Now()
		signedBy(t, m, "right after Rotate", manual.KID)
		if kids := jwksKIDs(t, m); !slices.Contains(kids, n1) {
			t.Errorf("JWKS after Rotate = %q, want the next key %s still published", kids, n1)
		}
		c.Add(publishBefore)
		rotateDue(t, m, "once the next key is published long enough, the new key being young")
		signedBy(t, m, "a day after Rotate", manual.KID)
		c.Add(rotatedAt.Add(rotateEvery).Sub(c.Now()))
		rotateDue(t, m, "once the new key is RotateEvery old", ActionPromoted)
		signedBy(t, m, "after the promotion", n1)
	})
}

func TestScheduleOptions(t *testing.T) {
	box, err := secretbox.New(masterSecret(1), "signing-keys")
	if err != nil {
		t.Fatal(err)
	}
	c := newSQLClock()
	sql := sqltest.Open(t, filepath.Join(t.TempDir(), "atrium.db"), c.Now)
	valid := Options{Algorithm: ES256, TokenLifespan: time.Hour, RotateEvery: rotateEvery, PublishBefore: publishBefore}
	tests := []struct {
		name    string
		store   storage.KeyStore
		change  func(o *Options)
		wantErr string
	}{
		{"valid", sql, func(o *Options) {}, ""},
		{"schedule off over a store without KeyScheduler", newStore(t), func(o *Options) { o.RotateEvery = 0 }, ""},
		{"schedule over a store without KeyScheduler", newStore(t), func(o *Options) {}, "not a storage.KeyScheduler"},
		{"publish before the JWKS cache and reload", sql, func(o *Options) { o.PublishBefore = 89 * time.Second }, "PublishBefore 1m29s is shorter than 1m30s"},
		{"publish just long enough", sql, func(o *Options) { o.PublishBefore = 90 * time.Second }, ""},
		{"publish before with a slow reload", sql, func(o *Options) { o.Refresh = 5 * time.Minute; o.PublishBefore = 5 * time.Minute }, "shorter than 6m0s"},
		{"publish before as long as the rotation", sql, func(o *Options) { o.PublishBefore = rotateEvery }, "must be shorter than RotateEvery"},
		{"retire before the tokens expire", sql, func(o *Options) { o.RetireAfter = time.Hour }, "RetireAfter 1h0m0s is shorter than the 1h1m30s"},
		{"retire just after", sql, func(o *Options) { o.RetireAfter = time.Hour + 90*time.Second }, ""},
		{"negative rotation", sql, func(o *Options) { o.RotateEvery = -time.Hour }, "must not be negative"},
		{"negative publish before", sql, func(o *Options) { o.PublishBefore = -time.Hour }, "must not be negative"},
		{"negative lifespan", sql, func(o *Options) { o.TokenLifespan = -time.Hour }, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid
			tt.change(&o)
			_, err := NewManager(tt.store, box, o)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("NewManager = %v, want %q", err, tt.wantErr)
			}
		})
	}

	for _, tt := range []struct {
		lifespan, want time.Duration
	}{
		{0, DefaultRetireAfter},
		{time.Hour, DefaultRetireAfter},
		{48 * time.Hour, 48*time.Hour + 90*time.Second},
	} {
		m, err := NewManager(sql, box, Options{TokenLifespan: tt.lifespan})
		if err != nil || m.opts.RetireAfter != tt.want || m.opts.PublishBefore != DefaultPublishBefore {
			t.Errorf("tokens of %s: RetireAfter %s, PublishBefore %s (%v); want %s and %s", tt.lifespan, m.opts.RetireAfter, m.opts.PublishBefore, err, tt.want, DefaultPublishBefore)
		}
	}
}

func TestRunSchedule(t *testing.T) {
	c := newSQLClock()
	st := sqltest.Open(t, filepath.Join(t.TempDir(), "atrium.db"), c.Now)
	m := newManager(t, st, masterSecret(1), Options{
		Algorithm: ES256, RotateEvery: rotateEvery, PublishBefore: publishBefore, CheckEvery: 10 * time.Millisecond, Now: c.Now,
	})
	if err := m.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { m.RunSchedule(ctx, slog.New(slog.DiscardHandler)); close(done) }()
	// The loop looks again every CheckEvery: once the clock reaches the
	// schedule, the next key appears without a call from the test.
	c.Add(rotateEvery - publishBefore)
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := m.List(t.Context())
		if err == nil && len(list) == 2 && list[1].Status == storage.KeyNext {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RunSchedule published no next key within 10s: %+v, %v", list, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunSchedule did not return after its context ended")
	}

	off := newManager(t, st, masterSecret(1), Options{Algorithm: ES256, Now: c.Now})
	returned := make(chan struct{})
	go func() { off.RunSchedule(t.Context(), slog.New(slog.DiscardHandler)); close(returned) }()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("RunSchedule without RotateEvery did not return at once")
	}
}

// Each algorithm's key rotates on its own schedule, counted from when it
// started signing.
func TestScheduleEveryAlgorithm(t *testing.T) {
	c := newSQLClock()
	st := sqltest.Open(t, filepath.Join(t.TempDir(), "atrium.db"), c.Now)
	m := newManager(t, st, masterSecret(1), Options{
		Algorithm: ES256, Algorithms: []string{EdDSA}, RotateEvery: rotateEvery, PublishBefore: publishBefore, Now: c.Now,
	})
	if err := m.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Hour)
	if _, err := m.Rotate(t.Context(), EdDSA); err != nil { // the EdDSA key is an hour younger
		t.Fatal(err)
	}
	c.Add(rotateEvery - publishBefore - time.Hour)
	changes := rotateDue(t, m, "when the ES256 key's next key is due", ActionPublished)
	if changes[0].Key.Algorithm != ES256 {
		t.Errorf("published %+v, want an ES256 key", changes[0].Key)
	}
	c.Add(time.Hour)
	changes = rotateDue(t, m, "an hour later, when the EdDSA key's is due", ActionPublished)
	if changes[0].Key.Algorithm != EdDSA {
		t.Errorf("published %+v, want an EdDSA key", changes[0].Key)
	}
	c.Add(publishBefore)
	changes = rotateDue(t, m, "a day later, both next keys due", ActionPromoted, ActionPromoted)
	for _, alg := range []string{ES256, EdDSA} {
		k, err := m.activeKeyFor(t.Context(), alg)
		if err != nil || !slices.ContainsFunc(changes, func(c Change) bool { return c.Key.KID == k.kid }) {
			t.Errorf("active %s key %v (%v), want one of the promoted %+v", alg, k, err, changes)
		}
	}
}

// cancelOnPublish is a key store whose PublishKey ends the caller's
// context once the key is stored: a stop in the middle of a rotation.
type cancelOnPublish struct {
	*sqlstore.Store
	cancel context.CancelFunc
}

func (s cancelOnPublish) PublishKey(ctx context.Context, next *storage.SigningKey) error {
	err := s.Store.PublishKey(ctx, next)
	s.cancel()
	return err
}

// A rotation step taken as its context ends is still reported, with the
// key it published, and the manager's keys include it.
func TestRotateDueContextEndsMidway(t *testing.T) {
	c := newSQLClock()
	ctx, cancel := context.WithCancel(t.Context())
	st := cancelOnPublish{sqltest.Open(t, filepath.Join(t.TempDir(), "atrium.db"), c.Now), cancel}
	m := newManager(t, st, masterSecret(1), Options{Algorithm: ES256, RotateEvery: rotateEvery, PublishBefore: publishBefore, Now: c.Now})
	if err := m.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.Add(rotateEvery - publishBefore)
	changes, err := m.RotateDue(ctx)
	if err != nil || len(changes) != 1 || changes[0].Action != ActionPublished || changes[0].Key.Algorithm != ES256 || changes[0].Key.Status != storage.KeyNext {
		t.Fatalf("RotateDue as its context ends = %+v, %v; want the next ES256 key published", changes, err)
	}
	list, err := m.List(t.Context())
	if err != nil || len(list) != 2 || list[1].KID != changes[0].Key.KID {
		t.Fatalf("keys after the rotation = %+v, %v; want the active key and %s", list, err, changes[0].Key.KID)
	}
}
