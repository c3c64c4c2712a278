package authz

import (
	"context"
	"encoding/base64"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/authz/login/passkeytest"
	"github.com/atrium-id/atrium/internal/redistest"
	"github.com/atrium-id/atrium/storage"
	redisstore "github.com/atrium-id/atrium/storage/redis"
)

// The relying party of the tests: the software authenticator reports
// pkOrigin whatever address the test server listens on.
const (
	pkRPID   = "atrium.test"
	pkOrigin = "https://atrium.test"
)

type pkClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *pkClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *pkClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// passkeyEnv is a provider with passkeys, audit events in its SQLite
// store, and the account area, wired as serve wires them.
type passkeyEnv struct {
	*testEnv
	clock *pkClock
	auth  *passkeytest.Authenticator
}

func newPasskeyEnv(t *testing.T, configure func(*Config), state ...storage.StateStore) *passkeyEnv {
	t.Helper()
	clock := &pkClock{t: time.Now()}
	rp, err := login.NewPasskeyRelyingParty(login.PasskeyConfig{RPID: pkRPID, Origins: []string{pkOrigin}, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnvWith(t, func(c *Config) {
		c.Passkeys = rp
		if configure != nil {
			configure(c)
		}
	}, state...)
	st := e.p.stores
	st.Audit = e.store
	if e.p, err = New(e.p.cfg, st, e.p.keys, testLogger()); err != nil {
		t.Fatal(err)
	}
	e.serveAccount(account.Config{UseOnce: e.store.UseOnce, Passkeys: rp})
	return &passkeyEnv{testEnv: e, clock: clock, auth: passkeytest.New(pkOrigin)}
}

// register gives userID a passkey made by a, through the relying party.
func (e *passkeyEnv) register(a *passkeytest.Authenticator, userID, email string) *login.Passkey {
	e.t.Helper()
	ctx := context.Background()
	pks, err := login.ListPasskeys(ctx, e.store, userID)
	if err != nil {
		e.t.Fatal(err)
	}
	u := &login.PasskeyUser{ID: userID, Name: email, Passkeys: pks}
	opts, c, err := e.p.cfg.Passkeys.BeginRegistration(u)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := a.Create(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	pk, err := e.p.cfg.Passkeys.FinishRegistration(u, c, resp, "Laptop")
	if err != nil {
		e.t.Fatal(err)
	}
	cred, err := pk.Credential(userID, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.PutCredential(ctx, cred); err != nil {
		e.t.Fatal(err)
	}
	return pk
}

func (e *passkeyEnv) passkeysOf(userID string) []*login.Passkey {
	e.t.Helper()
	pks, err := login.ListPasskeys(context.Background(), e.store, userID)
	if err != nil {
		e.t.Fatal(err)
	}
	return pks
}

// audits returns the types of the audit events of userID ("" for all),
// oldest first.
func (e *passkeyEnv) audits(userID string) []string {
	e.t.Helper()
	evs, _, err := e.store.ListAudit(context.Background(), userID, storage.Page{Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		out = append(out, evs[i].Type+":"+evs[i].Detail["reason"])
	}
	return out
}

func (e *passkeyEnv) failures(userID string) int {
	n := 0
	for _, a := range e.audits(userID) {
		if strings.HasPrefix(a, storage.AuditPasskeyFailed+":") {
			n++
		}
	}
	return n
}

func (e *passkeyEnv) sessions(userID string) int {
	e.t.Helper()
	s, err := e.p.stores.Sessions.ListUserSessions(context.Background(), userID)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(s)
}

var optionsRe = regexp.MustCompile(`<form [^>]*id="([a-z-]+)"[^>]*data-options="([^"]*)"`)

// passkeyOptions returns the options of the page's passkey form id.
func passkeyOptions(t testing.TB, page, id string) []byte {
	t.Helper()
	for _, m := range optionsRe.FindAllStringSubmatch(page, -1) {
		if m[1] == id {
			return []byte(html.UnescapeString(m[2]))
		}
	}
	t.Fatalf("no passkey form %q on the page:\n%s", id, page)
	return nil
}

// loginPage starts an authorization request of the app and returns its
// login page.
func (e *passkeyEnv) loginPage(a *agent) *hop {
	e.t.Helper()
	params := codeParams("app", "openid email", "")
	params.Del("code_challenge")
	params.Del("code_challenge_method")
	h := a.get(e.authorizeURL(params))
	page := a.follow(h, nil)
	if page.status != http.StatusOK || !strings.Contains(page.body, `name="password"`) {
		e.t.Fatalf("no login page: %d\n%s", page.status, page.body)
	}
	return page
}

// finishToClient follows h through consent to the client and returns the
// ID token's claims.
func (e *passkeyEnv) finishToClient(a *agent, h *hop) map[string]any {
	e.t.Helper()
	h = a.follow(h, isClient)
	if h.location == nil && strings.Contains(h.body, `value="allow"`) {
		h = a.follow(a.submit(h, "consent", url.Values{"action": {"allow"}}), isClient)
	}
	if h.location == nil || !isClient(h.location) {
		e.t.Fatalf("no redirect to the client: %d\n%s", h.status, h.body)
	}
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {h.location.Query().Get("code")},
		"redirect_uri": {testRedirect}}, "app", testSecret)
	if status != 200 {
		e.t.Fatalf("token response %d %v", status, tok)
	}
	return jwtClaims(e.t, tok["id_token"].(string))
}

func TestPasskeySignIn(t *testing.T) {
	for _, tc := range []struct {
		name     string
		verified bool
		wantAMR  []string
		wantACR  string
	}{
		{"user verified", true, []string{"hwk", "mfa", "user"}, acrMFA},
		{"presence only", false, []string{"hwk"}, acrPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newPasskeyEnv(t, nil)
			e.register(e.auth, e.userID, testEmail)
			e.auth.UserVerified = tc.verified
			a := newAgent(t)
			page := e.loginPage(a)

			// The form is hidden until the script, allowed by the page's
			// nonce, finds WebAuthn; the script is served.
			mustContain(t, "login page", page.body, `id="passkey-signin"`, `data-passkey="get"`, " hidden>", "Sign in with a passkey")
			csp := page.header.Get("Content-Security-Policy")
			nonce := regexp.MustCompile(`script-src 'nonce-([0-9a-f]+)'`).FindStringSubmatch(csp)
			if nonce == nil || !strings.Contains(page.body, `<script nonce="`+nonce[1]+`" src="assets/passkey.js">`) {
				t.Fatalf("CSP %q does not allow the page's script:\n%s", csp, page.body)
			}
			js := a.get(e.srv.URL + pathPasskeyScript)
			if js.status != 200 || !strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript") || !strings.Contains(js.body, "navigator.credentials.get") {
				t.Fatalf("script: %d %q", js.status, js.header.Get("Content-Type"))
			}

			resp, err := e.auth.Get(passkeyOptions(t, page.body, "passkey-signin"), passkeytest.Tamper{})
			if err != nil {
				t.Fatal(err)
			}
			claims := e.finishToClient(a, a.submit(page, "login-passkey", url.Values{"credential": {string(resp)}}))
			if claims["sub"] != e.userID || !slices.Equal(amrOf(claims), tc.wantAMR) || claims["acr"] != tc.wantACR {
				t.Errorf("sub %v amr %v acr %v; want %s %v %s", claims["sub"], claims["amr"], claims["acr"], e.userID, tc.wantAMR, tc.wantACR)
			}
			if evs := e.audits(e.userID); !slices.Contains(evs, storage.AuditLoginSucceeded+":") {
				t.Errorf("audit events %q lack %s", evs, storage.AuditLoginSucceeded)
			}
			pk := e.passkeysOf(e.userID)[0]
			if pk.SignCount != 1 || pk.LastUsedAt.IsZero() {
				t.Errorf("stored passkey after use: count %d, last used %v", pk.SignCount, pk.LastUsedAt)
			}
		})
	}
}

func TestPasskeySignInRefusals(t *testing.T) {
	counter := uint32(2)
	const (
		expired = "The passkey request expired or was already used."
		invalid = "The passkey could not be verified."
	)
	for _, tc := range []struct {
		name string
		// prepare runs before the response is made; it may change the
		// page the response answers.
		prepare func(e *passkeyEnv, a *agent, page *hop) *hop
		tamper  func(e *passkeyEnv) passkeytest.Tamper
		fields  url.Values
		status  int
		want    string
		audit   string
		reason  string
	}{
		{name: "another origin", tamper: func(*passkeyEnv) passkeytest.Tamper {
			return passkeytest.Tamper{Origin: "https://atrium.test.evil.example"}
		}, status: 401, want: "The passkey answered a request from another website.", audit: storage.AuditPasskeyFailed, reason: "another origin"},
		{name: "bad signature", tamper: func(*passkeyEnv) passkeytest.Tamper { return passkeytest.Tamper{BadSignature: true} },
			status: 401, want: invalid, audit: storage.AuditPasskeyFailed, reason: "not valid"},
		{name: "counter went backwards", tamper: func(*passkeyEnv) passkeytest.Tamper { return passkeytest.Tamper{Counter: &counter} },
			status: 401, want: "its signature counter went backwards", audit: storage.AuditPasskeyFailed, reason: "counter did not increase"},
		{name: "unknown credential", tamper: func(e *passkeyEnv) passkeytest.Tamper {
			// A passkey with Ada's user handle the provider never stored.
			other := passkeytest.New(pkOrigin)
			u := &login.PasskeyUser{ID: e.userID, Name: testEmail}
			opts, _, _ := e.p.cfg.Passkeys.BeginRegistration(u)
			if _, err := other.Create(opts); err != nil {
				e.t.Fatal(err)
			}
			return passkeytest.Tamper{Credential: other.Credentials()[0]}
		}, status: 401, want: "This passkey is not registered for this account.", audit: storage.AuditPasskeyFailed, reason: "not registered"},
		{name: "another challenge", tamper: func(*passkeyEnv) passkeytest.Tamper {
			return passkeytest.Tamper{Challenge: []byte("a challenge this provider never made")}
		}, status: 401, want: expired, audit: storage.AuditPasskeyFailed, reason: "another challenge"},
		{name: "expired", prepare: func(e *passkeyEnv, _ *agent, page *hop) *hop {
			e.clock.advance(6 * time.Minute)
			return page
		}, status: 401, want: expired, audit: storage.AuditPasskeyFailed, reason: "expired"},
		{name: "options of an earlier page", prepare: func(e *passkeyEnv, a *agent, page *hop) *hop {
			// Showing the page again begins a new ceremony; the first
			// page's options are answered below.
			if again := a.get(page.url.String()); again.status != 200 {
				e.t.Fatalf("login page again: %d", again.status)
			}
			return page
		}, status: 401, want: expired, audit: storage.AuditPasskeyFailed, reason: "another challenge"},
		{name: "missing CSRF token", fields: url.Values{"csrf_token": {""}}, status: 400,
			// The interaction's CSRF check audits it.
			want: "This sign-in link has expired or is not valid", audit: storage.AuditCSRFFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newPasskeyEnv(t, nil)
			e.register(e.auth, e.userID, testEmail)
			// The stored counter is 5, as after five sign-ins.
			stored := e.passkeysOf(e.userID)[0]
			stored.SignCount = 5
			cred, _ := stored.Credential(e.userID, time.Now())
			if err := e.store.PutCredential(context.Background(), cred); err != nil {
				t.Fatal(err)
			}
			e.auth.Credentials()[0].Counter = 5
			a := newAgent(t)
			page := e.loginPage(a)
			if tc.prepare != nil {
				page = tc.prepare(e, a, page)
			}
			var tamper passkeytest.Tamper
			if tc.tamper != nil {
				tamper = tc.tamper(e)
			}
			resp, err := e.auth.Get(passkeyOptions(t, page.body, "passkey-signin"), tamper)
			if err != nil {
				t.Fatal(err)
			}
			fields := url.Values{"credential": {string(resp)}}
			for k, v := range tc.fields {
				fields[k] = v
			}
			h := a.submit(page, "login-passkey", fields)
			if h.status != tc.status || !strings.Contains(h.body, tc.want) {
				t.Fatalf("status %d, want %d with %q:\n%s", h.status, tc.status, tc.want, h.body)
			}
			if after := e.passkeysOf(e.userID)[0]; after.SignCount != 5 || !after.LastUsedAt.IsZero() {
				t.Errorf("the stored passkey changed: count %d, last used %v", after.SignCount, after.LastUsedAt)
			}
			if n := e.sessions(e.userID); n != 0 {
				t.Errorf("%d SSO sessions after a refused passkey", n)
			}
			evs := e.audits("")
			if len(evs) != 1 || !strings.HasPrefix(evs[0], tc.audit+":") || !strings.Contains(evs[0], tc.reason) {
				t.Errorf("audit events %q, want one %s with %q", evs, tc.audit, tc.reason)
			}
			if tc.status == 401 {
				// The page offers a new ceremony, which works with the
				// authenticator as it was.
				e.auth.Credentials()[0].Counter = 5
				resp, err := e.auth.Get(passkeyOptions(t, h.body, "passkey-signin"), passkeytest.Tamper{})
				if err != nil {
					t.Fatal(err)
				}
				if c := e.finishToClient(a, a.submit(h, "login-passkey", url.Values{"credential": {string(resp)}})); c["sub"] != e.userID {
					t.Errorf("sign-in after the refusal: sub %v", c["sub"])
				}
			}
		})
	}
}

func TestPasskeySignInReplay(t *testing.T) {
	e := newPasskeyEnv(t, nil)
	e.register(e.auth, e.userID, testEmail)
	a := newAgent(t)
	page := e.loginPage(a)
	resp, err := e.auth.Get(passkeyOptions(t, page.body, "passkey-signin"), passkeytest.Tamper{})
	if err != nil {
		t.Fatal(err)
	}
	fields := url.Values{"credential": {string(resp)}}
	first := a.submit(page, "login-passkey", fields)
	if first.location == nil {
		t.Fatalf("first use: %d\n%s", first.status, first.body)
	}
	again := a.submit(page, "login-passkey", fields)
	if again.status != http.StatusUnauthorized || !strings.Contains(again.body, "expired or was already used") {
		t.Fatalf("replayed response: %d\n%s", again.status, again.body)
	}
	if n := e.sessions(e.userID); n != 1 {
		t.Errorf("%d sessions, want the first sign-in's only", n)
	}
}

// TestPasskeyCeremonySpentOnce takes the ceremony of two copies of one
// interaction, as two requests posting the same response at once load
// it before either stores it again: on each state store only the first
// gets the ceremony.
func TestPasskeyCeremonySpentOnce(t *testing.T) {
	run := func(t *testing.T, state ...storage.StateStore) {
		e := newPasskeyEnv(t, nil, state...)
		a := newAgent(t)
		page := e.loginPage(a)
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+pathLogin, nil)
		var copies [2]*interaction
		for i := range copies {
			ix, err := e.p.boundInteraction(withCookies(a, req), hiddenValue(page.body, "interaction"))
			if err != nil || ix.Passkey == nil {
				t.Fatalf("interaction %v, ceremony %v", err, ix)
			}
			copies[i] = ix
		}
		if c, err := e.p.takeCeremony(req, copies[0]); err != nil || c == nil {
			t.Fatalf("first take: %v", err)
		}
		if _, err := e.p.takeCeremony(req, copies[1]); !errors.Is(err, login.ErrPasskeyExpired) {
			t.Fatalf("second take: err = %v, want ErrPasskeyExpired", err)
		}
	}
	t.Run("sql", func(t *testing.T) { run(t) })
	t.Run("redis", func(t *testing.T) {
		rs, err := redisstore.Open(context.Background(), redistest.URL(t), redisstore.WithPrefix("passkey-test:"+randomToken()[:12]+":"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		run(t, rs)
	})
}

// withCookies adds the agent's cookies for the server to req.
func withCookies(a *agent, req *http.Request) *http.Request {
	for _, c := range a.c.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	return req
}

func TestPasskeySecondFactor(t *testing.T) {
	e := newPasskeyEnv(t, func(c *Config) { c.Factors = testFactors(t) })
	e.register(e.auth, e.userID, testEmail)
	bob := "user-bob"
	if err := e.store.CreateUser(context.Background(), &storage.User{ID: bob, Email: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	e.register(e.auth, bob, "bob@example.com") // same authenticator, Bob's account

	a := newAgent(t)
	page := e.loginPage(a)
	mfa := a.follow(a.submit(page, "login", url.Values{"email": {testEmail}, "password": {testPassword}}), nil)
	if !strings.HasSuffix(mfa.url.Path, pathMFA) {
		t.Fatalf("after the password: %s %d\n%s", mfa.url, mfa.status, mfa.body)
	}
	mustContain(t, "MFA page", mfa.body, `id="passkey-mfa"`, "Use a passkey", `src="../assets/passkey.js"`)
	opts := passkeyOptions(t, mfa.body, "passkey-mfa")
	if !strings.Contains(string(opts), e.passkeysOf(e.userID)[0].ID) || strings.Contains(string(opts), e.passkeysOf(bob)[0].ID) {
		t.Fatalf("options do not allow Ada's passkey only: %s", opts)
	}

	// Bob's passkey for Ada's second factor: refused, Ada not signed in.
	resp, err := e.auth.Get(opts, passkeytest.Tamper{Credential: e.auth.Credentials()[1]})
	if err != nil {
		t.Fatal(err)
	}
	h := a.submit(mfa, "mfa-passkey", url.Values{"credential": {string(resp)}})
	if h.status != http.StatusUnauthorized || !strings.Contains(h.body, "This passkey is not registered for this account.") {
		t.Fatalf("another user's passkey: %d\n%s", h.status, h.body)
	}
	if e.sessions(e.userID)+e.sessions(bob) != 0 || e.failures(e.userID) != 1 {
		t.Fatalf("sessions %d/%d, failures %d", e.sessions(e.userID), e.sessions(bob), e.failures(e.userID))
	}
	if got := e.passkeysOf(bob)[0]; got.SignCount != 0 || !got.LastUsedAt.IsZero() {
		t.Errorf("Bob's passkey changed: %+v", got)
	}

	// Ada's own, from the page shown again.
	resp, err = e.auth.Get(passkeyOptions(t, h.body, "passkey-mfa"), passkeytest.Tamper{})
	if err != nil {
		t.Fatal(err)
	}
	claims := e.finishToClient(a, a.submit(h, "mfa-passkey", url.Values{"credential": {string(resp)}}))
	if !slices.Equal(amrOf(claims), []string{"hwk", "mfa", "pwd"}) || claims["acr"] != acrMFA {
		t.Errorf("amr %v acr %v, want [hwk mfa pwd] and %s", claims["amr"], claims["acr"], acrMFA)
	}
}

// TestPasskeyPresenceThenSecondStep signs in with a passkey that only
// checked presence, where a second step is due: the two-step page asks
// for a passkey that verifies the person, and presence alone again is
// refused.
func TestPasskeyPresenceThenSecondStep(t *testing.T) {
	e := newPasskeyEnv(t, func(c *Config) { c.Factors = testFactors(t) })
	e.register(e.auth, e.userID, testEmail)
	e.auth.UserVerified = false
	a := newAgent(t)
	page := e.loginPage(a)
	resp, err := e.auth.Get(passkeyOptions(t, page.body, "passkey-signin"), passkeytest.Tamper{})
	if err != nil {
		t.Fatal(err)
	}
	mfa := a.follow(a.submit(page, "login-passkey", url.Values{"credential": {string(resp)}}), nil)
	if !strings.HasSuffix(mfa.url.Path, pathMFA) {
		t.Fatalf("after a presence-only passkey: %s %d\n%s", mfa.url, mfa.status, mfa.body)
	}
	opts := passkeyOptions(t, mfa.body, "passkey-mfa")
	if !strings.Contains(string(opts), `"userVerification":"required"`) {
		t.Fatalf("the second step does not ask for user verification: %s", opts)
	}
	resp, _ = e.auth.Get(opts, passkeytest.Tamper{})
	h := a.submit(mfa, "mfa-passkey", url.Values{"credential": {string(resp)}})
	if h.status != http.StatusUnauthorized || e.sessions(e.userID) != 0 {
		t.Fatalf("presence twice: %d, %d sessions\n%s", h.status, e.sessions(e.userID), h.body)
	}
	e.auth.UserVerified = true
	resp, _ = e.auth.Get(passkeyOptions(t, h.body, "passkey-mfa"), passkeytest.Tamper{})
	claims := e.finishToClient(a, a.submit(h, "mfa-passkey", url.Values{"credential": {string(resp)}}))
	if !slices.Equal(amrOf(claims), []string{"hwk", "mfa"}) || claims["acr"] != acrMFA {
		t.Errorf("amr %v acr %v, want [hwk mfa] and %s", claims["amr"], claims["acr"], acrMFA)
	}
}

func TestPasskeySecondFactorMissingCSRF(t *testing.T) {
	e := newPasskeyEnv(t, func(c *Config) { c.Factors = testFactors(t) })
	e.register(e.auth, e.userID, testEmail)
	a := newAgent(t)
	page := e.loginPage(a)
	mfa := a.follow(a.submit(page, "login", url.Values{"email": {testEmail}, "password": {testPassword}}), nil)
	resp, err := e.auth.Get(passkeyOptions(t, mfa.body, "passkey-mfa"), passkeytest.Tamper{})
	if err != nil {
		t.Fatal(err)
	}
	h := a.submit(mfa, "mfa-passkey", url.Values{"credential": {string(resp)}, "csrf_token": {"forged"}})
	if h.status != http.StatusBadRequest || !strings.Contains(h.body, "This sign-in link has expired or is not valid") {
		t.Fatalf("forged CSRF token: %d\n%s", h.status, h.body)
	}
	if e.sessions(e.userID) != 0 || e.passkeysOf(e.userID)[0].SignCount != 0 {
		t.Error("a refused response changed state")
	}
	// The ceremony was not spent: the page's form still works.
	if c := e.finishToClient(a, a.submit(mfa, "mfa-passkey", url.Values{"credential": {string(resp)}})); c["sub"] != e.userID {
		t.Errorf("sub %v", c["sub"])
	}
}

// accountSession gives the agent an SSO session of userID signed in at
// authTime, and returns the CSRF-bearing page of /account/passkeys.
func (e *passkeyEnv) accountSession(a *agent, userID string, authTime time.Time) *hop {
	e.t.Helper()
	cookie := randomToken()
	if err := e.store.PutSession(context.Background(), &storage.Session{ID: sessionKey(cookie), UserID: userID,
		AuthTime: authTime, AMR: []string{"pwd"}, ACR: acrPassword, CreatedAt: authTime, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		e.t.Fatal(err)
	}
	u, _ := url.Parse(e.srv.URL)
	a.c.Jar.SetCookies(u, []*http.Cookie{{Name: cookieSession, Value: cookie, Path: "/"}})
	page := a.get(e.srv.URL + "/account/passkeys")
	if page.status != 200 {
		e.t.Fatalf("passkeys page: %d\n%s", page.status, page.body)
	}
	return page
}

func TestAccountPasskeys(t *testing.T) {
	e := newPasskeyEnv(t, nil)
	a := newAgent(t)
	page := e.accountSession(a, e.userID, time.Now())
	mustContain(t, "empty passkeys page", page.body, "You have no passkeys yet", `action="/account/passkeys/new"`)

	// Begin: a page with the ceremony and its script under a nonce.
	begun := a.submit(page, "/account/passkeys/new", url.Values{"name": {"  My laptop "}})
	if begun.status != 200 {
		t.Fatalf("begin: %d\n%s", begun.status, begun.body)
	}
	mustContain(t, "begun page", begun.body, `data-passkey="create"`, `Create the passkey “My laptop”`, `src="/assets/passkey.js"`)
	if csp := begun.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'nonce-") {
		t.Errorf("CSP %q allows no script", csp)
	}
	opts := passkeyOptions(t, begun.body, "passkey-create")
	resp, err := e.auth.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := a.submit(begun, "/account/passkeys/add", url.Values{"credential": {string(resp)}})
	if h.location == nil || h.location.RequestURI() != "/account/passkeys?done=added" {
		t.Fatalf("add: %d %v\n%s", h.status, h.location, h.body)
	}
	list := a.follow(h, nil)
	mustContain(t, "list", list.body, "Your passkey is added", "<strong>My laptop</strong>", "Not used yet")
	pks := e.passkeysOf(e.userID)
	if len(pks) != 1 || pks[0].Name != "My laptop" || pks[0].ID != passkeyIDOf(e.auth.Credentials()[0]) {
		t.Fatalf("stored passkeys %+v", pks)
	}

	// The same response again: the ceremony is spent.
	if h := a.submit(begun, "/account/passkeys/add", url.Values{"credential": {string(resp)}}); h.status != 400 ||
		!strings.Contains(h.body, "expired or was already used") {
		t.Fatalf("replayed registration: %d\n%s", h.status, h.body)
	}
	// A second registration excludes the first passkey: the
	// authenticator refuses, another registers one.
	begun = a.submit(list, "/account/passkeys/new", url.Values{"name": {"Phone"}})
	if _, err := e.auth.Create(passkeyOptions(t, begun.body, "passkey-create")); err == nil {
		t.Error("the authenticator registered a second passkey for the account")
	}
	if n := len(e.passkeysOf(e.userID)); n != 1 {
		t.Fatalf("%d passkeys after the refusals", n)
	}

	// The passkey signs in, and the list shows when.
	b := newAgent(t)
	login := e.loginPage(b)
	resp, _ = e.auth.Get(passkeyOptions(t, login.body, "passkey-signin"), passkeytest.Tamper{})
	e.finishToClient(b, b.submit(login, "login-passkey", url.Values{"credential": {string(resp)}}))
	list = a.get(e.srv.URL + "/account/passkeys")
	mustContain(t, "list after use", list.body, "Last used ")

	// Rename, then remove (Ada has a password, so it is not her last way).
	h = a.submit(list, "/account/passkeys/rename", url.Values{"name": {"Work laptop"}})
	if h.location == nil || e.passkeysOf(e.userID)[0].Name != "Work laptop" {
		t.Fatalf("rename: %d\n%s", h.status, h.body)
	}
	list = a.follow(h, nil)
	h = a.submit(list, "/account/passkeys/remove", nil)
	if h.location == nil || len(e.passkeysOf(e.userID)) != 0 {
		t.Fatalf("remove: %d\n%s", h.status, h.body)
	}
	evs := e.audits(e.userID)
	if !slices.Contains(evs, storage.AuditPasskeyRegistered+":") || !slices.Contains(evs, storage.AuditPasskeyRemoved+":") {
		t.Errorf("audit events %q lack registered and removed", evs)
	}
}

// passkeyIDOf is the stored ID of a software authenticator's credential.
func passkeyIDOf(c *passkeytest.Credential) string { return base64.RawURLEncoding.EncodeToString(c.ID) }

func TestAccountPasskeysRefusals(t *testing.T) {
	for _, tc := range []struct {
		name     string
		run      func(e *passkeyEnv, a *agent, page *hop) *hop
		status   int
		want     string
		failures int // passkey.failed events
	}{
		{"missing CSRF token", func(e *passkeyEnv, a *agent, page *hop) *hop {
			return a.submit(page, "/account/passkeys/new", url.Values{"name": {"Laptop"}, "csrf_token": {""}})
		}, 403, "This form has expired. Nothing was changed", 1},
		{"no name", func(e *passkeyEnv, a *agent, page *hop) *hop {
			return a.submit(page, "/account/passkeys/new", url.Values{"name": {"  "}})
		}, 400, "Give the passkey a name", 0},
		{"another origin", func(e *passkeyEnv, a *agent, page *hop) *hop {
			begun := a.submit(page, "/account/passkeys/new", url.Values{"name": {"Laptop"}})
			evil := passkeytest.New("https://evil.example")
			resp, err := evil.Create(passkeyOptions(e.t, begun.body, "passkey-create"))
			if err != nil {
				e.t.Fatal(err)
			}
			return a.submit(begun, "/account/passkeys/add", url.Values{"credential": {string(resp)}})
		}, 400, "The passkey was made for another website. Nothing was added.", 1},
		{"forged ceremony", func(e *passkeyEnv, a *agent, page *hop) *hop {
			begun := a.submit(page, "/account/passkeys/new", url.Values{"name": {"Laptop"}})
			resp, err := e.auth.Create(passkeyOptions(e.t, begun.body, "passkey-create"))
			if err != nil {
				e.t.Fatal(err)
			}
			c := hiddenValue(begun.body, "ceremony")
			return a.submit(begun, "/account/passkeys/add", url.Values{"credential": {string(resp)}, "ceremony": {"x" + c}})
		}, 400, "The passkey request expired or was already used.", 1},
		{"another user's passkey", func(e *passkeyEnv, a *agent, page *hop) *hop {
			bob := "user-bob"
			if err := e.store.CreateUser(context.Background(), &storage.User{ID: bob, Email: "bob@example.com"}); err != nil {
				e.t.Fatal(err)
			}
			pk := e.register(passkeytest.New(pkOrigin), bob, "bob@example.com")
			h := a.submit(page, "/account/passkeys/remove", url.Values{"passkey": {pk.ID}})
			if len(e.passkeysOf(bob)) != 1 {
				e.t.Error("Bob's passkey was removed")
			}
			return h
		}, 404, "That passkey is not one of yours.", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newPasskeyEnv(t, nil)
			a := newAgent(t)
			page := e.accountSession(a, e.userID, time.Now())
			// A passkey of Ada's, for the forms of the list.
			e.register(passkeytest.New(pkOrigin), e.userID, testEmail)
			page = a.get(e.srv.URL + "/account/passkeys")
			h := tc.run(e, a, page)
			if h.status != tc.status || !strings.Contains(h.body, tc.want) {
				t.Fatalf("status %d, want %d with %q:\n%s", h.status, tc.status, tc.want, h.body)
			}
			if n := len(e.passkeysOf(e.userID)); n != 1 {
				t.Errorf("Ada has %d passkeys, want the one she had", n)
			}
			if n := e.failures(e.userID); n != tc.failures {
				t.Errorf("%d passkey.failed events, want %d", n, tc.failures)
			}
		})
	}
}

func TestAccountPasskeysNeedARecentSignIn(t *testing.T) {
	e := newPasskeyEnv(t, nil)
	a := newAgent(t)
	page := e.accountSession(a, e.userID, time.Now().Add(-20*time.Minute))
	pk := e.register(passkeytest.New(pkOrigin), e.userID, testEmail)
	page = a.get(e.srv.URL + "/account/passkeys")
	for _, action := range []string{"/account/passkeys/new", "/account/passkeys/remove"} {
		h := a.submit(page, action, url.Values{"name": {"Laptop"}, "passkey": {pk.ID}})
		if h.location == nil || h.location.Path != pathLogin {
			t.Errorf("%s with a sign-in 20 minutes old: %d %v, want the login page", action, h.status, h.location)
		}
	}
	if len(e.passkeysOf(e.userID)) != 1 {
		t.Error("the passkey was removed without a recent sign-in")
	}
}

func TestAccountPasskeysKeepALastWayToSignIn(t *testing.T) {
	e := newPasskeyEnv(t, nil)
	ctx := context.Background()
	if err := e.store.DeleteCredential(ctx, e.userID, storage.CredentialPassword); err != nil {
		t.Fatal(err)
	}
	pk := e.register(e.auth, e.userID, testEmail)
	a := newAgent(t)
	page := e.accountSession(a, e.userID, time.Now())
	h := a.submit(page, "/account/passkeys/remove", url.Values{"passkey": {pk.ID}})
	if h.status != http.StatusConflict || !strings.Contains(h.body, "it is your only way to sign in") || len(e.passkeysOf(e.userID)) != 1 {
		t.Fatalf("removing the last way to sign in: %d\n%s", h.status, h.body)
	}
}
