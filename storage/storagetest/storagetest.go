package storagetest

import (
	"sync"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// Store is every store interface of package storage; the suite runs against
// a backend that implements all of them.
type Store interface {
	storage.ClientStore
	storage.UserStore
	storage.CredentialStore
	storage.IdentityStore
	storage.ConsentStore
	storage.KeyStore
	storage.SessionStore
	storage.TokenStore
}

// Clock is a settable fake clock, safe for concurrent use. A backend under
// test judges expiry by Clock.Now.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads t until moved.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Epoch is where every test's clock starts. It has nanoseconds below the
// microsecond and a zone other than UTC, so a backend must truncate and
// normalise times and still compare instants correctly.
var Epoch = time.Date(2031, time.March, 14, 15, 9, 26, 535897932, time.FixedZone("IST", 5*3600+1800))

// test is one case of the suite; it gets a fresh empty store and a clock
// reading Epoch.
type test struct {
	name string
	fn   func(t *testing.T, s Store, clock *Clock)
}

// Run runs the whole suite. newStore must return a fresh, empty store whose
// notion of now (for expiry) is clock.Now; it is called once per case and
// should register its own cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T, clock *Clock) Store) {
	suites := []struct {
		name  string
		tests []test
	}{
		{"Clients", clientTests},
		{"Users", userTests},
		{"Credentials", credentialTests},
		{"Identities", identityTests},
		{"Consents", consentTests},
		{"Keys", keyTests},
		{"Sessions", sessionTests},
		{"Interactions", interactionTests},
		{"Tokens", tokenTests},
		{"Concurrency", concurrencyTests},
	}
	for _, suite := range suites {
		t.Run(suite.name, func(t *testing.T) {
			for _, tc := range suite.tests {
				t.Run(tc.name, func(t *testing.T) {
					clock := NewClock(Epoch)
					s := newStore(t, clock)
					if s == nil {
						t.Fatal("newStore returned nil, want a fresh empty store")
					}
					tc.fn(t, s, clock)
				})
			}
		})
	}
}
