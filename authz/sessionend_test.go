package authz

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/internal/redistest"
	redisstore "github.com/atrium-id/atrium/storage/redis"
)

// Ending a session on the account area's Sessions page or through its API
// revokes the tokens the apps got through that session.

// The provider ends sessions with their tokens for the account area.
var _ account.SessionRevoker = (*Provider)(nil)

// appGrant is the tokens of one grant of "app".
type appGrant struct {
	what            string
	access, refresh string
}

// appGrantIn runs a code flow for "app" in the browser b, signing in
// unless b has a session, and returns its tokens.
func (e *testEnv) appGrantIn(b *http.Client, what string) *appGrant {
	e.t.Helper()
	verifier, challenge := pkcePair()
	code := e.signIn(b, codeParams("app", "openid email offline_access", challenge)).Query().Get("code")
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "app", testSecret)
	if status != 200 || tok["refresh_token"] == nil {
		e.t.Fatalf("%s: code exchange: %d %v", what, status, tok)
	}
	return &appGrant{what: what, access: tok["access_token"].(string), refresh: tok["refresh_token"].(string)}
}

// wantLive checks that g's access token is active at introspection and
// accepted at userinfo and that its refresh token refreshes; g then holds
// the refreshed tokens.
func (e *testEnv) wantLive(t *testing.T, when string, grants ...*appGrant) {
	t.Helper()
	for _, g := range grants {
		if !e.introspect(t, g.access) {
			t.Errorf("%s: %s's access token inactive at introspection", when, g.what)
		}
		if status, _ := e.userinfoOf(g.access); status != http.StatusOK {
			t.Errorf("%s: userinfo refuses %s's access token: %d", when, g.what, status)
		}
		status, tok := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.refresh}}, "app", testSecret)
		if status != http.StatusOK {
			t.Errorf("%s: %s's refresh token: %d %v", when, g.what, status, tok)
			continue
		}
		g.access, g.refresh = tok["access_token"].(string), tok["refresh_token"].(string)
	}
}

// wantRevoked checks that g's access token is inactive at introspection
// and refused at userinfo, and that its refresh token gets invalid_grant.
func (e *testEnv) wantRevoked(t *testing.T, when string, grants ...*appGrant) {
	t.Helper()
	for _, g := range grants {
		if e.introspect(t, g.access) {
			t.Errorf("%s: %s's access token still active at introspection", when, g.what)
		}
		if status, _ := e.userinfoOf(g.access); status != http.StatusUnauthorized {
			t.Errorf("%s: userinfo answers %d to %s's access token, want 401", when, status, g.what)
		}
		status, tok := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.refresh}}, "app", testSecret)
		if status != http.StatusBadRequest || tok["error"] != "invalid_grant" {
			t.Errorf("%s: %s's refresh token: %d %v, want invalid_grant", when, g.what, status, tok["error"])
		}
	}
}

// graceGrant gives a second user a session in a browser of her own and a
// grant of "app" through it.
func (e *testEnv) graceGrant(t *testing.T) (*http.Client, *appGrant) {
	t.Helper()
	e.otherUser(t)
	grace := e.browser()
	e.sessionOf(grace, "user-grace", time.Now())
	return grace, e.appGrantIn(grace, "grace's grant")
}

func TestSessionEndRevokesTokens(t *testing.T) { accountStateBackends(t, testSessionEndRevokesTokens) }

func testSessionEndRevokesTokens(t *testing.T, e *testEnv) {
	bA, bB := e.browser(), e.browser()
	a1 := e.appGrantIn(bA, "A's first grant") // signs in: session A
	a2 := e.appGrantIn(bA, "A's second grant")
	b1 := e.appGrantIn(bB, "B's grant") // signs in again: session B
	grace, g := e.graceGrant(t)
	e.wantLive(t, "at first", a1, a2, b1, g)

	_, page := e.get(bB, "/account/sessions")
	mustContain(t, "sessions page", page, "Signing out another browser also ends the access of the apps signed in through it.")
	handles := sessionHandleRe.FindAllStringSubmatch(page, -1)
	if len(handles) != 2 {
		t.Fatalf("sessions page with %d sessions, want 2: %s", len(handles), page)
	}
	handleA := handles[1][1] // this browser's first
	_, gracePage := e.get(grace, "/account/sessions")
	graceHandle := sessionHandleRe.FindStringSubmatch(gracePage)[1]

	// Another user's handle, a made-up one, no CSRF token, a wrong one:
	// nothing is revoked.
	for _, h := range []string{graceHandle, "bm90LWEtaGFuZGxl", ""} {
		resp := submitForm(t, bB, e.srv.URL+"/account/sessions", page, "/account/sessions/end", url.Values{"session": {h}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("handle %q: %d %s", h, resp.StatusCode, body)
		}
	}
	for _, csrf := range [][]string{nil, {"forged"}} {
		form := url.Values{"session": {handleA}}
		if csrf != nil {
			form["csrf_token"] = csrf
		}
		resp, err := bB.PostForm(e.srv.URL+"/account/sessions/end", form)
		if err != nil {
			t.Fatal(err)
		}
		if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("CSRF token %v: %d, want 403", csrf, resp.StatusCode)
		}
	}
	e.wantLive(t, "after refused requests", a1, a2, b1, g)

	// B signs A out: A's grants stop working, B's and Grace's do not.
	resp := submitForm(t, bB, e.srv.URL+"/account/sessions", page, "/account/sessions/end", url.Values{"session": {handleA}})
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign out A: %d %s", resp.StatusCode, body)
	}
	mustContain(t, "after signing A out", body, "Signed out. The other browsers and the apps signed in through them have to sign in again.")
	e.wantRevoked(t, "A signed out", a1, a2)
	e.wantLive(t, "A signed out", b1, g)
	if _, sessions := e.get(bB, "/account/sessions"); len(sessionHandleRe.FindAllString(sessions, -1)) != 1 {
		t.Errorf("session A still listed: %s", sessions)
	}

	// The plain sign-out of this browser ends its session only.
	_, page = e.get(bB, "/account/sessions")
	resp = submitForm(t, bB, e.srv.URL+"/account/sessions", page, "/account/sessions/end", url.Values{"session": {sessionHandleRe.FindStringSubmatch(page)[1]}})
	readBody(t, resp)
	if r, _ := noRedirects(bB).Get(e.srv.URL + "/account/sessions"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("still signed in after signing out here: %d", r.StatusCode)
	}
	e.wantLive(t, "B signed out here", b1, g)
}

func TestSessionsEndOthersRevokesTokens(t *testing.T) {
	accountStateBackends(t, testSessionsEndOthersRevokesTokens)
}

func testSessionsEndOthersRevokesTokens(t *testing.T, e *testEnv) {
	bA, bB, bC := e.browser(), e.browser(), e.browser()
	a, b, c := e.appGrantIn(bA, "A's grant"), e.appGrantIn(bB, "B's grant"), e.appGrantIn(bC, "C's grant")
	_, g := e.graceGrant(t)
	// Refreshed tokens belong to the session as the first ones did.
	e.wantLive(t, "at first", a, b, c, g)

	for _, action := range []string{"/account/sessions/others", "/account/sessions/all"} {
		resp, err := bC.PostForm(e.srv.URL+action, url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s without a CSRF token: %d, want 403", action, resp.StatusCode)
		}
	}
	e.wantLive(t, "after refused requests", a, b, c, g)

	_, page := e.get(bC, "/account/sessions")
	resp := submitForm(t, bC, e.srv.URL+"/account/sessions", page, "/account/sessions/others", nil)
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "have to sign in again") {
		t.Fatalf("sign out everywhere else: %d %s", resp.StatusCode, body)
	}
	e.wantRevoked(t, "everywhere else signed out", a, b)
	e.wantLive(t, "everywhere else signed out", c, g)

	// A new sign-in in A, then everywhere: C's and A's new grant go,
	// Grace's stays.
	a2 := e.appGrantIn(bA, "A's grant after signing in again")
	_, page = e.get(bC, "/account/sessions")
	resp = submitForm(t, bC, e.srv.URL+"/account/sessions", page, "/account/sessions/all", nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign out everywhere: %d %s", resp.StatusCode, body)
	}
	mustContain(t, "signed out everywhere", body, "You are signed out everywhere", "and so do the apps signed in through them")
	e.wantRevoked(t, "everywhere signed out", c, a2)
	e.wantLive(t, "everywhere signed out", g)
}

func TestAccountAPISessionEndRevokesTokens(t *testing.T) {
	t.Run("sql", func(t *testing.T) { testAccountAPISessionEndRevokesTokens(t, newAccountAPIEnv(t)) })
	t.Run("redis", func(t *testing.T) {
		rs, err := redisstore.Open(context.Background(), redistest.URL(t), redisstore.WithPrefix("session-end-test:"+randomToken()[:12]+":"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		testAccountAPISessionEndRevokesTokens(t, newAccountAPIEnv(t, rs))
	})
}

func testAccountAPISessionEndRevokesTokens(t *testing.T, e *testEnv) {
	bA := e.browser()
	a := e.appGrantIn(bA, "A's grant") // signs in: session A
	rw := e.tokenIn(e.browser(), "openid account.read account.write")
	grace, g := e.graceGrant(t)
	e.wantLive(t, "at first", a, g)

	// The API lists sessions newest first: the API client's, then A.
	list, _ := e.api("GET", "/sessions", rw, "").body["sessions"].([]any)
	if len(list) != 2 {
		t.Fatalf("GET /sessions: %v", list)
	}
	handleA := list[1].(map[string]any)["id"].(string)
	_, gracePage := e.get(grace, "/account/sessions")
	graceHandle := sessionHandleRe.FindStringSubmatch(gracePage)[1]

	wantError(t, "another user's session", e.api("DELETE", "/sessions/"+graceHandle, rw, ""), http.StatusNotFound, "not_found")
	wantError(t, "no token", e.api("DELETE", "/sessions/"+handleA, "", ""), http.StatusUnauthorized, "invalid_token")
	e.wantLive(t, "after refused requests", a, g)

	if r := e.api("DELETE", "/sessions/"+handleA, rw, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE session A: %d %s", r.status, r.raw)
	}
	e.wantRevoked(t, "A ended through the API", a)
	e.wantLive(t, "A ended through the API", g)
	if r := e.api("GET", "/me", rw, ""); r.status != http.StatusOK {
		t.Errorf("the API client's own token after ending another session: %d %s", r.status, r.raw)
	}
}
