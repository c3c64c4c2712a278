package authz

import (
	"context"
	"html"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atrium-id/atrium/internal/redistest"
	"github.com/atrium-id/atrium/storage"
	redisstore "github.com/atrium-id/atrium/storage/redis"
	sqlstore "github.com/atrium-id/atrium/storage/sql"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		failures int64
		want     time.Duration
	}{
		{0, 0}, {4, 0}, {5, time.Second}, {6, 2 * time.Second}, {7, 4 * time.Second},
		{10, 32 * time.Second}, {14, 512 * time.Second}, {15, 15 * time.Minute}, {16, 15 * time.Minute}, {70, 15 * time.Minute},
	}
	for _, tc := range tests {
		if got := backoff(tc.failures, 5); got != tc.want {
			t.Errorf("backoff(%d failures, 5 free) = %s, want %s", tc.failures, got, tc.want)
		}
	}
}

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"198.51.100.7", "198.51.100.7"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"}, // the same host's block
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
	} {
		if got := addrKey(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("addrKey(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}

// throttleEnv is a provider whose counters live in a state store (SQL or
// Redis) on a clock the test moves, whose audit events go to the SQL
// store, and whose browsers may send an X-Forwarded-For header.
type throttleEnv struct {
	*testEnv
	offset atomic.Int64 // added to the clock, in nanoseconds
	mu     sync.Mutex
	xff    string
}

func (e *throttleEnv) advance(d time.Duration) { e.offset.Add(int64(d)) }

func (e *throttleEnv) setXFF(v string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.xff = v
}

// RoundTrip sends requests with the current X-Forwarded-For header.
func (e *throttleEnv) RoundTrip(r *http.Request) (*http.Response, error) {
	e.mu.Lock()
	xff := e.xff
	e.mu.Unlock()
	if xff != "" {
		r = r.Clone(r.Context())
		r.Header.Set("X-Forwarded-For", xff)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (e *throttleEnv) browser() *http.Client {
	b := e.testEnv.browser()
	b.Transport = e
	return b
}

// throttleBackends runs fn with the counters in SQL and in Redis.
func throttleBackends(t *testing.T, configure func(*Config), fn func(t *testing.T, e *throttleEnv)) {
	open := map[string]func(t *testing.T, now func() time.Time) storage.StateStore{
		"sql": func(t *testing.T, now func() time.Time) storage.StateStore {
			s, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), sqlstore.WithClock(now))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"redis": func(t *testing.T, now func() time.Time) storage.StateStore {
			s, err := redisstore.Open(context.Background(), redistest.URL(t),
				redisstore.WithPrefix("authz-throttle:"+randomToken()[:12]+":"), redisstore.WithClock(now))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	for _, name := range []string{"sql", "redis"} {
		t.Run(name, func(t *testing.T) {
			e := &throttleEnv{}
			// Time moves only by advance: under the race detector a
			// password check can take longer than a backoff.
			start := time.Now()
			now := func() time.Time { return start.Add(time.Duration(e.offset.Load())) }
			state := open[name](t, now)
			e.testEnv = newTestEnvWith(t, func(c *Config) {
				c.Now = now
				if configure != nil {
					configure(c)
				}
			}, state)
			e.p.stores.Counters = state
			e.p.stores.Audit = e.store
			fn(t, e)
		})
	}
}

var problemRe = regexp.MustCompile(`<p class="error" role="alert"[^>]*>([^<]*)</p>`)

// answer is what a person sees of a throttled or refused attempt.
type answer struct {
	Status     int
	RetryAfter string
	Problem    string
}

func answerOf(t *testing.T, resp *http.Response) answer {
	t.Helper()
	body := readBody(t, resp)
	a := answer{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	if m := problemRe.FindStringSubmatch(body); m != nil {
		a.Problem = html.UnescapeString(m[1])
	}
	return a
}

// loginForm starts an authorization request and returns its login page.
func (e *throttleEnv) loginForm(t *testing.T, b *http.Client) (page, pageURL string) {
	t.Helper()
	_, challenge := pkcePair()
	resp, err := b.Get(e.authorizeURL(codeParams("app", "openid", challenge)))
	if err != nil {
		t.Fatal(err)
	}
	page = readBody(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(page, `name="password"`) {
		t.Fatalf("not the login page (%d): %s", resp.StatusCode, page)
	}
	return page, resp.Request.URL.String()
}

// login submits a fresh login page with email and password.
func (e *throttleEnv) login(t *testing.T, b *http.Client, email, password string) answer {
	t.Helper()
	page, pageURL := e.loginForm(t, b)
	return answerOf(t, submitForm(t, b, pageURL, page, "login", url.Values{"email": {email}, "password": {password}}))
}

var (
	refused       = answer{Status: http.StatusUnauthorized, Problem: "Incorrect email or password."}
	throttledFor1 = answer{Status: http.StatusTooManyRequests, RetryAfter: "1", Problem: "Too many sign-in attempts. Try again in 1 minute."}
)

func throttledAnswer(secs string, mins string) answer {
	return answer{Status: http.StatusTooManyRequests, RetryAfter: secs, Problem: "Too many sign-in attempts. Try again in " + mins + "."}
}

// TestLoginBackoff: an account gets five failed sign-ins, then each
// attempt waits a backoff that doubles with every failure; the right
// password ends it. An address without an account gets exactly the same
// answers, and a throttled attempt checks no password.
func TestLoginBackoff(t *testing.T) {
	throttleBackends(t, nil, func(t *testing.T, e *throttleEnv) {
		run := func(email, rightPassword string) []answer {
			b := e.browser()
			var got []answer
			for range 5 {
				got = append(got, e.login(t, b, email, "wrong password"))
			}
			// Throttled: even the right password is not checked.
			got = append(got, e.login(t, b, email, rightPassword))
			for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
				e.advance(wait / 2)
				got = append(got, e.login(t, b, email, rightPassword)) // still waiting
				e.advance(wait / 2)
				got = append(got, e.login(t, b, email, "wrong password"))
			}
			got = append(got, e.login(t, b, email, rightPassword))
			return got
		}
		// Retry-After while waiting: what is left of 1, 2 and 4 seconds
		// after half of them passed, rounded up; then the 8 seconds after
		// the eighth failure.
		want := []answer{refused, refused, refused, refused, refused, throttledFor1,
			throttledFor1, refused, throttledFor1, refused, throttledAnswer("2", "1 minute"), refused,
			throttledAnswer("8", "1 minute")}
		known := run(testEmail, testPassword)
		unknown := run("nobody@example.com", "whatever it is")
		for i := range want {
			if known[i] != want[i] {
				t.Errorf("known account, attempt %d: %+v, want %+v", i+1, known[i], want[i])
			}
			if unknown[i] != known[i] {
				t.Errorf("unknown account, attempt %d: %+v, want the known account's %+v", i+1, unknown[i], known[i])
			}
		}

		// After the wait the right password signs in and clears the
		// failures: five free failures again.
		e.advance(8 * time.Second)
		b := e.browser()
		page, pageURL := e.loginForm(t, b)
		resp := submitForm(t, b, pageURL, page, "login", url.Values{"email": {strings.ToUpper(testEmail)}, "password": {testPassword}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, `value="allow"`) {
			t.Fatalf("right password after the backoff: %d, want the consent page: %s", resp.StatusCode, body)
		}
		b = e.browser() // without the SSO session
		for i := range 5 {
			if got := e.login(t, b, testEmail, "wrong password"); got != refused {
				t.Errorf("failure %d after a successful sign-in: %+v, want %+v", i+1, got, refused)
			}
		}
		if got := e.login(t, b, testEmail, testPassword); got != throttledFor1 {
			t.Errorf("sixth attempt after a successful sign-in: %+v, want %+v", got, throttledFor1)
		}

		// The count lapses 15 minutes after the latest failure.
		e.advance(15 * time.Minute)
		if got := e.login(t, e.browser(), "nobody@example.com", "x"); got != refused {
			t.Errorf("unknown account 15 minutes after its latest failure: %+v, want %+v", got, refused)
		}
	})
}

// TestLoginThrottleInterleaved: past the free failures, of two attempts
// checked before either is counted, only the first counted goes on to
// check its password.
func TestLoginThrottleInterleaved(t *testing.T) {
	throttleBackends(t, nil, func(t *testing.T, e *throttleEnv) {
		ctx := t.Context()
		key := accountKey(testEmail)
		for range 5 {
			if counted, err := e.p.failureGate(ctx, key); err != nil || counted {
				t.Fatalf("failureGate within the free failures = %v, %v; want not counted, nil", counted, err)
			}
			if err := e.p.loginFailed(ctx, testEmail, false); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.p.failureCheck(ctx, key); err == nil {
			t.Fatal("failureCheck right after the fifth failure = nil, want a throttle")
		}
		e.advance(time.Second)
		na, errA := e.p.failureCheck(ctx, key)
		nb, errB := e.p.failureCheck(ctx, key)
		if errA != nil || errB != nil || na != 5 || nb != 5 {
			t.Fatalf("two checks after the wait = %d, %v and %d, %v; want 5 failures, nil each", na, errA, nb, errB)
		}
		if counted, err := e.p.failureClaim(ctx, key, na); err != nil || !counted {
			t.Errorf("first claim = %v, %v; want counted, nil", counted, err)
		}
		counted, err := e.p.failureClaim(ctx, key, nb)
		if th, ok := throttled(err); !ok || !counted || th.retry != 4*time.Second {
			t.Errorf("second claim = %v, %v; want counted, throttled for 4s (7 failures)", counted, err)
		}
		// The next check waits for the seventh failure's backoff.
		if _, err := e.p.failureCheck(ctx, key); err == nil {
			t.Error("failureCheck after both claims = nil, want a throttle")
		}
	})
}

// TestLoginThrottleByAddress: a client address gets LoginAttemptsPerIP
// attempts per 15 minutes, whichever accounts they are for. Behind a
// trusted proxy the address is X-Forwarded-For's; from any other peer the
// header is ignored, so spoofing it gains nothing.
func TestLoginThrottleByAddress(t *testing.T) {
	local := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	throttleBackends(t, func(c *Config) { c.LoginAttemptsPerIP = 3; c.TrustedProxies = local }, func(t *testing.T, e *throttleEnv) {
		b := e.browser()
		e.setXFF("198.51.100.1")
		for i := range 3 {
			if got := e.login(t, b, "user"+string(rune('a'+i))+"@example.com", "x"); got != refused {
				t.Errorf("attempt %d from 198.51.100.1: %+v, want %+v", i+1, got, refused)
			}
		}
		over := answer{Status: http.StatusTooManyRequests, RetryAfter: "900", Problem: "Too many sign-in attempts. Try again in 15 minutes."}
		if got := e.login(t, b, testEmail, testPassword); got != over {
			t.Errorf("attempt 4 from 198.51.100.1: %+v, want %+v", got, over)
		}
		// Another client behind the same proxy is not held up; a
		// client-supplied entry left of it changes nothing.
		e.setXFF("198.51.100.1, 198.51.100.2")
		if got := e.login(t, b, "other@example.com", "x"); got != refused {
			t.Errorf("attempt from 198.51.100.2 behind the proxy: %+v, want %+v", got, refused)
		}
		e.setXFF("198.51.100.2, 198.51.100.1")
		if got := e.login(t, b, "other@example.com", "x"); got != over {
			t.Errorf("198.51.100.1 claiming to forward for 198.51.100.2: %+v, want %+v", got, over)
		}
		// The window passes.
		e.advance(15 * time.Minute)
		e.setXFF("198.51.100.1")
		if got := e.login(t, b, "fresh@example.com", "x"); got != refused {
			t.Errorf("from 198.51.100.1 after the window: %+v, want %+v", got, refused)
		}
		events := auditEvents(t, e.store, "")
		if n := countEvents(events, storage.AuditLoginThrottled, "198.51.100.1"); n != 2 {
			t.Errorf("%d login.throttled events from 198.51.100.1, want 2", n)
		}
	})
	// Without trusted proxies, X-Forwarded-For is the client's own claim
	// and ignored: every attempt is the peer's.
	t.Run("untrusted", func(t *testing.T) {
		throttleBackends(t, func(c *Config) { c.LoginAttemptsPerIP = 3 }, func(t *testing.T, e *throttleEnv) {
			b := e.browser()
			var got []answer
			for i := range 4 {
				e.setXFF("203.0.113." + string(rune('1'+i)))
				got = append(got, e.login(t, b, "spoof"+string(rune('a'+i))+"@example.com", "x"))
			}
			if got[3].Status != http.StatusTooManyRequests {
				t.Errorf("4th attempt from one peer with spoofed X-Forwarded-For: %+v, want 429", got[3])
			}
			for _, ev := range auditEvents(t, e.store, "") {
				if ev.IP != "127.0.0.1" {
					t.Errorf("event %s from IP %q, want the peer 127.0.0.1 (the header is not trusted)", ev.Type, ev.IP)
				}
			}
		})
	})
}

// TestFactorBackoff: second-factor failures of a user follow the sign-in
// rule, and success resets them.
func TestFactorBackoff(t *testing.T) {
	throttleBackends(t, nil, func(t *testing.T, e *throttleEnv) {
		ctx := t.Context()
		limited := func(user string, want time.Duration, when string) {
			t.Helper()
			got, err := e.p.factorLimited(ctx, user)
			if err != nil {
				t.Fatalf("factorLimited %s: %v", when, err)
			}
			// The clock runs between the failure and the check.
			if got > want || got < want-200*time.Millisecond || (want == 0) != (got == 0) {
				t.Errorf("factorLimited(%s) %s = %s, want %s", user, when, got, want)
			}
		}
		fail := func(user string) {
			t.Helper()
			if err := e.p.factorFailed(ctx, user); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 5 {
			limited("u1", 0, "before failure "+string(rune('1'+i)))
			fail("u1")
		}
		limited("u1", time.Second, "after 5 failures")
		limited("u2", 0, "for another user")
		e.advance(time.Second)
		limited("u1", 0, "after the wait")
		fail("u1")
		limited("u1", 2*time.Second, "after 6 failures")
		if err := e.p.factorSucceeded(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
		limited("u1", 0, "after a success")
		for range 5 {
			fail("u1")
		}
		limited("u1", time.Second, "after 5 failures following a success")
	})
}

// TestSignupAndResetThrottleByAddress: sign-ups and reset requests are
// limited per client address and hour.
func TestSignupAndResetThrottleByAddress(t *testing.T) {
	throttleBackends(t, func(c *Config) { c.SignupsPerIP = 2; c.ResetsPerIP = 2 }, func(t *testing.T, e *throttleEnv) {
		b := e.browser()
		page, pageURL := e.loginForm(t, b)
		signup, signupURL := follow(t, b, pageURL, page, "signup?")
		var got []answer
		for i := range 3 {
			resp := submitForm(t, b, signupURL, signup, "signup", url.Values{
				"email": {"new" + string(rune('a'+i)) + "@example.com"}, "password": {"a long passphrase"}})
			got = append(got, answerOf(t, resp))
		}
		if got[0].Status == http.StatusTooManyRequests || got[1].Status == http.StatusTooManyRequests {
			t.Errorf("first two sign-ups: %+v, want them through", got[:2])
		}
		wantSignup := answer{Status: http.StatusTooManyRequests, RetryAfter: "3600", Problem: "Too many sign-up attempts. Try again in 60 minutes."}
		if got[2] != wantSignup {
			t.Errorf("third sign-up: %+v, want %+v", got[2], wantSignup)
		}
		b = e.browser() // without the session the sign-ups started
		page, pageURL = e.loginForm(t, b)
		forgot, forgotURL := follow(t, b, pageURL, page, "forgot-password?")
		got = nil
		for range 3 {
			got = append(got, answerOf(t, submitForm(t, b, forgotURL, forgot, "forgot-password", url.Values{"email": {"nobody@example.com"}})))
		}
		if got[0].Status != 200 || got[1].Status != 200 {
			t.Errorf("first two reset requests: %+v, want 200", got[:2])
		}
		wantReset := answer{Status: http.StatusTooManyRequests, RetryAfter: "3600", Problem: "Too many attempts. Try again in 60 minutes."}
		if got[2] != wantReset {
			t.Errorf("third reset request: %+v, want %+v", got[2], wantReset)
		}
		events := auditEvents(t, e.store, "")
		if countEvents(events, storage.AuditSignupThrottled, "127.0.0.1") != 1 || countEvents(events, storage.AuditPasswordResetThrottled, "127.0.0.1") != 1 {
			t.Errorf("audit events %v, want one signup.throttled and one password.reset_throttled", eventTypes(events))
		}
	})
}

// auditEvents lists every audit event (of userID, or everyone's), newest
// first.
func auditEvents(t *testing.T, s storage.AuditStore, userID string) []*storage.AuditEvent {
	t.Helper()
	events, _, err := s.ListAudit(t.Context(), userID, storage.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func countEvents(events []*storage.AuditEvent, typ, ip string) int {
	n := 0
	for _, e := range events {
		if e.Type == typ && (ip == "" || e.IP == ip) {
			n++
		}
	}
	return n
}

func eventTypes(events []*storage.AuditEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Type)
	}
	return out
}
