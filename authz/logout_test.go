package authz

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite/token/jwt"

	"github.com/atrium-id/atrium/authz/keys"
	"github.com/atrium-id/atrium/internal/redistest"
	"github.com/atrium-id/atrium/internal/secretbox"
	"github.com/atrium-id/atrium/storage"
	redisstore "github.com/atrium-id/atrium/storage/redis"
	sqlstore "github.com/atrium-id/atrium/storage/sql"
)

// Logout: RP-initiated (logout.go), back-channel (backchannel.go) and
// front-channel.

const testPostLogout = "http://127.0.0.1:9999/signed-out"

// logoutBackends runs fn with sessions and grant state in SQLite and in
// Redis.
func logoutBackends(t *testing.T, fn func(t *testing.T, e *testEnv)) {
	t.Run("sql", func(t *testing.T) { fn(t, newLogoutEnv(t)) })
	t.Run("redis", func(t *testing.T) {
		rs, err := redisstore.Open(context.Background(), redistest.URL(t), redisstore.WithPrefix("logout-test:"+randomToken()[:12]+":"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		fn(t, newLogoutEnv(t, rs))
	})
}

// newLogoutEnv is a test env whose "app" registered testPostLogout, and
// whose back-channel retries come at once.
func newLogoutEnv(t *testing.T, state ...storage.StateStore) *testEnv {
	e := newTestEnv(t, state...)
	e.updateClient("app", func(c *storage.Client) { c.PostLogoutRedirectURIs = []string{testPostLogout} })
	e.p.logouts.retry = func(int) time.Duration { return 10 * time.Millisecond }
	t.Cleanup(e.p.logouts.wait)
	return e
}

func (e *testEnv) updateClient(id string, change func(*storage.Client)) {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.store.GetClient(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	change(c)
	if err := e.store.UpdateClient(ctx, c); err != nil {
		e.t.Fatal(err)
	}
}

// addClient registers a confidential client with testSecret.
func (e *testEnv) addClient(id string, change func(*storage.Client)) {
	e.t.Helper()
	c := &storage.Client{ID: id, SecretHash: HashClientSecret(testSecret), Name: "App " + id, RedirectURIs: []string{testRedirect},
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		Scopes: []string{"openid", "email", "offline_access"}}
	if change != nil {
		change(c)
	}
	if err := e.store.CreateClient(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
}

// idGrant is a grant of a code flow with its ID token.
type idGrant struct {
	appGrant
	idToken string
}

// idGrantIn runs a code flow for clientID in browser b (signing in
// unless b has a session) and returns its tokens.
func (e *testEnv) idGrantIn(b *http.Client, clientID string) *idGrant {
	e.t.Helper()
	verifier, challenge := pkcePair()
	code := e.signIn(b, codeParams(clientID, "openid email offline_access", challenge)).Query().Get("code")
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, clientID, testSecret)
	if status != 200 || tok["id_token"] == nil {
		e.t.Fatalf("%s: code exchange: %d %v", clientID, status, tok)
	}
	return &idGrant{appGrant: appGrant{what: clientID + "'s grant", access: tok["access_token"].(string), refresh: tok["refresh_token"].(string)},
		idToken: tok["id_token"].(string)}
}

// logoutURL is the end_session_endpoint with params.
func (e *testEnv) logoutURL(params url.Values) string {
	return e.srv.URL + pathLogout + "?" + params.Encode()
}

// signedIn reports whether browser b has a live SSO session: a
// prompt=none request gets a code, not login_required.
func (e *testEnv) signedIn(t *testing.T, b *http.Client) bool {
	t.Helper()
	_, challenge := pkcePair()
	params := codeParams("app", "openid", challenge)
	params.Set("prompt", "none")
	resp, err := noRedirects(b).Get(e.authorizeURL(params))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("prompt=none: %d, no redirect", resp.StatusCode)
	}
	return loc.Query().Get("code") != ""
}

// sessionOfBrowser is the stored session of browser b.
func (e *testEnv) sessionOfBrowser(t *testing.T, b *http.Client) *storage.Session {
	t.Helper()
	u, _ := url.Parse(e.srv.URL)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == cookieSession {
			s, err := e.p.stores.Sessions.GetSession(context.Background(), sessionKey(c.Value))
			if err != nil {
				t.Fatalf("session of the browser: %v", err)
			}
			return s
		}
	}
	t.Fatal("the browser has no session cookie")
	return nil
}

func TestLogoutDiscovery(t *testing.T) {
	e := newTestEnv(t)
	resp, body := e.get(http.DefaultClient, "/.well-known/openid-configuration")
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["end_session_endpoint"] != e.srv.URL+"/logout" {
		t.Errorf("end_session_endpoint = %v", doc["end_session_endpoint"])
	}
	for _, k := range []string{"frontchannel_logout_supported", "frontchannel_logout_session_supported",
		"backchannel_logout_supported", "backchannel_logout_session_supported"} {
		if doc[k] != true {
			t.Errorf("%s = %v, want true", k, doc[k])
		}
	}
}

func TestRPInitiatedLogoutWithHint(t *testing.T) { logoutBackends(t, testRPInitiatedLogoutWithHint) }

func testRPInitiatedLogoutWithHint(t *testing.T, e *testEnv) {
	b := e.browser()
	g := e.idGrantIn(b, "app")
	other := e.browser()
	og := e.idGrantIn(other, "app") // another session of the same user
	if got := e.sessionOfBrowser(t, b).Clients; !slices.Equal(got, []string{"app"}) {
		t.Fatalf("session clients %v, want [app]", got)
	}

	resp, err := noRedirects(b).Get(e.logoutURL(url.Values{"id_token_hint": {g.idToken},
		"post_logout_redirect_uri": {testPostLogout}, "state": {"st-9"}}))
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != testPostLogout+"?state=st-9" {
		t.Fatalf("logout: %d %q, want a redirect to %s?state=st-9\n%s", resp.StatusCode, resp.Header.Get("Location"), testPostLogout, body)
	}
	if e.signedIn(t, b) {
		t.Error("prompt=none still gets a code after logout")
	}
	e.wantRevoked(t, "after logout", &g.appGrant)
	// The other browser's session and tokens are not this one's.
	if !e.signedIn(t, other) {
		t.Error("logout ended the session of another browser")
	}
	e.wantLive(t, "after logout", &og.appGrant)

	// Again, now signed out: straight back to the app.
	resp, err = noRedirects(b).Get(e.logoutURL(url.Values{"id_token_hint": {g.idToken},
		"post_logout_redirect_uri": {testPostLogout}, "state": {"st-10"}}))
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != testPostLogout+"?state=st-10" {
		t.Fatalf("logout when signed out: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// By POST, with an expired hint and no redirect: the signed-out page.
	g2 := e.idGrantIn(other, "app")
	expired := e.signedToken(t, e.p.keys.Signer(), jwt.MapClaims{"iss": e.srv.URL, "sub": e.userID, "aud": []string{"app"},
		"sid": claimsOf(t, g2.idToken)["sid"], "iat": time.Now().Add(-3 * time.Hour).Unix(), "exp": time.Now().Add(-2 * time.Hour).Unix()})
	resp, err = noRedirects(other).PostForm(e.srv.URL+pathLogout, url.Values{"id_token_hint": {expired}})
	if err != nil {
		t.Fatal(err)
	}
	body = readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST logout with an expired hint: %d\n%s", resp.StatusCode, body)
	}
	mustContain(t, "signed-out page", body, "<h1>You are signed out</h1>")
	if e.signedIn(t, other) {
		t.Error("still signed in after a logout with an expired hint")
	}
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func TestRPInitiatedLogoutConfirm(t *testing.T) { logoutBackends(t, testRPInitiatedLogoutConfirm) }

func testRPInitiatedLogoutConfirm(t *testing.T, e *testEnv) {
	b := e.browser()
	g := e.idGrantIn(b, "app")

	// A bare GET only asks.
	resp, body := getPage(t, b, e.logoutURL(url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {testPostLogout},
		"state": {"s1"}}), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logout without hint: %d\n%s", resp.StatusCode, body)
	}
	mustContain(t, "confirmation", body, "<h1>Sign out of App?</h1>", `action="logout/confirm"`,
		`name="client_id" value="app"`, `name="state" value="s1"`)
	if !e.signedIn(t, b) {
		t.Fatal("a GET without id_token_hint signed the browser out")
	}

	// Without the CSRF token, or with another's: nothing ends.
	for _, tok := range []string{"", "forged", e.p.logoutCSRF(&storage.Session{ID: "another"})} {
		form := url.Values{"client_id": {"app"}, "csrf_token": {tok}}
		resp, err := noRedirects(b).PostForm(e.srv.URL+pathLogoutConfirm, form)
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("CSRF token %q: %d\n%s", tok, resp.StatusCode, body)
		}
	}
	if !e.signedIn(t, b) {
		t.Fatal("signed out by a confirmation without its CSRF token")
	}
	e.wantLive(t, "after refused confirmations", &g.appGrant)

	resp = submitForm(t, noRedirects(b), resp.Request.URL.String(), body, "logout/confirm", nil)
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != testPostLogout+"?state=s1" {
		t.Fatalf("confirmed: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if e.signedIn(t, b) {
		t.Error("still signed in after confirming")
	}
	e.wantRevoked(t, "after confirming", &g.appGrant)

	// No parameters: the signed-out page.
	b2 := e.browser()
	e.idGrantIn(b2, "app")
	_, body = getPage(t, b2, e.srv.URL+pathLogout, "")
	mustContain(t, "confirmation", body, "<h1>Sign out?</h1>")
	resp = submitForm(t, b2, e.srv.URL+pathLogout, body, "logout/confirm", nil)
	body = readBody(t, resp)
	mustContain(t, "signed-out page", body, "<h1>You are signed out</h1>")
	if resp.Header.Get("Content-Security-Policy") != "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'none'; base-uri 'none'" {
		t.Errorf("CSP without front-channel clients: %q", resp.Header.Get("Content-Security-Policy"))
	}
	if e.signedIn(t, b2) {
		t.Error("still signed in")
	}
}

// TestRPInitiatedLogoutRefused: each bad request gets an error page, no
// redirect, and the session and its tokens stay.
func TestRPInitiatedLogoutRefused(t *testing.T) {
	e := newLogoutEnv(t)
	e.addClient("app2", func(c *storage.Client) { c.PostLogoutRedirectURIs = []string{"http://127.0.0.1:9999/app2-out"} })
	b := e.browser()
	g := e.idGrantIn(b, "app")
	claims := claimsOf(t, g.idToken)
	strange := otherSigner(t)
	forged := func(c jwt.MapClaims) jwt.MapClaims {
		out := jwt.MapClaims{}
		for k, v := range claims {
			out[k] = v
		}
		for k, v := range c {
			out[k] = v
		}
		return out
	}
	parts := strings.Split(g.idToken, ".")
	algNone := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."

	for _, tc := range []struct {
		name   string
		params url.Values
		want   string
	}{
		{"unregistered post_logout_redirect_uri", url.Values{"id_token_hint": {g.idToken}, "post_logout_redirect_uri": {"https://evil.example/out"}},
			"The application asked to send you to an address it has not registered here"},
		{"post_logout_redirect_uri with a query added", url.Values{"id_token_hint": {g.idToken}, "post_logout_redirect_uri": {testPostLogout + "?x=1"}},
			"The application asked to send you to an address it has not registered here"},
		{"another client's post_logout_redirect_uri", url.Values{"id_token_hint": {g.idToken}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/app2-out"}},
			"The application asked to send you to an address it has not registered here"},
		{"post_logout_redirect_uri without a client", url.Values{"post_logout_redirect_uri": {testPostLogout}},
			"does not say which application it is from"},
		{"hint signed by another key", url.Values{"id_token_hint": {e.signedToken(t, strange, claims)}, "post_logout_redirect_uri": {testPostLogout}},
			"sign-out request is not valid"},
		{"hint of another issuer", url.Values{"id_token_hint": {e.signedToken(t, e.p.keys.Signer(), forged(jwt.MapClaims{"iss": "https://other.example"}))}},
			"sign-out request is not valid"},
		{"hint with alg none", url.Values{"id_token_hint": {algNone}, "post_logout_redirect_uri": {testPostLogout}},
			"sign-out request is not valid"},
		{"hint with a changed payload", url.Values{"id_token_hint": {parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"user-grace"}`)) + "." + parts[2]}},
			"sign-out request is not valid"},
		{"hint that is not a JWT", url.Values{"id_token_hint": {"not-a-token"}}, "sign-out request is not valid"},
		{"client_id not the hint's", url.Values{"id_token_hint": {g.idToken}, "client_id": {"app2"}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/app2-out"}},
			"sign-out request is not valid"},
		{"unknown client_id", url.Values{"client_id": {"nope"}}, "The application is not known here."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := noRedirects(b).Get(e.logoutURL(tc.params))
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("%d %q, want 400 and no redirect\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			mustContain(t, "error page", body, "The application sent an invalid sign-out request", tc.want)
		})
	}
	if !e.signedIn(t, b) {
		t.Fatal("a refused logout signed the browser out")
	}
	e.wantLive(t, "after refused logouts", &g.appGrant)

	// In the person's language.
	resp, body := getPage(t, b, e.logoutURL(url.Values{"id_token_hint": {g.idToken}, "post_logout_redirect_uri": {"https://evil.example/out"},
		"ui_locales": {"de"}}), "en")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatal(resp.Status)
	}
	mustContain(t, "German error page", body, `<html lang="de">`, "Die Anwendung wollte Sie an eine Adresse weiterleiten")
}

// TestLogoutHintOfAnother: an ID token of another user, or of another
// session, does not sign anyone out silently.
func TestLogoutHintOfAnother(t *testing.T) {
	e := newLogoutEnv(t)
	ada := e.browser()
	adaGrant := e.idGrantIn(ada, "app")
	grace, _ := e.graceGrant(t)
	graceGrant := e.idGrantIn(grace, "app")

	adaLater := e.browser()
	e.idGrantIn(adaLater, "app")

	for _, tc := range []struct {
		name string
		b    *http.Client
		hint string
	}{
		{"another user's hint", ada, graceGrant.idToken},
		{"a hint of another session", adaLater, adaGrant.idToken},
	} {
		resp, err := noRedirects(tc.b).Get(e.logoutURL(url.Values{"id_token_hint": {tc.hint},
			"post_logout_redirect_uri": {testPostLogout}}))
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %q", tc.name, resp.StatusCode, resp.Header.Get("Location"))
		}
		mustContain(t, tc.name, body, "<h1>Sign out of App?</h1>")
	}
	for name, b := range map[string]*http.Client{"ada": ada, "ada later": adaLater, "grace": grace} {
		if !e.signedIn(t, b) {
			t.Errorf("%s signed out by a hint of another", name)
		}
	}
	e.wantLive(t, "after hints of others", &adaGrant.appGrant, &graceGrant.appGrant)

	// Confirming ends this browser's session only.
	_, body := getPage(t, ada, e.logoutURL(url.Values{"id_token_hint": {graceGrant.idToken}}), "")
	resp := submitForm(t, ada, e.srv.URL+pathLogout, body, "logout/confirm", nil)
	readBody(t, resp)
	if e.signedIn(t, ada) || !e.signedIn(t, grace) {
		t.Error("confirming should end Ada's session and not Grace's")
	}
	e.wantLive(t, "Ada confirmed", &graceGrant.appGrant)
}

// logoutRP is a relying party's back-channel logout endpoint: it verifies each
// logout token with the provider's JWKS and keeps its claims.
type logoutRP struct {
	t      *testing.T
	srv    *httptest.Server
	jwks   string
	mu     sync.Mutex
	calls  int
	fail   int // answer 500 to this many calls first
	tokens []map[string]any
	raw    []string
}

func newLogoutRP(t *testing.T, jwksURL string) *logoutRP {
	r := &logoutRP{t: t, jwks: jwksURL}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *logoutRP) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if req.Method != http.MethodPost || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.t.Errorf("back-channel logout: %s with %q", req.Method, req.Header.Get("Content-Type"))
	}
	if r.calls <= r.fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	token := req.PostFormValue("logout_token")
	claims, err := verifyLogoutToken(r.jwks, token, "logout+jwt")
	if err != nil {
		r.t.Errorf("logout token: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.tokens = append(r.tokens, claims)
	r.raw = append(r.raw, token)
}

func (r *logoutRP) received() (int, []map[string]any, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, slices.Clone(r.tokens), slices.Clone(r.raw)
}

// verifyLogoutToken verifies token with a key of the JWKS at jwksURL, as a
// relying party would, and checks its typ.
func verifyLogoutToken(jwksURL, token, typ string) (map[string]any, error) {
	resp, err := http.Get(jwksURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, err
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return nil, err
	}
	h := jws.Signatures[0].Header
	keys := set.Key(h.KeyID)
	if len(keys) == 0 {
		return nil, io.ErrUnexpectedEOF
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		return nil, err
	}
	if got, _ := h.ExtraHeaders["typ"].(string); got != typ {
		return nil, &json.UnsupportedValueError{Str: "typ " + got}
	}
	var claims map[string]any
	return claims, json.Unmarshal(payload, &claims)
}

func TestBackchannelLogout(t *testing.T) { logoutBackends(t, testBackchannelLogout) }

func testBackchannelLogout(t *testing.T, e *testEnv) {
	bc := newLogoutRP(t, e.srv.URL+pathJWKS)
	bc.fail = 1 // retried after a 500
	absent := newLogoutRP(t, e.srv.URL+pathJWKS)
	e.addClient("bc", func(c *storage.Client) {
		c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = bc.srv.URL+"/bcl", true
	})
	e.addClient("absent", func(c *storage.Client) { c.BackchannelLogoutURI = absent.srv.URL + "/bcl" })

	b := e.browser()
	g := e.idGrantIn(b, "app")
	e.idGrantIn(b, "bc")
	e.idGrantIn(b, "bc") // once in the session's list
	if got := e.sessionOfBrowser(t, b).Clients; !slices.Equal(got, []string{"app", "bc"}) {
		t.Fatalf("session clients %v, want [app bc]", got)
	}
	idClaims := claimsOf(t, g.idToken)

	resp, err := noRedirects(b).Get(e.logoutURL(url.Values{"id_token_hint": {g.idToken}, "post_logout_redirect_uri": {testPostLogout}}))
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	e.p.logouts.wait()
	calls, tokens, raw := bc.received()
	if calls != 2 || len(tokens) != 1 {
		t.Fatalf("bc: %d calls, %d tokens; want 2 calls (a 500, then delivered) and one token", calls, len(tokens))
	}
	lt := tokens[0]
	now := float64(time.Now().Unix())
	iat, _ := lt["iat"].(float64)
	exp, _ := lt["exp"].(float64)
	events, _ := lt["events"].(map[string]any)
	switch {
	case lt["iss"] != e.srv.URL:
		t.Errorf("iss %v", lt["iss"])
	case lt["aud"] != "bc":
		t.Errorf("aud %v, want bc", lt["aud"])
	case lt["sub"] != e.userID:
		t.Errorf("sub %v", lt["sub"])
	case lt["sid"] != idClaims["sid"] || lt["sid"] == nil:
		t.Errorf("sid %v, want the ID token's %v", lt["sid"], idClaims["sid"])
	case iat < now-60 || iat > now+5 || exp-iat != 120:
		t.Errorf("iat %v exp %v", iat, exp)
	case lt["jti"] == nil || lt["jti"] == "":
		t.Error("no jti")
	case lt["nonce"] != nil:
		t.Error("a logout token has no nonce")
	case events == nil || events[eventBackchannelLogout] == nil || len(events) != 1:
		t.Errorf("events %v", lt["events"])
	}
	if strings.Count(raw[0], ".") != 2 {
		t.Errorf("not a compact JWS: %s", raw[0])
	}
	if calls, _, _ := absent.received(); calls != 0 {
		t.Errorf("a client not in the session got %d back-channel calls", calls)
	}

	// Signing out in the account area, and ending a session from
	// another browser, tell the apps too.
	signOut := e.browser()
	e.idGrantIn(signOut, "bc")
	if err := e.p.SignOut(httptest.NewRecorder(), requestWithCookies(t, e, signOut)); err != nil {
		t.Fatal(err)
	}
	ended := e.browser()
	e.idGrantIn(ended, "bc")
	s := e.sessionOfBrowser(t, ended)
	if err := e.p.EndSession(requestWithCookies(t, e, e.browser()), e.userID, s); err != nil {
		t.Fatal(err)
	}
	e.p.logouts.wait()
	if _, tokens, _ := bc.received(); len(tokens) != 3 {
		t.Errorf("bc got %d logout tokens, want 3 (logout, sign-out, session ended)", len(tokens))
	} else if tokens[2]["sid"] != sid(s.ID) {
		t.Errorf("the ended session's token has sid %v, want %v", tokens[2]["sid"], sid(s.ID))
	}
}

// TestBackchannelLogoutGivesUp: a client that keeps failing gets
// backchannelAttempts attempts; one that refuses the token, one.
func TestBackchannelLogoutGivesUp(t *testing.T) {
	e := newLogoutEnv(t)
	down := newLogoutRP(t, e.srv.URL+pathJWKS)
	down.fail = 100
	var (
		mu      sync.Mutex
		refused int
	)
	refuses := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		refused++
		mu.Unlock()
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
	}))
	t.Cleanup(refuses.Close)
	e.addClient("down", func(c *storage.Client) { c.BackchannelLogoutURI = down.srv.URL })
	e.addClient("refuses", func(c *storage.Client) { c.BackchannelLogoutURI = refuses.URL })
	b := e.browser()
	g := e.idGrantIn(b, "down")
	e.idGrantIn(b, "refuses")
	start := time.Now()
	resp, err := noRedirects(b).Get(e.logoutURL(url.Values{"id_token_hint": {g.idToken}}))
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if d := time.Since(start); d > logoutWait+time.Second {
		t.Errorf("the logout page took %v", d)
	}
	e.p.logouts.wait()
	if calls, _, _ := down.received(); calls != backchannelAttempts {
		t.Errorf("a failing client got %d attempts, want %d", calls, backchannelAttempts)
	}
	mu.Lock()
	defer mu.Unlock()
	if refused != 1 {
		t.Errorf("a client refusing the token got %d attempts, want 1", refused)
	}
}

func TestFrontchannelLogout(t *testing.T) {
	e := newLogoutEnv(t)
	e.addClient("fc", func(c *storage.Client) {
		c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired = "https://fc.example/logout?app=1", true
	})
	e.addClient("fc2", func(c *storage.Client) { c.FrontchannelLogoutURI = "https://fc2.example:8443/out" })
	b := e.browser()
	g := e.idGrantIn(b, "app")
	e.idGrantIn(b, "fc")
	e.idGrantIn(b, "fc2")
	s := e.sessionOfBrowser(t, b)

	resp, err := noRedirects(b).Get(e.logoutURL(url.Values{"id_token_hint": {g.idToken},
		"post_logout_redirect_uri": {testPostLogout}, "state": {"s&1"}}))
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logout with front-channel clients: %d\n%s", resp.StatusCode, body)
	}
	want := "https://fc.example/logout?app=1&amp;iss=" + url.QueryEscape(e.srv.URL) + "&amp;sid=" + sid(s.ID)
	mustContain(t, "signed-out page", body, `<iframe src="`+want+`"`, `<iframe src="https://fc2.example:8443/out"`,
		`content="3; url=`+testPostLogout+`?state=s%261"`, `<a href="`+testPostLogout+`?state=s%261">Continue to App</a>`)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "; frame-src https://fc.example https://fc2.example:8443") ||
		!strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if e.signedIn(t, b) {
		t.Error("still signed in")
	}
}

// TestJoinSessionKeepsEndedSessionsEnded: recording a client in a session
// ended meanwhile does not bring it back.
func TestJoinSessionKeepsEndedSessionsEnded(t *testing.T) {
	logoutBackends(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		s := &storage.Session{ID: "s-" + randomToken()[:8], UserID: e.userID, AuthTime: time.Now(), CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if err := e.p.stores.Sessions.PutSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := e.p.joinSession(ctx, s, "app"); err != nil {
			t.Fatal(err)
		}
		if err := e.p.stores.Sessions.DeleteSession(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.p.joinSession(ctx, s, "bc"); err == nil {
			t.Error("joining an ended session: no error")
		}
		if got, err := e.p.stores.Sessions.GetSession(ctx, s.ID); err == nil {
			t.Errorf("the ended session is back: %+v", got)
		}
	})
}

// requestWithCookies is a request carrying browser b's cookies.
func requestWithCookies(t *testing.T, e *testEnv, b *http.Client) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, e.srv.URL+"/account/signout", nil)
	u, _ := url.Parse(e.srv.URL)
	for _, c := range b.Jar.Cookies(u) {
		r.AddCookie(c)
	}
	return r
}

// claimsOf returns the payload of a JWT, unverified.
func claimsOf(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %s", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *testEnv) signedToken(t *testing.T, s jwt.Signer, claims jwt.MapClaims) string {
	t.Helper()
	tok, _, err := s.Generate(context.Background(), claims, &jwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// otherSigner signs with keys this provider does not know.
func otherSigner(t *testing.T) jwt.Signer {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "other.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	box, err := secretbox.New([]byte(strings.Repeat("o", 32)), "signing-keys")
	if err != nil {
		t.Fatal(err)
	}
	km, err := keys.NewManager(st, box, keys.Options{Algorithms: []string{keys.ES256}})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	return km.Signer()
}

// TestFrameOrigins: only an http(s) origin of host and port characters
// reaches the signed-out page's Content-Security-Policy.
func TestFrameOrigins(t *testing.T) {
	got := frameOrigins([]param{
		{Value: "https://fc.example/logout?x=1"}, {Value: "https://fc.example/other"},
		{Value: "http://[::1]:8080/fc"}, {Value: "https://evil.example;sandbox/fc"},
		{Value: "javascript:alert(1)"}, {Value: "https:///nohost"},
	})
	if want := []string{"https://fc.example", "http://[::1]:8080"}; !slices.Equal(got, want) {
		t.Fatalf("frameOrigins = %q, want %q", got, want)
	}
}
