package authz

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/atrium-id/atrium/storage"
)

const (
	apiOrders  = "https://orders.example.com/v1"
	apiBilling = "https://billing.example.com"
	apiReports = "https://reports.example.com/api"
)

// addResourceClient adds "rsapp", which may ask for the three APIs, with
// the access token format given.
func (e *testEnv) addResourceClient(t *testing.T, id, format string) {
	t.Helper()
	if err := e.store.CreateClient(context.Background(), &storage.Client{ID: id, SecretHash: HashClientSecret(testSecret),
		RedirectURIs: []string{testRedirect}, ResponseTypes: []string{"code"},
		GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"},
		Scopes:     []string{"openid", "email", "offline_access", "api"},
		Audience:   []string{apiOrders, apiBilling, apiReports}, AccessTokenFormat: format}); err != nil {
		t.Fatal(err)
	}
}

// authorizeWith signs in for clientID with extra authorization parameters
// and returns the redirect to the client and the PKCE verifier.
func (e *testEnv) authorizeWith(t *testing.T, clientID, scope string, extra url.Values) (*url.URL, string) {
	t.Helper()
	verifier, challenge := pkcePair()
	params := codeParams(clientID, scope, challenge)
	for k, v := range extra {
		params[k] = v
	}
	return e.signIn(e.browser(), params), verifier
}

func audOf(v any) []string {
	var out []string
	switch a := v.(type) {
	case string:
		out = []string{a}
	case []any:
		for _, s := range a {
			out = append(out, s.(string))
		}
	}
	slices.Sort(out)
	return out
}

func TestResourceIndicators(t *testing.T) {
	stateBackends(t, func(t *testing.T, e *testEnv) {
		e.addResourceClient(t, "rsapp", "")
		loc, verifier := e.authorizeWith(t, "rsapp", "openid offline_access", url.Values{"resource": {apiOrders, apiBilling}})
		code := loc.Query().Get("code")
		if code == "" {
			t.Fatalf("authorization response %v", loc.Query())
		}
		exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}

		// A resource the grant does not cover: invalid_target, and the
		// code is not spent.
		for name, res := range map[string]string{
			"allowed to the client, not in the grant": apiReports,
			"unknown":         "https://evil.example.com",
			"relative":        "orders",
			"with a fragment": apiOrders + "#x",
		} {
			form := cloneForm(exchange)
			form.Set("resource", res)
			if status, body := e.postToken(form, "rsapp", testSecret); status != 400 || body["error"] != "invalid_target" {
				t.Fatalf("code exchange with a resource %s: %d %v, want 400 invalid_target", name, status, body)
			}
		}

		form := cloneForm(exchange)
		form.Set("resource", apiOrders)
		status, tok := e.postToken(form, "rsapp", testSecret)
		if status != 200 {
			t.Fatalf("code exchange: %d %v", status, tok)
		}
		if got := audOf(e.introspectAll(t, tok["access_token"].(string))["aud"]); !slices.Equal(got, []string{apiOrders}) {
			t.Fatalf("access token aud = %v, want the resource asked for at the token endpoint", got)
		}

		refresh := func(res ...string) (int, map[string]any) {
			t.Helper()
			f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "resource": res}
			return e.postToken(f, "rsapp", testSecret)
		}
		// Outside the grant: refused, and the refresh token is not spent.
		if status, body := refresh(apiReports); status != 400 || body["error"] != "invalid_target" {
			t.Fatalf("refresh for a resource outside the grant: %d %v, want 400 invalid_target", status, body)
		}
		for _, want := range [][]string{{apiBilling}, nil, {apiOrders}} {
			status, next := refresh(want...)
			if status != 200 {
				t.Fatalf("refresh with resource %v: %d %v", want, status, next)
			}
			tok = next
			if len(want) == 0 {
				want = []string{apiOrders, apiBilling} // the whole grant
			}
			if got := audOf(e.introspectAll(t, tok["access_token"].(string))["aud"]); !slices.Equal(got, sorted(slices.Clone(want))) {
				t.Fatalf("refreshed access token aud = %v, want %v", got, sorted(slices.Clone(want)))
			}
		}

		// client_credentials asks for its audience among the client's.
		status, cc := e.postToken(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}, "resource": {apiReports}}, "rsapp", testSecret)
		if status != 200 {
			t.Fatalf("client_credentials with a resource: %d %v", status, cc)
		}
		if got := audOf(e.introspectAll(t, cc["access_token"].(string))["aud"]); !slices.Equal(got, []string{apiReports}) {
			t.Fatalf("client_credentials aud = %v", got)
		}
		status, cc = e.postToken(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}, "resource": {"https://evil.example.com"}}, "rsapp", testSecret)
		if status != 400 || cc["error"] != "invalid_target" || cc["access_token"] != nil {
			t.Fatalf("client_credentials for a resource not the client's: %d %v, want 400 invalid_target", status, cc)
		}
	})
}

func TestAuthorizeRefusesForeignResources(t *testing.T) {
	e := newTestEnv(t)
	e.addResourceClient(t, "rsapp", "")
	for name, res := range map[string][]string{
		"not the client's":     {"https://evil.example.com"},
		"one of two":           {apiOrders, "https://evil.example.com"},
		"relative":             {"/v1"},
		"with a fragment":      {apiOrders + "#frag"},
		"below an allowed one": {apiOrders + "/sub"},
	} {
		t.Run(name, func(t *testing.T) {
			_, challenge := pkcePair()
			params := codeParams("rsapp", "openid", challenge)
			params["resource"] = res
			resp, err := e.browser().Get(e.authorizeURL(params))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, err := resp.Location()
			if err != nil {
				t.Fatalf("status %d, want a redirect with the error", resp.StatusCode)
			}
			if q := loc.Query(); q.Get("error") != "invalid_target" || q.Get("code") != "" || q.Get("state") != "state-123" {
				t.Fatalf("redirect %v, want error invalid_target with state", q)
			}
		})
	}
}

func TestProtectedResourceMetadata(t *testing.T) {
	var local string
	e := newTestEnvWith(t, func(c *Config) {
		local = c.Issuer + "/api/orders"
		c.Resources = []Resource{
			{URI: local, Name: "Orders", Scopes: []string{"orders:read"}},
			{URI: apiBilling, Name: "Billing"},
		}
	})
	get := func(path string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&doc)
		return resp.StatusCode, doc
	}
	status, doc := get("/.well-known/oauth-protected-resource/api/orders")
	if status != 200 || doc["resource"] != local || doc["resource_name"] != "Orders" ||
		!slices.Equal(audOf(doc["authorization_servers"]), []string{e.srv.URL}) ||
		!slices.Equal(audOf(doc["scopes_supported"]), []string{"orders:read"}) ||
		!slices.Equal(audOf(doc["bearer_methods_supported"]), []string{"header"}) {
		t.Fatalf("metadata of a resource on the issuer's origin: %d %v", status, doc)
	}
	// A resource elsewhere publishes its own; unknown paths are unknown.
	for _, path := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/api", "/.well-known/oauth-protected-resource/api/orders/x"} {
		if status, _ := get(path); status != 404 {
			t.Fatalf("GET %s: %d, want 404", path, status)
		}
	}
	_, disc := get("/.well-known/openid-configuration")
	if got := audOf(disc["protected_resources"]); !slices.Equal(got, sorted([]string{local, apiBilling})) {
		t.Fatalf("protected_resources = %v", got)
	}
	// Without resources, discovery names none.
	var d map[string]any
	if err := json.Unmarshal(newTestEnv(t).p.discovery, &d); err != nil {
		t.Fatal(err)
	}
	if _, ok := d["protected_resources"]; ok {
		t.Fatal("protected_resources advertised without resources")
	}
}

func TestResourceMetadataURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.example.com":          "https://api.example.com/.well-known/oauth-protected-resource",
		"https://api.example.com/":         "https://api.example.com/.well-known/oauth-protected-resource",
		"https://api.example.com/v1":       "https://api.example.com/.well-known/oauth-protected-resource/v1",
		"https://api.example.com:8443/a/b": "https://api.example.com:8443/.well-known/oauth-protected-resource/a/b",
		"https://api.example.com/a?t=1":    "https://api.example.com/.well-known/oauth-protected-resource/a?t=1",
	} {
		if got, err := ResourceMetadataURL(in); err != nil || got != want {
			t.Errorf("ResourceMetadataURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestConfigRefusesBadResources(t *testing.T) {
	for name, rs := range map[string][]Resource{
		"relative":      {{URI: "/api"}},
		"fragment":      {{URI: "https://api.example.com/#x"}},
		"listed twice":  {{URI: apiOrders}, {URI: apiOrders}},
		"not a URL":     {{URI: "https://[::1"}},
		"no host (urn)": {{URI: "urn:example:api"}},
	} {
		cfg := Config{Issuer: "https://id.example.com", Secret: make([]byte, 32), Resources: rs}
		cfg.setDefaults()
		if err := cfg.validate(); err == nil {
			t.Errorf("%s: resources %v accepted", name, rs)
		}
	}
}

// A pushed authorization request's resources are checked at /par and
// granted when the request_uri is redeemed.
func TestPushedResources(t *testing.T) {
	e := newTestEnv(t)
	e.addResourceClient(t, "rsapp", "")
	verifier, challenge := pkcePair()
	form := codeParams("rsapp", "openid", challenge)
	form["resource"] = []string{"https://evil.example.com"}
	if status, out := e.push(form, "rsapp", testSecret); status != 400 || out["error"] != "invalid_target" || out["request_uri"] != nil {
		t.Fatalf("/par with a foreign resource: %d %v, want 400 invalid_target", status, out)
	}
	form["resource"] = []string{apiBilling}
	uri := e.pushed(form, "rsapp", testSecret)
	loc := e.signIn(e.browser(), url.Values{"client_id": {"rsapp"}, "request_uri": {uri}})
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "rsapp", testSecret)
	if status != 200 {
		t.Fatalf("code exchange: %d %v", status, tok)
	}
	if got := audOf(e.introspectAll(t, tok["access_token"].(string))["aud"]); !slices.Equal(got, []string{apiBilling}) {
		t.Fatalf("aud = %v, want the pushed resource", got)
	}
}
