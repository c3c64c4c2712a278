package conformance

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// rawAuthorize sends an authorization request built from params, without a
// browser and without following redirects.
func rawAuthorize(t testing.TB, params url.Values) *apiResponse {
	t.Helper()
	u := srv.endpoint(t, "authorization_endpoint") + "?" + params.Encode()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}

// wantErrorPage checks that the server answered with its own error page:
// 4xx HTML, and no Location header.
func wantErrorPage(t testing.TB, r *apiResponse) {
	t.Helper()
	if loc := r.Header.Get("Location"); loc != "" {
		t.Errorf("status %d with Location %s, want an error page and no redirect", r.Status, loc)
	}
	if r.Status < 400 || r.Status > 499 {
		t.Errorf("status %d, want a 4xx error page", r.Status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want an HTML page", ct)
	}
}

// codeParams are the parameters of a valid code request for the client,
// to be spoiled by a test.
func codeParams(c *rp) url.Values {
	return url.Values{
		"client_id":             {c.ID},
		"redirect_uri":          {c.RedirectURI},
		"response_type":         {"code"},
		"scope":                 {"openid"},
		"state":                 {randomString(8)},
		"nonce":                 {randomString(8)},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"},
	}
}

// TestUnknownClient: an unknown client_id gets an error page, never a
// redirect to the redirect_uri it names.
func TestUnknownClient(t *testing.T) {
	t.Parallel()
	c := client(t, "response-type")
	tests := []struct {
		name   string
		change func(url.Values)
	}{
		{"unknown client_id", func(v url.Values) { v.Set("client_id", "no-such-client") }},
		{"no client_id", func(v url.Values) { v.Del("client_id") }},
		{"unknown client_id and an attacker's redirect_uri", func(v url.Values) {
			v.Set("client_id", "no-such-client")
			v.Set("redirect_uri", "https://attacker.test/callback")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := codeParams(c)
			tt.change(v)
			wantErrorPage(t, rawAuthorize(t, v))
		})
	}
}

// TestOIDCCEnsureRegisteredRedirectURI mirrors
// oidcc-ensure-registered-redirect-uri and the dynamic plan's
// oidcc-redirect-uri-query-* and
// oidcc-ensure-redirect-uri-in-authorization-request: a redirect_uri must
// equal a registered one exactly, or the server shows an error page.
func TestOIDCCEnsureRegisteredRedirectURI(t *testing.T) {
	t.Parallel()
	c := client(t, "redirect") // registers .../callback and .../callback?tenant=a
	tests := []struct {
		name        string
		redirectURI string // "" sends none
	}{
		{"another host", "https://attacker.test/callback"},
		{"trailing slash", "https://redirect.rp.test/callback/"},
		{"added query parameter", "https://redirect.rp.test/callback?x=1"},
		{"changed query parameter", "https://redirect.rp.test/callback?tenant=b"},
		{"query parameter added to a registered query", "https://redirect.rp.test/callback?tenant=a&x=1"},
		{"http instead of https", "http://redirect.rp.test/callback"},
		{"path in another case", "https://redirect.rp.test/Callback"},
		{"another port", "https://redirect.rp.test:8443/callback"},
		{"subdomain", "https://evil.redirect.rp.test/callback"},
		{"path suffix", "https://redirect.rp.test/callbackx"},
		{"fragment", "https://redirect.rp.test/callback#x"},
		{"missing while several are registered", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := codeParams(c)
			if tt.redirectURI == "" {
				v.Del("redirect_uri")
			} else {
				v.Set("redirect_uri", tt.redirectURI)
			}
			wantErrorPage(t, rawAuthorize(t, v))
		})
	}
	t.Run("registered with its query", func(t *testing.T) {
		t.Parallel()
		withQuery := *c
		withQuery.RedirectURI = "https://redirect.rp.test/callback?tenant=a"
		z := newBrowser(t).authorize(&withQuery, request{}, actor{user: account(t, "errors")})
		z.code(t, &withQuery)
		if got := z.Target.Query().Get("tenant"); got != "a" {
			t.Errorf("the response lost the redirect_uri's query: %s", z.Target)
		}
	})
}

// TestOIDCCResponseTypeMissing mirrors oidcc-response-type-missing, and
// asks for response types Atrium does not offer.
func TestOIDCCResponseTypeMissing(t *testing.T) {
	t.Parallel()
	c := client(t, "response-type")
	tests := []struct {
		name         string
		responseType string // "" sends none
	}{
		{"missing", ""},
		{"token (implicit)", "token"},
		{"id_token", "id_token"},
		{"code id_token (hybrid)", "code id_token"},
		{"unknown", "foo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			extra := url.Values{}
			if tt.responseType != "" {
				extra.Set("response_type", tt.responseType)
			}
			b := newBrowser(t)
			var z *authorization
			if tt.responseType == "" {
				// x/oauth2 always sends response_type=code: build by hand.
				v := codeParams(c)
				v.Del("response_type")
				z = &authorization{state: v.Get("state")}
				z.outcome = b.authorizeFrom(b.get(srv.endpoint(t, "authorization_endpoint")+"?"+v.Encode()), actor{})
			} else {
				z = b.authorize(c, request{extra: extra}, actor{})
			}
			if z.Mode == "" {
				if z.Page.Status < 400 || z.Page.loginForm() != nil {
					t.Errorf("want an error, got %s", z.describe())
				}
				return
			}
			e := z.authError(t, c)
			if e != "invalid_request" && e != "unsupported_response_type" {
				t.Errorf("error = %q, want invalid_request or unsupported_response_type", e)
			}
		})
	}
}
