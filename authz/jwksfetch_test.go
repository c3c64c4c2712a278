package authz

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/atrium-id/atrium/storage"
)

// TestClientJWKSFetch: a client's jwks_uri is fetched once per hour, from
// public addresses only for a client registered over HTTP, without
// following redirects, up to a size limit; a JWS naming an unknown key ID
// fetches the set again at most once a second.
func TestClientJWKSFetch(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	e := newTestEnvWith(t, func(c *Config) { c.Now = func() time.Time { return time.Unix(0, now.Load()) } })
	key, jwks, _ := rsaJWKS(t)
	var hits atomic.Int32
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jwks":
			hits.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(jwks)
		case "/big":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", jwksMaxBytes) + `"}`))
		case "/moved":
			http.Redirect(w, r, "/jwks", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(keys.Close)
	ctx := context.Background()
	for id, c := range map[string]struct{ uri, registration string }{
		"op-jwt":    {keys.URL + "/jwks", ""},
		"dyn-jwt":   {keys.URL + "/jwks", registrationDynamic},
		"big-jwt":   {keys.URL + "/big", ""},
		"moved-jwt": {keys.URL + "/moved", ""},
	} {
		if err := e.store.CreateClient(ctx, &storage.Client{ID: id, TokenEndpointAuthMethod: "private_key_jwt", JWKSURI: c.uri,
			Registration: c.registration, GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"}}); err != nil {
			t.Fatal(err)
		}
	}
	grant := func(id, kid string) (int, map[string]any) {
		t.Helper()
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(map[string]any{"iss": id, "sub": id, "aud": e.srv.URL + pathToken, "jti": randomToken(),
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()})
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		return e.postToken(url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "scope": {"api"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {must(jws.CompactSerialize())}}, "", "")
	}

	if status, out := grant("dyn-jwt", "k1"); status != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Errorf("registered client with a loopback jwks_uri = %d %v, want 401 invalid_client", status, out)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback jwks_uri of a registered client was fetched %d times, want 0", n)
	}
	for _, id := range []string{"big-jwt", "moved-jwt"} {
		if status, out := grant(id, "k1"); status != http.StatusUnauthorized || out["error"] != "invalid_client" {
			t.Errorf("%s = %d %v, want 401 invalid_client", id, status, out)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("a redirect was followed: %d fetches of /jwks, want 0", n)
	}

	if status, out := grant("op-jwt", "k1"); status != http.StatusOK {
		t.Fatalf("operator client with a loopback jwks_uri = %d %v, want 200", status, out)
	}
	if status, out := grant("op-jwt", "k1"); status != http.StatusOK {
		t.Fatalf("second grant = %d %v, want 200", status, out)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("two grants fetched the key set %d times, want 1 (cached)", n)
	}
	// An unknown key ID: fetched again, but not more than once a second.
	for range 3 {
		if status, out := grant("op-jwt", "zz"); status == http.StatusOK {
			t.Errorf("assertion with an unknown key ID = %d %v, want refused", status, out)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("unknown key IDs within a second fetched %d times in all, want 1", n)
	}
	now.Add(int64(2 * time.Second))
	if status, out := grant("op-jwt", "zz"); status == http.StatusOK {
		t.Errorf("assertion with an unknown key ID = %d %v, want refused", status, out)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("an unknown key ID after a second fetched %d times in all, want 2", n)
	}
	now.Add(int64(jwksTTL))
	if status, _ := grant("op-jwt", "k1"); status != http.StatusOK {
		t.Errorf("grant after the cache expired = %d, want 200", status)
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("a grant after an hour fetched %d times in all, want 3", n)
	}
}

// TestClientJWKSFetchPrivateNetworkAllowed: with
// Registration.AllowPrivateNetwork, a registered client's loopback
// jwks_uri is fetched.
func TestClientJWKSFetchPrivateNetworkAllowed(t *testing.T) {
	e := newTestEnvWith(t, func(c *Config) { c.Registration.AllowPrivateNetwork = true })
	_, jwks, _ := rsaJWKS(t)
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(jwks) }))
	t.Cleanup(keys.Close)
	cl, err := newClient(&storage.Client{ID: "dyn", JWKSURI: keys.URL, Registration: registrationDynamic})
	if err != nil {
		t.Fatal(err)
	}
	set, err := e.p.jwks.keysOf(context.Background(), cl, false)
	if err != nil || len(set.Keys) != 1 {
		t.Fatalf("keysOf = %v, %v; want the one key", set, err)
	}
}
