package authz

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/authz/keys"
	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/internal/secretbox"
	"github.com/atrium-id/atrium/storage"
	sqlstore "github.com/atrium-id/atrium/storage/sql"
)

const (
	testSecret   = "s3cret-for-tests"
	testRedirect = "http://127.0.0.1:9999/cb"
	testPassword = "correct horse battery"
	testEmail    = "ada@example.com"
)

// testEnv is a provider on a real SQLite store, served by httptest.
type testEnv struct {
	t      testing.TB
	srv    *httptest.Server
	p      *Provider
	store  *sqlstore.Store
	userID string
	// resetHook, when set, runs with a benchmark's timer reset.
	resetHook func()
}

// newTestEnv starts a provider whose sessions and grant state live in
// state, or in the SQLite store when state is not given.
func newTestEnv(t testing.TB, state ...storage.StateStore) *testEnv {
	t.Helper()
	return newTestEnvWith(t, nil, state...)
}

// newTestEnvWith is newTestEnv with configure applied to the provider's
// Config first.
func newTestEnvWith(t testing.TB, configure func(*Config), state ...storage.StateStore) *testEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "atrium.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var ss storage.StateStore = st
	if len(state) > 0 {
		ss = state[0]
	}
	master := []byte(strings.Repeat("m", 32))
	box, err := secretbox.New(master, "signing-keys")
	if err != nil {
		t.Fatal(err)
	}
	km, err := keys.NewManager(st, box, keys.Options{Algorithms: []string{keys.ES256, keys.EdDSA}})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, store: st}
	e.srv = httptest.NewUnstartedServer(nil)
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	cfg := Config{Issuer: e.srv.URL, Secret: secretbox.Derive(master, "token-hmac", 32)}
	if configure != nil {
		configure(&cfg)
	}
	e.p, err = New(cfg,
		Stores{Clients: st, Users: st, Credentials: st, Consents: st, Sessions: ss, Tokens: ss}, km, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Config.Handler = e.p

	for _, c := range []*storage.Client{
		{ID: "app", SecretHash: HashClientSecret(testSecret), Name: "App", RedirectURIs: []string{testRedirect},
			GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, ResponseTypes: []string{"code"},
			Scopes: []string{"openid", "profile", "email", "offline_access", "api"}},
		{ID: "spa", Public: true, TokenEndpointAuthMethod: "none", RedirectURIs: []string{testRedirect},
			GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
			Scopes: []string{"openid", "profile", "email", "offline_access"}},
	} {
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	e.userID = "user-ada"
	if err := st.CreateUser(ctx, &storage.User{ID: e.userID, Email: testEmail, EmailVerified: true, Name: "Ada Lovelace"}); err != nil {
		t.Fatal(err)
	}
	if err := login.SetPassword(ctx, st, e.userID, testPassword, time.Now()); err != nil {
		t.Fatal(err)
	}
	return e
}

// browser returns a client with a cookie jar that stops at the client's
// redirect URI instead of following it.
func (e *testEnv) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), testRedirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

func (e *testEnv) authorizeURL(params url.Values) string {
	return e.srv.URL + pathAuthorize + "?" + params.Encode()
}

func pkcePair() (verifier, challenge string) {
	verifier = randomToken()
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func codeParams(clientID, scope, challenge string) url.Values {
	return url.Values{
		"client_id": {clientID}, "redirect_uri": {testRedirect}, "response_type": {"code"},
		"scope": {scope}, "state": {"state-123"}, "nonce": {"nonce-456"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
}

var hiddenRe = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// checkedRe matches the checkboxes a page ticks by default (the consent
// page's scopes), which a browser submits as they are.
var checkedRe = regexp.MustCompile(`<input type="checkbox" name="([a-z_]+)" value="([^"]*)" checked>`)

// submitForm posts the page's hidden fields and ticked checkboxes plus
// fields to action.
func submitForm(t testing.TB, b *http.Client, pageURL, page, action string, fields url.Values) *http.Response {
	t.Helper()
	form := url.Values{}
	for _, m := range hiddenRe.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], m[2])
	}
	for _, m := range checkedRe.FindAllStringSubmatch(page, -1) {
		form.Add(m[1], m[2])
	}
	for k, v := range fields {
		form[k] = v
	}
	base, _ := url.Parse(pageURL)
	target, _ := base.Parse(action)
	resp, err := b.PostForm(target.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// signIn drives the browser from the authorization URL through login and
// consent and returns the redirect to the client.
func (e *testEnv) signIn(b *http.Client, params url.Values) *url.URL {
	t := e.t
	t.Helper()
	resp, err := b.Get(e.authorizeURL(params))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound {
			loc, err := resp.Location()
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return loc
		}
		page := readBody(t, resp)
		pageURL := resp.Request.URL.String()
		switch {
		case strings.Contains(page, `name="password"`):
			resp = submitForm(t, b, pageURL, page, "login", url.Values{"email": {testEmail}, "password": {testPassword}})
		case strings.Contains(page, `value="allow"`):
			resp = submitForm(t, b, pageURL, page, "consent", url.Values{"action": {"allow"}})
		default:
			t.Fatalf("unexpected page (status %d): %s", resp.StatusCode, page)
		}
	}
	t.Fatal("no redirect to the client after login and consent")
	return nil
}

func (e *testEnv) postToken(form url.Values, basicUser, basicPass string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+pathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatalf("token response is not JSON: %v", err)
	}
	return resp.StatusCode, out
}

func TestCodeFlowRefreshAndReuse(t *testing.T) {
	e := newTestEnv(t)
	b := e.browser()
	verifier, challenge := pkcePair()
	loc := e.signIn(b, codeParams("app", "openid email offline_access", challenge))
	q := loc.Query()
	if q.Get("state") != "state-123" || q.Get("iss") != e.srv.URL || q.Get("code") == "" {
		t.Fatalf("authorization response %v: want code, state and iss", q)
	}
	code := q.Get("code")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
	status, tok := e.postToken(form, "app", testSecret)
	if status != 200 || tok["access_token"] == nil || tok["id_token"] == nil || tok["refresh_token"] == nil || tok["expires_in"] == nil {
		t.Fatalf("token response %d %v", status, tok)
	}

	// UserInfo releases the email scope's claims and the same subject.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+pathUserinfo, nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info["sub"] != e.userID || info["email"] != testEmail || info["name"] != nil {
		t.Fatalf("userinfo = %v: want sub and email only", info)
	}

	// Refresh rotates; the spent refresh token then revokes the grant.
	rt1 := tok["refresh_token"].(string)
	status, tok2 := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, "app", testSecret)
	if status != 200 || tok2["refresh_token"] == rt1 {
		t.Fatalf("refresh: %d %v", status, tok2)
	}
	status, errResp := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, "app", testSecret)
	if status != 400 || errResp["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token: %d %v, want invalid_grant", status, errResp)
	}
	status, errResp = e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok2["refresh_token"].(string)}}, "app", testSecret)
	if status != 400 || errResp["error"] != "invalid_grant" {
		t.Fatalf("refresh token of a revoked grant: %d %v, want invalid_grant", status, errResp)
	}

	// The code cannot be used twice.
	status, errResp = e.postToken(form, "app", testSecret)
	if status != 400 || errResp["error"] != "invalid_grant" {
		t.Fatalf("code reuse: %d %v", status, errResp)
	}
}

func TestCodeReuseRevokesIssuedTokens(t *testing.T) {
	e := newTestEnv(t)
	verifier, challenge := pkcePair()
	loc := e.signIn(e.browser(), codeParams("app", "openid offline_access", challenge))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
	if status, tok := e.postToken(form, "app", testSecret); status != 200 {
		t.Fatalf("first exchange: %d %v", status, tok)
	} else {
		if status, _ := e.postToken(form, "app", testSecret); status != 400 {
			t.Fatalf("second exchange: %d, want 400", status)
		}
		if active := e.introspect(t, tok["access_token"].(string)); active {
			t.Fatal("access token still active after the code was replayed")
		}
		status, _ := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, "app", testSecret)
		if status != 400 {
			t.Fatalf("refresh token still works after the code was replayed: %d", status)
		}
	}
}

func (e *testEnv) introspect(t *testing.T, token string) bool {
	t.Helper()
	return e.introspectAll(t, token)["active"] == true
}

// introspectAll returns the whole introspection response, asked by "app".
func (e *testEnv) introspectAll(t *testing.T, token string) map[string]any {
	t.Helper()
	return e.introspectAs(t, "app", token)
}

// introspectAs returns the whole introspection response, asked by clientID
// (whose secret is testSecret).
func (e *testEnv) introspectAs(t *testing.T, clientID, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+pathIntrospect, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, testSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("introspection: %d %v", resp.StatusCode, err)
	}
	return out
}

func TestAuthorizeErrors(t *testing.T) {
	e := newTestEnv(t)
	_, challenge := pkcePair()
	with := func(mod func(url.Values)) url.Values {
		v := codeParams("app", "openid", challenge)
		mod(v)
		return v
	}
	tests := []struct {
		name      string
		params    url.Values
		wantPage  bool   // an HTML error page, never a redirect
		wantError string // the error on the redirect
		where     string // query, fragment or form_post
	}{
		{"unknown client", with(func(v url.Values) { v.Set("client_id", "nope") }), true, "", ""},
		{"unregistered redirect_uri", with(func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:9999/other") }), true, "", ""},
		{"redirect_uri with extra query", with(func(v url.Values) { v.Set("redirect_uri", testRedirect+"?x=1") }), true, "", ""},
		{"redirect_uri with trailing slash", with(func(v url.Values) { v.Set("redirect_uri", testRedirect+"/") }), true, "", ""},
		{"response_type missing", with(func(v url.Values) { v.Del("response_type") }), false, "unsupported_response_type", "query"},
		{"response_type token", with(func(v url.Values) { v.Set("response_type", "token") }), false, "unsupported_response_type", "query"},
		{"unsigned request object with a signature", with(func(v url.Values) { v.Set("request", "eyJhbGciOiJub25lIn0.e30.c2ln") }), false, "invalid_request_object", "query"},
		{"request_uri the client did not register", with(func(v url.Values) { v.Set("request_uri", "https://example.com/r") }), false, "invalid_request_uri", "query"},
		{"prompt none without session", with(func(v url.Values) { v.Set("prompt", "none") }), false, "login_required", "query"},
		{"prompt none with login", with(func(v url.Values) { v.Set("prompt", "none login") }), false, "invalid_request", "query"},
		{"negative max_age", with(func(v url.Values) { v.Set("max_age", "-1") }), false, "invalid_request", "query"},
		{"plain PKCE", with(func(v url.Values) { v.Set("code_challenge_method", "plain") }), false, "invalid_request", "query"},
		{"public client without PKCE", with(func(v url.Values) {
			v.Set("client_id", "spa")
			v.Del("code_challenge")
			v.Del("code_challenge_method")
		}), false, "invalid_request", "query"},
		{"unknown scope", with(func(v url.Values) { v.Set("scope", "openid admin") }), false, "invalid_scope", "query"},
		{"error by fragment", with(func(v url.Values) { v.Set("prompt", "none"); v.Set("response_mode", "fragment") }), false, "login_required", "fragment"},
		{"error by form_post", with(func(v url.Values) { v.Set("prompt", "none"); v.Set("response_mode", "form_post") }), false, "login_required", "form_post"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.browser().Get(e.authorizeURL(tc.params))
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if tc.wantPage {
				if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, "<html") {
					t.Fatalf("got %d Location=%q, want an HTML error page", resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			var got url.Values
			switch tc.where {
			case "form_post":
				if resp.StatusCode != 200 || !strings.Contains(body, `action="`+testRedirect+`"`) {
					t.Fatalf("want a form_post page to the client, got %d %s", resp.StatusCode, body)
				}
				got = url.Values{}
				for _, m := range regexp.MustCompile(`name="([a-z_]+)" value="([^"]*)"`).FindAllStringSubmatch(body, -1) {
					got.Set(m[1], m[2])
				}
			default:
				loc, err := resp.Location()
				if err != nil {
					t.Fatalf("no redirect (status %d): %s", resp.StatusCode, body)
				}
				if !strings.HasPrefix(loc.String(), testRedirect) {
					t.Fatalf("redirect to %s", loc)
				}
				got = loc.Query()
				if tc.where == "fragment" {
					got, _ = url.ParseQuery(loc.Fragment)
				}
			}
			if got.Get("error") != tc.wantError || got.Get("state") != "state-123" || got.Get("iss") != e.srv.URL {
				t.Fatalf("error response %v: want error=%s with state and iss", got, tc.wantError)
			}
			if d := got.Get("error_description"); strings.ContainsAny(d, "\"\\") {
				t.Fatalf("error_description has illegal characters: %q", d)
			}
		})
	}
}

func TestLoginRejectsBadInput(t *testing.T) {
	e := newTestEnv(t)
	_, challenge := pkcePair()
	b := e.browser()
	resp, err := b.Get(e.authorizeURL(codeParams("app", "openid", challenge)))
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	pageURL := resp.Request.URL.String()
	if !strings.Contains(page, `name="password"`) {
		t.Fatalf("no login form: %s", page)
	}
	tests := []struct {
		name       string
		fields     url.Values
		dropCSRF   bool
		wantStatus int
		wantText   string
	}{
		{"wrong password", url.Values{"email": {testEmail}, "password": {"wrong password"}}, false, 401, "Incorrect email or password."},
		{"unknown email", url.Values{"email": {"nobody@example.com"}, "password": {testPassword}}, false, 401, "Incorrect email or password."},
		{"email in another case, wrong password", url.Values{"email": {"ADA@example.com"}, "password": {"x"}}, false, 401, "Incorrect email or password."},
		{"missing CSRF token", url.Values{"email": {testEmail}, "password": {testPassword}}, true, 400, "expired or is not valid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := page
			if tc.dropCSRF {
				p = regexp.MustCompile(`<input type="hidden" name="csrf_token"[^>]*>`).ReplaceAllString(p, "")
			}
			resp := submitForm(t, b, pageURL, p, "login", tc.fields)
			body := readBody(t, resp)
			if resp.StatusCode != tc.wantStatus || !strings.Contains(body, tc.wantText) {
				t.Fatalf("got %d, want %d with %q: %s", resp.StatusCode, tc.wantStatus, tc.wantText, body)
			}
			if resp.Header.Get("Location") != "" {
				t.Fatal("a failed sign-in redirected")
			}
		})
	}
	// Another browser cannot use this browser's interaction.
	resp = submitForm(t, e.browser(), pageURL, page, "login", url.Values{"email": {testEmail}, "password": {testPassword}})
	if body := readBody(t, resp); resp.StatusCode != 400 {
		t.Fatalf("interaction from another browser: %d %s", resp.StatusCode, body)
	}
	// The right password still works after the failures.
	resp = submitForm(t, b, pageURL, page, "login", url.Values{"email": {"Ada@Example.com"}, "password": {testPassword}})
	body := readBody(t, resp)
	if !strings.Contains(body, `value="allow"`) {
		t.Fatalf("after a good sign-in want the consent page, got %d %s", resp.StatusCode, body)
	}
}

func TestSSOConsentAndPrompts(t *testing.T) {
	e := newTestEnv(t)
	b := e.browser()
	_, challenge := pkcePair()
	if loc := e.signIn(b, codeParams("app", "openid email", challenge)); loc.Query().Get("code") == "" {
		t.Fatalf("first sign-in: %v", loc)
	}
	// A second request needs neither password nor consent.
	resp, err := b.Get(e.authorizeURL(codeParams("app", "openid email", challenge)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := resp.Location(); loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("SSO: want a code at once, got %d", resp.StatusCode)
	}
	// prompt=none works with the session; a new scope needs consent.
	tests := []struct {
		name, prompt, scope, want string
	}{
		{"prompt none with session", "none", "openid email", "code"},
		{"prompt none needing consent", "none", "openid email profile", "consent_required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := codeParams("app", tc.scope, challenge)
			v.Set("prompt", tc.prompt)
			resp, err := b.Get(e.authorizeURL(v))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, err := resp.Location()
			if err != nil {
				t.Fatalf("no redirect: %d", resp.StatusCode)
			}
			q := loc.Query()
			if (tc.want == "code" && q.Get("code") == "") || (tc.want != "code" && q.Get("error") != tc.want) {
				t.Fatalf("got %v, want %s", q, tc.want)
			}
		})
	}
	// prompt=login shows the login form again despite the session.
	v := codeParams("app", "openid email", challenge)
	v.Set("prompt", "login")
	resp, err = b.Get(e.authorizeURL(v))
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); !strings.Contains(body, `name="password"`) {
		t.Fatalf("prompt=login: want the login form, got %d", resp.StatusCode)
	}
	// Deny ends with access_denied.
	v = codeParams("app", "openid profile", challenge)
	resp, err = b.Get(e.authorizeURL(v))
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	resp = submitForm(t, b, resp.Request.URL.String(), page, "consent", url.Values{"action": {"deny"}})
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || loc.Query().Get("error") != "access_denied" {
		t.Fatalf("deny: got %v %v", loc, err)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		name       string
		form       url.Values
		user, pass string
		wantStatus int
		wantError  string
	}{
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}}, "app", "wrong", 401, "invalid_client"},
		{"unknown client", url.Values{"grant_type": {"client_credentials"}}, "ghost", "x", 401, "invalid_client"},
		{"unknown grant type", url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}, "app", testSecret, 400, "unsupported_grant_type"},
		{"unknown code", url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "redirect_uri": {testRedirect}}, "app", testSecret, 400, "invalid_grant"},
		{"unknown refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, "app", testSecret, 400, "invalid_grant"},
		{"scope not allowed", url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, "app", testSecret, 400, "invalid_scope"},
		{"malformed client assertion", url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {"not.a.jwt"}}, "", "", 401, "invalid_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out := e.postToken(tc.form, tc.user, tc.pass)
			if status != tc.wantStatus || out["error"] != tc.wantError {
				t.Fatalf("got %d %v, want %d %s", status, out, tc.wantStatus, tc.wantError)
			}
			if d, _ := out["error_description"].(string); strings.ContainsAny(d, "\"\\") {
				t.Fatalf("error_description has illegal characters: %q", d)
			}
		})
	}
	status, out := e.postToken(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}, "app", testSecret)
	if status != 200 || out["access_token"] == nil || out["scope"] != "api" {
		t.Fatalf("client_credentials: %d %v", status, out)
	}
}

func TestDiscoveryIsTruthful(t *testing.T) {
	e := newTestEnv(t)
	resp, err := http.Get(e.srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc["issuer"] != e.srv.URL {
		t.Fatalf("issuer %v", doc["issuer"])
	}
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"} {
		u, _ := doc[k].(string)
		if !strings.HasPrefix(u, e.srv.URL+"/") {
			t.Fatalf("%s = %q", k, u)
		}
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			t.Errorf("%s (%s) is not served", k, u)
		}
	}
}

// TestLoginRateLimit: an account gets LoginAttempts sign-in attempts per
// window, the right password included, and an unknown account the same, so
// the limit does not tell which accounts exist.
func TestLoginRateLimit(t *testing.T) {
	e := newTestEnv(t)
	e.p.stores.Counters = e.store
	e.p.cfg.LoginAttempts = 3
	_, challenge := pkcePair()
	b := e.browser()
	resp, err := b.Get(e.authorizeURL(codeParams("app", "openid", challenge)))
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	pageURL := resp.Request.URL.String()
	for _, email := range []string{testEmail, "nobody@example.com"} {
		for i := 1; i <= 3; i++ {
			resp := submitForm(t, b, pageURL, page, "login", url.Values{"email": {email}, "password": {"wrong password"}})
			if body := readBody(t, resp); resp.StatusCode != 401 {
				t.Fatalf("%s attempt %d: got %d, want 401: %s", email, i, resp.StatusCode, body)
			}
		}
		resp := submitForm(t, b, pageURL, page, "login", url.Values{"email": {strings.ToUpper(email)}, "password": {testPassword}})
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many sign-in attempts") {
			t.Fatalf("%s attempt 4: got %d, want 429 with a message: %s", email, resp.StatusCode, body)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: 429 without Retry-After", email)
		}
	}
}

// testLogger logs to stderr when ATRIUM_TEST_LOG is set, else nowhere.
func testLogger() *slog.Logger {
	if os.Getenv("ATRIUM_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}
