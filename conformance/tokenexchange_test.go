package conformance

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// Token exchange (RFC 8693) as a client sees it: the suite's server has
// token_exchange.enabled; the "exchange" client has the grant.
const (
	grantTokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// TestTokenExchange trades a user's access token for a narrower one that
// names the acting client (act), and checks what the server refuses.
func TestTokenExchange(t *testing.T) {
	t.Parallel()
	if grants, _ := stringList(srv.discovery, "grant_types_supported"); !slices.Contains(grants, grantTokenExchange) {
		t.Fatalf("grant_types_supported %v lacks %s", grants, grantTokenExchange)
	}
	c, other, u := client(t, "exchange"), client(t, "exchange-other"), account(t, "exchange")
	b := newBrowser(t)
	z := b.authorize(c, request{scopes: []string{"openid", "email", "profile", "offline_access"}}, actor{user: u})
	user := c.exchange(t, z.code(t, c), z.verifier)
	actorToken := c.tokenOK(t, url.Values{"grant_type": {grantClientCr}}).AccessToken

	form := func(subject string, kv ...string) url.Values {
		f := url.Values{"grant_type": {grantTokenExchange}, "subject_token": {subject}, "subject_token_type": {tokenTypeAccessToken}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	tokenURL := srv.endpoint(t, "token_endpoint")

	r := c.post(t, tokenURL, form(user.AccessToken, "scope", "openid email", "actor_token", actorToken, "actor_token_type", tokenTypeAccessToken))
	if r.Status != http.StatusOK {
		t.Fatalf("token exchange: %s", r)
	}
	tok := tokenOf(t, r)
	checkTokenResponse(t, tok)
	if r.str("issued_token_type") != tokenTypeAccessToken || r.str("refresh_token") != "" || r.str("id_token") != "" || r.str("scope") != "openid email" {
		t.Errorf("token exchange response: %s", r)
	}
	in := c.introspect(t, tok.AccessToken).JSON
	act, _ := in["act"].(map[string]any)
	if in["active"] != true || in["sub"] != u.Sub || in["client_id"] != c.ID || in["scope"] != "openid email" || act["sub"] != c.ID {
		t.Errorf("introspection of the exchanged token: %v", in)
	}
	if ui := userinfoResponse(t, "get", tok.AccessToken); ui.Status != http.StatusOK || ui.str("sub") != u.Sub || ui.str("email") != u.Email || ui.str("name") != "" {
		t.Errorf("userinfo with the exchanged token: %s", ui)
	}

	for _, tc := range []struct {
		name string
		as   *rp
		form url.Values
		code string
	}{
		{"a token issued to another client", other, form(user.AccessToken), "invalid_request"},
		{"a scope the subject token lacks", c, form(user.AccessToken, "scope", "openid phone"), "invalid_scope"},
		{"an unsupported subject_token_type", c, form(user.AccessToken, "subject_token_type", "urn:ietf:params:oauth:token-type:saml2"), "invalid_request"},
		{"a refresh token as subject_token", c, form(user.RefreshToken), "invalid_request"},
		{"no subject_token", c, form("", "subject_token", ""), "invalid_request"},
		{"a requested refresh token", c, form(user.AccessToken, "requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"), "invalid_request"},
		{"a resource the client may not ask for", c, form(user.AccessToken, "resource", "https://api.example.com/"), "invalid_target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.as.post(t, tokenURL, tc.form)
			wantOAuthError(t, r, status400, tc.code)
			if r.str("access_token") != "" {
				t.Errorf("refused exchange issued a token: %s", r)
			}
		})
	}

	// The exchanged token lives no longer than the token it came from.
	if rv := c.post(t, srv.endpoint(t, "revocation_endpoint"), url.Values{"token": {user.AccessToken}}); rv.Status != http.StatusOK {
		t.Fatalf("revocation: %s", rv)
	}
	if c.active(t, tok.AccessToken) {
		t.Error("the exchanged token is active after the subject token was revoked")
	}
	if ui := userinfoResponse(t, "get", tok.AccessToken); ui.Status != http.StatusUnauthorized {
		t.Errorf("userinfo with the exchanged token of a revoked subject token: %s, want 401", ui)
	}
}
