package conformance

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// The OpenID Foundation's Dynamic plan: clients register themselves at
// the registration endpoint discovery advertises (RFC 7591, OpenID Connect
// Registration 1.0).

// register posts client metadata to the registration endpoint.
func register(t testing.TB, md map[string]any) *apiResponse {
	t.Helper()
	b, err := json.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.endpoint(t, "registration_endpoint"), bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return send(t, req)
}

// registerRP registers a confidential web client with md added to its
// metadata and returns it as a relying party of the suite.
func registerRP(t testing.TB, name string, md map[string]any) *rp {
	t.Helper()
	redirect := "https://" + name + ".dynamic.rp.test/callback"
	md["redirect_uris"] = []string{redirect}
	md["grant_types"] = []string{grantCode, grantRefresh}
	r := register(t, md)
	if r.Status != http.StatusCreated || r.str("client_id") == "" || r.str("client_secret") == "" || r.str("registration_access_token") == "" {
		t.Fatalf("registration = %s, want 201 with client_id, client_secret and registration_access_token", r)
	}
	return &rp{Name: name, ID: r.str("client_id"), Secret: r.str("client_secret"), RedirectURI: redirect,
		RedirectURIs: []string{redirect}, AuthMethod: authBasic, GrantTypes: []string{grantCode, grantRefresh},
		Scopes: []string{"openid", "profile", "email", "offline_access"}}
}

// TestOIDCCRedirectURIRegfrag mirrors oidcc-redirect-uri-regfrag: a
// redirect URI with a fragment is refused, as are the other redirect URIs
// a web client may not register.
func TestOIDCCRedirectURIRegfrag(t *testing.T) {
	t.Parallel()
	for _, uri := range []string{"https://regfrag.rp.test/cb#frag", "javascript:alert(1)", "http://regfrag.rp.test/cb"} {
		r := register(t, map[string]any{"redirect_uris": []string{uri}})
		if r.Status != http.StatusBadRequest || r.str("error") != "invalid_redirect_uri" {
			t.Errorf("registering %q = %s, want 400 invalid_redirect_uri", uri, r)
		}
	}
}

// TestOIDCCUserinfoRS256 mirrors oidcc-userinfo-rs256 and
// oidcc-idtoken-rs256: a client that registered
// userinfo_signed_response_alg gets its UserInfo as a JWT signed with
// it, verified with the keys at jwks_uri.
func TestOIDCCUserinfoRS256(t *testing.T) {
	t.Parallel()
	c := registerRP(t, "userinfo-rs256", map[string]any{"userinfo_signed_response_alg": "RS256", "id_token_signed_response_alg": "RS256"})
	u := account(t, "dynamic-userinfo")
	l := newBrowser(t).signIn(c, u, request{})
	r := userinfoResponse(t, "get", l.token.AccessToken)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/jwt" {
		t.Fatalf("userinfo = %s (Content-Type %q), want 200 application/jwt", r, r.Header.Get("Content-Type"))
	}
	keys := oidc.NewRemoteKeySet(srv.ctx(t), srv.endpoint(t, "jwks_uri"))
	payload, err := keys.VerifySignature(srv.ctx(t), r.Body)
	if err != nil {
		t.Fatalf("the signed UserInfo does not verify with the provider's keys: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["sub"] != l.idToken.Subject || claims["iss"] != srv.issuer || claims["aud"] != c.ID {
		t.Errorf("signed UserInfo claims %v; want sub %s, iss %s, aud %s", claims, l.idToken.Subject, srv.issuer, c.ID)
	}
	if _, err := jose.ParseSigned(r.Body, []jose.SignatureAlgorithm{jose.RS256}); err != nil {
		t.Errorf("the signed UserInfo is not an RS256 JWS: %v", err)
	}
}
