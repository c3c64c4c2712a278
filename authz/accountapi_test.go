package authz

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/internal/redistest"
	"github.com/atrium-id/atrium/storage"
	redisstore "github.com/atrium-id/atrium/storage/redis"
)

// The account API (account/api.go), wired to a real provider whose
// tokens it checks; tokens come from real code flows.

// The provider checks the account API's bearer tokens.
var _ account.BearerAuthenticator = (*Provider)(nil)

// selfClient is the client the API tests get their tokens with.
const selfClient = "selfapp"

// newAccountAPIEnv is a provider serving the account area with every
// page and the API, sessions and grant state in state when given, and a
// client allowed the account scopes.
func newAccountAPIEnv(t *testing.T, state ...storage.StateStore) *testEnv {
	t.Helper()
	box := make(mailbox, 20)
	e := newTestEnvWith(t, func(c *Config) {
		c.Factors = testFactors(t)
		c.Mail = box
	}, state...)
	e.p.stores.Audit = e.store
	e.p.stores.Counters = e.store
	e.p.stores.Identities = e.store
	ss, ok := e.p.stores.Tokens.(storage.StateStore)
	if !ok {
		t.Fatal("the token store is no state store")
	}
	d := &account.DataStores{Consents: e.store, Sessions: ss, Tokens: ss, Audit: e.store, Eraser: e.store}
	e.serveAccount(account.Config{Factors: e.p.cfg.Factors, UseOnce: ss.UseOnce,
		Users: e.store, Sessions: ss, Consents: e.store, Clients: e.store, Tokens: ss, Audit: e.store, Data: d})
	if err := e.store.CreateClient(context.Background(), &storage.Client{ID: selfClient, SecretHash: HashClientSecret(testSecret),
		Name: "Self-service app", RedirectURIs: []string{testRedirect},
		GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, ResponseTypes: []string{"code"},
		Scopes: []string{"openid", "profile", "email", "offline_access", ScopeAccountRead, ScopeAccountWrite}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// apiAnswer is an answer of the account API.
type apiAnswer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// api calls the account API at path (under /account/api/v1) with the
// bearer token (none when ""), a JSON body when body is not "".
func (e *testEnv) api(method, path, token, body string) apiAnswer {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.srv.URL+"/account/api/v1"+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

func (e *testEnv) do(req *http.Request) apiAnswer {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	raw := readBody(e.t, resp)
	a := apiAnswer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &a.body); err != nil {
			e.t.Fatalf("%s %s: not a JSON object (%d): %s", req.Method, req.URL.Path, resp.StatusCode, raw)
		}
	}
	return a
}

// wantError checks an error answer: its status, error code and, for 401
// and 403, its WWW-Authenticate challenge.
func wantError(t *testing.T, what string, a apiAnswer, status int, code string) {
	t.Helper()
	if a.status != status || a.body["error"] != code || a.body["error_description"] == "" {
		t.Fatalf("%s: %d %s, want %d %s", what, a.status, a.raw, status, code)
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		if c := a.header.Get("WWW-Authenticate"); !strings.HasPrefix(c, "Bearer ") || !strings.Contains(c, `error="`+code+`"`) {
			t.Fatalf("%s: WWW-Authenticate %q", what, c)
		}
	}
}

// tokenIn gets an access token for selfClient with scope by a code flow
// in the browser b (signing in unless it has a session).
func (e *testEnv) tokenIn(b *http.Client, scope string) string {
	e.t.Helper()
	verifier, challenge := pkcePair()
	code := e.signIn(b, codeParams(selfClient, scope, challenge)).Query().Get("code")
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, selfClient, testSecret)
	if status != 200 {
		e.t.Fatalf("code exchange: %d %v", status, tok)
	}
	return tok["access_token"].(string)
}

func TestAccountAPI(t *testing.T) {
	t.Run("sql", func(t *testing.T) { testAccountAPI(t, newAccountAPIEnv(t)) })
	t.Run("redis", func(t *testing.T) {
		rs, err := redisstore.Open(context.Background(), redistest.URL(t), redisstore.WithPrefix("account-api-test:"+randomToken()[:12]+":"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		testAccountAPI(t, newAccountAPIEnv(t, rs))
	})
}

func testAccountAPI(t *testing.T, e *testEnv) {
	ctx := context.Background()
	rw := e.tokenIn(e.browser(), "openid profile email account.read account.write")
	ro := e.tokenIn(e.browser(), "openid profile account.read")

	// Reading.
	me := e.api("GET", "/me", ro, "")
	if me.status != 200 || me.body["sub"] != e.userID || me.body["name"] != "Ada Lovelace" || me.body["email"] != testEmail {
		t.Fatalf("GET /me: %d %s", me.status, me.raw)
	}
	if me.header.Get("Access-Control-Allow-Origin") != "*" || me.header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /me headers: %v", me.header)
	}

	// A read-only token changes nothing.
	before := e.user(e.userID)
	a := e.api("PATCH", "/me", ro, `{"name":"Ada King"}`)
	wantError(t, "PATCH with account.read", a, http.StatusForbidden, "insufficient_scope")
	if !strings.Contains(a.header.Get("WWW-Authenticate"), `scope="account.write"`) || a.body["scope"] != ScopeAccountWrite {
		t.Errorf("insufficient_scope without the scope needed: %v %s", a.header, a.raw)
	}
	if !reflect.DeepEqual(e.user(e.userID), before) {
		t.Fatal("a read-only token changed the profile")
	}

	// An edit, seen by the next userinfo answer.
	a = e.api("PATCH", "/me", rw, `{"name":"Ada King","nickname":"Ada","locale":"en-gb","address":{"locality":"London"},"zoneinfo":"Europe/London"}`)
	if a.status != 200 || a.body["name"] != "Ada King" || a.body["locale"] != "en-GB" {
		t.Fatalf("PATCH /me: %d %s", a.status, a.raw)
	}
	if addr, _ := a.body["address"].(map[string]any); addr["locality"] != "London" {
		t.Fatalf("PATCH /me address: %s", a.raw)
	}
	if u := e.user(e.userID); u.Name != "Ada King" || u.Nickname != "Ada" || u.Locale != "en-GB" || u.Address.Locality != "London" || u.Email != testEmail {
		t.Fatalf("stored after PATCH: %+v", u)
	}
	if status, info := e.userinfoOf(rw); status != 200 || info["name"] != "Ada King" || info["nickname"] != "Ada" {
		t.Fatalf("userinfo after PATCH: %d %v", status, info)
	}
	// null removes a claim.
	if a = e.api("PATCH", "/me", rw, `{"nickname":null}`); a.status != 200 || e.user(e.userID).Nickname != "" {
		t.Fatalf("PATCH nickname null: %d %s", a.status, a.raw)
	}

	// Bad input: 400 naming the field, nothing changed.
	before = e.user(e.userID)
	for _, c := range []struct{ name, body, field string }{
		{"not JSON", `{"name":`, "body"},
		{"not an object", `["name"]`, "body"},
		{"two objects", `{"name":"A"} {}`, "body"},
		{"unknown field", `{"name":"A","favourite_colour":"blue"}`, "favourite_colour"},
		{"not editable", `{"email_verified":true}`, "email_verified"},
		{"subject", `{"sub":"user-grace"}`, "sub"},
		{"address part not editable", `{"address":{"formatted":"1 Main St"}}`, "address.formatted"},
		{"address part at the top", `{"locality":"Paris"}`, "locality"},
		{"address not an object", `{"address":"Paris"}`, "address"},
		{"number", `{"name":5}`, "name"},
		{"invalid email", `{"email":"not-an-address"}`, "email"},
		{"email removed", `{"email":null}`, "email"},
		{"invalid phone", `{"phone_number":"call me maybe"}`, "phone_number"},
		{"invalid locale", `{"locale":"x!y"}`, "locale"},
		{"invalid time zone", `{"zoneinfo":"Mars/Olympus"}`, "zoneinfo"},
		{"picture over http", `{"picture":"http://example.com/a.png"}`, "picture"},
		{"too long", `{"given_name":"` + strings.Repeat("a", 201) + `"}`, "given_name"},
		{"control character", `{"address":{"country":"a\u0007b"}}`, "address.country"},
		{"good and bad", `{"name":"Changed","phone_number":"12"}`, "phone_number"},
	} {
		a := e.api("PATCH", "/me", rw, c.body)
		wantError(t, c.name, a, http.StatusBadRequest, "invalid_request")
		if a.body["field"] != c.field || !strings.HasPrefix(a.body["error_description"].(string), c.field+": ") {
			t.Errorf("%s: field %v (%s), want %s", c.name, a.body["field"], a.raw, c.field)
		}
		if !reflect.DeepEqual(e.user(e.userID), before) {
			t.Fatalf("%s: the profile changed", c.name)
		}
	}
	req, _ := http.NewRequest("PATCH", e.srv.URL+"/account/api/v1/me", strings.NewReader("name=Changed"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+rw)
	wantError(t, "form body", e.do(req), http.StatusUnsupportedMediaType, "invalid_request")
	if !reflect.DeepEqual(e.user(e.userID), before) {
		t.Fatal("a form body changed the profile")
	}

	// Another account's email address.
	if err := e.store.CreateUser(ctx, &storage.User{ID: "user-grace", Email: "grace@example.com", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	a = e.api("PATCH", "/me", rw, `{"email":"Grace@example.com"}`)
	if wantError(t, "another account's address", a, http.StatusConflict, "invalid_request"); a.body["field"] != "email" {
		t.Errorf("taken address: %s", a.raw)
	}
	if !reflect.DeepEqual(e.user(e.userID), before) {
		t.Fatal("a taken address changed the profile")
	}

	// A new email address needs a sign-in in the last 15 minutes: the
	// token's session signed in an hour ago.
	old := e.browser()
	e.sessionOf(old, e.userID, time.Now().Add(-time.Hour))
	stale := e.tokenIn(old, "openid account.read account.write")
	a = e.api("PATCH", "/me", stale, `{"email":"ada.king@example.com"}`)
	wantError(t, "email change after an old sign-in", a, http.StatusUnauthorized, "insufficient_user_authentication")
	if !strings.Contains(a.header.Get("WWW-Authenticate"), `max_age="900"`) {
		t.Errorf("no max_age: %q", a.header.Get("WWW-Authenticate"))
	}
	wantError(t, "export after an old sign-in", e.api("GET", "/export", stale, ""), http.StatusUnauthorized, "insufficient_user_authentication")
	if a = e.api("PATCH", "/me", stale, `{"name":"Ada Byron"}`); a.status != 200 || e.user(e.userID).Name != "Ada Byron" {
		t.Fatalf("other fields after an old sign-in: %d %s", a.status, a.raw)
	}
	if !reflect.DeepEqual(e.user(e.userID).Email, testEmail) {
		t.Fatal("the address changed after an old sign-in")
	}
	// rw's session signed in just now.
	a = e.api("PATCH", "/me", rw, `{"email":"Ada.King@example.com"}`)
	if a.status != 200 || a.body["email"] != "ada.king@example.com" || a.body["email_verified"] != false {
		t.Fatalf("email change after a recent sign-in: %d %s", a.status, a.raw)
	}
	if u := e.user(e.userID); u.Email != "ada.king@example.com" || u.EmailVerified {
		t.Fatalf("stored address: %+v", u)
	}

	// Sessions: list, another user's (404, nothing ended), one's own.
	grace := e.browser()
	e.sessionOf(grace, "user-grace", time.Now())
	_, gracePage := e.get(grace, "/account/sessions")
	graceHandle := sessionHandleRe.FindStringSubmatch(gracePage)[1]
	a = e.api("GET", "/sessions", ro, "")
	list, _ := a.body["sessions"].([]any)
	if a.status != 200 || len(list) != 3 { // rw's, ro's and the old one
		t.Fatalf("GET /sessions: %d %s", a.status, a.raw)
	}
	var handles []string
	for _, s := range list {
		handles = append(handles, s.(map[string]any)["id"].(string))
	}
	if slices.Contains(handles, graceHandle) {
		t.Fatal("another user's session listed")
	}
	userSessions := func(id string) int {
		l, err := e.p.stores.Sessions.ListUserSessions(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	wantError(t, "another user's session", e.api("DELETE", "/sessions/"+graceHandle, rw, ""), http.StatusNotFound, "not_found")
	wantError(t, "unknown session", e.api("DELETE", "/sessions/nope", rw, ""), http.StatusNotFound, "not_found")
	wantError(t, "end a session with account.read", e.api("DELETE", "/sessions/"+handles[2], ro, ""), http.StatusForbidden, "insufficient_scope")
	if userSessions("user-grace") != 1 || userSessions(e.userID) != 3 {
		t.Fatal("a refused sign-out ended a session")
	}
	if a = e.api("DELETE", "/sessions/"+handles[2], rw, ""); a.status != http.StatusNoContent {
		t.Fatalf("DELETE own session: %d %s", a.status, a.raw)
	}
	if userSessions(e.userID) != 2 || userSessions("user-grace") != 1 {
		t.Fatal("the session was not ended, or another was")
	}
	wantError(t, "a session ended already", e.api("DELETE", "/sessions/"+handles[2], rw, ""), http.StatusNotFound, "not_found")

	// Activity, a page at a time.
	a = e.api("GET", "/activity", ro, "")
	events, _ := a.body["events"].([]any)
	if a.status != 200 || len(events) == 0 {
		t.Fatalf("GET /activity: %d %s", a.status, a.raw)
	}
	var types []string
	for _, ev := range events {
		types = append(types, ev.(map[string]any)["type"].(string))
	}
	if !slices.Contains(types, "profile.updated") || !slices.Contains(types, "email.changed") || !strings.Contains(a.raw, "Your profile was changed") {
		t.Errorf("activity: %s", a.raw)
	}
	a = e.api("GET", "/activity?after=%3Cscript%3E", ro, "")
	if wantError(t, "bad after", a, http.StatusBadRequest, "invalid_request"); a.body["field"] != "after" {
		t.Errorf("bad after: %s", a.raw)
	}

	// Export: the page's document.
	a = e.api("GET", "/export", ro, "")
	if a.status != 200 || a.body["format"] != account.ExportFormat {
		t.Fatalf("GET /export: %d %s", a.status, a.raw)
	}
	if p, _ := a.body["profile"].(map[string]any); p["id"] != e.userID || p["email"] != "ada.king@example.com" {
		t.Fatalf("export profile: %s", a.raw)
	}
	if c, _ := a.body["consents"].([]any); len(c) != 1 {
		t.Fatalf("export consents: %s", a.raw)
	}

	// No deletion over the API.
	a = e.api("DELETE", "/me", rw, "")
	if wantError(t, "DELETE /me", a, http.StatusMethodNotAllowed, "invalid_request"); !strings.Contains(a.raw, "cannot be deleted over the API") {
		t.Fatalf("DELETE /me: %s", a.raw)
	}
	if e.user(e.userID).ID != e.userID {
		t.Fatal("the account is gone")
	}

	// Apps: list, an unknown one, then the token's own: its tokens stop.
	a = e.api("GET", "/apps", ro, "")
	apps, _ := a.body["apps"].([]any)
	if a.status != 200 || len(apps) != 1 {
		t.Fatalf("GET /apps: %d %s", a.status, a.raw)
	}
	if app := apps[0].(map[string]any); app["client_id"] != selfClient || app["name"] != "Self-service app" ||
		!slices.Contains(app["scopes"].([]any), any(ScopeAccountWrite)) {
		t.Fatalf("GET /apps: %s", a.raw)
	}
	wantError(t, "unknown app", e.api("DELETE", "/apps/app", rw, ""), http.StatusNotFound, "not_found")
	wantError(t, "remove with account.read", e.api("DELETE", "/apps/"+selfClient, ro, ""), http.StatusForbidden, "insufficient_scope")
	if _, err := e.store.GetConsent(ctx, e.userID, selfClient); err != nil {
		t.Fatalf("consent after refused removals: %v", err)
	}
	if a = e.api("DELETE", "/apps/"+selfClient, rw, ""); a.status != http.StatusNoContent {
		t.Fatalf("DELETE /apps: %d %s", a.status, a.raw)
	}
	if _, err := e.store.GetConsent(ctx, e.userID, selfClient); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("consent after removal: %v", err)
	}
	for name, tok := range map[string]string{"rw": rw, "ro": ro, "stale": stale} {
		wantError(t, "revoked token "+name, e.api("GET", "/me", tok, ""), http.StatusUnauthorized, "invalid_token")
	}
}

func TestAccountAPITokens(t *testing.T) {
	e := newAccountAPIEnv(t)
	ctx := context.Background()
	b := e.browser()
	rw := e.tokenIn(b, "openid account.read account.write")
	if a := e.api("GET", "/me", rw, ""); a.status != 200 {
		t.Fatalf("GET /me: %d %s", a.status, a.raw)
	}

	wantError(t, "no token", e.api("GET", "/me", "", ""), http.StatusUnauthorized, "invalid_token")
	wantError(t, "a made-up token", e.api("GET", "/me", "ory_at_nope.nope", ""), http.StatusUnauthorized, "invalid_token")
	// The browser's session cookie is no credential of the API.
	resp, err := b.Get(e.srv.URL + "/account/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("session cookie alone: %d %s", resp.StatusCode, body)
	}
	// In the query string a token is refused: it would end up in logs.
	req, _ := http.NewRequest("GET", e.srv.URL+"/account/api/v1/me?access_token="+url.QueryEscape(rw), nil)
	wantError(t, "token in the query", e.do(req), http.StatusUnauthorized, "invalid_token")

	// A token without the account scopes, a refresh token, a client's own token.
	plain := e.tokenIn(e.browser(), "openid profile offline_access")
	wantError(t, "no account scope", e.api("GET", "/me", plain, ""), http.StatusForbidden, "insufficient_scope")
	verifier, challenge := pkcePair()
	code := e.signIn(e.browser(), codeParams(selfClient, "openid account.read offline_access", challenge)).Query().Get("code")
	_, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, selfClient, testSecret)
	refresh, _ := tok["refresh_token"].(string)
	if refresh == "" {
		t.Fatalf("no refresh token: %v", tok)
	}
	wantError(t, "a refresh token", e.api("GET", "/me", refresh, ""), http.StatusUnauthorized, "invalid_token")
	status, cc := e.postToken(url.Values{"grant_type": {"client_credentials"}, "scope": {"account.read account.write"}}, selfClient, testSecret)
	if status != 200 {
		t.Fatalf("client_credentials: %d %v", status, cc)
	}
	before := e.user(e.userID)
	wantError(t, "client_credentials GET", e.api("GET", "/me", cc["access_token"].(string), ""), http.StatusForbidden, "insufficient_scope")
	wantError(t, "client_credentials PATCH", e.api("PATCH", "/me", cc["access_token"].(string), `{"name":"Mallory"}`), http.StatusForbidden, "insufficient_scope")
	if !reflect.DeepEqual(e.user(e.userID), before) {
		t.Fatal("a client_credentials token changed the profile")
	}

	// A disabled user's token.
	u := e.user(e.userID)
	u.Disabled = true
	if err := e.store.UpdateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	wantError(t, "disabled user", e.api("GET", "/me", rw, ""), http.StatusUnauthorized, "invalid_token")

	// A client not configured with the account scopes cannot ask for them.
	_, challenge = pkcePair()
	resp, err = e.browser().Get(e.authorizeURL(codeParams("app", "openid account.read", challenge)))
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	loc, _ := resp.Location()
	if loc == nil || loc.Query().Get("error") != "invalid_scope" {
		t.Fatalf("app asking for account.read: %d %v", resp.StatusCode, loc)
	}

	// Discovery lists the account scopes.
	resp, err = http.Get(e.srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Scopes []string `json:"scopes_supported"`
	}
	if err := json.Unmarshal([]byte(readBody(t, resp)), &doc); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(doc.Scopes, ScopeAccountRead) || !slices.Contains(doc.Scopes, ScopeAccountWrite) {
		t.Errorf("scopes_supported = %q, want the account scopes in it", doc.Scopes)
	}

	// Unknown paths answer in JSON too.
	wantError(t, "unknown path", e.api("GET", "/nope", rw, ""), http.StatusNotFound, "not_found")
}

func TestAccountAPICORS(t *testing.T) {
	e := newAccountAPIEnv(t)
	rw := e.tokenIn(e.browser(), "openid account.read account.write")
	req, _ := http.NewRequest(http.MethodOptions, e.srv.URL+"/account/api/v1/me", nil)
	req.Header.Set("Origin", "https://app.example.net")
	req.Header.Set("Access-Control-Request-Method", "PATCH")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "PATCH") || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "DELETE") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, h)
	}
	if h.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatal("the API allows credentials")
	}

	// The call itself, from another origin, as a browser sends it: not
	// refused as the account pages' cross-origin forms are.
	req, _ = http.NewRequest(http.MethodPatch, e.srv.URL+"/account/api/v1/me", strings.NewReader(`{"nickname":"Countess"}`))
	req.Header.Set("Origin", "https://app.example.net")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+rw)
	a := e.do(req)
	if a.status != 200 || a.header.Get("Access-Control-Allow-Origin") != "*" || e.user(e.userID).Nickname != "Countess" {
		t.Fatalf("cross-origin PATCH: %d %v %s", a.status, a.header, a.raw)
	}
	// Errors carry the CORS header too, so the app can read them.
	a = e.api("GET", "/me", "", "")
	if a.header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(a.header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
		t.Fatalf("error headers: %v", a.header)
	}
	// The pages' forms stay protected.
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/account/profile", strings.NewReader("name=X"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site form post: %d", resp.StatusCode)
	}
}
