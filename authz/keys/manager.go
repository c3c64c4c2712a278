package keys

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/atrium-id/atrium/internal/secretbox"
	"github.com/atrium-id/atrium/storage"
)

// Options configures a Manager. Zero values take the defaults.
type Options struct {
	// Algorithm of new keys: RS256 (default), ES256 or EdDSA. Its key signs
	// whatever does not ask for another algorithm.
	Algorithm string
	// Algorithms always have an active key, which Ensure creates when
	// missing, so clients can ask for their ID tokens in any of them.
	// Algorithm is always among them.
	Algorithms []string
	// TokenLifespan is the longest lifespan of the tokens these keys sign
	// (ID tokens, and JWT access tokens where a client gets them); zero
	// when unknown. RetireAfter must cover it: see MinRetireAfter.
	TokenLifespan time.Duration
	// RetireAfter is how long a rotated-out key stays published so the
	// tokens it signed keep verifying: at least MinRetireAfter(TokenLifespan,
	// Refresh); default that or DefaultRetireAfter, whichever is longer.
	RetireAfter time.Duration
	// Refresh is how often the cached keys are reloaded from the store, so
	// a rotation made by another process is picked up; default
	// DefaultRefresh.
	Refresh time.Duration
	// RotateEvery turns on rotation on a schedule (schedule.go): the
	// active key of each algorithm is replaced once it is this old. Zero
	// leaves rotation to Rotate. The store must be a storage.KeyScheduler.
	RotateEvery time.Duration
	// PublishBefore is how long the next key is published before it
	// signs: at least MinPublishBefore(Refresh), shorter than RotateEvery;
	// default DefaultPublishBefore.
	PublishBefore time.Duration
	// CheckEvery is how often RunSchedule looks at the schedule; default
	// DefaultCheckEvery.
	CheckEvery time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultRefresh       = 30 * time.Second
	DefaultRetireAfter   = 24 * time.Hour
	DefaultPublishBefore = 24 * time.Hour
	DefaultCheckEvery    = 5 * time.Minute
)

// MinPublishBefore is the shortest time a next key must be published
// before it signs, for a manager that reloads keys every refresh (0 for
// DefaultRefresh): every node serves the key in its JWKS within refresh,
// and a JWKS cached before that expires within JWKSMaxAge, so by then
// every relying party that honours Cache-Control can verify the key's
// tokens.
func MinPublishBefore(refresh time.Duration) time.Duration {
	return cmp.Or(refresh, DefaultRefresh) + JWKSMaxAge
}

// MinRetireAfter is the shortest time a rotated-out key must stay
// published so that the last token it signed verifies until it expires:
// other nodes may sign with it for up to refresh (0 for DefaultRefresh)
// after the rotation, the token then lives tokenLifespan, and JWKSMaxAge
// is kept as leeway for the clocks of relying parties.
func MinRetireAfter(tokenLifespan, refresh time.Duration) time.Duration {
	return tokenLifespan + cmp.Or(refresh, DefaultRefresh) + JWKSMaxAge
}

// KeyInfo describes a published key. It never holds private material.
type KeyInfo struct {
	KID       string     `json:"kid"`
	Algorithm string     `json:"alg"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
	// SignsFrom is when the schedule promotes a next key, at the earliest.
	SignsFrom *time.Time `json:"signs_from,omitempty"`
}

// missReloadInterval bounds reloads caused by tokens naming an unknown kid.
const missReloadInterval = time.Second

// Manager owns the signing keys: it creates and rotates them in the store,
// keeps the decrypted keys in memory, signs with the active key and
// verifies against every published key. It is safe for concurrent use.
type Manager struct {
	store storage.KeyStore
	box   *secretbox.Box
	opts  Options

	state    atomic.Pointer[keySet]
	reloadMu sync.Mutex // one reload at a time
	lastMiss time.Time  // guarded by reloadMu
	writeMu  sync.Mutex // serializes Ensure, Rotate and RotateDue in this process
}

// keySet is an immutable snapshot of the published keys.
type keySet struct {
	expires time.Time       // reload after this
	active  *key            // of the configured algorithm (else any); nil when none is active
	byAlg   map[string]*key // the active key of each algorithm
	next    map[string]*key // the next key of each algorithm
	keys    []*key          // active first, then newest first
	byKID   map[string]*key // every key in keys
	jwks    []byte          // the JWKS document
}

// NewManager returns a Manager over store whose private keys are sealed by
// box. It does not touch the store; call Ensure at start-up.
func NewManager(store storage.KeyStore, box *secretbox.Box, opts Options) (*Manager, error) {
	if store == nil || box == nil {
		return nil, errors.New("keys: a key store and a secret box are required")
	}
	if opts.Algorithm == "" {
		opts.Algorithm = RS256
	}
	if err := checkAlgorithm(opts.Algorithm); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	for _, alg := range opts.Algorithms {
		if err := checkAlgorithm(alg); err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
	}
	if !slices.Contains(opts.Algorithms, opts.Algorithm) {
		opts.Algorithms = append([]string{opts.Algorithm}, opts.Algorithms...)
	}
	if opts.RetireAfter < 0 || opts.Refresh < 0 || opts.TokenLifespan < 0 ||
		opts.RotateEvery < 0 || opts.PublishBefore < 0 || opts.CheckEvery < 0 {
		return nil, errors.New("keys: durations must not be negative")
	}
	opts.Refresh = cmp.Or(opts.Refresh, DefaultRefresh)
	minRetire := MinRetireAfter(opts.TokenLifespan, opts.Refresh)
	switch {
	case opts.RetireAfter == 0:
		opts.RetireAfter = max(DefaultRetireAfter, minRetire)
	case opts.RetireAfter < minRetire:
		return nil, fmt.Errorf("keys: RetireAfter %s is shorter than the %s a token signed just before a rotation needs to stay verifiable", opts.RetireAfter, minRetire)
	}
	opts.PublishBefore = cmp.Or(opts.PublishBefore, DefaultPublishBefore)
	opts.CheckEvery = cmp.Or(opts.CheckEvery, DefaultCheckEvery)
	if opts.RotateEvery > 0 {
		if err := checkSchedule(store, opts); err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Manager{store: store, box: box, opts: opts}, nil
}

// Ensure creates an active key for each of the configured algorithms that
// has none in the store. It is safe to call more than once.
func (m *Manager) Ensure(ctx context.Context) error {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	s, err := m.reload(ctx)
	if err != nil {
		return err
	}
	for _, alg := range m.opts.Algorithms {
		if s.byAlg[alg] != nil {
			continue
		}
		now := m.opts.Now()
		if _, err := m.create(ctx, alg, now, now); err != nil {
			return err
		}
	}
	return nil
}

// Rotate makes a new key with alg ("" means the configured algorithm) the
// active one of its algorithm. The previous active key stays published for RetireAfter so
// the tokens it signed keep verifying. The new key signs in this process at
// once; other processes pick it up within their Refresh. A next key the
// schedule published stays next, promoted once the new key is RotateEvery
// old.
func (m *Manager) Rotate(ctx context.Context, alg string) (KeyInfo, error) {
	if alg == "" {
		alg = m.opts.Algorithm
	}
	if err := checkAlgorithm(alg); err != nil {
		return KeyInfo{}, fmt.Errorf("keys: %w", err)
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	now := m.opts.Now()
	k, err := m.create(ctx, alg, now, now.Add(m.opts.RetireAfter))
	if err != nil {
		return KeyInfo{}, err
	}
	return k.info(), nil
}

// create generates a key, stores it as the active one (retiring the others
// with NotAfter retireAfter) and reloads the cache.
func (m *Manager) create(ctx context.Context, alg string, now, retireAfter time.Time) (*key, error) {
	priv, err := generate(alg)
	if err != nil {
		return nil, fmt.Errorf("keys: generate %s key: %w", alg, err)
	}
	k, err := newKey(alg, priv)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	rec, err := seal(m.box, k, now)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if err := m.store.RotateKey(ctx, rec, retireAfter); err != nil {
		return nil, fmt.Errorf("keys: store new key: %w", err)
	}
	if _, err := m.reload(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// List describes the published keys, read from the store: the active keys
// first, then the next ones, then the retired ones, each newest first.
func (m *Manager) List(ctx context.Context) ([]KeyInfo, error) {
	recs, err := m.store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	slices.SortStableFunc(recs, func(a, b *storage.SigningKey) int {
		return cmp.Compare(rank(a.Status), rank(b.Status))
	})
	now := m.opts.Now()
	activeSince := map[string]time.Time{}
	for _, r := range recs {
		if _, seen := activeSince[r.Algorithm]; !seen && r.Status == storage.KeyActive {
			activeSince[r.Algorithm] = r.CreatedAt
		}
	}
	var out []KeyInfo
	for _, r := range recs {
		if !r.NotAfter.IsZero() && !now.Before(r.NotAfter) {
			continue
		}
		ki := KeyInfo{KID: r.ID, Algorithm: r.Algorithm, Status: r.Status, CreatedAt: r.CreatedAt}
		if !r.NotAfter.IsZero() {
			na := r.NotAfter
			ki.NotAfter = &na
		}
		if r.Status == storage.KeyNext && m.opts.RotateEvery > 0 {
			from := m.signsFrom(r.CreatedAt, activeSince[r.Algorithm])
			ki.SignsFrom = &from
		}
		out = append(out, ki)
	}
	return out, nil
}

// rank orders the active key first, then the next key, then the others.
func rank(status string) int {
	switch status {
	case storage.KeyActive:
		return 0
	case storage.KeyNext:
		return 1
	}
	return 2
}

// current returns the cached keys, reloading them once Refresh has passed.
// While one goroutine reloads, the others keep using the previous snapshot;
// if a reload fails the previous snapshot stays in use and the reload is
// retried after Refresh.
func (m *Manager) current(ctx context.Context) (*keySet, error) {
	s := m.state.Load()
	now := m.opts.Now()
	if s != nil && now.Before(s.expires) {
		return s, nil
	}
	if s != nil {
		if !m.reloadMu.TryLock() {
			return s, nil
		}
	} else {
		m.reloadMu.Lock()
	}
	defer m.reloadMu.Unlock()
	if s2 := m.state.Load(); s2 != nil && s2 != s && now.Before(s2.expires) {
		return s2, nil
	}
	ctx, cancel := detach(ctx)
	defer cancel()
	fresh, err := m.reloadLocked(ctx)
	if err != nil {
		if s == nil {
			return nil, err
		}
		stale := *s
		stale.expires = now.Add(m.opts.Refresh)
		m.state.Store(&stale)
		return &stale, nil
	}
	return fresh, nil
}

// reloadTimeout bounds a cache reload made on behalf of a request.
const reloadTimeout = 10 * time.Second

// detach keeps a request's values but not its cancellation for a cache
// reload, so a client going away does not leave the cache stale for
// another Refresh.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), reloadTimeout)
}

// reload loads the keys from the store now.
func (m *Manager) reload(ctx context.Context) (*keySet, error) {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	return m.reloadLocked(ctx)
}

// lookup finds a published key by kid, reloading at most once every
// missReloadInterval when the kid is unknown (a key rotated in by another
// process).
func (m *Manager) lookup(ctx context.Context, kid string) (*key, error) {
	s, err := m.current(ctx)
	if err != nil {
		return nil, err
	}
	now := m.opts.Now()
	if k := s.byKID[kid]; k != nil && !k.expired(now) {
		return k, nil
	}
	m.reloadMu.Lock()
	if s2 := m.state.Load(); s2 != s {
		s = s2 // reloaded meanwhile
	} else if now.Sub(m.lastMiss) >= missReloadInterval {
		m.lastMiss = now
		ctx, cancel := detach(ctx)
		if fresh, err := m.reloadLocked(ctx); err == nil {
			s = fresh
		}
		cancel()
	}
	m.reloadMu.Unlock()
	if k := s.byKID[kid]; k != nil && !k.expired(now) {
		return k, nil
	}
	return nil, fmt.Errorf("keys: unknown key id %q", kid)
}

func (m *Manager) reloadLocked(ctx context.Context) (*keySet, error) {
	recs, err := m.store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: load: %w", err)
	}
	now := m.opts.Now()
	prev := m.state.Load()
	s := &keySet{expires: now.Add(m.opts.Refresh), byKID: make(map[string]*key, len(recs)), byAlg: map[string]*key{}, next: map[string]*key{}}
	var actives, rest []*key
	for _, r := range recs {
		if !r.NotAfter.IsZero() && !now.Before(r.NotAfter) {
			continue
		}
		if _, dup := s.byKID[r.ID]; dup {
			continue
		}
		var k *key
		if prev != nil {
			if old := prev.byKID[r.ID]; old != nil && bytes.Equal(old.sealed, r.PrivateKey) && old.alg == r.Algorithm {
				cp := *old // reuse the parsed key; status and NotAfter may have changed
				cp.status, cp.createdAt, cp.notAfter = r.Status, r.CreatedAt, r.NotAfter
				k = &cp
			}
		}
		if k == nil {
			if k, err = open(m.box, r); err != nil {
				return nil, fmt.Errorf("keys: %w", err)
			}
		}
		s.byKID[k.kid] = k
		if k.status == storage.KeyActive && s.byAlg[k.alg] == nil {
			s.byAlg[k.alg] = k
			actives = append(actives, k)
			continue
		}
		if k.status == storage.KeyNext && s.next[k.alg] == nil {
			s.next[k.alg] = k
		}
		rest = append(rest, k)
	}
	s.active = s.byAlg[m.opts.Algorithm]
	if s.active == nil && len(actives) > 0 {
		s.active = actives[0]
	}
	if s.active != nil {
		s.keys = append(s.keys, s.active)
	}
	for _, k := range actives {
		if k != s.active {
			s.keys = append(s.keys, k)
		}
	}
	s.keys = append(s.keys, rest...)
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(s.keys))}
	for _, k := range s.keys {
		set.Keys = append(set.Keys, k.jwk)
	}
	if s.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("keys: encode JWKS: %w", err)
	}
	m.state.Store(s)
	return s, nil
}

// activeKey returns the key that signs new tokens.
func (m *Manager) activeKey(ctx context.Context) (*key, error) { return m.activeKeyFor(ctx, "") }

// activeKeyFor returns the active key of alg ("" for the configured
// algorithm's).
func (m *Manager) activeKeyFor(ctx context.Context, alg string) (*key, error) {
	s, err := m.current(ctx)
	if err != nil {
		return nil, err
	}
	k := s.active
	if alg != "" {
		k = s.byAlg[alg]
	}
	if k == nil {
		if alg == "" {
			return nil, errors.New("keys: no active signing key (run Ensure or rotate a key)")
		}
		return nil, fmt.Errorf("keys: no active %s signing key (run Ensure or rotate one in)", alg)
	}
	return k, nil
}
