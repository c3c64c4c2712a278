package conformance

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The OpenID Foundation's Dynamic OP plan
// (oidcc-dynamic-certification-test-plan): the modules other files do not
// mirror already. Its clients register at the registration endpoint,
// most with private_key_jwt.

// keyClient is a relying party registered with private_key_jwt, its key
// published in the registration (jwks) or at a jwks_uri it serves.
type keyClient struct {
	*rp
	mu   sync.Mutex
	set  jose.JSONWebKeySet // what its jwks_uri serves
	jwks *httptest.Server   // nil when the keys went by value
}

// newKeyClient registers a private_key_jwt client; byURI publishes its key
// at a jwks_uri instead of in the registration.
func newKeyClient(t *testing.T, name string, byURI bool, md map[string]any) *keyClient {
	t.Helper()
	kc := &keyClient{}
	key, kid := newRSAKey(t), "k1-"+randomString(4)
	kc.set = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}}}
	if md == nil {
		md = map[string]any{}
	}
	if byURI {
		kc.jwks = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			kc.mu.Lock()
			defer kc.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(kc.set)
		}))
		t.Cleanup(kc.jwks.Close)
		md["jwks_uri"] = kc.jwks.URL + "/jwks"
	} else {
		md["jwks"] = kc.set
	}
	redirect := "https://" + name + ".dynamic.rp.test/callback"
	md["redirect_uris"] = []string{redirect}
	md["grant_types"] = []string{grantCode, grantRefresh}
	md["token_endpoint_auth_method"] = authPrivateJWT
	md["scope"] = "openid profile email offline_access"
	r := register(t, md)
	if r.Status != http.StatusCreated || r.str("client_id") == "" {
		t.Fatalf("registration = %s, want 201 with a client_id", r)
	}
	if got := r.str("token_endpoint_auth_method"); got != authPrivateJWT {
		t.Errorf("registered token_endpoint_auth_method = %q, want private_key_jwt", got)
	}
	kc.rp = &rp{Name: name, ID: r.str("client_id"), RedirectURI: redirect, RedirectURIs: []string{redirect},
		AuthMethod: authPrivateJWT, GrantTypes: []string{grantCode, grantRefresh},
		Scopes: []string{"openid", "profile", "email", "offline_access"}, key: key, kid: kid}
	return kc
}

// rotate replaces the key at the client's jwks_uri with a new one of a new
// kid, and signs with it from now on.
func (kc *keyClient) rotate(t *testing.T) {
	t.Helper()
	key, kid := newRSAKey(t), "k2-"+randomString(4)
	kc.mu.Lock()
	kc.set = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}}}
	kc.mu.Unlock()
	kc.key, kc.kid = key, kid
}

func newRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// dynamicUser creates a fresh user for a dynamic client.
func dynamicUser(t *testing.T, name string) *user {
	t.Helper()
	u, err := srv.createUser(name + "-" + randomString(3))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestOIDCCServerDynamic mirrors oidcc-server as the Dynamic plan runs it:
// a client registers with its key in jwks and private_key_jwt, and
// completes the code flow.
func TestOIDCCServerDynamic(t *testing.T) {
	t.Parallel()
	kc := newKeyClient(t, "server-dynamic", false, nil)
	u := dynamicUser(t, "server-dynamic")
	l := newBrowser(t).signIn(kc.rp, u, request{})
	if info := userinfo(t, "get", l.token.AccessToken); info.str("sub") != l.idToken.Subject {
		t.Errorf("userinfo sub = %q, want %q", info.str("sub"), l.idToken.Subject)
	}
}

// TestOIDCCIdTokenRS256 mirrors oidcc-idtoken-rs256: a client that
// registered id_token_signed_response_alg RS256 gets RS256 id_tokens.
func TestOIDCCIdTokenRS256(t *testing.T) {
	t.Parallel()
	kc := newKeyClient(t, "idtoken-rs256", false, map[string]any{"id_token_signed_response_alg": "RS256"})
	l := newBrowser(t).signIn(kc.rp, dynamicUser(t, "idtoken-rs256"), request{}) // checks alg RS256 and kid
	jws, err := jose.ParseSigned(l.rawIDToken(t), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("the id_token is not RS256: %v", err)
	}
	if keys := fetchJWKS(t).Key(jws.Signatures[0].Header.KeyID); len(keys) != 1 {
		t.Errorf("kid %q names %d keys of the JWKS, want 1", jws.Signatures[0].Header.KeyID, len(keys))
	}
}

// TestOIDCCIdTokenUnsigned mirrors oidcc-idtoken-unsigned. Atrium never
// issues unsigned id_tokens: id_token_signing_alg_values_supported lacks
// none, which is the module's condition to skip ("servers are not
// required to support none"). A registration asking for none is refused
// with invalid_client_metadata rather than answered with signed tokens.
func TestOIDCCIdTokenUnsigned(t *testing.T) {
	t.Parallel()
	algs, _ := stringList(srv.discovery, "id_token_signing_alg_values_supported")
	if slices.Contains(algs, "none") {
		t.Fatalf("id_token_signing_alg_values_supported = %v lists none", algs)
	}
	r := register(t, map[string]any{"redirect_uris": []string{"https://idtoken-unsigned.dynamic.rp.test/callback"},
		"id_token_signed_response_alg": "none"})
	if r.Status != http.StatusBadRequest || r.str("error") != "invalid_client_metadata" {
		t.Errorf("registering id_token_signed_response_alg none = %s, want 400 invalid_client_metadata", r)
	}
}

// TestOIDCCEnsureRedirectURIInAuthorizationRequest mirrors
// oidcc-ensure-redirect-uri-in-authorization-request: a request without
// redirect_uri is refused even when the client registered only one
// (OpenID Connect Core §3.1.2.1 makes it required): an error page, or an
// invalid_request error to the registered redirect_uri. Never a code.
// (TestOIDCCEnsureRegisteredRedirectURI covers the client with several.)
func TestOIDCCEnsureRedirectURIInAuthorizationRequest(t *testing.T) {
	t.Parallel()
	c := registerRP(t, "redirect-missing", map[string]any{})
	v := codeParams(c)
	v.Del("redirect_uri")
	b := newBrowser(t)
	z := &authorization{state: v.Get("state")}
	z.outcome = b.authorizeFrom(b.get(srv.endpoint(t, "authorization_endpoint")+"?"+v.Encode()), actor{user: dynamicUser(t, "redirect-missing")})
	if z.Mode == "" {
		if z.Page.Status < 400 {
			t.Errorf("want an error page, got %s", z.describe())
		}
		return
	}
	if e := z.authError(t, c); e != "invalid_request" && e != "invalid_request_object" {
		t.Errorf("error = %q, want invalid_request", e)
	}
}

// queryClient registers a client whose redirect URI has a query.
func queryClient(t *testing.T, name, redirect string) *rp {
	t.Helper()
	r := register(t, map[string]any{"redirect_uris": []string{redirect}, "grant_types": []string{grantCode}})
	if r.Status != http.StatusCreated {
		t.Fatalf("registering redirect URI %q = %s, want 201", redirect, r)
	}
	return &rp{Name: name, ID: r.str("client_id"), Secret: r.str("client_secret"), RedirectURI: redirect,
		RedirectURIs: []string{redirect}, AuthMethod: authBasic, GrantTypes: []string{grantCode}}
}

// TestOIDCCRedirectURIQueryOK mirrors oidcc-redirect-uri-query-OK: a
// registered redirect URI with a query, sent as registered, gets the
// response with its query kept and the code added.
func TestOIDCCRedirectURIQueryOK(t *testing.T) {
	t.Parallel()
	c := queryClient(t, "query-ok", "https://query-ok.dynamic.rp.test/callback?foo=bar")
	u := dynamicUser(t, "query-ok")
	z := newBrowser(t).authorize(c, request{}, actor{user: u})
	code := z.code(t, c)
	if got := z.Target.Query().Get("foo"); got != "bar" {
		t.Errorf("the response lost the redirect URI's query: %s", z.Target)
	}
	tok := c.exchange(t, code, z.verifier)
	c.idToken(t, tok, idWant{nonce: z.nonce, sub: u.Sub})
}

// TestOIDCCRedirectURIQueryMismatch mirrors
// oidcc-redirect-uri-query-mismatch: the registered query with another
// value is refused with an error page.
func TestOIDCCRedirectURIQueryMismatch(t *testing.T) {
	t.Parallel()
	c := queryClient(t, "query-mismatch", "https://query-mismatch.dynamic.rp.test/callback?foo=bar")
	v := codeParams(c)
	v.Set("redirect_uri", "https://query-mismatch.dynamic.rp.test/callback?foo=zot")
	wantErrorPage(t, rawAuthorize(t, v))
}

// TestOIDCCRedirectURIQueryAdded mirrors oidcc-redirect-uri-query-added:
// a query added to a redirect URI registered without one is refused with
// an error page.
func TestOIDCCRedirectURIQueryAdded(t *testing.T) {
	t.Parallel()
	c := registerRP(t, "query-added", map[string]any{})
	v := codeParams(c)
	v.Set("redirect_uri", c.RedirectURI+"?foo=bar")
	wantErrorPage(t, rawAuthorize(t, v))
}

// registrationURIModule registers a client with one of logo_uri,
// policy_uri and tos_uri, and checks the consent page shows it
// (oidcc-registration-logo-uri, -policy-uri, -tos-uri ask for a
// screenshot of it), then that the flow completes.
func registrationURIModule(t *testing.T, field, want string) {
	t.Parallel()
	name := strings.ReplaceAll(field, "_", "-")
	uri := "https://" + name + ".dynamic.rp.test/" + name
	c := registerRP(t, name, map[string]any{"client_name": "Dynamic " + field + " app", field: uri})
	u := dynamicUser(t, name)
	b := newBrowser(t)
	z := b.authorize(c, request{}, actor{}) // stops at the login form
	f := z.Page.loginForm()
	if f == nil {
		t.Fatalf("no login form: %s", z.describe())
	}
	consent := b.submit(f, url.Values{"email": {u.Email}, "password": {u.Password}})
	if consent.consentForm() == nil {
		t.Fatalf("a registered client is not asked for consent: %s", consent.describe())
	}
	for _, s := range []string{strings.ReplaceAll(want, "URI", uri), "Dynamic " + field + " app"} {
		if !strings.Contains(consent.Body, s) {
			t.Errorf("the consent page lacks %s", s)
		}
	}
	z.outcome = b.authorizeFrom(consent, actor{user: u})
	tok := c.exchange(t, z.code(t, c), z.verifier)
	c.idToken(t, tok, idWant{nonce: z.nonce, sub: u.Sub})
}

// TestOIDCCRegistrationLogoURI mirrors oidcc-registration-logo-uri.
func TestOIDCCRegistrationLogoURI(t *testing.T) {
	registrationURIModule(t, "logo_uri", `src="URI"`)
}

// TestOIDCCRegistrationPolicyURI mirrors oidcc-registration-policy-uri.
func TestOIDCCRegistrationPolicyURI(t *testing.T) {
	registrationURIModule(t, "policy_uri", `href="URI"`)
}

// TestOIDCCRegistrationTosURI mirrors oidcc-registration-tos-uri.
func TestOIDCCRegistrationTosURI(t *testing.T) {
	registrationURIModule(t, "tos_uri", `href="URI"`)
}

// TestOIDCCRegistrationJwksURI mirrors oidcc-registration-jwks-uri: a
// client registers a jwks_uri and private_key_jwt; the provider fetches
// its key from there to authenticate it at the token endpoint.
func TestOIDCCRegistrationJwksURI(t *testing.T) {
	t.Parallel()
	kc := newKeyClient(t, "jwks-uri", true, nil)
	newBrowser(t).signIn(kc.rp, dynamicUser(t, "jwks-uri"), request{})
}

// TestOIDCCRefreshTokenRPKeyRotation mirrors
// oidcc-refresh-token-rp-key-rotation: after the code flow, the client
// replaces its key at its jwks_uri with one of a new kid and refreshes
// with an assertion signed by it: the provider fetches the set again.
// The module waits 60 seconds so as not to trip a fetch limit; Atrium
// fetches a set again for an unknown kid at most once a second, so the
// test waits that long.
func TestOIDCCRefreshTokenRPKeyRotation(t *testing.T) {
	t.Parallel()
	kc := newKeyClient(t, "rp-key-rotation", true, nil)
	u := dynamicUser(t, "rp-key-rotation")
	l := newBrowser(t).signIn(kc.rp, u, request{scopes: []string{"openid", "offline_access"}, extra: url.Values{"prompt": {"consent"}}})
	if l.token.RefreshToken == "" {
		t.Fatal("no refresh_token for scope offline_access")
	}
	kc.rotate(t)
	time.Sleep(1100 * time.Millisecond)
	r := kc.refresh(t, l.token.RefreshToken)
	if r.Status != http.StatusOK {
		t.Fatalf("refresh with an assertion of the rotated key: %s", r)
	}
	tok := tokenOf(t, r)
	checkTokenResponse(t, tok)
	kc.idToken(t, tok, idWant{nonce: l.nonce, sub: u.Sub, refreshed: true})
	if got := userinfo(t, "get", tok.AccessToken).str("sub"); got != l.idToken.Subject {
		t.Errorf("userinfo sub = %q, want %q", got, l.idToken.Subject)
	}
}

// requestURIModule registers a client with a request_uri at a server of
// its own (request_uris), and, when signed, request_object_signing_alg
// RS256 and its keys; it then sends the browser to the authorization
// endpoint with client_id, response_type, scope and that request_uri, the
// request object served there (RS256, or unsigned without iss and aud, as
// the Foundation's suite builds them) carrying the request. The flow
// completes with the object's parameters; discovery advertises
// request_uri_parameter_supported and require_request_uri_registration. A
// request_uri the client did not register is refused with
// invalid_request_uri, by redirect with the query's state, and never
// fetched. A mode other than "" is the request's response_mode, which
// both answers must use.
func requestURIModule(t *testing.T, name string, signed bool, mode string) {
	t.Parallel()
	if srv.discovery["request_uri_parameter_supported"] != true || srv.discovery["require_request_uri_registration"] != true {
		t.Errorf("request_uri_parameter_supported = %v, require_request_uri_registration = %v, want both true",
			srv.discovery["request_uri_parameter_supported"], srv.discovery["require_request_uri_registration"])
	}
	var (
		mu      sync.Mutex
		object  string
		fetches = map[string]int{}
	)
	served := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fetches[r.URL.Path]++
		if r.URL.Path != "/requesturi/"+name {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/oauth-authz-req+jwt")
		_, _ = w.Write([]byte(object))
	}))
	t.Cleanup(served.Close)
	requestURI := served.URL + "/requesturi/" + name
	md := map[string]any{"request_uris": []string{requestURI}}
	if signed {
		md["request_object_signing_alg"] = "RS256"
	}
	kc := newKeyClient(t, name, false, md)
	u := dynamicUser(t, name)

	form, z := parRequest(kc.rp)
	if mode != "" {
		form.Set("response_mode", mode)
	}
	claims := requestClaims(kc.rp, form)
	if !signed {
		delete(claims, "iss")
		delete(claims, "aud")
	}
	mu.Lock()
	object = kc.signedRequest(t, claims, signed)
	mu.Unlock()
	q := url.Values{"client_id": {kc.ID}, "response_type": {"code"}, "scope": {"openid"}, "request_uri": {requestURI}}
	b := newBrowser(t)
	z.outcome = b.authorizeFrom(b.get(srv.endpoint(t, "authorization_endpoint")+"?"+q.Encode()), actor{user: u})
	if mode != "" {
		wantMode(t, z, mode)
	}
	tok := z.finish(t, kc.rp, u)
	if sc, _ := tok.Extra("scope").(string); sc != "openid profile email" {
		t.Errorf("scope %q, want the request object's", sc)
	}

	unregistered := served.URL + "/requesturi/" + name + "-other"
	form, z = parRequest(kc.rp)
	q = cloneValues(form)
	q.Set("request_uri", unregistered)
	if mode != "" {
		q.Set("response_mode", mode)
	}
	b = newBrowser(t)
	z.outcome = b.authorizeFrom(b.get(srv.endpoint(t, "authorization_endpoint")+"?"+q.Encode()), actor{})
	if mode != "" {
		wantMode(t, z, mode)
	}
	if e := z.authError(t, kc.rp); e != "invalid_request_uri" {
		t.Errorf("unregistered request_uri: error %q, want invalid_request_uri", e)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := fetches["/requesturi/"+name+"-other"]; n != 0 {
		t.Errorf("the unregistered request_uri was fetched %d times", n)
	}
}

// TestOIDCCRequestURIUnsigned mirrors oidcc-request-uri-unsigned (see
// requestURIModule).
func TestOIDCCRequestURIUnsigned(t *testing.T) {
	requestURIModule(t, "request-uri-unsigned", false, "")
}

// TestOIDCCRequestURIUnsignedSupportedCorrectlyOrRejectedAsUnsupported
// mirrors
// oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported:
// Atrium supports it, so it is the test above (requestURIModule).
func TestOIDCCRequestURIUnsignedSupportedCorrectlyOrRejectedAsUnsupported(t *testing.T) {
	requestURIModule(t, "request-uri-unsigned-or-rejected", false, "")
}

// TestOIDCCRequestURISignedRS256 mirrors oidcc-request-uri-signed-rs256
// (see requestURIModule).
func TestOIDCCRequestURISignedRS256(t *testing.T) { requestURIModule(t, "request-uri-rs256", true, "") }

// TestOIDCCEnsureRequestObjectWithRedirectURIOuter mirrors
// oidcc-ensure-request-object-with-redirect-uri as the suite sends it:
// the query's redirect_uri is one the client never registered, the
// request object's a registered one. The request object's wins (RFC 9101
// §5: only its parameters are used), signed or, as the module sends it,
// unsigned.
func TestOIDCCEnsureRequestObjectWithRedirectURIOuter(t *testing.T) {
	t.Parallel()
	kc := newKeyClient(t, "request-object-outer", false, nil)
	u := dynamicUser(t, "request-object-outer")
	outer := "https://attacker.rp.test/callback"
	t.Run("signed", func(t *testing.T) {
		form, z := parRequest(kc.rp)
		q := url.Values{"client_id": {kc.ID}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {outer},
			"request": {kc.signedRequest(t, requestClaims(kc.rp, form), true)}}
		b := newBrowser(t)
		z.outcome = b.authorizeFrom(b.get(srv.endpoint(t, "authorization_endpoint")+"?"+q.Encode()), actor{user: u})
		z.finish(t, kc.rp, u)
	})
	t.Run("unsigned", func(t *testing.T) {
		form, z := parRequest(kc.rp)
		claims := requestClaims(kc.rp, form)
		delete(claims, "iss")
		delete(claims, "aud")
		q := cloneValues(form)
		q.Set("redirect_uri", outer)
		q.Set("request", kc.signedRequest(t, claims, false))
		b := newBrowser(t)
		z.outcome = b.authorizeFrom(b.get(srv.endpoint(t, "authorization_endpoint")+"?"+q.Encode()), actor{user: u})
		z.finish(t, kc.rp, u)
	})
}

// httptestRoots writes the certificate every httptest TLS server presents
// to a PEM file in dir, for the server's SSL_CERT_FILE.
func httptestRoots(dir string) (string, error) {
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	defer ts.Close()
	file := filepath.Join(dir, "httptest-roots.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	return file, os.WriteFile(file, b, 0o600)
}

// TestClientAssertionUnknownKID: an assertion naming a kid the set at the
// client's jwks_uri lacks is a failed client authentication, answered
// invalid_client (RFC 7523 §3.2), and spends nothing: the refresh token
// still works with an assertion of the published key.
func TestClientAssertionUnknownKID(t *testing.T) {
	t.Parallel()
	kc := newKeyClient(t, "unknown-kid", true, nil)
	u := dynamicUser(t, "unknown-kid")
	l := newBrowser(t).signIn(kc.rp, u, request{scopes: []string{"openid", "offline_access"}, extra: url.Values{"prompt": {"consent"}}})
	stranger := *kc.rp
	stranger.key, stranger.kid = newRSAKey(t), "unpublished-"+randomString(4)
	wantOAuthError(t, stranger.refresh(t, l.token.RefreshToken), status401, "invalid_client")
	if r := kc.refresh(t, l.token.RefreshToken); r.Status != http.StatusOK {
		t.Errorf("refresh with the published key after the refused one: %s", r)
	}
}
