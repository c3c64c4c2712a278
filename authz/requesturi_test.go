package authz

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/atrium-id/atrium/storage"
)

// requestObjects serves request objects over TLS by path, and counts the
// fetches of each.
type requestObjects struct {
	*httptest.Server
	mu      sync.Mutex
	objects map[string]string
	fetches map[string]int
}

func newRequestObjects(t *testing.T) *requestObjects {
	t.Helper()
	ro := &requestObjects{objects: map[string]string{}, fetches: map[string]int{}}
	ro.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ro.mu.Lock()
		ro.fetches[r.URL.Path]++
		obj, ok := ro.objects[r.URL.Path]
		ro.mu.Unlock()
		switch {
		case r.URL.Path == "/moved":
			http.Redirect(w, r, "/signed", http.StatusFound)
		case r.URL.Path == "/big":
			_, _ = w.Write([]byte(strings.Repeat("a", requestURIMaxBytes+1)))
		case !ok:
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "application/oauth-authz-req+jwt")
			_, _ = w.Write([]byte(obj + "\n"))
		}
	}))
	t.Cleanup(ro.Close)
	return ro
}

func (ro *requestObjects) set(path, obj string) {
	ro.mu.Lock()
	ro.objects[path] = obj
	ro.mu.Unlock()
}

func (ro *requestObjects) fetched(path string) int {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	return ro.fetches[path]
}

// trustRequestObjects makes e's provider trust ro's certificate.
func (e *testEnv) trustRequestObjects(ro *requestObjects) {
	tls := ro.Client().Transport.(*http.Transport).TLSClientConfig
	for _, hc := range []*http.Client{e.p.requestURIs.client, e.p.requestURIs.public} {
		hc.Transport.(*http.Transport).TLSClientConfig = tls.Clone()
	}
}

// newRequestURIEnv is newJAREnv with ro trusted and the client "jar-ref"
// (keys' public keys) registered with request_uris at ro: /signed,
// /unsigned#h1 (a fragment is part of the registered URI) and the paths
// that fail, and "jar-dyn", a client registered over HTTP with /signed.
func newRequestURIEnv(t *testing.T, keys jarKeys, ro *requestObjects) *testEnv {
	t.Helper()
	e := newJAREnv(t, keys)
	e.trustRequestObjects(ro)
	uris := []string{ro.URL + "/signed", ro.URL + "/unsigned#h1", ro.URL + "/missing", ro.URL + "/moved", ro.URL + "/big", ro.URL + "/other-key"}
	for _, c := range []*storage.Client{
		{ID: "jar-ref", SecretHash: HashClientSecret(testSecret), JWKS: keys.jwks(t), RequestURIs: uris, RedirectURIs: []string{testRedirect}, Scopes: []string{"openid", "email"}},
		{ID: "jar-dyn", Registration: registrationDynamic, SecretHash: HashClientSecret(testSecret), JWKS: keys.jwks(t), RequestURIs: uris[:1], RedirectURIs: []string{testRedirect}, Scopes: []string{"openid", "email"}},
	} {
		if err := e.store.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// TestRequestURI: a request object the client publishes at a request_uri
// it registered, signed or unsigned, runs the code flow with its
// parameters; it is fetched at each use.
func TestRequestURI(t *testing.T) {
	keys := newJARKeys(t)
	ro := newRequestObjects(t)
	e := newRequestURIEnv(t, keys, ro)
	for _, tc := range []struct{ name, path, uri string }{
		{"signed", "/signed", ro.URL + "/signed"},
		{"unsigned, registered with a fragment", "/unsigned", ro.URL + "/unsigned#h1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 2 {
				verifier, challenge := pkcePair()
				claims := e.jarClaims("jar-ref", challenge)
				obj := requestObject(t, jose.RS256, keys.rsa, "r1", claims)
				if tc.path == "/unsigned" {
					delete(claims, "iss")
					delete(claims, "aud")
					obj = unsignedObject(claims)
				}
				ro.set(tc.path, obj)
				front := url.Values{"client_id": {"jar-ref"}, "response_type": {"code"}, "scope": {"openid"}, "state": {"state-from-query"}, "request_uri": {tc.uri}}
				q := e.signIn(e.browser(), front).Query()
				if q.Get("code") == "" || q.Get("state") != "state-from-jwt" {
					t.Fatalf("authorization response %v: want a code with the request object's state", q)
				}
				status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
					"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "jar-ref", testSecret)
				if status != 200 || tok["scope"] != "openid email" {
					t.Fatalf("token: %d %v, want the request object's scopes", status, tok)
				}
				if n := ro.fetched(tc.path); n != i+1 {
					t.Fatalf("after %d uses the request object was fetched %d times, want once per use", i+1, n)
				}
			}
		})
	}
}

// TestRequestURIRejects: a request_uri that is not registered, too long,
// unreachable, redirected, oversized, on a private address for a client
// registered over HTTP, or holding a bad request object is refused by
// redirect with the query's state, and nothing is stored; past the
// concurrent fetch bound the request is temporarily_unavailable.
func TestRequestURIRejects(t *testing.T) {
	keys := newJARKeys(t)
	ro := newRequestObjects(t)
	e := newRequestURIEnv(t, keys, ro)
	_, challenge := pkcePair()
	ro.set("/signed", requestObject(t, jose.RS256, keys.rsa, "r1", e.jarClaims("jar-dyn", challenge)))
	ro.set("/other-key", requestObject(t, jose.RS256, newJARKeys(t).rsa, "r1", e.jarClaims("jar-ref", challenge)))
	ro.set("/unregistered", requestObject(t, jose.RS256, keys.rsa, "r1", e.jarClaims("jar-ref", challenge)))
	tests := []struct {
		name, client, uri, err string
	}{
		{"not registered", "jar-ref", ro.URL + "/unregistered", "invalid_request_uri"},
		{"registered with a fragment, sent without", "jar-ref", ro.URL + "/unsigned", "invalid_request_uri"},
		{"another client's", "jar", ro.URL + "/signed", "invalid_request_uri"},
		{"longer than 512 characters", "jar-ref", ro.URL + "/signed?" + strings.Repeat("x", 512), "invalid_request_uri"},
		{"not found", "jar-ref", ro.URL + "/missing", "invalid_request_uri"},
		{"redirected", "jar-ref", ro.URL + "/moved", "invalid_request_uri"},
		{"oversized", "jar-ref", ro.URL + "/big", "invalid_request_uri"},
		{"signed by another key", "jar-ref", ro.URL + "/other-key", "invalid_request_object"},
		{"private address, client registered over HTTP", "jar-dyn", ro.URL + "/signed", "invalid_request_uri"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			marker := "marker-" + strings.Repeat("u", i+1)
			front := url.Values{"client_id": {tc.client}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {testRedirect},
				"state": {"state-123"}, "nonce": {marker}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "request_uri": {tc.uri}}
			q, _ := e.authorizeAnswer(e.browser(), front)
			if q.Get("error") != tc.err || q.Get("state") != "state-123" {
				t.Errorf("/authorize: %v, want %s with the query's state", q, tc.err)
			}
			e.noStoredText(t, tc.name, marker)
		})
	}
	if n := ro.fetched("/unregistered"); n != 0 {
		t.Errorf("an unregistered request_uri was fetched %d times", n)
	}
	if n := ro.fetched("/signed"); n != 0 {
		t.Errorf("a request_uri on a private address was fetched %d times for a client registered over HTTP", n)
	}

	t.Run("too many fetches at once", func(t *testing.T) {
		for range requestURIFetches {
			e.p.requestURIs.slots <- struct{}{}
		}
		defer func() {
			for range requestURIFetches {
				<-e.p.requestURIs.slots
			}
		}()
		front := url.Values{"client_id": {"jar-ref"}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {testRedirect},
			"state": {"state-123"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "request_uri": {ro.URL + "/signed"}}
		if q, _ := e.authorizeAnswer(e.browser(), front); q.Get("error") != "temporarily_unavailable" {
			t.Errorf("/authorize: %v, want temporarily_unavailable", q)
		}
	})

	t.Run("PAR required", func(t *testing.T) {
		e := newTestEnvWith(t, func(c *Config) { c.PAR.Required = true })
		q := codeParams("app", "openid", challenge)
		q.Set("request_uri", "https://app.example/request.jwt")
		if q, _ := e.authorizeAnswer(e.browser(), q); q.Get("error") != "invalid_request" {
			t.Errorf("a request object by reference with PAR required: %v, want invalid_request", q)
		}
	})
}
