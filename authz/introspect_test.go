package authz

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/atrium-id/atrium/storage"
)

// TestIntrospectionClientAuthentication covers the ways a client may
// authenticate to the introspection endpoint, which discovery lists as
// the token endpoint's: HTTP Basic and client_secret_post answer; a wrong
// secret, a public client and no authentication get 401 and learn nothing
// about the token.
func TestIntrospectionClientAuthentication(t *testing.T) {
	e := newTestEnv(t)
	// A resource server registered for client_secret_post.
	if err := e.store.CreateClient(context.Background(), &storage.Client{ID: "rs", SecretHash: HashClientSecret(testSecret),
		TokenEndpointAuthMethod: "client_secret_post", GrantTypes: []string{"client_credentials"}}); err != nil {
		t.Fatal(err)
	}
	status, tok := e.postToken(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}, "app", testSecret)
	if status != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", status, tok)
	}
	token := tok["access_token"].(string)

	post := func(form url.Values, basic bool) (int, map[string]any) {
		t.Helper()
		form.Set("token", token)
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+pathIntrospect, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth("app", testSecret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("introspection answer: %v", err)
		}
		return resp.StatusCode, out
	}

	for name, tc := range map[string]struct {
		form   url.Values
		basic  bool
		status int
		active bool
	}{
		"basic":              {url.Values{}, true, http.StatusOK, true},
		"client_secret_post": {url.Values{"client_id": {"rs"}, "client_secret": {testSecret}}, false, http.StatusOK, true},
		// A client registered for client_secret_basic must use it.
		"other method":      {url.Values{"client_id": {"app"}, "client_secret": {testSecret}}, false, http.StatusUnauthorized, false},
		"wrong secret":      {url.Values{"client_id": {"rs"}, "client_secret": {testSecret + "x"}}, false, http.StatusUnauthorized, false},
		"unknown client":    {url.Values{"client_id": {"nobody"}, "client_secret": {testSecret}}, false, http.StatusUnauthorized, false},
		"public client":     {url.Values{"client_id": {"spa"}}, false, http.StatusUnauthorized, false},
		"no authentication": {url.Values{}, false, http.StatusUnauthorized, false},
	} {
		t.Run(name, func(t *testing.T) {
			status, out := post(tc.form, tc.basic)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, out)
			}
			if got := out["active"] == true; got != tc.active {
				t.Fatalf("active %v, want %v: %v", got, tc.active, out)
			}
			if tc.status == http.StatusOK && out["client_id"] != "app" {
				t.Fatalf("introspection of an active token names client %v, want app", out["client_id"])
			}
			if tc.status != http.StatusOK && (out["client_id"] != nil || out["scope"] != nil) {
				t.Fatalf("a refused caller learnt about the token: %v", out)
			}
		})
	}
}
