package conformance

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// mcpPath is the path, on the issuer's origin, of the suite's API open to
// self-registered clients.
const mcpPath = "/mcp"

// TestMCPClient runs the authorization an MCP client performs (the Model
// Context Protocol's authorization specification): it reads the MCP
// server's protected-resource metadata (RFC 9728), the authorization
// server's metadata (RFC 8414), registers itself (RFC 7591) as a public
// native client, signs the user in with PKCE and the server as its
// resource (RFC 8707), and gets an access token for that server, which
// the server's introspection sees as the user's and as meant for it. A
// self-registered client asking for an API not open to such clients gets
// invalid_target.
func TestMCPClient(t *testing.T) {
	t.Parallel()
	resource := srv.issuer + mcpPath
	get := func(u string) map[string]any {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := send(t, req)
		if r.Status != http.StatusOK || r.JSON == nil {
			t.Fatalf("GET %s: %s", u, r)
		}
		return r.JSON
	}
	prm := get(srv.issuer + "/.well-known/oauth-protected-resource" + mcpPath)
	servers, _ := prm["authorization_servers"].([]any)
	if prm["resource"] != resource || len(servers) == 0 || servers[0] != srv.issuer {
		t.Fatalf("protected-resource metadata %v: want resource %s and the issuer among authorization_servers", prm, resource)
	}
	as := get(srv.issuer + "/.well-known/oauth-authorization-server")
	methods, _ := json.Marshal(as["code_challenge_methods_supported"])
	if as["issuer"] != srv.issuer || as["registration_endpoint"] == nil || string(methods) != `["S256"]` {
		t.Fatalf("authorization server metadata: issuer %v, registration_endpoint %v, code_challenge_methods_supported %s", as["issuer"], as["registration_endpoint"], methods)
	}

	redirect := "http://127.0.0.1:33418/callback"
	r := register(t, map[string]any{"client_name": "MCP client", "application_type": "native", "redirect_uris": []string{redirect},
		"token_endpoint_auth_method": "none", "grant_types": []string{grantCode, grantRefresh}, "scope": "openid profile offline_access"})
	if r.Status != http.StatusCreated || r.str("client_id") == "" {
		t.Fatalf("registration = %s", r)
	}
	c := &rp{Name: "mcp", ID: r.str("client_id"), RedirectURI: redirect, RedirectURIs: []string{redirect}, Public: true,
		AuthMethod: authNone, GrantTypes: []string{grantCode, grantRefresh}, Scopes: []string{"openid", "profile", "offline_access"}}
	u := dynamicUser(t, "mcp")

	l := newBrowser(t).signIn(c, u, request{scopes: []string{"openid", "offline_access"}, extra: url.Values{"resource": {resource}}})
	api := client(t, "introspect")
	info := api.introspect(t, l.token.AccessToken)
	aud, _ := info.JSON["aud"].([]any)
	if info.JSON["active"] != true || info.str("sub") != u.Sub || !slices.Contains(aud, any(resource)) {
		t.Fatalf("introspection of the MCP client's access token: %s; want active, the user's sub and aud %s", info, resource)
	}
	// The token endpoint takes the resource too, as MCP clients send it.
	ref := c.post(t, srv.endpoint(t, "token_endpoint"), url.Values{"grant_type": {grantRefresh}, "refresh_token": {l.token.RefreshToken}, "resource": {resource}})
	if ref.Status != http.StatusOK {
		t.Fatalf("refresh with the resource: %s", ref)
	}

	z := newBrowser(t).authorize(c, request{scopes: []string{"openid"}, extra: url.Values{"resource": {srv.issuer + "/not-open"}}}, actor{})
	if e := z.authError(t, c); e != "invalid_target" {
		t.Errorf("a resource not open to self-registered clients: error %q, want invalid_target", e)
	}
}
