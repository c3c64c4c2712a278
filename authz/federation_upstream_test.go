package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/atrium-id/atrium/authz/keys"
	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/federation"
	"github.com/atrium-id/atrium/internal/secretbox"
	"github.com/atrium-id/atrium/storage"
	sqlstore "github.com/atrium-id/atrium/storage/sql"
)

// fakeOP is an OpenID Connect upstream for the provider's tests:
// discovery, JWKS, an authorization endpoint that approves at once (the
// person consenting upstream), and a token endpoint that checks the
// client, the code and the PKCE verifier. fault makes the requests it
// applies to misbehave.
type fakeOP struct {
	t        testing.TB
	srv      *httptest.Server
	key      *ecdsa.PrivateKey
	clientID string
	secret   string

	mu    sync.Mutex
	user  map[string]any // ID token claims about the person
	fault string         // deny, nonce, forged, expired, slow, garbage
	codes map[string]opCode
}

type opCode struct{ nonce, challenge, redirectURI string }

func newFakeOP(t testing.TB) *fakeOP {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	op := &fakeOP{t: t, key: key, clientID: "atrium-rp", secret: "upstream-secret-0123", codes: map[string]opCode{},
		user: map[string]any{"sub": "upstream-1", "email": "grace@upstream.test", "email_verified": true,
			"name": "Grace Hopper", "given_name": "Grace", "family_name": "Hopper",
			"picture": "https://upstream.test/grace.png", "locale": "en-US"}}
	op.srv = httptest.NewServer(http.HandlerFunc(op.serve))
	t.Cleanup(op.srv.Close)
	return op
}

func (op *fakeOP) setUser(claims map[string]any) {
	op.mu.Lock()
	defer op.mu.Unlock()
	for k, v := range claims {
		if v == nil {
			delete(op.user, k)
		} else {
			op.user[k] = v
		}
	}
}

func (op *fakeOP) setFault(f string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.fault = f
}

// takeFault returns the pending fault if it is one of these. It stays
// until setFault clears it.
func (op *fakeOP) takeFault(kinds ...string) string {
	op.mu.Lock()
	defer op.mu.Unlock()
	for _, k := range kinds {
		if op.fault == k {
			return k
		}
	}
	return ""
}

func (op *fakeOP) serve(w http.ResponseWriter, r *http.Request) {
	iss := op.srv.URL
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		writeJSON(w, 200, map[string]any{
			"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
			"jwks_uri": iss + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"ES256"},
		})
	case "/jwks":
		writeJSON(w, 200, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &op.key.PublicKey, KeyID: "op-1", Algorithm: "ES256", Use: "sig"}}})
	case "/authorize":
		q := r.URL.Query()
		back, err := url.Parse(q.Get("redirect_uri"))
		if err != nil || q.Get("client_id") != op.clientID || q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		v := url.Values{"state": {q.Get("state")}}
		if op.takeFault("deny") != "" {
			v.Set("error", "access_denied")
		} else {
			code := randomToken()
			op.mu.Lock()
			op.codes[code] = opCode{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirectURI: back.String()}
			op.mu.Unlock()
			v.Set("code", code)
		}
		back.RawQuery = v.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	case "/token":
		op.token(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (op *fakeOP) token(w http.ResponseWriter, r *http.Request) {
	switch op.takeFault("slow", "garbage") {
	case "slow":
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		return
	case "garbage":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "<html>upstream oops</html>")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id, _ = url.QueryUnescape(id); id != op.clientID || secret != url.QueryEscape(op.secret) && secret != op.secret {
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
		return
	}
	op.mu.Lock()
	c, found := op.codes[r.PostFormValue("code")]
	delete(op.codes, r.PostFormValue("code"))
	claims := map[string]any{}
	for k, v := range op.user {
		claims[k] = v
	}
	op.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	if !found || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge || r.PostFormValue("redirect_uri") != c.redirectURI {
		writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
		return
	}
	now := time.Now()
	claims["iss"], claims["aud"], claims["nonce"] = op.srv.URL, op.clientID, c.nonce
	claims["iat"], claims["exp"] = now.Unix(), now.Add(5*time.Minute).Unix()
	key := op.key
	switch op.takeFault("nonce", "forged", "expired") {
	case "nonce":
		claims["nonce"] = "another-nonce"
	case "forged":
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "expired":
		claims["iat"], claims["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
	}
	writeJSON(w, 200, map[string]any{
		"access_token": "upstream-at-" + randomToken(), "token_type": "Bearer", "expires_in": 3600,
		"refresh_token": "upstream-rt-" + randomToken(), "id_token": signJWT(op.t, key, claims),
	})
}

func signJWT(t testing.TB, key *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "op-1"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (op *fakeOP) config(id string) federation.Config {
	return federation.Config{ID: id, Type: federation.TypeOIDC, Label: "Continue with Upstream", Issuer: op.srv.URL,
		ClientID: op.clientID, ClientSecret: op.secret, Scopes: []string{"openid", "email", "profile"}}
}

// fakeGitHub answers like GitHub's OAuth endpoints and REST API: /user and
// /user/emails in their documented shapes.
type fakeGitHub struct {
	srv    *httptest.Server
	mu     sync.Mutex
	emails []map[string]any
	codes  map[string]bool
}

func newFakeGitHub(t testing.TB) *fakeGitHub {
	g := &fakeGitHub{codes: map[string]bool{}, emails: []map[string]any{
		{"email": "octo@users.noreply.github.com", "primary": false, "verified": true, "visibility": nil},
		{"email": "mona@github.test", "primary": true, "verified": true, "visibility": "public"},
	}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *fakeGitHub) setEmails(e []map[string]any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.emails = e
}

func (g *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch r.URL.Path {
	case "/login/oauth/authorize":
		q := r.URL.Query()
		back, _ := url.Parse(q.Get("redirect_uri"))
		code := randomToken()
		g.codes[code] = true
		back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	case "/login/oauth/access_token":
		if !g.codes[r.PostFormValue("code")] || r.PostFormValue("client_secret") != "gh-secret" {
			writeJSON(w, 200, map[string]string{"error": "bad_verification_code"})
			return
		}
		delete(g.codes, r.PostFormValue("code"))
		// GitHub answers form-encoded unless asked for JSON.
		if strings.Contains(r.Header.Get("Accept"), "json") {
			writeJSON(w, 200, map[string]string{"access_token": "gho_test", "token_type": "bearer", "scope": "read:user,user:email"})
			return
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		io.WriteString(w, "access_token=gho_test&scope=read%3Auser%2Cuser%3Aemail&token_type=bearer")
	case "/user":
		if r.Header.Get("Authorization") != "Bearer gho_test" {
			writeJSON(w, 401, map[string]string{"message": "Bad credentials"})
			return
		}
		writeJSON(w, 200, map[string]any{
			"login": "monalisa", "id": 1296269, "node_id": "MDQ6VXNlcjE=", "avatar_url": "https://github.test/images/mona.gif",
			"type": "User", "name": "Mona Lisa Octocat", "company": "GitHub", "email": nil,
		})
	case "/user/emails":
		if r.Header.Get("Authorization") != "Bearer gho_test" {
			writeJSON(w, 401, map[string]string{"message": "Bad credentials"})
			return
		}
		writeJSON(w, 200, g.emails)
	default:
		http.NotFound(w, r)
	}
}

func (g *fakeGitHub) config() federation.Config {
	return federation.Config{ID: "github", Type: federation.TypeGitHub, ClientID: "gh-client", ClientSecret: "gh-secret",
		AuthURL: g.srv.URL + "/login/oauth/authorize", TokenURL: g.srv.URL + "/login/oauth/access_token", APIBaseURL: g.srv.URL}
}

// fedEnv is a provider with upstream providers, on a SQLite store.
type fedEnv struct {
	*testEnv
	box *secretbox.Box
}

// upstreamTimeout is the provider's HTTP client timeout toward upstreams.
const upstreamTimeout = 500 * time.Millisecond

func newFedEnv(t testing.TB, cfgs ...federation.Config) *fedEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "atrium.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	master := []byte(strings.Repeat("m", 32))
	signBox, _ := secretbox.New(master, "signing-keys")
	km, err := keys.NewManager(st, signBox, keys.Options{Algorithms: []string{keys.ES256}})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	box, _ := secretbox.New(master, "federation-tokens")
	reg, err := federation.NewRegistry(ctx, cfgs, &http.Client{Timeout: upstreamTimeout})
	if err != nil {
		t.Fatal(err)
	}
	e := &fedEnv{testEnv: &testEnv{t: t, store: st}, box: box}
	e.srv = httptest.NewServer(nil)
	t.Cleanup(e.srv.Close)
	e.p, err = New(Config{Issuer: e.srv.URL, Secret: secretbox.Derive(master, "token-hmac", 32), Federation: reg, UpstreamTokens: box, LoginAttempts: 3},
		Stores{Clients: st, Users: st, Credentials: st, Consents: st, Sessions: st, Tokens: st, Counters: st, Identities: st}, km, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Config.Handler = e.p
	if err := st.CreateClient(ctx, &storage.Client{ID: "app", SecretHash: HashClientSecret(testSecret), Name: "App",
		RedirectURIs: []string{testRedirect}, GrantTypes: []string{"authorization_code", "refresh_token"},
		ResponseTypes: []string{"code"}, Scopes: []string{"openid", "profile", "email"}}); err != nil {
		t.Fatal(err)
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

// agent is a browser that follows no redirect by itself, so a test can
// stop at (or tamper with) any hop.
type agent struct {
	t testing.TB
	c *http.Client
}

func newAgent(t testing.TB) *agent {
	jar, _ := cookiejar.New(nil)
	return &agent{t: t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// hop is one response: a redirect's target, or a page.
type hop struct {
	status   int
	location *url.URL
	url      *url.URL
	header   http.Header
	body     string
}

func (a *agent) do(req *http.Request) *hop {
	a.t.Helper()
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	h := &hop{status: resp.StatusCode, url: req.URL, header: resp.Header, body: string(b)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		h.location, _ = resp.Location()
	}
	return h
}

func (a *agent) get(u string) *hop {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return a.do(req)
}

func (a *agent) post(u string, form url.Values) *hop {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return a.do(req)
}

// follow follows redirects until a page, or a redirect stop accepts.
func (a *agent) follow(h *hop, stop func(*url.URL) bool) *hop {
	a.t.Helper()
	for i := 0; h.location != nil; i++ {
		if stop != nil && stop(h.location) {
			return h
		}
		if i > 10 {
			a.t.Fatalf("too many redirects, at %s", h.location)
		}
		h = a.get(h.location.String())
	}
	return h
}

var formRe = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
var inputRe = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// submit posts the page's form whose action contains action, with its
// hidden fields and fields.
func (a *agent) submit(page *hop, action string, fields url.Values) *hop {
	a.t.Helper()
	for _, m := range formRe.FindAllStringSubmatch(page.body, -1) {
		if !strings.Contains(m[1], action) {
			continue
		}
		if v, ok := fields["action"]; ok && !strings.Contains(m[2], `value="`+v[0]+`"`) {
			continue
		}
		form := url.Values{}
		for _, in := range inputRe.FindAllStringSubmatch(m[2], -1) {
			form.Set(in[1], unescapeHTML(in[2]))
		}
		for _, in := range checkedRe.FindAllStringSubmatch(m[2], -1) {
			form.Add(in[1], unescapeHTML(in[2]))
		}
		for k, v := range fields {
			form[k] = v
		}
		target, _ := page.url.Parse(unescapeHTML(m[1]))
		return a.post(target.String(), form)
	}
	a.t.Fatalf("no form to %q on the page (status %d):\n%s", action, page.status, page.body)
	return nil
}

func unescapeHTML(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

func isCallback(u *url.URL) bool {
	return strings.HasSuffix(u.Path, "/callback") && strings.Contains(u.Path, "/federation/")
}
func isClient(u *url.URL) bool { return strings.HasPrefix(u.String(), testRedirect) }

// toCallback goes from /authorize through the login page's button for
// provider to the upstream, and returns the upstream's redirect back.
func (e *fedEnv) toCallback(a *agent, provider string, extra url.Values) *url.URL {
	e.t.Helper()
	params := codeParams("app", "openid profile email", "")
	params.Del("code_challenge")
	params.Del("code_challenge_method")
	for k, v := range extra {
		params[k] = v
	}
	h := a.follow(a.get(e.authorizeURL(params)), isCallback)
	if h.location == nil {
		if !strings.Contains(h.body, "federation/"+provider+"/start") {
			e.t.Fatalf("login page without a button for %s:\n%s", provider, h.body)
		}
		h = a.follow(a.submit(h, "federation/"+provider+"/start", nil), isCallback)
	}
	if h.location == nil || !isCallback(h.location) {
		e.t.Fatalf("upstream did not redirect back to the callback: status %d %s", h.status, h.body)
	}
	return h.location
}

// finish follows the callback through the pages after it (consent
// allowed) and returns the redirect to the client, or the page where it
// stopped.
func (e *fedEnv) finish(a *agent, h *hop) *hop {
	e.t.Helper()
	for range 5 {
		h = a.follow(h, isClient)
		if h.location != nil || !strings.Contains(h.body, `value="allow"`) {
			return h
		}
		h = a.submit(h, "consent", url.Values{"action": {"allow"}})
	}
	return h
}

// signInWith runs a whole upstream sign-in and returns the claims of the
// ID token the client receives.
func (e *fedEnv) signInWith(a *agent, provider string) map[string]any {
	e.t.Helper()
	cb := e.toCallback(a, provider, nil)
	h := e.finish(a, a.get(cb.String()))
	return e.idToken(h)
}

// idToken redeems the code of the redirect to the client and returns the
// ID token's claims.
func (e *fedEnv) idToken(h *hop) map[string]any {
	e.t.Helper()
	if h.location == nil || !isClient(h.location) || h.location.Query().Get("code") == "" {
		e.t.Fatalf("no code for the client: status %d location %v\n%s", h.status, h.location, h.body)
	}
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {h.location.Query().Get("code")},
		"redirect_uri": {testRedirect}}, "app", testSecret)
	if status != 200 {
		e.t.Fatalf("token response %d %v", status, tok)
	}
	return jwtClaims(e.t, tok["id_token"].(string))
}

func jwtClaims(t testing.TB, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// counts returns how many users and identities the store holds.
func (e *fedEnv) counts() (users, identities int) {
	e.t.Helper()
	list, _, err := e.store.ListUsers(context.Background(), storage.Page{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, u := range list {
		ids, err := e.store.ListIdentities(context.Background(), u.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		identities += len(ids)
	}
	return len(list), identities
}

func (e *fedEnv) identity(provider, subject string) *storage.Identity {
	e.t.Helper()
	i, err := e.store.GetIdentity(context.Background(), provider, subject)
	if err != nil {
		e.t.Fatalf("GetIdentity(%s, %s) = %v", provider, subject, err)
	}
	return i
}

func (e *fedEnv) user(id string) *storage.User {
	e.t.Helper()
	u, err := e.store.GetUser(context.Background(), id)
	if err != nil {
		e.t.Fatalf("GetUser(%s) = %v", id, err)
	}
	return u
}

func mustContain(t testing.TB, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}
