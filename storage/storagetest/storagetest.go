package storagetest

import (
	"sync"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// Store is every store interface of package storage; Run runs against a
// backend that implements all of them.
type Store interface {
	storage.ClientStore
	storage.UserStore
	storage.CredentialStore
	storage.IdentityStore
	storage.ConsentStore
	storage.KeyStore
	storage.AuditStore
	storage.PreferenceStore
	storage.StateStore
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

// testCase is one case of the suite; it gets a fresh empty store of type
// S and a clock reading Epoch.
type testCase[S any] struct {
	name string
	fn   func(t *testing.T, s S, clock *Clock)
}

// test is a case that needs the whole Store; it runs only under Run.
type test = testCase[Store]

// stateTest is a case that needs only the short-lived state; it runs
// under both Run and RunState.
type stateTest = testCase[storage.StateStore]

// suite is a named list of cases run against stores of type S.
type suite[S any] struct {
	name  string
	tests []testCase[S]
}

// full adapts state cases to run against a whole Store.
func full(ts []stateTest) []test {
	out := make([]test, len(ts))
	for i, tc := range ts {
		out[i] = test{tc.name, func(t *testing.T, s Store, clock *Clock) { tc.fn(t, s, clock) }}
	}
	return out
}

// Run runs the whole suite: the durable records and the short-lived state
// (everything RunState runs). newStore must return a fresh, empty store
// whose notion of now (for expiry) is clock.Now; it is called once per case
// and should register its own cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T, clock *Clock) Store) {
	run(t, newStore, []suite[Store]{
		{"Clients", clientTests},
		{"ClientMetadata", clientMetadataTests},
		{"Users", userTests},
		{"Credentials", credentialTests},
		{"Identities", identityTests},
		{"Consents", consentTests},
		{"DeclinedScopes", declinedTests},
		{"ConsentResources", consentResourceTests},
		{"ConsentLedger", ledgerTests},
		{"Keys", keyTests},
		{"Audit", auditTests},
		{"Preferences", preferenceTests},
		{"Sessions", full(sessionTests)},
		{"Interactions", full(interactionTests)},
		{"Tokens", full(tokenTests)},
		{"Counters", full(counterTests)},
		{"Concurrency", append(full(stateConcurrencyTests), concurrencyTests...)},
	})
}

// RunState runs the part of the suite that needs only storage.StateStore:
// sessions, interactions, grant state, replay markers and counters, and
// the guarantees among them under concurrent callers. It is for a backend
// that holds only the short-lived state; newStore is as for Run.
func RunState(t *testing.T, newStore func(t *testing.T, clock *Clock) storage.StateStore) {
	run(t, newStore, []suite[storage.StateStore]{
		{"Sessions", sessionTests},
		{"Interactions", interactionTests},
		{"Tokens", tokenTests},
		{"Counters", counterTests},
		{"Concurrency", stateConcurrencyTests},
	})
}

func run[S any](t *testing.T, newStore func(t *testing.T, clock *Clock) S, suites []suite[S]) {
	for _, suite := range suites {
		t.Run(suite.name, func(t *testing.T) {
			for _, tc := range suite.tests {
				t.Run(tc.name, func(t *testing.T) {
					clock := NewClock(Epoch)
					s := newStore(t, clock)
					if any(s) == nil {
						t.Fatal("newStore returned nil, want a fresh empty store")
					}
					tc.fn(t, s, clock)
				})
			}
		})
	}
}
