package authz

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/atrium-id/atrium/storage"
)

// jarKeys are a client's signing keys, one per algorithm request objects
// may use.
type jarKeys struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
	ed  ed25519.PrivateKey
}

func newJARKeys(t *testing.T) jarKeys {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, dk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jarKeys{rk, ek, dk}
}

// jwks is the public key set of k, as a client registers it.
func (k jarKeys) jwks(t *testing.T) []byte {
	t.Helper()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: k.rsa.Public(), KeyID: "r1", Algorithm: "RS256", Use: "sig"},
		{Key: k.ec.Public(), KeyID: "e1", Algorithm: "ES256", Use: "sig"},
		{Key: k.ed.Public(), KeyID: "d1", Algorithm: "EdDSA", Use: "sig"},
	}}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signer is the private key and key ID of alg.
func (k jarKeys) signer(alg jose.SignatureAlgorithm) (crypto.Signer, string) {
	switch alg {
	case jose.RS256:
		return k.rsa, "r1"
	case jose.ES256:
		return k.ec, "e1"
	}
	return k.ed, "d1"
}

// requestObject signs claims with key under kid ("" for none).
func requestObject(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("oauth-authz-req+jwt")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
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

// newJAREnv is a provider with the client "jar" (secret testSecret) that
// registered keys' public keys, "jar-es256" that registered them with
// request_object_signing_alg ES256, and "jar-none" with none.
func newJAREnv(t *testing.T, keys jarKeys) *testEnv {
	t.Helper()
	e := newTestEnv(t)
	for _, c := range []*storage.Client{
		{ID: "jar", SecretHash: HashClientSecret(testSecret), JWKS: keys.jwks(t), RedirectURIs: []string{testRedirect}, Scopes: []string{"openid", "email", "profile"}},
		{ID: "jar-es256", SecretHash: HashClientSecret(testSecret), JWKS: keys.jwks(t), RequestObjectSigningAlg: "ES256", RedirectURIs: []string{testRedirect}, Scopes: []string{"openid"}},
		{ID: "jar-none", SecretHash: HashClientSecret(testSecret), JWKS: keys.jwks(t), RequestObjectSigningAlg: "none", RedirectURIs: []string{testRedirect}, Scopes: []string{"openid", "email"}},
	} {
		if err := e.store.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// jarClaims are the claims of a good request object of clientID.
func (e *testEnv) jarClaims(clientID, challenge string) map[string]any {
	return map[string]any{
		"iss": clientID, "aud": e.srv.URL, "client_id": clientID,
		"exp": time.Now().Add(5 * time.Minute).Unix(), "nbf": time.Now().Add(-time.Second).Unix(), "iat": time.Now().Unix(),
		"response_type": "code", "redirect_uri": testRedirect, "scope": "openid email",
		"state": "state-from-jwt", "nonce": "nonce-from-jwt", "max_age": 3600,
		"code_challenge": challenge, "code_challenge_method": "S256",
	}
}

// TestRequestObject: a request object signed with each advertised
// algorithm, by value at /authorize (the query's parameters overridden by
// its claims), inside /par, and with the key fetched from the client's
// jwks_uri, runs the code flow with its parameters.
func TestRequestObject(t *testing.T) {
	keys := newJARKeys(t)
	e := newJAREnv(t, keys)
	for _, alg := range requestObjectAlgs {
		t.Run(string(alg), func(t *testing.T) {
			verifier, challenge := pkcePair()
			key, kid := keys.signer(alg)
			front := url.Values{"client_id": {"jar"}, "response_type": {"code"}, "scope": {"openid"}, "state": {"state-from-query"},
				"request": {requestObject(t, alg, key, kid, e.jarClaims("jar", challenge))}}
			q := e.signIn(e.browser(), front).Query()
			if q.Get("code") == "" || q.Get("state") != "state-from-jwt" {
				t.Fatalf("authorization response %v: want a code with the request object's state", q)
			}
			status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
				"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "jar", testSecret)
			if status != 200 || tok["scope"] != "openid email" {
				t.Fatalf("token: %d %v, want the request object's scopes", status, tok)
			}
		})
	}
	t.Run("inside PAR", func(t *testing.T) {
		_, challenge := pkcePair()
		uri := e.pushed(url.Values{"request": {requestObject(t, jose.ES256, keys.ec, "e1", e.jarClaims("jar", challenge))}}, "jar", testSecret)
		if q := e.signIn(e.browser(), url.Values{"client_id": {"jar"}, "request_uri": {uri}}).Query(); q.Get("state") != "state-from-jwt" || q.Get("code") == "" {
			t.Fatalf("authorization response %v: want a code with the request object's state", q)
		}
	})
	t.Run("jwks_uri", func(t *testing.T) {
		jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(keys.jwks(t))
		}))
		defer jwks.Close()
		if err := e.store.CreateClient(context.Background(), &storage.Client{ID: "jar-uri", SecretHash: HashClientSecret(testSecret),
			JWKSURI: jwks.URL, RedirectURIs: []string{testRedirect}, Scopes: []string{"openid", "email"}}); err != nil {
			t.Fatal(err)
		}
		_, challenge := pkcePair()
		front := url.Values{"client_id": {"jar-uri"}, "request": {requestObject(t, jose.EdDSA, keys.ed, "d1", e.jarClaims("jar-uri", challenge))}}
		if q := e.signIn(e.browser(), front).Query(); q.Get("state") != "state-from-jwt" || q.Get("code") == "" {
			t.Fatalf("authorization response %v: want a code with the request object's state", q)
		}
	})
	// Unsigned (OpenID Connect Core §6.1): for a client that registered no
	// algorithm, or none; iss and aud may be left out.
	for _, id := range []string{"jar", "jar-none"} {
		t.Run("unsigned "+id, func(t *testing.T) {
			verifier, challenge := pkcePair()
			claims := e.jarClaims(id, challenge)
			delete(claims, "iss")
			delete(claims, "aud")
			front := url.Values{"client_id": {id}, "response_type": {"code"}, "scope": {"openid"}, "request": {unsignedObject(claims)}}
			q := e.signIn(e.browser(), front).Query()
			if q.Get("code") == "" || q.Get("state") != "state-from-jwt" {
				t.Fatalf("authorization response %v: want a code with the request object's state", q)
			}
			status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
				"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, id, testSecret)
			if status != 200 || tok["scope"] != "openid email" {
				t.Fatalf("token: %d %v, want the request object's scopes", status, tok)
			}
		})
	}
}

// unsignedObject is an unsigned request object (alg none) of claims.
func unsignedObject(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + base64.RawURLEncoding.EncodeToString(b) + "."
}

// TestRequestObjectRejects: /authorize (by redirect, with the query's
// state) and /par (400) refuse each bad request object with
// invalid_request_object, and store nothing.
func TestRequestObjectRejects(t *testing.T) {
	keys := newJARKeys(t)
	e := newJAREnv(t, keys)
	_, challenge := pkcePair()
	other := newJARKeys(t)
	with := func(mod func(map[string]any)) map[string]any {
		c := e.jarClaims("jar", challenge)
		mod(c)
		return c
	}
	good := func(c map[string]any) string { return requestObject(t, jose.RS256, keys.rsa, "r1", c) }
	unsigned := unsignedObject
	tests := []struct {
		name    string
		client  string
		request string
		err     string
	}{
		{"signed with a key the client did not register", "jar", requestObject(t, jose.RS256, other.rsa, "r1", e.jarClaims("jar", challenge)), "invalid_request_object"},
		{"unknown kid", "jar", requestObject(t, jose.ES256, other.ec, "zz", e.jarClaims("jar", challenge)), "invalid_request_object"},
		{"no kid, no matching key", "jar", requestObject(t, jose.EdDSA, other.ed, "", e.jarClaims("jar", challenge)), "invalid_request_object"},
		{"aud another issuer", "jar", good(with(func(c map[string]any) { c["aud"] = "https://other.example" })), "invalid_request_object"},
		{"no aud", "jar", good(with(func(c map[string]any) { delete(c, "aud") })), "invalid_request_object"},
		{"iss another client", "jar", good(with(func(c map[string]any) { c["iss"] = "app" })), "invalid_request_object"},
		{"expired", "jar", good(with(func(c map[string]any) { c["exp"] = time.Now().Add(-5 * time.Minute).Unix() })), "invalid_request_object"},
		{"not yet valid", "jar", good(with(func(c map[string]any) { c["nbf"] = time.Now().Add(5 * time.Minute).Unix() })), "invalid_request_object"},
		{"client_id mismatch", "jar", good(with(func(c map[string]any) { c["client_id"] = "app" })), "invalid_request_object"},
		{"request_uri inside", "jar", good(with(func(c map[string]any) { c["request_uri"] = parURIPrefix + "x" })), "invalid_request_object"},
		{"alg none from a client that registered ES256", "jar-es256", unsigned(e.jarClaims("jar-es256", challenge)), "invalid_request_object"},
		{"alg none from a client that registered none, signed", "jar-none", good(e.jarClaims("jar-none", challenge)), "invalid_request_object"},
		{"alg none, iss another client", "jar", unsigned(with(func(c map[string]any) { c["iss"] = "app" })), "invalid_request_object"},
		{"alg none, aud another issuer", "jar", unsigned(with(func(c map[string]any) { c["aud"] = "https://other.example" })), "invalid_request_object"},
		{"alg none, expired", "jar", unsigned(with(func(c map[string]any) { c["exp"] = time.Now().Add(-5 * time.Minute).Unix() })), "invalid_request_object"},
		{"alg none with a signature", "jar", unsigned(e.jarClaims("jar", challenge)) + "c2ln", "invalid_request_object"},
		{"alg none, payload not base64url", "jar", "eyJhbGciOiJub25lIn0.***.", "invalid_request_object"},
		{"HS256 with the client secret", "jar", requestObject(t, jose.HS256, []byte(testSecret+strings.Repeat("-", 32)), "", e.jarClaims("jar", challenge)), "invalid_request_object"},
		{"malformed", "jar", "not-a-jwt", "invalid_request_object"},
		{"JSON, not a JWT", "jar", `{"iss":"jar"}`, "invalid_request_object"},
		{"alg other than the client's", "jar-es256", requestObject(t, jose.RS256, keys.rsa, "r1", e.jarClaims("jar-es256", challenge)), "invalid_request_object"},
		{"client without keys", "app", requestObject(t, jose.RS256, keys.rsa, "r1", e.jarClaims("app", challenge)), "invalid_request_object"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			marker := "marker-" + strings.Repeat("j", i+1)
			front := url.Values{"client_id": {tc.client}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {testRedirect},
				"state": {"state-123"}, "nonce": {marker}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "request": {tc.request}}
			q, _ := e.authorizeAnswer(e.browser(), front)
			if q.Get("error") != tc.err || q.Get("state") != "state-123" {
				t.Errorf("/authorize: %v, want %s with the query's state", q, tc.err)
			}
			status, out := e.push(front, tc.client, testSecret)
			if status != 400 || out["error"] != tc.err {
				t.Errorf("/par: %d %v, want 400 %s", status, out, tc.err)
			}
			e.noStoredText(t, tc.name, marker)
		})
	}
	// request and request_uri together.
	front := url.Values{"client_id": {"jar"}, "request": {good(e.jarClaims("jar", challenge))}, "request_uri": {parURIPrefix + "x"},
		"response_type": {"code"}, "redirect_uri": {testRedirect}, "state": {"state-123"}}
	if q, _ := e.authorizeAnswer(e.browser(), front); q.Get("error") != "invalid_request" {
		t.Errorf("request with request_uri: %v, want invalid_request", q)
	}
}

// TestDiscoveryRequestObjects: discovery advertises request objects, by
// value and by registered reference, and their algorithms.
func TestDiscoveryRequestObjects(t *testing.T) {
	e := newTestEnv(t)
	resp, err := http.Get(e.srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	algs, _ := json.Marshal(doc["request_object_signing_alg_values_supported"])
	if doc["request_parameter_supported"] != true || doc["request_uri_parameter_supported"] != true ||
		doc["require_request_uri_registration"] != true ||
		string(algs) != `["RS256","ES256","EdDSA","none"]` || doc["require_pushed_authorization_requests"] != false ||
		doc["pushed_authorization_request_endpoint"] != e.srv.URL+pathPAR {
		t.Fatalf("discovery: %v", doc)
	}
}
