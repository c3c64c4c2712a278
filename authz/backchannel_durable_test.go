package authz

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/authz/keys"
	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/internal/redistest"
	"github.com/atrium-id/atrium/internal/secretbox"
	"github.com/atrium-id/atrium/storage"
	redisstore "github.com/atrium-id/atrium/storage/redis"
	sqlstore "github.com/atrium-id/atrium/storage/sql"
	"github.com/atrium-id/atrium/storage/sql/sqltest"
	"github.com/atrium-id/atrium/storage/storagetest"
)

// Durable back-channel logout (backchannel.go): the deliveries go through
// the outbox, on SQLite and PostgreSQL, with sessions in the SQL store
// and in Redis, under one injected clock.

// durableEnv is a provider whose back-channel logouts are kept in the
// outbox of its SQL store.
type durableEnv struct {
	*testEnv
	clock *storagetest.Clock
	state storage.StateStore
	// open opens one more store on the same database, as another node
	// (or the same one after a restart) would.
	open func() *sqlstore.Store
}

// durableBackends runs fn on SQLite and PostgreSQL, with the state in the
// SQL store and in Redis.
func durableBackends(t *testing.T, fn func(t *testing.T, e *durableEnv)) {
	for _, stateIn := range []string{"sql", "redis"} {
		t.Run("state-in-"+stateIn, func(t *testing.T) {
			sqltest.Backends(t, func(t *testing.T, open func(now func() time.Time) *sqlstore.Store) {
				clock := storagetest.NewClock(time.Now().Truncate(time.Second))
				st := open(clock.Now)
				var state storage.StateStore = st
				if stateIn == "redis" {
					rs, err := redisstore.Open(t.Context(), redistest.URL(t), redisstore.WithClock(clock.Now),
						redisstore.WithPrefix("durable-logout-test:"+randomToken()[:12]+":"))
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { rs.Close() })
					state = rs
				}
				e := &durableEnv{testEnv: &testEnv{t: t, store: st}, clock: clock, state: state,
					open: func() *sqlstore.Store { return open(clock.Now) }}
				e.srv = httptest.NewServer(nil)
				t.Cleanup(e.srv.Close)
				e.p = e.newProvider(st)
				e.srv.Config.Handler = e.p
				ctx := context.Background()
				if err := st.CreateClient(ctx, &storage.Client{ID: "app", SecretHash: HashClientSecret(testSecret), Name: "App",
					RedirectURIs: []string{testRedirect}, GrantTypes: []string{"authorization_code", "refresh_token"},
					ResponseTypes: []string{"code"}, Scopes: []string{"openid", "email", "offline_access"}}); err != nil {
					t.Fatal(err)
				}
				e.userID = "user-ada"
				if err := st.CreateUser(ctx, &storage.User{ID: e.userID, Email: testEmail, EmailVerified: true, Name: "Ada Lovelace"}); err != nil {
					t.Fatal(err)
				}
				if err := login.SetPassword(ctx, st, e.userID, testPassword, clock.Now()); err != nil {
					t.Fatal(err)
				}
				fn(t, e)
			})
		})
	}
}

// newProvider starts a provider on st (its clients, users and outbox)
// and the env's state, as a node of the env's issuer would.
func (e *durableEnv) newProvider(st *sqlstore.Store) *Provider {
	e.t.Helper()
	master := []byte(strings.Repeat("m", 32))
	box, err := secretbox.New(master, "signing-keys")
	if err != nil {
		e.t.Fatal(err)
	}
	km, err := keys.NewManager(st, box, keys.Options{Algorithms: []string{keys.ES256, keys.EdDSA}})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := km.Ensure(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	p, err := New(Config{Issuer: e.srv.URL, Secret: secretbox.Derive(master, "token-hmac", 32), Now: e.clock.Now},
		Stores{Clients: st, Users: st, Credentials: st, Consents: st, Sessions: e.state, Tokens: e.state, Outbox: st}, km, testLogger())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(p.logouts.wait)
	return p
}

// receiver is an app's back-channel logout endpoint. It answers status
// when that is set, else verifies the logout token and answers 200.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	jwks   string
	mu     sync.Mutex
	status int
	calls  int
	tokens []map[string]any
}

func newReceiver(t *testing.T, e *durableEnv, status int) *receiver {
	r := &receiver{t: t, jwks: e.srv.URL + pathJWKS, status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.calls++
		status := r.status
		r.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		claims, err := verifyLogoutToken(r.jwks, req.PostFormValue("logout_token"), "logout+jwt")
		if err != nil {
			r.t.Errorf("logout token: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.tokens = append(r.tokens, claims)
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// answer sets what the receiver answers: 0 takes the token.
func (r *receiver) answer(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
}

func (r *receiver) got() (calls int, tokens []map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, append([]map[string]any(nil), r.tokens...)
}

// addApp registers a client whose back-channel logout URI is r's.
func (e *durableEnv) addApp(id string, r *receiver) {
	e.t.Helper()
	if err := e.store.CreateClient(context.Background(), &storage.Client{ID: id, SecretHash: HashClientSecret(testSecret),
		Name: "App " + id, RedirectURIs: []string{testRedirect}, GrantTypes: []string{"authorization_code", "refresh_token"},
		ResponseTypes: []string{"code"}, Scopes: []string{"openid", "email", "offline_access"},
		BackchannelLogoutURI: r.srv.URL + "/bcl"}); err != nil {
		e.t.Fatal(err)
	}
}

// session stores a live session of user with clients.
func (e *durableEnv) session(id, userID string, clients ...string) *storage.Session {
	e.t.Helper()
	s := &storage.Session{ID: id, UserID: userID, AuthTime: e.clock.Now(), AMR: []string{"pwd"}, CreatedAt: e.clock.Now(),
		ExpiresAt: e.clock.Now().Add(time.Hour), Clients: clients}
	if err := e.state.PutSession(context.Background(), s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// undelivered lists the back-channel logouts still to deliver.
func (e *durableEnv) undelivered(t *testing.T) []*storage.OutboxMessage {
	t.Helper()
	msgs, _, err := e.store.ListOutbox(context.Background(), true, storage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*storage.OutboxMessage
	for _, m := range msgs {
		if m.Topic == storage.TopicBackchannelLogout {
			out = append(out, m)
		}
	}
	return out
}

// deliverDue runs p's worker once and checks how many it settled.
func deliverDue(t *testing.T, p *Provider, want int) {
	t.Helper()
	n, err := p.deliverDueLogouts(t.Context())
	if err != nil || n != want {
		t.Errorf("deliverDueLogouts() = %d, %v; want %d settled", n, err, want)
	}
}

// wantToken checks that a logout token is for client aud and session s.
func wantToken(t *testing.T, what string, claims map[string]any, aud string, s *storage.Session) {
	t.Helper()
	if claims["aud"] != aud || claims["sub"] != s.UserID || claims["sid"] != sid(s.ID) || claims["jti"] == nil {
		t.Errorf("%s: logout token %v, want aud %s, sub %s, sid %s", what, claims, aud, s.UserID, sid(s.ID))
	}
}

// TestBackchannelDurableRetry: a logout the app could not take at once
// stays in the outbox, and the worker delivers it once the app is back,
// with a fresh token, once.
func TestBackchannelDurableRetry(t *testing.T) {
	durableBackends(t, func(t *testing.T, e *durableEnv) {
		rp := newReceiver(t, e, http.StatusServiceUnavailable)
		e.addApp("bc", rp)
		b := e.browser()
		g := e.idGrantIn(b, "bc")
		s := e.sessionOfBrowser(t, b)
		resp, err := noRedirects(b).Get(e.logoutURL(url.Values{"id_token_hint": {g.idToken}}))
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		e.p.logouts.wait()
		if calls, _ := rp.got(); calls != 1 {
			t.Fatalf("the first attempt: %d calls, want 1", calls)
		}
		left := e.undelivered(t)
		if len(left) != 1 || left[0].Attempts != 1 || !left[0].NextAttemptAt.Equal(e.clock.Now().Add(e.p.logouts.backoff(0))) {
			t.Fatalf("after a failed first attempt the outbox holds %+v, want one message with 1 attempt, due after the backoff", left)
		}
		if strings.Contains(string(left[0].Payload), ".") {
			t.Errorf("the outbox message holds a token: %s", left[0].Payload)
		}

		// Not due yet: the worker leaves it.
		deliverDue(t, e.p, 0)
		rp.answer(0)
		e.clock.Advance(e.p.logouts.backoff(0) - time.Second)
		deliverDue(t, e.p, 0)
		e.clock.Advance(time.Second)
		deliverDue(t, e.p, 1)
		calls, tokens := rp.got()
		if calls != 2 || len(tokens) != 1 {
			t.Fatalf("after the worker: %d calls, %d tokens; want 2 and 1", calls, len(tokens))
		}
		wantToken(t, "the worker's", tokens[0], "bc", s)
		if iat, _ := tokens[0]["iat"].(float64); int64(iat) != e.clock.Now().Unix() {
			t.Errorf("the worker's token has iat %v, want the time of sending %d", iat, e.clock.Now().Unix())
		}
		if left := e.undelivered(t); len(left) != 0 {
			t.Errorf("after delivery %d messages are left", len(left))
		}
		e.clock.Advance(time.Hour)
		deliverDue(t, e.p, 0)
		if calls, _ := rp.got(); calls != 2 {
			t.Errorf("a delivered logout was sent again: %d calls", calls)
		}
	})
}

// TestBackchannelDurableTwoWorkers: two nodes' workers on one database
// send each logout once.
func TestBackchannelDurableTwoWorkers(t *testing.T) {
	durableBackends(t, func(t *testing.T, e *durableEnv) {
		rp := newReceiver(t, e, http.StatusBadGateway)
		e.addApp("bc", rp)
		var sessions []*storage.Session
		for i := range 6 {
			sessions = append(sessions, e.session("sess-"+string(rune('a'+i)), e.userID, "app", "bc"))
		}
		if err := e.p.LogoutSessions(t.Context(), sessions); err != nil {
			t.Fatal(err)
		}
		e.p.logouts.wait()
		if left := e.undelivered(t); len(left) != len(sessions) {
			t.Fatalf("%d logouts undelivered, want %d", len(left), len(sessions))
		}
		rp.answer(0)
		e.clock.Advance(e.p.logouts.backoff(0))
		other := e.newProvider(e.open())
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i, p := range []*Provider{e.p, other} {
			wg.Go(func() {
				n, err := p.deliverDueLogouts(t.Context())
				if err != nil {
					t.Errorf("worker %d: %v", i, err)
				}
				counts[i] = n
			})
		}
		wg.Wait()
		calls, tokens := rp.got()
		if counts[0]+counts[1] != len(sessions) || len(tokens) != len(sessions) || calls != 2*len(sessions) {
			t.Errorf("two workers settled %v, the app got %d calls and %d tokens; want %d settled and tokens, %d calls",
				counts, calls, len(tokens), len(sessions), 2*len(sessions))
		}
		seen := map[any]bool{}
		for _, tok := range tokens {
			if seen[tok["sid"]] {
				t.Errorf("sid %v delivered twice", tok["sid"])
			}
			seen[tok["sid"]] = true
		}
		if left := e.undelivered(t); len(left) != 0 {
			t.Errorf("%d logouts left undelivered", len(left))
		}
	})
}

// TestBackchannelDurableRefused: an app answering 400 refused the token;
// it is not sent again, whether it refused the first attempt or the
// worker's. A logout whose client is gone is dropped.
func TestBackchannelDurableRefused(t *testing.T) {
	durableBackends(t, func(t *testing.T, e *durableEnv) {
		rp := newReceiver(t, e, http.StatusBadRequest)
		e.addApp("bc", rp)
		gone := newReceiver(t, e, http.StatusInternalServerError)
		e.addApp("gone", gone)
		if err := e.p.LogoutSessions(t.Context(), []*storage.Session{e.session("sess-1", e.userID, "bc", "gone")}); err != nil {
			t.Fatal(err)
		}
		e.p.logouts.wait()
		if calls, _ := rp.got(); calls != 1 {
			t.Fatalf("first attempt: %d calls, want 1", calls)
		}
		if left := e.undelivered(t); len(left) != 1 {
			t.Fatalf("after a 400 and a 500, %d logouts undelivered, want 1 (the 500's)", len(left))
		}
		// The worker's attempt refused too: done.
		rp.answer(0)
		if err := e.p.LogoutSessions(t.Context(), []*storage.Session{e.session("sess-2", e.userID, "bc")}); err != nil {
			t.Fatal(err)
		}
		e.p.logouts.wait() // delivered
		if err := e.store.DeleteClient(t.Context(), "gone"); err != nil {
			t.Fatal(err)
		}
		rp.answer(http.StatusTooManyRequests) // worth another try
		if err := e.p.LogoutSessions(t.Context(), []*storage.Session{e.session("sess-3", e.userID, "bc")}); err != nil {
			t.Fatal(err)
		}
		e.p.logouts.wait()
		rp.answer(http.StatusUnauthorized)
		e.clock.Advance(e.p.logouts.backoff(0))
		deliverDue(t, e.p, 2) // sess-3's refused, gone's dropped
		if left := e.undelivered(t); len(left) != 0 {
			t.Errorf("%d logouts left after a refusal and a deleted client", len(left))
		}
		e.clock.Advance(time.Hour)
		deliverDue(t, e.p, 0)
		if calls, _ := rp.got(); calls != 4 {
			t.Errorf("the app got %d calls, want 4 (400, 200, 429, 401)", calls)
		}
		if calls, _ := gone.got(); calls != 1 {
			t.Errorf("the deleted client's URI got %d calls, want 1", calls)
		}
	})
}

// TestBackchannelDurableRestart: a restarted node (a new provider on the
// same stores) delivers what the stopped one did not: a logout whose
// first attempt failed, and one the stopped node held but never sent,
// once its lease ran out.
func TestBackchannelDurableRestart(t *testing.T) {
	durableBackends(t, func(t *testing.T, e *durableEnv) {
		rp := newReceiver(t, e, http.StatusServiceUnavailable)
		e.addApp("bc", rp)
		failed := e.session("sess-1", e.userID, "bc")
		if err := e.p.LogoutSessions(t.Context(), []*storage.Session{failed}); err != nil {
			t.Fatal(err)
		}
		e.p.logouts.wait()
		// The node stopped between writing a logout and sending it.
		held := e.session("sess-2", e.userID, "bc")
		if _, err := e.store.AddOutbox(t.Context(), storage.TopicBackchannelLogout,
			logoutPayload("bc", logoutSubject{UserID: held.UserID, SID: sid(held.ID)}), e.p.logouts.owner, backchannelLease); err != nil {
			t.Fatal(err)
		}

		rp.answer(0)
		restarted := e.newProvider(e.open())
		e.clock.Advance(e.p.logouts.backoff(0))
		deliverDue(t, restarted, 1)
		_, tokens := rp.got()
		if len(tokens) != 1 {
			t.Fatalf("after the restart %d tokens, want 1", len(tokens))
		}
		wantToken(t, "the failed one's", tokens[0], "bc", failed)
		e.clock.Advance(backchannelLease)
		deliverDue(t, restarted, 1)
		_, tokens = rp.got()
		if len(tokens) != 2 {
			t.Fatalf("after the lease ran out %d tokens, want 2", len(tokens))
		}
		wantToken(t, "the held one's", tokens[1], "bc", held)
		if left := e.undelivered(t); len(left) != 0 {
			t.Errorf("%d logouts left", len(left))
		}
	})
}

// TestBackchannelDurableGivesUp: an app that stays down is tried with a
// growing wait until backchannelGiveUp has passed, then no more.
func TestBackchannelDurableGivesUp(t *testing.T) {
	durableBackends(t, func(t *testing.T, e *durableEnv) {
		rp := newReceiver(t, e, http.StatusServiceUnavailable)
		e.addApp("bc", rp)
		if err := e.p.LogoutSessions(t.Context(), []*storage.Session{e.session("sess-1", e.userID, "bc")}); err != nil {
			t.Fatal(err)
		}
		e.p.logouts.wait()
		start := e.clock.Now()
		var waits []time.Duration
		for range 50 {
			left := e.undelivered(t)
			if len(left) == 0 {
				break
			}
			wait := left[0].NextAttemptAt.Sub(e.clock.Now())
			waits = append(waits, wait)
			e.clock.Advance(wait)
			deliverDue(t, e.p, map[bool]int{true: 1, false: 0}[e.clock.Now().Add(e.p.logouts.backoff(left[0].Attempts)).Sub(start) > backchannelGiveUp])
		}
		calls, _ := rp.got()
		if len(e.undelivered(t)) != 0 || calls != len(waits)+1 || calls < 5 {
			t.Fatalf("after %d calls (waits %v) the logout is still pending or gave up too soon", calls, waits)
		}
		for i := 1; i < len(waits); i++ {
			if waits[i] < waits[i-1] {
				t.Errorf("waits %v do not grow", waits)
				break
			}
		}
		if last := e.clock.Now().Sub(start); last > backchannelGiveUp {
			t.Errorf("the last attempt came %v after the logout, past %v", last, backchannelGiveUp)
		}
		e.clock.Advance(24 * time.Hour)
		deliverDue(t, e.p, 0)
		if again, _ := rp.got(); again != calls {
			t.Errorf("given up, yet tried again")
		}
	})
}

// TestBackchannelDurableAccountDeletion: deleting an account tells the
// apps of each of its sessions, from the account area (the provider
// sends at once) and from the command line (the outbox, for the
// servers' workers).
func TestBackchannelDurableAccountDeletion(t *testing.T) {
	durableBackends(t, func(t *testing.T, e *durableEnv) {
		one, two := newReceiver(t, e, 0), newReceiver(t, e, 0)
		e.addApp("one", one)
		e.addApp("two", two)
		ctx := t.Context()
		data := &account.DataStores{Consents: e.store, Sessions: e.state, Tokens: e.state, Audit: e.store, Eraser: e.store}

		b := e.browser()
		e.idGrantIn(b, "one")
		e.idGrantIn(b, "two")
		inBrowser := e.sessionOfBrowser(t, b)
		other := e.session("sess-other", e.userID, "two")
		e.session("sess-grace", "user-grace", "one", "two") // another user's
		data.Logout = e.p
		if erased, err := account.Erase(ctx, data, e.userID, e.clock.Now()); err != nil || !erased {
			t.Fatalf("Erase = %v, %v", erased, err)
		}
		e.p.logouts.wait()
		_, oneTokens := one.got()
		_, twoTokens := two.got()
		if len(oneTokens) != 1 || len(twoTokens) != 2 {
			t.Fatalf("after the deletion app one got %d tokens, app two %d; want 1 and 2", len(oneTokens), len(twoTokens))
		}
		wantToken(t, "app one's", oneTokens[0], "one", inBrowser)
		sids := map[any]bool{twoTokens[0]["sid"]: true, twoTokens[1]["sid"]: true}
		if !sids[sid(inBrowser.ID)] || !sids[sid(other.ID)] {
			t.Errorf("app two got sids %v, want those of both sessions", sids)
		}
		if left := e.undelivered(t); len(left) != 0 {
			t.Errorf("%d logouts undelivered after the deletion", len(left))
		}
		if _, err := e.state.GetSession(ctx, "sess-grace"); err != nil {
			t.Errorf("another user's session: %v", err)
		}

		// From the command line: written for the servers to send.
		if err := e.store.CreateUser(ctx, &storage.User{ID: "user-bob", Email: "bob@example.com"}); err != nil {
			t.Fatal(err)
		}
		bob := e.session("sess-bob", "user-bob", "app", "one", "gone")
		data.Logout = LogoutQueue{Clients: e.store, Outbox: e.store}
		if erased, err := account.Erase(ctx, data, "user-bob", e.clock.Now()); err != nil || !erased {
			t.Fatalf("Erase(bob) = %v, %v", erased, err)
		}
		if calls, _ := one.got(); calls != 1 {
			t.Errorf("the command line sent a logout itself: app one has %d calls", calls)
		}
		if left := e.undelivered(t); len(left) != 1 {
			t.Fatalf("%d logouts in the outbox after a deletion from the command line, want 1 (app one's)", len(left))
		}
		deliverDue(t, e.p, 1)
		if _, tokens := one.got(); len(tokens) != 2 {
			t.Fatalf("app one got %d tokens, want 2", len(tokens))
		} else {
			wantToken(t, "bob's", tokens[1], "one", bob)
		}
	})
}

// TestBackchannelPasswordReset: a password reset ends every session of
// the account and tells their apps.
func TestBackchannelPasswordReset(t *testing.T) {
	durableBackends(t, func(t *testing.T, e *durableEnv) {
		rp := newReceiver(t, e, 0)
		e.addApp("bc", rp)
		s := e.session("sess-1", e.userID, "bc")
		pwAt, err := e.p.passwordSetAt(t.Context(), e.userID)
		if err != nil {
			t.Fatal(err)
		}
		link, err := e.p.newLink(t.Context(), kindPasswordReset, pathResetPassword, linkToken{UserID: e.userID, Email: testEmail, PasswordAt: pwAt}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		b := e.browser()
		resp, err := b.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		form := readBody(t, resp)
		newPassword := "a new and long passphrase"
		resp = submitForm(t, b, link, form, "reset-password", url.Values{"password": {newPassword}, "password_confirm": {newPassword}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
			t.Fatalf("reset: %d %s", resp.StatusCode, body)
		}
		e.p.logouts.wait()
		if _, tokens := rp.got(); len(tokens) != 1 {
			t.Fatalf("after the reset the app got %d logout tokens, want 1", len(tokens))
		} else {
			wantToken(t, "the reset's", tokens[0], "bc", s)
		}
	})
}

// TestWaitBackchannel: a shutdown waits for the logouts in flight, up to
// its bound; one cut off stays in the outbox.
func TestWaitBackchannel(t *testing.T) {
	durableBackends(t, func(t *testing.T, e *durableEnv) {
		release := make(chan struct{})
		arrived := make(chan struct{}, 1)
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			<-release
		}))
		t.Cleanup(slow.Close)
		t.Cleanup(func() {
			select {
			case <-release:
			default:
				close(release)
			}
		})
		rp := &receiver{srv: slow}
		e.addApp("slow", rp)
		if !e.p.WaitBackchannel(time.Minute) {
			t.Fatal("WaitBackchannel with nothing in flight = false")
		}
		if err := e.p.LogoutSessions(t.Context(), []*storage.Session{e.session("sess-1", e.userID, "slow")}); err != nil {
			t.Fatal(err)
		}
		<-arrived
		if e.p.WaitBackchannel(10 * time.Millisecond) {
			t.Error("WaitBackchannel = true while a logout is in flight")
		}
		if left := e.undelivered(t); len(left) != 1 {
			t.Errorf("in flight, %d logouts in the outbox, want 1", len(left))
		}
		close(release)
		if !e.p.WaitBackchannel(time.Minute) {
			t.Error("WaitBackchannel = false once the logout was answered")
		}
		if left := e.undelivered(t); len(left) != 0 {
			t.Errorf("answered, %d logouts left", len(left))
		}
	})
}

// TestLogoutQueueEndUserSessions: signing a user out everywhere without a
// provider (atrium users sign-out) ends their sessions, revokes the tokens
// issued under them, and leaves a logout per app in the outbox for the
// servers, which deliver it.
func TestLogoutQueueEndUserSessions(t *testing.T) {
	durableBackends(t, func(t *testing.T, e *durableEnv) {
		ctx := t.Context()
		rp := newReceiver(t, e, 0)
		e.addApp("bc", rp)
		mine := e.session("sess-1", e.userID, "app", "bc")
		e.session("sess-2", e.userID)
		e.session("sess-grace", "user-grace", "bc")
		for _, tok := range []*storage.Token{
			{Kind: storage.KindAccessToken, Signature: "mine", RequestID: "r1", ClientID: "bc", Subject: e.userID, SessionID: sid(mine.ID)},
			{Kind: storage.KindAccessToken, Signature: "grace", RequestID: "r2", ClientID: "bc", Subject: "user-grace", SessionID: sid("sess-grace")},
		} {
			tok.Active, tok.CreatedAt, tok.ExpiresAt = true, e.clock.Now(), e.clock.Now().Add(time.Hour)
			if err := e.state.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		n, err := LogoutQueue{Clients: e.store, Outbox: e.store}.EndUserSessions(ctx, e.state, e.state, e.userID)
		if err != nil || n != 2 {
			t.Fatalf("EndUserSessions = %d, %v; want 2 ended", n, err)
		}
		if list, _ := e.state.ListUserSessions(ctx, e.userID); len(list) != 0 {
			t.Errorf("%d sessions left", len(list))
		}
		if _, err := e.state.GetSession(ctx, "sess-grace"); err != nil {
			t.Errorf("another user's session: %v", err)
		}
		if tok, err := e.state.GetToken(ctx, storage.KindAccessToken, "mine"); err == nil && tok.Active {
			t.Error("a token issued under an ended session is still active")
		}
		if tok, err := e.state.GetToken(ctx, storage.KindAccessToken, "grace"); err != nil || !tok.Active {
			t.Errorf("another user's token: %+v, %v", tok, err)
		}
		if calls, _ := rp.got(); calls != 0 {
			t.Errorf("the queue sent %d logouts itself", calls)
		}
		deliverDue(t, e.p, 1)
		if _, tokens := rp.got(); len(tokens) != 1 {
			t.Fatalf("the app got %d logout tokens, want 1", len(tokens))
		} else {
			wantToken(t, "sign-out's", tokens[0], "bc", mine)
		}
	})
}
