package conformance

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestOIDCCServer mirrors oidcc-server (and oidcc-server-client-secret-post
// and oidcc-ensure-request-with-valid-pkce-succeeds): the code flow with
// S256 PKCE through the login form, for each way a client authenticates.
func TestOIDCCServer(t *testing.T) {
	t.Parallel()
	u := account(t, "server")
	tests := []struct {
		name   string
		client string
	}{
		{"client_secret_basic", "server-basic"},
		{"client_secret_post", "server-post"},
		{"public client", "server-public"},
		// RFC 6749 §2.3.1: the id and secret are form-urlencoded before
		// Basic encoding; x/oauth2 does so, the server must decode.
		{"client_secret_basic with form-urlencoded credentials", "server-encoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := client(t, tt.client)
			b := newBrowser(t)
			l := b.signIn(c, u, request{})
			if l.Logins != 1 {
				t.Errorf("login forms submitted = %d, want 1 in a fresh browser", l.Logins)
			}
			if l.Mode != "query" {
				t.Errorf("response mode %q, want query by default", l.Mode)
			}
			info := userinfo(t, "get", l.token.AccessToken)
			if info.str("sub") != l.idToken.Subject {
				t.Errorf("userinfo sub = %q, id_token sub = %q", info.str("sub"), l.idToken.Subject)
			}
		})
	}
}

// TestOIDCCUserinfo mirrors oidcc-userinfo-get, -post-header and
// -post-body.
func TestOIDCCUserinfo(t *testing.T) {
	t.Parallel()
	c, u := client(t, "userinfo"), account(t, "userinfo")
	l := newBrowser(t).signIn(c, u, request{})
	for _, how := range []string{"get", "post-header", "post-body"} {
		t.Run(how, func(t *testing.T) {
			info := userinfo(t, how, l.token.AccessToken)
			if info.str("sub") != l.idToken.Subject {
				t.Errorf("userinfo sub = %q, want the id_token's %q", info.str("sub"), l.idToken.Subject)
			}
		})
	}
	t.Run("invalid token", func(t *testing.T) {
		r := userinfoResponse(t, "get", "not-a-token")
		if r.Status != http.StatusUnauthorized {
			t.Errorf("status %d, want 401: %s", r.Status, r)
		}
		if h := r.Header.Get("WWW-Authenticate"); !strings.Contains(h, "invalid_token") {
			t.Errorf("WWW-Authenticate = %q, want error=\"invalid_token\" (RFC 6750 §3.1)", h)
		}
	})
}

// userinfo calls the UserInfo endpoint and returns its successful answer.
// how is "get" (go-oidc, Bearer header), "post-header" or "post-body".
func userinfo(t testing.TB, how, token string) *apiResponse {
	t.Helper()
	if how == "get" {
		info, err := srv.provider.UserInfo(srv.ctx(t), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token, TokenType: "Bearer"}))
		if err != nil {
			t.Fatalf("userinfo GET: %v", err)
		}
		var m map[string]any
		if err := info.Claims(&m); err != nil {
			t.Fatal(err)
		}
		return &apiResponse{Status: http.StatusOK, JSON: m}
	}
	r := userinfoResponse(t, how, token)
	if r.Status != http.StatusOK || r.JSON == nil {
		t.Fatalf("userinfo %s: want 200 JSON, got %s (Content-Type %q)", how, r, r.Header.Get("Content-Type"))
	}
	return r
}

// userinfoResponse calls the UserInfo endpoint by hand.
func userinfoResponse(t testing.TB, how, token string) *apiResponse {
	t.Helper()
	ep := srv.endpoint(t, "userinfo_endpoint")
	var req *http.Request
	var err error
	switch how {
	case "get":
		req, err = http.NewRequestWithContext(t.Context(), http.MethodGet, ep, nil)
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+token)
		}
	case "post-header":
		req = newFormRequest(t, ep, url.Values{})
		req.Header.Set("Authorization", "Bearer "+token)
	case "post-body":
		req = newFormRequest(t, ep, url.Values{"access_token": {token}})
	default:
		t.Fatalf("unknown userinfo method %q", how)
	}
	if err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}

// TestOIDCCScope mirrors oidcc-scope-profile, -email and
// oidcc-alternate-happy-flow: UserInfo releases the claims of the scopes
// granted, and only those.
func TestOIDCCScope(t *testing.T) {
	t.Parallel()
	c, u := client(t, "scope"), account(t, "scope")
	b := newBrowser(t)
	tests := []struct {
		name    string
		scopes  []string
		present []string
		absent  []string
	}{
		{"openid", []string{"openid"}, []string{"sub"}, []string{"email", "name"}},
		{"email", []string{"openid", "email"}, []string{"email", "email_verified"}, []string{"name"}},
		{"profile", []string{"openid", "profile"}, []string{"name"}, []string{"email"}},
		{"profile and email", []string{"openid", "profile", "email"}, []string{"name", "email", "email_verified"}, nil},
		{"any order", []string{"email", "profile", "openid"}, []string{"name", "email"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.t = t
			l := b.signIn(c, u, request{scopes: tt.scopes})
			info := userinfo(t, "get", l.token.AccessToken).JSON
			for _, k := range tt.present {
				if _, ok := info[k]; !ok {
					t.Errorf("userinfo for scope %q lacks %s: %v", strings.Join(tt.scopes, " "), k, info)
				}
			}
			for _, k := range tt.absent {
				if v, ok := info[k]; ok {
					t.Errorf("userinfo for scope %q releases %s = %v", strings.Join(tt.scopes, " "), k, v)
				}
			}
			if v, ok := info["email"]; ok && v != u.Email {
				t.Errorf("email = %v, want %q", v, u.Email)
			}
			if v, ok := info["email_verified"]; ok {
				if _, isBool := v.(bool); !isBool {
					t.Errorf("email_verified = %#v, want a JSON boolean", v)
				}
			}
			if v, ok := info["name"]; ok && v != u.Name {
				t.Errorf("name = %v, want %q", v, u.Name)
			}
		})
	}
}

// TestOIDCCEnsureRequestWithoutNonceSucceedsForCodeFlow mirrors the module
// of that name: nonce is optional in the code flow, and absent from the
// id_token when not sent.
func TestOIDCCEnsureRequestWithoutNonceSucceedsForCodeFlow(t *testing.T) {
	t.Parallel()
	c, u := client(t, "no-nonce"), account(t, "no-nonce")
	l := newBrowser(t).signIn(c, u, request{noNonce: true}) // checks the claim is absent
	if l.idToken.Nonce != "" {
		t.Errorf("nonce = %q, want none", l.idToken.Nonce)
	}
}

// TestOIDCCFormPost repeats the code flow with response_mode=form_post
// (the Form Post plan): the response is an auto-posting form to the
// redirect_uri, nothing travels in a query string.
func TestOIDCCFormPost(t *testing.T) {
	t.Parallel()
	c, u := client(t, "form-post"), account(t, "form-post")
	formPost := url.Values{"response_mode": {"form_post"}}
	tests := []struct {
		name      string
		user      *user
		extra     url.Values
		wantError string
	}{
		{"oidcc-prompt-none-not-logged-in", nil, url.Values{"response_mode": {"form_post"}, "prompt": {"none"}}, "login_required"},
		{"oidcc-server", u, formPost, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t)
			z := b.authorize(c, request{extra: tt.extra}, actor{user: tt.user})
			if z.Mode != "form_post" {
				t.Fatalf("want a form posting to the client, got %s", z.describe())
			}
			var f *form
			for _, pf := range z.Page.Forms {
				if pf.Action.String() == z.Target.String() {
					f = pf
				}
			}
			if !strings.EqualFold(f.Method, http.MethodPost) {
				t.Errorf("form method %q, want post", f.Method)
			}
			if f.Action.String() != c.RedirectURI {
				t.Errorf("form action %q, want exactly the redirect_uri %q", f.Action, c.RedirectURI)
			}
			for _, name := range []string{"state", "iss"} {
				if f.Types[name] != "hidden" {
					t.Errorf("%s is not a hidden input of the form (types %v)", name, f.Types)
				}
			}
			if tt.wantError != "" {
				if e := z.authError(t, c); e != tt.wantError {
					t.Errorf("error = %q, want %q", e, tt.wantError)
				}
				return
			}
			if f.Types["code"] != "hidden" {
				t.Errorf("code is not a hidden input of the form (types %v)", f.Types)
			}
			code := z.code(t, c)
			tok := c.exchange(t, code, z.verifier)
			c.idToken(t, tok, idWant{nonce: z.nonce, sub: u.Sub})
		})
	}
}

// TestOIDCCEnsurePostRequestSucceeds mirrors the module of that name: the
// authorization endpoint accepts a form POST.
func TestOIDCCEnsurePostRequestSucceeds(t *testing.T) {
	t.Parallel()
	c, u := client(t, "post-authz"), account(t, "post-authz")
	newBrowser(t).signIn(c, u, request{post: true})
}

// TestOIDCCEnsureRequestWithUnknownParameterSucceeds mirrors that module
// and its siblings that send optional parameters the server may ignore but
// must accept. After one sign-in, each request rides the SSO session.
func TestOIDCCEnsureRequestWithUnknownParameterSucceeds(t *testing.T) {
	t.Parallel()
	c, u := client(t, "params"), account(t, "params")
	b := newBrowser(t)
	first := b.signIn(c, u, request{})
	rawIDToken, _ := first.token.Extra("id_token").(string)
	claims, _ := json.Marshal(map[string]any{
		"id_token": map[string]any{"email": map[string]any{"essential": true}},
		"userinfo": map[string]any{"name": nil},
	})
	tests := []struct {
		module string
		extra  url.Values
	}{
		{"oidcc-ensure-request-with-unknown-parameter-succeeds", url.Values{"extra": {"foobar"}, "x-atrium-conformance": {"1"}}},
		{"oidcc-display-page", url.Values{"display": {"page"}}},
		{"oidcc-display-popup", url.Values{"display": {"popup"}}},
		{"oidcc-ui-locales", url.Values{"ui_locales": {"se fr-CA"}}},
		{"oidcc-claims-locales", url.Values{"claims_locales": {"se fr-CA"}}},
		{"oidcc-login-hint", url.Values{"login_hint": {u.Email}}},
		{"oidcc-ensure-request-with-acr-values-succeeds", url.Values{"acr_values": {"1 2"}}},
		{"oidcc-claims-essential", url.Values{"claims": {string(claims)}}},
		{"oidcc-id-token-hint", url.Values{"prompt": {"none"}, "id_token_hint": {rawIDToken}}},
	}
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			b.t = t
			l := b.signIn(c, u, request{extra: tt.extra})
			if l.Logins != 0 || l.Consents != 0 {
				t.Errorf("the SSO session and granted consent should suffice, got %d login and %d consent pages", l.Logins, l.Consents)
			}
		})
	}
}

// TestClientCreatedWhileServing registers a client and a user with the
// CLI while the server runs on the same data folder, and signs in.
func TestClientCreatedWhileServing(t *testing.T) {
	t.Parallel()
	name := "live-" + randomString(4)
	c, err := srv.createClient(t.TempDir(), name, clientSpec{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := srv.createUser(name)
	if err != nil {
		t.Fatal(err)
	}
	l := newBrowser(t).signIn(c, u, request{scopes: []string{"openid", "email"}})
	if got := userinfo(t, "post-header", l.token.AccessToken).str("email"); got != u.Email {
		t.Errorf("userinfo email = %q, want %q", got, u.Email)
	}
	if !slices.Contains(l.idToken.Audience, c.ID) {
		t.Errorf("aud = %v, want %q", l.idToken.Audience, c.ID)
	}
}
