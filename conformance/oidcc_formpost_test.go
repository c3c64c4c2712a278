package conformance

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// formPost is the response mode of the Form Post plan.
const formPost = "form_post"

// TestOIDCCFormPostPlan mirrors the Form Post plan
// (oidcc-formpost-basic-certification-test-plan): the Basic plan's modules
// with response_mode=form_post, one subtest named after each. Where the
// request is refused before a response mode applies (an error page), the
// subtest checks the page is all the browser gets.
// TestOIDCCFormPost checks the auto-posting form itself.
func TestOIDCCFormPostPlan(t *testing.T) {
	t.Parallel()
	fp := url.Values{"response_mode": {formPost}}
	modules := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"oidcc-server", func(t *testing.T) {
			t.Parallel()
			c, u := basicClient(t, "fp-server", nil)
			_, l := modeSignIn(t, c, u, formPost, request{})
			if got := userinfo(t, "get", l.token.AccessToken).str("sub"); got != l.idToken.Subject {
				t.Errorf("userinfo sub = %q, want %q", got, l.idToken.Subject)
			}
		}},
		{"oidcc-response-type-missing", func(t *testing.T) {
			t.Parallel()
			c := registerRP(t, "fp-response-type", map[string]any{})
			v := codeParams(c)
			v.Del("response_type")
			v.Set("response_mode", formPost)
			b := newBrowser(t)
			z := &authorization{state: v.Get("state")}
			z.outcome = b.authorizeFrom(b.get(srv.endpoint(t, "authorization_endpoint")+"?"+v.Encode()), actor{})
			if z.Mode == "" {
				if z.Page.Status < 400 {
					t.Errorf("want an error, got %s", z.describe())
				}
				return
			}
			if e := z.authError(t, c); e != "invalid_request" && e != "unsupported_response_type" {
				t.Errorf("error = %q, want invalid_request or unsupported_response_type", e)
			}
		}},
		{"oidcc-idtoken-signature", func(t *testing.T) { idTokenSignature(t, formPost) }},
		{"oidcc-userinfo-get", func(t *testing.T) { userinfoModule(t, formPost, "get") }},
		{"oidcc-userinfo-post-header", func(t *testing.T) { userinfoModule(t, formPost, "post-header") }},
		{"oidcc-userinfo-post-body", func(t *testing.T) { userinfoModule(t, formPost, "post-body") }},
		{"oidcc-ensure-request-without-nonce-succeeds-for-code-flow", func(t *testing.T) {
			t.Parallel()
			c, u := basicClient(t, "fp-no-nonce", nil)
			modeSignIn(t, c, u, formPost, request{noNonce: true}) // checks nonce is absent
		}},
		{"oidcc-scope-profile", func(t *testing.T) { scopeModule(t, formPost, "fp-scope-profile", []string{"openid", "profile"}) }},
		{"oidcc-scope-email", func(t *testing.T) { scopeModule(t, formPost, "fp-scope-email", []string{"openid", "email"}) }},
		{"oidcc-scope-address", func(t *testing.T) { scopeModule(t, formPost, "fp-scope-address", []string{"openid", "address"}) }},
		{"oidcc-scope-phone", func(t *testing.T) { scopeModule(t, formPost, "fp-scope-phone", []string{"openid", "phone"}) }},
		{"oidcc-scope-all", func(t *testing.T) {
			scopeModule(t, formPost, "fp-scope-all", []string{"openid", "profile", "email", "address", "phone"})
		}},
		{"oidcc-ensure-other-scope-order-succeeds", func(t *testing.T) { scopeModule(t, formPost, "fp-scope-order", []string{"email", "openid"}) }},
		{"oidcc-display-page", func(t *testing.T) { displayModule(t, formPost, "page") }},
		{"oidcc-display-popup", func(t *testing.T) { displayModule(t, formPost, "popup") }},
		{"oidcc-prompt-login", func(t *testing.T) {
			t.Parallel()
			c, u := basicClient(t, "fp-prompt-login", nil)
			b, first := modeSignIn(t, c, u, formPost, request{extra: url.Values{"max_age": {"3600"}}})
			time.Sleep(1100 * time.Millisecond) // auth_time has a resolution of one second
			again := b.signIn(c, u, request{extra: withMode(formPost, url.Values{"max_age": {"3600"}, "prompt": {"login"}})})
			wantMode(t, again.authorization, formPost)
			if again.Logins != 1 {
				t.Errorf("prompt=login showed %d login forms, want 1", again.Logins)
			}
			if t1, t2 := first.authTime(t), again.authTime(t); t2 <= t1 {
				t.Errorf("auth_time after prompt=login = %d, not later than %d", t2, t1)
			}
		}},
		{"oidcc-prompt-none-not-logged-in", func(t *testing.T) {
			t.Parallel()
			c := registerRP(t, "fp-prompt-none-out", map[string]any{})
			z := newBrowser(t).authorize(c, request{extra: withMode(formPost, url.Values{"prompt": {"none"}})}, actor{})
			wantMode(t, z, formPost)
			if e := z.authError(t, c); e != "login_required" {
				t.Errorf("error = %q, want login_required", e)
			}
		}},
		{"oidcc-prompt-none-logged-in", func(t *testing.T) {
			t.Parallel()
			parameterModule(t, formPost, "fp-prompt-none-in", func(*login, *user) url.Values {
				return url.Values{"prompt": {"none"}}
			})
		}},
		{"oidcc-max-age-1", func(t *testing.T) {
			t.Parallel()
			c, u := basicClient(t, "fp-max-age-1", nil)
			maxAge := url.Values{"max_age": {"1"}}
			b, first := modeSignIn(t, c, u, formPost, request{extra: maxAge})
			time.Sleep(2 * time.Second)
			again := b.signIn(c, u, request{extra: withMode(formPost, maxAge)})
			if again.Logins != 1 {
				t.Errorf("max_age=1 after 2 s showed %d login forms, want 1", again.Logins)
			}
			if t1, t2 := first.authTime(t), again.authTime(t); t2 <= t1 {
				t.Errorf("auth_time after re-authentication = %d, not later than %d", t2, t1)
			}
		}},
		{"oidcc-max-age-10000", func(t *testing.T) {
			t.Parallel()
			var first *login
			again := parameterModule(t, formPost, "fp-max-age-10000", func(f *login, _ *user) url.Values {
				first = f
				return url.Values{"max_age": {"10000"}}
			})
			if at, ok := first.claims["auth_time"].(float64); ok && int64(at) != again.authTime(t) {
				t.Errorf("auth_time = %d, want the original %d", again.authTime(t), int64(at))
			}
		}},
		{"oidcc-ensure-request-with-unknown-parameter-succeeds", func(t *testing.T) {
			t.Parallel()
			parameterModule(t, formPost, "fp-unknown-param", func(*login, *user) url.Values {
				return url.Values{"extra": {"foobar"}}
			})
		}},
		{"oidcc-id-token-hint", func(t *testing.T) { idTokenHintModule(t, formPost) }},
		{"oidcc-login-hint", func(t *testing.T) { loginHintModule(t, formPost) }},
		{"oidcc-ui-locales", func(t *testing.T) { uiLocalesModule(t, formPost) }},
		{"oidcc-claims-locales", func(t *testing.T) { claimsLocalesModule(t, formPost) }},
		{"oidcc-ensure-request-with-acr-values-succeeds", func(t *testing.T) { acrValuesModule(t, formPost) }},
		{"oidcc-codereuse", func(t *testing.T) {
			t.Parallel()
			c, u := basicClient(t, "fp-codereuse", nil)
			z := newBrowser(t).authorize(c, request{extra: fp}, actor{user: u})
			wantMode(t, z, formPost)
			code := z.code(t, c)
			tok := c.exchange(t, code, z.verifier)
			r := c.post(t, srv.endpoint(t, "token_endpoint"), url.Values{
				"grant_type": {grantCode}, "code": {code}, "redirect_uri": {c.RedirectURI}, "code_verifier": {z.verifier},
			})
			wantOAuthError(t, r, status400, "invalid_grant")
			if r := userinfoResponse(t, "get", tok.AccessToken); r.Status != http.StatusUnauthorized {
				t.Errorf("userinfo with the access token of the replayed code: %s, want 401", r)
			}
		}},
		{"oidcc-codereuse-30seconds", func(t *testing.T) { codeReuse30Module(t, formPost) }},
		{"oidcc-ensure-registered-redirect-uri", func(t *testing.T) {
			t.Parallel()
			c := registerRP(t, "fp-registered-redirect", map[string]any{})
			v := codeParams(c)
			v.Set("redirect_uri", "https://attacker.rp.test/callback")
			v.Set("response_mode", formPost)
			wantErrorPage(t, rawAuthorize(t, v))
		}},
		{"oidcc-ensure-post-request-succeeds", func(t *testing.T) {
			t.Parallel()
			c, u := basicClient(t, "fp-post-request", nil)
			modeSignIn(t, c, u, formPost, request{post: true})
		}},
		{"oidcc-server-client-secret-post", func(t *testing.T) { secretPostModule(t, formPost) }},
		{"oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported", func(t *testing.T) {
			requestURIModule(t, "fp-request-uri", false, formPost)
		}},
		{"oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported", func(t *testing.T) {
			t.Parallel()
			kc := newKeyClient(t, "fp-unsigned-request", false, nil)
			unsignedRequestObjectModule(t, kc.rp, dynamicUser(t, "fp-unsigned-request"), formPost)
		}},
		{"oidcc-claims-essential", func(t *testing.T) { claimsEssentialModule(t, formPost) }},
		{"oidcc-ensure-request-object-with-redirect-uri", func(t *testing.T) {
			t.Parallel()
			kc := newKeyClient(t, "fp-request-object", false, nil)
			u := dynamicUser(t, "fp-request-object")
			form, z := parRequest(kc.rp)
			form.Set("response_mode", formPost)
			q := url.Values{"client_id": {kc.ID}, "response_type": {"code"}, "scope": {"openid"},
				"redirect_uri": {"https://attacker.rp.test/callback"},
				"request":      {kc.signedRequest(t, requestClaims(kc.rp, form), true)}}
			b := newBrowser(t)
			z.outcome = b.authorizeFrom(b.get(srv.endpoint(t, "authorization_endpoint")+"?"+q.Encode()), actor{user: u})
			wantMode(t, z, formPost)
			z.finish(t, kc.rp, u)
		}},
		{"oidcc-refresh-token", func(t *testing.T) {
			t.Parallel()
			c, u := basicClient(t, "fp-refresh", nil)
			other := registerRP(t, "fp-refresh-other", map[string]any{})
			_, l := modeSignIn(t, c, u, formPost, request{scopes: []string{"openid", "offline_access"}, extra: url.Values{"prompt": {"consent"}}})
			if l.token.RefreshToken == "" {
				t.Fatal("no refresh_token for scope offline_access")
			}
			wantOAuthError(t, other.refresh(t, l.token.RefreshToken), status400, "invalid_grant")
			r := c.refresh(t, l.token.RefreshToken)
			if r.Status != http.StatusOK {
				t.Fatalf("refresh: %s", r)
			}
			tok := tokenOf(t, r)
			c.idToken(t, tok, idWant{nonce: l.nonce, sub: u.Sub, refreshed: true})
		}},
		{"oidcc-ensure-request-with-valid-pkce-succeeds", func(t *testing.T) { validPKCEModule(t, formPost) }},
	}
	for _, m := range modules {
		t.Run(m.name, m.run)
	}
}
