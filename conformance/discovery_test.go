package conformance

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// fetchJSON GETs a URL and decodes its JSON object, failing unless the
// answer is 200 application/json.
func fetchJSON(t testing.TB, u string) map[string]any {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := send(t, req)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %s", u, r)
	}
	if r.JSON == nil {
		t.Fatalf("GET %s: Content-Type %q, want application/json", u, r.Header.Get("Content-Type"))
	}
	return r.JSON
}

// strings of a JSON array member; ok is false when it is not an array of
// strings.
func stringList(m map[string]any, key string) (list []string, ok bool) {
	raw, ok := m[key].([]any)
	if !ok {
		return nil, false
	}
	for _, v := range raw {
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		list = append(list, s)
	}
	return list, true
}

// TestOIDCCDiscoveryEndpointVerification mirrors
// oidcc-discovery-endpoint-verification, plus what Atrium's contract
// promises to advertise.
func TestOIDCCDiscoveryEndpointVerification(t *testing.T) {
	t.Parallel()
	for _, wellKnown := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		t.Run(strings.TrimPrefix(wellKnown, "/.well-known/"), func(t *testing.T) {
			doc := fetchJSON(t, srv.issuer+wellKnown)
			if got := doc["issuer"]; got != srv.issuer {
				t.Errorf("issuer = %v, want exactly %q", got, srv.issuer)
			}
			issuer, _ := url.Parse(srv.issuer)
			for _, key := range []string{
				"authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint",
				"introspection_endpoint", "revocation_endpoint",
			} {
				s, _ := doc[key].(string)
				u, err := url.Parse(s)
				switch {
				case s == "":
					t.Errorf("%s missing", key)
				case err != nil || !u.IsAbs():
					t.Errorf("%s = %q, not an absolute URL", key, s)
				case !sameOrigin(u, issuer):
					t.Errorf("%s = %q, not on the issuer's origin", key, s)
				case u.Fragment != "":
					t.Errorf("%s = %q has a fragment", key, s)
				}
				if s != "" && s != srv.discovery[key] {
					t.Errorf("%s = %q, but OpenID discovery says %v", key, s, srv.discovery[key])
				}
			}
			contains := []struct {
				key  string
				want []string
			}{
				{"response_types_supported", []string{"code"}},
				{"subject_types_supported", nil},
				{"id_token_signing_alg_values_supported", []string{"RS256"}},
				{"scopes_supported", []string{"openid", "profile", "email", "address", "phone", "offline_access"}},
				{"code_challenge_methods_supported", []string{"S256"}},
				{"response_modes_supported", []string{"query", "form_post"}},
				{"token_endpoint_auth_methods_supported", []string{authBasic, authPost, authPrivateJWT, authNone}},
				{"grant_types_supported", []string{grantCode, grantRefresh, grantClientCr}},
			}
			for _, c := range contains {
				list, ok := stringList(doc, c.key)
				if !ok || len(list) == 0 {
					t.Errorf("%s = %v, want a non-empty array of strings", c.key, doc[c.key])
					continue
				}
				for _, w := range c.want {
					if !slices.Contains(list, w) {
						t.Errorf("%s = %v, missing %q", c.key, list, w)
					}
				}
			}
			if list, _ := stringList(doc, "code_challenge_methods_supported"); slices.Contains(list, "plain") {
				t.Errorf("code_challenge_methods_supported = %v advertises plain", list)
			}
			if got := doc["authorization_response_iss_parameter_supported"]; got != true {
				t.Errorf("authorization_response_iss_parameter_supported = %v, want true", got)
			}
		})
	}
}

// TestDiscoveredEndpointsAnswer calls every endpoint discovery advertises
// the way a client without credentials would, and expects the protocol's
// refusal rather than a missing route or a server error.
func TestDiscoveredEndpointsAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key      string
		method   string
		form     url.Values
		statuses []int
		json     bool // the answer must be JSON
	}{
		{"authorization_endpoint", http.MethodGet, nil, []int{400, 401, 403}, false},
		{"token_endpoint", http.MethodPost, url.Values{"grant_type": {grantCode}, "code": {"x"}}, []int{400, 401}, true},
		{"userinfo_endpoint", http.MethodGet, nil, []int{401}, false},
		{"jwks_uri", http.MethodGet, nil, []int{200}, true},
		{"introspection_endpoint", http.MethodPost, url.Values{"token": {"x"}}, []int{400, 401}, true},
		{"revocation_endpoint", http.MethodPost, url.Values{"token": {"x"}}, []int{400, 401}, true},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			u := srv.endpoint(t, tt.key)
			var req *http.Request
			if tt.method == http.MethodPost {
				req = newFormRequest(t, u, tt.form)
			} else {
				var err error
				if req, err = http.NewRequestWithContext(t.Context(), tt.method, u, nil); err != nil {
					t.Fatal(err)
				}
			}
			r := send(t, req)
			if !slices.Contains(tt.statuses, r.Status) {
				t.Errorf("%s %s: status %d, want one of %v: %s", tt.method, u, r.Status, tt.statuses, r)
			}
			if tt.json && r.JSON == nil {
				t.Errorf("%s %s: Content-Type %q, want JSON", tt.method, u, r.Header.Get("Content-Type"))
			}
			if tt.key == "userinfo_endpoint" && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("userinfo without a token: WWW-Authenticate = %q, want a Bearer challenge (RFC 6750 §3)", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	// Any other advertised endpoint must at least exist.
	known := map[string]bool{}
	for _, tt := range tests {
		known[tt.key] = true
	}
	for key, v := range srv.discovery {
		s, _ := v.(string)
		if !strings.HasSuffix(key, "_endpoint") || s == "" || known[key] {
			continue
		}
		t.Run(key, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r := send(t, req); r.Status == http.StatusNotFound || r.Status >= 500 {
				t.Errorf("GET %s: %s", s, r)
			}
		})
	}
}

// TestJWKS checks the key set: public signing keys with distinct kids, one
// of which verifies a fresh id_token. It also mirrors
// oidcc-idtoken-signature (RS256 by default, kid resolvable).
func TestJWKS(t *testing.T) {
	t.Parallel()
	c, u := client(t, "jwks"), account(t, "jwks")
	l := newBrowser(t).signIn(c, u, request{})
	raw, _ := l.token.Extra("id_token").(string)

	doc := fetchJSON(t, srv.endpoint(t, "jwks_uri"))
	b, _ := json.Marshal(doc)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("JWKS does not parse: %v: %s", err, b)
	}
	if len(set.Keys) == 0 {
		t.Fatal("JWKS has no keys")
	}
	seen := map[string]bool{}
	for i, k := range set.Keys {
		switch {
		case k.KeyID == "":
			t.Errorf("key %d has no kid", i)
		case seen[k.KeyID]:
			t.Errorf("kid %q appears twice", k.KeyID)
		}
		seen[k.KeyID] = true
		if !k.Valid() {
			t.Errorf("key %q is not a valid key", k.KeyID)
		}
		if !k.IsPublic() {
			t.Errorf("key %q is not a public key: the JWKS leaks private material", k.KeyID)
		}
		if k.Use != "" && k.Use != "sig" {
			t.Errorf("key %q has use %q, want sig", k.KeyID, k.Use)
		}
	}
	for i, k := range doc["keys"].([]any) {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k.(map[string]any)[private]; ok {
				t.Errorf("key %d has private member %q", i, private)
			}
		}
	}

	kid := headerKID(t, raw)
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("id_token kid %q matches %d keys of the JWKS", kid, len(keys))
	}
	verifyWith(t, raw, keys[0])
}

// headerKID returns the kid of a JWS.
func headerKID(t testing.TB, raw string) string {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("id_token: %v", err)
	}
	return jws.Signatures[0].Header.KeyID
}

// verifyWith checks a JWS's signature with one key.
func verifyWith(t testing.TB, raw string, key jose.JSONWebKey) {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jws.Verify(key.Key); err != nil {
		t.Errorf("signature does not verify with JWKS key %q: %v", key.KeyID, err)
	}
}
