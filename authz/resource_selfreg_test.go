package authz

import (
	"context"
	"net/url"
	"slices"
	"testing"

	"github.com/atrium-id/atrium/storage"
)

// TestSelfRegisteredClientResources: a client that registered itself may
// ask for the resources open to self-registered clients, and no other; an
// operator's client may not ask for them unless it lists them.
func TestSelfRegisteredClientResources(t *testing.T) {
	e := newTestEnvWith(t, func(c *Config) {
		c.Resources = []Resource{{URI: apiOrders, Name: "Orders", SelfRegisteredClients: true}, {URI: apiBilling, Name: "Billing"}}
	})
	for _, c := range []*storage.Client{
		{ID: "self", Registration: registrationDynamic, SecretHash: HashClientSecret(testSecret), RedirectURIs: []string{testRedirect},
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "email", "offline_access"}},
		{ID: "operator", SecretHash: HashClientSecret(testSecret), RedirectURIs: []string{testRedirect},
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "email", "offline_access"}},
	} {
		if err := e.store.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}

	loc, verifier := e.authorizeWith(t, "self", "openid offline_access", url.Values{"resource": {apiOrders}})
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("self-registered client asking for an open resource: %v, want a code", loc.Query())
	}
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect},
		"code_verifier": {verifier}, "resource": {apiOrders}}, "self", testSecret)
	if status != 200 {
		t.Fatalf("code exchange: %d %v", status, tok)
	}
	if got := audOf(e.introspectAll(t, tok["access_token"].(string))["aud"]); !slices.Equal(got, []string{apiOrders}) {
		t.Fatalf("access token aud = %v, want %s", got, apiOrders)
	}

	for _, tc := range []struct{ client, resource string }{
		{"self", apiBilling},             // configured, not open to self-registered clients
		{"self", "https://evil.example"}, // not configured
		{"operator", apiOrders},          // open to self-registered clients only
	} {
		_, challenge := pkcePair()
		params := codeParams(tc.client, "openid", challenge)
		params.Set("resource", tc.resource)
		if q, _ := e.authorizeAnswer(e.browser(), params); q.Get("error") != "invalid_target" {
			t.Errorf("%s asking for %s: %v, want invalid_target", tc.client, tc.resource, q)
		}
	}
}
