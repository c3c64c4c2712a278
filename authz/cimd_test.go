package authz

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/atrium-id/atrium/internal/redistest"
	"github.com/atrium-id/atrium/storage"
	redisstore "github.com/atrium-id/atrium/storage/redis"
)

// docServer serves client ID metadata documents over TLS and counts the
// requests of each path.
type docServer struct {
	srv   *httptest.Server
	mu    sync.Mutex
	hits  map[string]int
	docs  map[string]func(w http.ResponseWriter, r *http.Request)
	stop  chan struct{}
	total atomic.Int64
}

func newDocServer(t *testing.T) *docServer {
	t.Helper()
	d := &docServer{hits: map[string]int{}, docs: map[string]func(http.ResponseWriter, *http.Request){}, stop: make(chan struct{})}
	d.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.total.Add(1)
		d.mu.Lock()
		d.hits[r.URL.Path]++
		h := d.docs[r.URL.Path]
		d.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(d.srv.Close)
	t.Cleanup(func() { close(d.stop) }) // before Close: releases slow handlers
	return d
}

// url is the client ID of path.
func (d *docServer) url(path string) string { return d.srv.URL + path }

func (d *docServer) count(path string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hits[path]
}

// handle serves h at path.
func (d *docServer) handle(path string, h func(w http.ResponseWriter, r *http.Request)) {
	d.mu.Lock()
	d.docs[path] = h
	d.mu.Unlock()
}

// serveJSON serves v as JSON at path with the given Cache-Control.
func (d *docServer) serveJSON(path string, v any, cacheControl string) {
	b, _ := json.Marshal(v)
	d.handle(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if cacheControl != "" {
			w.Header().Set("Cache-Control", cacheControl)
		}
		_, _ = w.Write(b)
	})
}

// nativeDoc is the document of a public native client at id, redirecting
// to testRedirect.
func nativeDoc(id string) map[string]any {
	return map[string]any{
		"client_id": id, "client_name": "Doc App", "redirect_uris": []string{testRedirect},
		"application_type": "native", "grant_types": []string{"authorization_code", "refresh_token"},
		"token_endpoint_auth_method": "none", "software_id": "unknown-field-ignored", "x_vendor": map[string]any{"a": 1},
	}
}

// newDocEnv is a test provider with client ID metadata documents on,
// trusting d's certificate; configure adjusts the settings.
func newDocEnv(t *testing.T, d *docServer, clock *pkClock, configure func(*ClientIDMetadataDocuments), state ...storage.StateStore) *testEnv {
	t.Helper()
	e := newTestEnvWith(t, func(c *Config) {
		c.ClientIDMetadata = ClientIDMetadataDocuments{Enabled: true, AllowPrivateNetwork: true, Timeout: 2 * time.Second}
		if configure != nil {
			configure(&c.ClientIDMetadata)
		}
		if clock != nil {
			c.Now = clock.now
		}
	}, state...)
	if r := e.resolver(); r != nil {
		tr := r.http.Transport.(*http.Transport)
		tr.TLSClientConfig = d.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	}
	return e
}

// resolver is the provider's document resolver, nil when documents are
// off.
func (e *testEnv) resolver() *cimdResolver {
	if dc, ok := e.p.store.clients.(documentClients); ok {
		return dc.docs
	}
	return nil
}

// noTokensOf fails when the token store holds any token of clientID.
func (e *testEnv) revokeCount(clientID string) int {
	e.t.Helper()
	n, err := e.store.RevokeClientTokens(context.Background(), clientID)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestDocumentClientCodeFlow: a public document client pushes a request,
// signs a user in with PKCE, refreshes, and has its tokens introspected
// and revoked, with the grant state on SQLite and on Redis.
func TestDocumentClientCodeFlow(t *testing.T) {
	t.Run("sql", func(t *testing.T) { testDocumentClientCodeFlow(t) })
	t.Run("redis", func(t *testing.T) {
		rs, err := redisstore.Open(context.Background(), redistest.URL(t), redisstore.WithPrefix("cimd-test:"+randomToken()[:12]+":"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		testDocumentClientCodeFlow(t, rs)
	})
}

func testDocumentClientCodeFlow(t *testing.T, state ...storage.StateStore) {
	d := newDocServer(t)
	id := d.url("/client.json")
	d.serveJSON("/client.json", nativeDoc(id), "max-age=600")
	e := newDocEnv(t, d, nil, nil, state...)
	before := e.clientIDs()

	b := e.browser()
	verifier, challenge := pkcePair()
	params := codeParams(id, "openid email offline_access", challenge)
	// The client authenticates at /par by its document (none).
	if status, out := e.push(params, "", ""); status != http.StatusCreated || out["request_uri"] == nil {
		t.Fatalf("/par: %d %v", status, out)
	}
	resp, err := b.Get(e.authorizeURL(params))
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	if !strings.Contains(page, `name="password"`) {
		t.Fatalf("authorize did not show the login page (status %d): %s", resp.StatusCode, page)
	}
	resp = submitForm(t, b, resp.Request.URL.String(), page, "login", url.Values{"email": {testEmail}, "password": {testPassword}})
	page = readBody(t, resp)
	host := strings.TrimPrefix(d.srv.URL, "https://")
	// Never first party: the consent page shows the document's name and
	// the host the client ID is on.
	if !strings.Contains(page, `value="allow"`) || !strings.Contains(page, "Doc App") || !strings.Contains(page, "published at "+host) {
		t.Fatalf("consent page without the app's name and host %s: %s", host, page)
	}
	resp = submitForm(t, b, resp.Request.URL.String(), page, "consent", url.Values{"action": {"allow"}})
	loc, err := resp.Location()
	resp.Body.Close()
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("no code after consent: %v %v", loc, err)
	}

	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {testRedirect},
		"code_verifier": {verifier}, "client_id": {id}}
	status, tok := e.postToken(form, "", "")
	if status != 200 || tok["access_token"] == nil || tok["refresh_token"] == nil || tok["id_token"] == nil {
		t.Fatalf("token response %d %v", status, tok)
	}
	at := tok["access_token"].(string)
	if info := e.introspectAll(t, at); info["active"] != true || info["client_id"] != id {
		t.Fatalf("introspection of the access token = %v", info)
	}
	// The refresh token is capped like an anonymously registered client's.
	rtInfo := e.introspectAll(t, tok["refresh_token"].(string))
	if exp, ok := rtInfo["exp"].(float64); !ok || time.Until(time.Unix(int64(exp), 0)) > 24*time.Hour+time.Minute {
		t.Errorf("refresh token expiry %v, want at most 24h away", rtInfo["exp"])
	}
	status, tok2 := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "client_id": {id}}, "", "")
	if status != 200 || tok2["access_token"] == nil {
		t.Fatalf("refresh: %d %v", status, tok2)
	}

	// The public client revokes its new access token.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+pathRevoke, strings.NewReader(url.Values{"token": {tok2["access_token"].(string)}, "client_id": {id}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rr.Body.Close()
	if rr.StatusCode != 200 || e.introspect(t, tok2["access_token"].(string)) {
		t.Fatalf("revocation: %d, token still active", rr.StatusCode)
	}

	// PKCE is required.
	noPKCE := codeParams(id, "openid", "")
	noPKCE.Del("code_challenge")
	noPKCE.Del("code_challenge_method")
	resp, err = b.Get(e.authorizeURL(noPKCE))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if l, _ := resp.Location(); l == nil || l.Query().Get("error") != "invalid_request" {
		t.Errorf("authorize without PKCE: %d %v, want invalid_request", resp.StatusCode, l)
	}

	// One fetch served it all, and no client was stored.
	if n := d.count("/client.json"); n != 1 {
		t.Errorf("document fetched %d times, want 1", n)
	}
	if after := e.clientIDs(); !slices.Equal(before, after) {
		t.Errorf("clients %v after the flow, want %v", after, before)
	}
}

func TestDocumentPrivateKeyJWT(t *testing.T) {
	d := newDocServer(t)
	id := d.url("/pkjwt.json")
	key, pub, _ := rsaJWKS(t)
	doc := nativeDoc(id)
	doc["token_endpoint_auth_method"] = "private_key_jwt"
	doc["jwks_uri"] = d.url("/jwks.json")
	d.serveJSON("/pkjwt.json", doc, "")
	d.handle("/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(pub)
	})
	e := newDocEnv(t, d, nil, nil)
	c, err := e.resolver().client(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if c.TokenEndpointAuthMethod != "private_key_jwt" || c.Public || len(c.JWKS) == 0 || c.JWKSURI != "" || c.FirstParty {
		t.Errorf("client = %+v: want private_key_jwt with the fetched key set", c)
	}

	// The client signs in a user and redeems the code with an assertion
	// signed by the key its jwks_uri published; one signed by another
	// key is invalid_client.
	sign := func(k *rsa.PrivateKey) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(map[string]any{"iss": id, "sub": id, "aud": e.srv.URL + pathToken, "jti": randomToken(),
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()})
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		return must(jws.CompactSerialize())
	}
	// Though confidential, it must use PKCE.
	noPKCE := codeParams(id, "openid", "")
	noPKCE.Del("code_challenge")
	noPKCE.Del("code_challenge_method")
	resp, err := e.browser().Get(e.authorizeURL(noPKCE))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if l, _ := resp.Location(); l == nil || l.Query().Get("error") != "invalid_request" {
		t.Errorf("authorize without PKCE: %d %v, want invalid_request", resp.StatusCode, l)
	}
	verifier, challenge := pkcePair()
	loc := e.signIn(e.browser(), codeParams(id, "openid", challenge))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {testRedirect},
		"code_verifier": {verifier}, "client_id": {id}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}
	other, _, _ := rsaJWKS(t)
	form.Set("client_assertion", sign(other))
	if status, out := e.postToken(form, "", ""); status != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Errorf("assertion signed by another key: %d %v, want invalid_client", status, out)
	}
	form.Set("client_assertion", sign(key))
	if status, out := e.postToken(form, "", ""); status != http.StatusOK || out["access_token"] == nil {
		t.Errorf("assertion signed by the published key: %d %v, want tokens", status, out)
	}
	if d.count("/jwks.json") != 1 || d.count("/pkjwt.json") != 1 {
		t.Errorf("document fetched %d times and jwks_uri %d, want once each", d.count("/pkjwt.json"), d.count("/jwks.json"))
	}
}

// TestDocumentClientRefused: every bad client ID or document is refused,
// with an HTML page at /authorize (never a redirect) and invalid_client
// at the token endpoint, storing nothing; a failure is fetched once.
func TestDocumentClientRefused(t *testing.T) {
	d := newDocServer(t)
	ok := d.url("/client.json")
	d.serveJSON("/client.json", nativeDoc(ok), "")
	withDoc := func(path string, change func(m map[string]any)) string {
		id := d.url(path)
		m := nativeDoc(id)
		change(m)
		d.serveJSON(path, m, "")
		return id
	}
	d.handle("/big.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"client_id":"` + d.url("/big.json") + `","x":"`))
		chunk := []byte(strings.Repeat("a", 1024))
		for {
			select {
			case <-d.stop:
				return
			default:
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	d.handle("/slow.json", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-d.stop:
		}
	})
	d.handle("/redirect.json", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/client.json", http.StatusFound)
	})
	d.handle("/html.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		b, _ := json.Marshal(nativeDoc(d.url("/html.json")))
		_, _ = w.Write(b)
	})
	d.handle("/array.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`["` + d.url("/array.json") + `"]`))
	})

	host := strings.TrimPrefix(d.srv.URL, "https://")
	cases := []struct {
		name, id, path string
		fetches        int
		why            string // in the resolver's error
	}{
		{"http URL", "http://" + host + "/client.json", "/client.json", 0, `not an https URL`},
		{"fragment", ok + "#frag", "/client.json", 0, `fragment`},
		{"user info", "https://user:pw@" + host + "/client.json", "/client.json", 0, `user info`},
		{"dot segments", d.url("/a/../client.json"), "/client.json", 0, `dot segments`},
		{"encoded dot segments", d.url("/a/%2e%2e/client.json"), "/client.json", 0, `dot segments`},
		{"no path", d.srv.URL, "/", 0, `no path`},
		{"client_id mismatch", withDoc("/mismatch.json", func(m map[string]any) { m["client_id"] = ok }), "/mismatch.json", 1, `not the URL it was fetched from`},
		{"oversized document", d.url("/big.json"), "/big.json", 1, `larger than 2048 bytes`},
		{"slow server", d.url("/slow.json"), "/slow.json", 1, `timed out`},
		{"redirect", d.url("/redirect.json"), "/redirect.json", 1, `redirect, which is not followed`},
		{"not JSON", d.url("/html.json"), "/html.json", 1, `did not answer with JSON`},
		{"not an object", d.url("/array.json"), "/array.json", 1, `not a JSON object`},
		{"not found", d.url("/missing.json"), "/missing.json", 1, `HTTP status 404`},
		{"client_secret", withDoc("/secret.json", func(m map[string]any) { m["client_secret"] = "shh" }), "/secret.json", 1, `must not contain client_secret`},
		{"client_secret_expires_at", withDoc("/secretexp.json", func(m map[string]any) { m["client_secret_expires_at"] = 0 }), "/secretexp.json", 1, `must not contain client_secret`},
		{"client_secret_basic", withDoc("/basic.json", func(m map[string]any) { m["token_endpoint_auth_method"] = "client_secret_basic" }), "/basic.json", 1, `"client_secret_basic" is not allowed`},
		{"client_credentials", withDoc("/cc.json", func(m map[string]any) { m["grant_types"] = []string{"client_credentials"} }), "/cc.json", 1, `"client_credentials" is not allowed`},
		{"javascript redirect_uri", withDoc("/js.json", func(m map[string]any) { m["redirect_uris"] = []string{"javascript:alert(1)"} }), "/js.json", 1, `scheme of "javascript:alert(1)" is not allowed`},
		{"sector_identifier_uri", withDoc("/sector.json", func(m map[string]any) {
			m["subject_type"], m["sector_identifier_uri"] = "pairwise", d.url("/sector")
		}), "/sector.json", 1, `sector_identifier_uri is not supported`},
		{"no redirect_uris", withDoc("/noredirect.json", func(m map[string]any) { delete(m, "redirect_uris") }), "/noredirect.json", 1, `no redirect_uris`},
		{"account API scope", withDoc("/scope.json", func(m map[string]any) { m["scope"] = "openid " + ScopeAccountWrite }), "/scope.json", 1, `cannot be registered`},
		{"private_key_jwt without keys", withDoc("/nokeys.json", func(m map[string]any) { m["token_endpoint_auth_method"] = "private_key_jwt" }), "/nokeys.json", 1, `needs jwks or jwks_uri`},
	}
	e := newDocEnv(t, d, nil, func(m *ClientIDMetadataDocuments) { m.Timeout = 300 * time.Millisecond; m.MaxBytes = 2048 })
	before := e.clientIDs()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fetchedBefore := d.count(tc.path)
			_, challenge := pkcePair()
			resp, err := http.Get(e.authorizeURL(codeParams(tc.id, "openid", challenge)))
			if err != nil {
				t.Fatal(err)
			}
			page := readBody(t, resp)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") ||
				!strings.Contains(page, "invalid_client") {
				t.Errorf("authorize: %d %q, want an HTML invalid_client page: %s", resp.StatusCode, resp.Header.Get("Location"), page)
			}
			status, out := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {testRedirect},
				"code_verifier": {"v"}, "client_id": {tc.id}}, "", "")
			if status != http.StatusUnauthorized || out["error"] != "invalid_client" {
				t.Errorf("token: %d %v, want invalid_client", status, out)
			}
			if n := d.count(tc.path) - fetchedBefore; n != tc.fetches {
				t.Errorf("%s fetched %d times for two requests, want %d", tc.path, n, tc.fetches)
			}
			if _, err := e.resolver().client(context.Background(), tc.id); err == nil || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("resolver error %v, want %q", err, tc.why)
			}
			if n := e.revokeCount(tc.id); n != 0 {
				t.Errorf("%d tokens stored for the client", n)
			}
		})
	}
	if d.count("/client.json") != 0 {
		t.Errorf("the redirect was followed, or a refused client ID fetched: /client.json fetched %d times", d.count("/client.json"))
	}
	if after := e.clientIDs(); !slices.Equal(before, after) {
		t.Errorf("clients %v, want %v", after, before)
	}

	// A valid document client with a redirect_uri it does not list: an
	// HTML page, no redirect to the unlisted URI.
	_, challenge := pkcePair()
	params := codeParams(ok, "openid", challenge)
	params.Set("redirect_uri", "http://127.0.0.1:9999/elsewhere")
	resp, err := http.Get(e.authorizeURL(params))
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(page, "redirect") {
		t.Errorf("unlisted redirect_uri: %d %q: %s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
}

// TestDocumentPrivateAddress: without allow_private_network nothing on a
// loopback address is fetched.
func TestDocumentPrivateAddress(t *testing.T) {
	d := newDocServer(t)
	id := d.url("/client.json")
	d.serveJSON("/client.json", nativeDoc(id), "")
	e := newDocEnv(t, d, nil, func(m *ClientIDMetadataDocuments) { m.AllowPrivateNetwork = false })
	_, err := e.resolver().client(context.Background(), id)
	if err == nil || !strings.Contains(err.Error(), "not on a public address") {
		t.Errorf("resolve on loopback: %v, want a refusal", err)
	}
	status, out := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {id}}, "", "")
	if status != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Errorf("token: %d %v, want invalid_client", status, out)
	}
	if d.total.Load() != 0 {
		t.Errorf("%d requests reached the loopback server", d.total.Load())
	}
}

// TestDocumentsOff: with documents off, an https client ID is an unknown
// client, fetched from nowhere, and discovery does not advertise them.
func TestDocumentsOff(t *testing.T) {
	d := newDocServer(t)
	id := d.url("/client.json")
	d.serveJSON("/client.json", nativeDoc(id), "")
	e := newTestEnv(t)
	status, out := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {id}}, "", "")
	if status != http.StatusUnauthorized || out["error"] != "invalid_client" || d.total.Load() != 0 {
		t.Errorf("token: %d %v after %d fetches, want invalid_client and none", status, out, d.total.Load())
	}
	if _, ok := discovery(t, e)["client_id_metadata_document_supported"]; ok {
		t.Error("discovery advertises client ID metadata documents while they are off")
	}
	on := newDocEnv(t, d, nil, nil)
	if discovery(t, on)["client_id_metadata_document_supported"] != true {
		t.Error("discovery does not advertise client ID metadata documents")
	}
}

func discovery(t *testing.T, e *testEnv) map[string]any {
	t.Helper()
	resp, err := http.Get(e.srv.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestDocumentCache: max-age is honoured within the bounds, failures are
// remembered briefly, and concurrent lookups share one fetch.
func TestDocumentCache(t *testing.T) {
	d := newDocServer(t)
	clock := &pkClock{t: time.Now()}
	e := newDocEnv(t, d, clock, func(m *ClientIDMetadataDocuments) {
		m.MinCacheTTL, m.MaxCacheTTL, m.CacheTTL, m.FailureCacheTTL = time.Minute, time.Hour, 5*time.Minute, 30*time.Second
	})
	r := e.resolver()
	ctx := context.Background()
	lookups := func(id string, n int) {
		t.Helper()
		for range n {
			_, _ = r.client(ctx, id)
		}
	}
	for _, tc := range []struct {
		name, cacheControl string
		fresh              time.Duration // still cached this long after the fetch
		broken             bool
	}{
		{"max-age", "public, max-age=120", 119 * time.Second, false},
		{"no max-age", "", 5*time.Minute - time.Second, false},
		{"max-age above the bound", "max-age=99999999", time.Hour - time.Second, false},
		{"max-age below the bound", "max-age=5", time.Minute - time.Second, false},
		{"no-store", "no-store, max-age=600", time.Minute - time.Second, false},
		{"failure", "max-age=600", 29 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/" + strings.ReplaceAll(tc.name, " ", "-") + ".json"
			id := d.url(path)
			doc := nativeDoc(id)
			if tc.broken {
				doc["client_id"] = "https://elsewhere.example/x"
			}
			d.serveJSON(path, doc, tc.cacheControl)
			lookups(id, 3)
			if n := d.count(path); n != 1 {
				t.Fatalf("fetched %d times for three lookups, want 1", n)
			}
			clock.advance(tc.fresh)
			lookups(id, 2)
			if n := d.count(path); n != 1 {
				t.Fatalf("fetched %d times within the cache lifetime, want 1", n)
			}
			clock.advance(2 * time.Second)
			lookups(id, 2)
			if n := d.count(path); n != 2 {
				t.Fatalf("fetched %d times after the cache lifetime, want 2", n)
			}
		})
	}

	// Concurrent lookups of a document not yet cached share one fetch.
	id := d.url("/shared.json")
	b, _ := json.Marshal(nativeDoc(id))
	release := make(chan struct{})
	d.handle("/shared.json", func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			c, err := r.client(ctx, id)
			if err == nil && c.ID != id {
				err = &documentError{"wrong client"}
			}
			errs <- err
		})
	}
	for d.count("/shared.json") == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent lookup: %v", err)
		}
	}
	if n := d.count("/shared.json"); n != 1 {
		t.Errorf("20 concurrent lookups fetched %d times, want 1", n)
	}

	// With as many fetches under way as allowed, a new client ID is
	// refused, not fetched, and not remembered as failed.
	for range cap(r.fetching) {
		r.fetching <- struct{}{}
	}
	busy := d.url("/busy.json")
	d.serveJSON("/busy.json", nativeDoc(busy), "")
	if _, err := r.client(ctx, busy); err == nil || !strings.Contains(err.Error(), "too many documents") {
		t.Errorf("lookup with every fetch slot taken: %v, want a refusal", err)
	}
	for range cap(r.fetching) {
		<-r.fetching
	}
	if c, err := r.client(ctx, busy); err != nil || c.ID != busy || d.count("/busy.json") != 1 {
		t.Errorf("lookup once slots are free: %v, %d fetches, want the client and 1", err, d.count("/busy.json"))
	}
	var _ storage.ClientStore = documentClients{}
}
