package authz

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// push posts form to /par, with HTTP Basic credentials when user is set.
func (e *testEnv) push(form url.Values, user, pass string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+pathPAR, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatalf("/par answered %d, not JSON: %v", resp.StatusCode, err)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		e.t.Errorf("/par answered Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	return resp.StatusCode, out
}

// pushed pushes form and returns the request_uri, failing unless /par
// accepts it.
func (e *testEnv) pushed(form url.Values, user, pass string) string {
	e.t.Helper()
	status, out := e.push(form, user, pass)
	uri, _ := out["request_uri"].(string)
	if status != http.StatusCreated || !strings.HasPrefix(uri, parURIPrefix) || len(uri) < len(parURIPrefix)+40 || out["expires_in"] != 60.0 {
		e.t.Fatalf("/par: %d %v, want 201 with a request_uri and expires_in 60", status, out)
	}
	return uri
}

// authorizeAnswer follows /authorize with params up to the first answer
// that is not a redirect within the provider: the redirect to the client
// (its query) or a page (nil, with its status).
func (e *testEnv) authorizeAnswer(b *http.Client, params url.Values) (url.Values, int) {
	e.t.Helper()
	resp, err := noRedirects(b).Get(e.authorizeURL(params))
	if err != nil {
		e.t.Fatal(err)
	}
	body := readBody(e.t, resp)
	if loc, err := resp.Location(); err == nil {
		if strings.HasPrefix(loc.String(), testRedirect) {
			return loc.Query(), resp.StatusCode
		}
		return nil, resp.StatusCode
	}
	if !strings.Contains(body, "<html") {
		e.t.Fatalf("/authorize answered %d without a page: %s", resp.StatusCode, body)
	}
	return nil, resp.StatusCode
}

// noStoredText fails when a table of the SQL store holds text.
func (e *testEnv) noStoredText(t *testing.T, what, text string) {
	t.Helper()
	found, err := e.store.FindText(context.Background(), text)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Errorf("%s: the store holds %q: %v", what, text, found)
	}
}

// TestPARCodeFlow: a confidential client (client_secret_basic) and a
// public one (PKCE, no secret) push their authorization request, send the
// browser with only client_id and request_uri through sign-in and consent,
// and exchange the code. The pushed parameters win over the browser's; the
// request_uri serves once; the client's secret is not kept with it.
func TestPARCodeFlow(t *testing.T) {
	stateBackends(t, func(t *testing.T, e *testEnv) {
		for _, tc := range []struct {
			name, client, secret string
		}{{"confidential", "app", testSecret}, {"public", "spa", ""}} {
			t.Run(tc.name, func(t *testing.T) {
				verifier, challenge := pkcePair()
				form := codeParams(tc.client, "openid email", challenge)
				if tc.secret == "" {
					form.Set("client_id", tc.client)
				}
				uri := e.pushed(form, map[bool]string{true: tc.client}[tc.secret != ""], tc.secret)
				// The browser's other parameters are ignored: prompt=none
				// would end in login_required, state would change.
				front := url.Values{"client_id": {tc.client}, "request_uri": {uri}, "prompt": {"none"}, "state": {"other"}, "scope": {"openid profile"}}
				b := e.browser()
				loc := e.signIn(b, front)
				q := loc.Query()
				if q.Get("code") == "" || q.Get("state") != "state-123" || q.Get("iss") != e.srv.URL {
					t.Fatalf("authorization response %v: want a code with the pushed state", q)
				}
				tokenForm := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
				user := tc.client
				if tc.secret == "" {
					tokenForm.Set("client_id", tc.client)
					user = ""
				}
				status, tok := e.postToken(tokenForm, user, tc.secret)
				if status != 200 || tok["id_token"] == nil || tok["scope"] != "openid email" {
					t.Fatalf("token: %d %v, want the pushed scopes", status, tok)
				}
				// Spent: a second use is refused, told to the client's
				// only redirect URI.
				if q, _ := e.authorizeAnswer(b, url.Values{"client_id": {tc.client}, "request_uri": {uri}}); q.Get("error") != "invalid_request_uri" {
					t.Fatalf("request_uri used twice: %v, want invalid_request_uri", q)
				}
			})
		}
	})
	e := newTestEnv(t)
	if err := e.store.CreateClient(context.Background(), &storage.Client{ID: "post", SecretHash: HashClientSecret(testSecret),
		TokenEndpointAuthMethod: "client_secret_post", RedirectURIs: []string{testRedirect}, Scopes: []string{"openid"}}); err != nil {
		t.Fatal(err)
	}
	_, challenge := pkcePair()
	form := codeParams("post", "openid", challenge)
	form.Set("client_secret", testSecret)
	e.pushed(form, "", "")
	e.noStoredText(t, "client_secret_post at /par", testSecret)
}

// TestPARRejects: /par refuses, with the RFC error and nothing stored, a
// client that does not authenticate, a request_uri in the body, an
// unregistered redirect_uri, and what /authorize itself refuses.
func TestPARRejects(t *testing.T) {
	e := newTestEnv(t)
	_, challenge := pkcePair()
	tests := []struct {
		name       string
		mod        func(url.Values)
		user, pass string
		status     int
		err        string
	}{
		{"no client authentication", nil, "", "", 401, "invalid_client"},
		{"wrong secret", nil, "app", "wrong", 401, "invalid_client"},
		{"public client naming a confidential one", func(v url.Values) { v.Set("client_id", "app") }, "", "", 401, "invalid_client"},
		{"client_id of another client", func(v url.Values) { v.Set("client_id", "spa") }, "app", testSecret, 400, "invalid_request"},
		{"request_uri in the body", func(v url.Values) { v.Set("request_uri", parURIPrefix+"abc") }, "app", testSecret, 400, "invalid_request"},
		{"unregistered redirect_uri", func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:9999/other") }, "app", testSecret, 400, "invalid_request"},
		{"unknown scope", func(v url.Values) { v.Set("scope", "openid admin") }, "app", testSecret, 400, "invalid_scope"},
		{"plain PKCE", func(v url.Values) { v.Set("code_challenge_method", "plain") }, "app", testSecret, 400, "invalid_request"},
		{"public client without PKCE", func(v url.Values) {
			v.Set("client_id", "spa")
			v.Del("code_challenge")
			v.Del("code_challenge_method")
		}, "", "", 400, "invalid_request"},
		{"unsigned request object of another client", func(v url.Values) { v.Set("request", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJzcGEifQ.") }, "app", testSecret, 400, "invalid_request_object"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			form := codeParams("app", "openid", challenge)
			marker := "marker-" + strings.Repeat("x", i+1)
			form.Set("state", marker)
			if tc.user == "" {
				form.Del("client_id")
			}
			if tc.mod != nil {
				tc.mod(form)
			}
			status, out := e.push(form, tc.user, tc.pass)
			if status != tc.status || out["error"] != tc.err || out["request_uri"] != nil {
				t.Fatalf("/par: %d %v, want %d %s", status, out, tc.status, tc.err)
			}
			e.noStoredText(t, tc.name, marker)
		})
	}
}

// TestPARRedeemRejects: /authorize refuses a request_uri that is unknown,
// expired, spent, pushed by another client or not from /par, and leaves a
// request_uri another client tried usable by its own.
func TestPARRedeemRejects(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := newTestEnvWith(t, func(c *Config) { c.Now = clock })
	advance(time.Since(now)) // past the clients' creation
	_, challenge := pkcePair()
	push := func() string { return e.pushed(codeParams("app", "openid", challenge), "app", testSecret) }
	redeem := func(clientID, uri string) url.Values {
		t.Helper()
		q, _ := e.authorizeAnswer(e.browser(), url.Values{"client_id": {clientID}, "request_uri": {uri}})
		return q
	}
	want := func(what string, q url.Values, code string) {
		t.Helper()
		if q.Get("error") != code || q.Get("iss") != e.srv.URL {
			t.Errorf("%s: %v, want %s", what, q, code)
		}
	}

	want("unknown request_uri", redeem("app", parURIPrefix+randomToken()), "invalid_request_uri")
	want("request_uri not from /par, not registered", redeem("app", "https://app.example/request.jwt"), "invalid_request_uri")

	uri := push()
	want("another client's request_uri", redeem("spa", uri), "invalid_request_uri")
	// Still the pushing client's to use: sign-in starts.
	resp, err := noRedirects(e.browser()).Get(e.authorizeURL(url.Values{"client_id": {"app"}, "request_uri": {uri}}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "login?interaction=") {
		t.Fatalf("the pushing client's request_uri after another tried it: %d %q, want the sign-in", resp.StatusCode, loc)
	}
	want("request_uri used twice", redeem("app", uri), "invalid_request_uri")

	uri = push()
	advance(61 * time.Second)
	want("expired request_uri", redeem("app", uri), "invalid_request_uri")

	// Without client_id the client is unknown: a page, not a redirect.
	uri = push()
	if q, status := e.authorizeAnswer(e.browser(), url.Values{"request_uri": {uri}}); q != nil || status != 400 {
		t.Errorf("request_uri without client_id: %v %d, want an error page", q, status)
	}
}

// TestPARRequired: with PAR.Required, /authorize takes pushed requests
// only (not even a request object by value), and discovery says so.
func TestPARRequired(t *testing.T) {
	e := newTestEnvWith(t, func(c *Config) { c.PAR.Required = true })
	_, challenge := pkcePair()
	q, _ := e.authorizeAnswer(e.browser(), codeParams("app", "openid", challenge))
	if q.Get("error") != "invalid_request" || q.Get("state") != "state-123" {
		t.Fatalf("an authorization request not pushed: %v, want invalid_request", q)
	}
	byValue := codeParams("app", "openid", challenge)
	byValue.Set("request", "eyJhbGciOiJub25lIn0.e30.")
	if q, _ := e.authorizeAnswer(e.browser(), byValue); q.Get("error") != "invalid_request" {
		t.Fatalf("a request object not pushed: %v, want invalid_request", q)
	}
	uri := e.pushed(codeParams("app", "openid", challenge), "app", testSecret)
	if loc := e.signIn(e.browser(), url.Values{"client_id": {"app"}, "request_uri": {uri}}); loc.Query().Get("code") == "" {
		t.Fatalf("pushed request: %v, want a code", loc)
	}
	var doc map[string]any
	resp, err := http.Get(e.srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc["require_pushed_authorization_requests"] != true || doc["pushed_authorization_request_endpoint"] != e.srv.URL+pathPAR {
		t.Fatalf("discovery: require_pushed_authorization_requests %v, endpoint %v", doc["require_pushed_authorization_requests"], doc["pushed_authorization_request_endpoint"])
	}
}

// TestPARRedeemRace: of two authorization requests redeeming one
// request_uri at the same instant, exactly one starts the sign-in.
func TestPARRedeemRace(t *testing.T) {
	stateBackends(t, func(t *testing.T, e *testEnv) {
		_, challenge := pkcePair()
		for range 5 {
			uri := e.pushed(codeParams("app", "openid", challenge), "app", testSecret)
			var wg sync.WaitGroup
			var signIns, refused [2]bool
			start := make(chan struct{})
			for i := range 2 {
				wg.Go(func() {
					<-start
					resp, err := noRedirects(e.browser()).Get(e.authorizeURL(url.Values{"client_id": {"app"}, "request_uri": {uri}}))
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					loc := resp.Header.Get("Location")
					signIns[i] = strings.Contains(loc, "login?interaction=")
					refused[i] = strings.Contains(loc, "error=invalid_request_uri")
				})
			}
			close(start)
			wg.Wait()
			if signIns[0] == signIns[1] || refused[0] == refused[1] {
				t.Fatalf("sign-ins %v, refusals %v: want exactly one of each", signIns, refused)
			}
		}
	})
}
