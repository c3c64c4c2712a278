package conformance

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

var (
	status400      = []int{http.StatusBadRequest}
	status400or401 = []int{http.StatusBadRequest, http.StatusUnauthorized}
	status401      = []int{http.StatusUnauthorized}
)

// TestOIDCCCodeReuse mirrors oidcc-codereuse: a code works once; replaying
// it fails with invalid_grant and revokes what its first use issued. The
// first exchange comes first, the replay second.
func TestOIDCCCodeReuse(t *testing.T) {
	t.Parallel()
	c, u := client(t, "codereuse"), account(t, "codereuse")
	b := newBrowser(t)
	z := b.authorize(c, request{scopes: []string{"openid", "email", "offline_access"}}, actor{user: u})
	code := z.code(t, c)
	tok := c.exchange(t, code, z.verifier)
	c.idToken(t, tok, idWant{nonce: z.nonce, sub: u.Sub})
	if !c.active(t, tok.AccessToken) {
		t.Fatal("the access token is not active right after the exchange")
	}

	r := c.post(t, srv.endpoint(t, "token_endpoint"), url.Values{
		"grant_type": {grantCode}, "code": {code}, "redirect_uri": {c.RedirectURI}, "code_verifier": {z.verifier},
	})
	wantOAuthError(t, r, status400, "invalid_grant")

	if c.active(t, tok.AccessToken) {
		t.Error("the access token issued for the code is still active after the code was replayed")
	}
	if r := userinfoResponse(t, "get", tok.AccessToken); r.Status != http.StatusUnauthorized {
		t.Errorf("userinfo with the access token issued for the replayed code: %s, want 401", r)
	}
	if tok.RefreshToken == "" {
		t.Error("no refresh_token for scope offline_access")
	} else if c.active(t, tok.RefreshToken) {
		t.Error("the refresh token issued for the code is still active after the code was replayed")
	}
}

// TestPKCEVerifier checks the token endpoint's side of PKCE (RFC 7636
// §4.6): a code bound to a challenge needs the matching verifier.
func TestPKCEVerifier(t *testing.T) {
	t.Parallel()
	c, u := client(t, "pkce"), account(t, "pkce")
	b := newBrowser(t)
	tests := []struct {
		name     string
		verifier func(good string) string // "" sends no code_verifier
		codes    []string
	}{
		{"wrong verifier", func(string) string { return oauth2.GenerateVerifier() }, []string{"invalid_grant"}},
		{"verifier of another case", func(g string) string { return strings.ToUpper(g[:10]) + g[10:] }, []string{"invalid_grant"}},
		{"no verifier", func(string) string { return "" }, []string{"invalid_grant", "invalid_request"}},
		{"challenge sent as verifier", func(g string) string { return oauth2.S256ChallengeFromVerifier(g) }, []string{"invalid_grant"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.t = t
			z := b.authorize(c, request{}, actor{user: u})
			code := z.code(t, c)
			form := url.Values{"grant_type": {grantCode}, "code": {code}, "redirect_uri": {c.RedirectURI}}
			if v := tt.verifier(z.verifier); v != "" {
				if v == z.verifier {
					t.Fatal("test bug: the verifier is the right one")
				}
				form.Set("code_verifier", v)
			}
			wantOAuthError(t, c.post(t, srv.endpoint(t, "token_endpoint"), form), status400, tt.codes...)
		})
	}
}

// TestPKCEChallenge checks the authorization endpoint's side of PKCE: a
// public client must send an S256 challenge; plain is refused.
func TestPKCEChallenge(t *testing.T) {
	t.Parallel()
	c, u := client(t, "pkce-public"), account(t, "pkce")
	verifier := oauth2.GenerateVerifier()
	tests := []struct {
		name  string
		extra url.Values
	}{
		{"no code_challenge from a public client", nil},
		{"code_challenge_method plain", url.Values{"code_challenge": {verifier}, "code_challenge_method": {"plain"}}},
		{"code_challenge without a method (plain by default)", url.Values{"code_challenge": {verifier}}},
		{"unknown code_challenge_method", url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S512"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			z := newBrowser(t).authorize(c, request{noPKCE: true, extra: tt.extra}, actor{user: u})
			wantRefused(t, z, c, "invalid_request")
		})
	}
}

// wantRefused checks an authorization request was refused: either an
// error response to the client with the given error, or an error page of
// the server. Never a code.
func wantRefused(t testing.TB, z *authorization, c *rp, wantErr string) {
	t.Helper()
	if z.Mode == "" {
		if z.Page.Status < 400 {
			t.Errorf("want an error, got %s", z.describe())
		}
		return
	}
	if e := z.authError(t, c); e != wantErr {
		t.Errorf("error = %q (%s), want %q", e, z.Params.Get("error_description"), wantErr)
	}
}

// TestInvalidClient checks client authentication failures at the token
// endpoint (RFC 6749 §5.2): invalid_client, and 401 with a challenge when
// the client used the Authorization header.
func TestInvalidClient(t *testing.T) {
	t.Parallel()
	basic, post := client(t, "badsecret-basic"), client(t, "badsecret-post")
	form := url.Values{"grant_type": {grantCode}, "code": {"bogus-code"}, "redirect_uri": {basic.RedirectURI}}
	tests := []struct {
		name     string
		user     string // Basic credentials, already encoded; "" sends no header
		pass     string
		body     url.Values
		statuses []int
	}{
		{"client_secret_basic with a wrong secret", url.QueryEscape(basic.ID), "wrong-secret", nil, status401},
		{"client_secret_basic with an empty secret", url.QueryEscape(basic.ID), "", nil, status401},
		{"client_secret_basic with another client's secret", url.QueryEscape(basic.ID), url.QueryEscape(post.Secret), nil, status401},
		{"client_secret_basic of an unknown client", "no-such-client", "secret", nil, status401},
		{"client_secret_post with a wrong secret", "", "", url.Values{"client_id": {post.ID}, "client_secret": {"wrong-secret"}}, status400or401},
		{"confidential client sending no secret", "", "", url.Values{"client_id": {basic.ID}}, status400or401},
		{"client_secret_post of an unknown client", "", "", url.Values{"client_id": {"no-such-client"}, "client_secret": {"x"}}, status400or401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := cloneValues(form)
			for k, v := range tt.body {
				f[k] = v
			}
			req := newFormRequest(t, srv.endpoint(t, "token_endpoint"), f)
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			r := send(t, req)
			wantOAuthError(t, r, tt.statuses, "invalid_client")
			if tt.user != "" && r.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 to Basic credentials without a WWW-Authenticate header (RFC 6749 §5.2)")
			}
		})
	}
}

// TestClientSecretBasicEncoding sends Basic credentials with characters
// RFC 6749 §2.3.1 requires to be form-urlencoded first, encoded the way
// x/oauth2 does and the way stricter clients do.
func TestClientSecretBasicEncoding(t *testing.T) {
	t.Parallel()
	c := client(t, "cc-encoded")
	t.Run("x/oauth2", func(t *testing.T) {
		cfg := clientcredentials.Config{
			ClientID: c.ID, ClientSecret: c.Secret, TokenURL: srv.endpoint(t, "token_endpoint"),
			Scopes: []string{"api.read"}, AuthStyle: oauth2.AuthStyleInHeader,
		}
		tok, err := cfg.Token(srv.ctx(t))
		if err != nil {
			t.Fatalf("client_credentials with id %q and secret %q: %v", c.ID, c.Secret, err)
		}
		checkTokenResponse(t, tok)
	})
	t.Run("every non-alphanumeric character encoded", func(t *testing.T) {
		req := newFormRequest(t, srv.endpoint(t, "token_endpoint"), url.Values{"grant_type": {grantClientCr}, "scope": {"api.read"}})
		req.SetBasicAuth(encodeAll(c.ID), encodeAll(c.Secret))
		if r := send(t, req); r.Status != http.StatusOK {
			t.Errorf("Basic %s:%s: %s", encodeAll(c.ID), encodeAll(c.Secret), r)
		}
	})
}

// encodeAll percent-encodes every byte but letters and digits, as some
// strict clients do (a-b becomes a%2Db).
func encodeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' {
			b.WriteByte(ch)
			continue
		}
		b.WriteString("%" + strings.ToUpper(hexByte(ch)))
	}
	return b.String()
}

func hexByte(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// TestPrivateKeyJWT authenticates a client with a JWT signed by its key
// (RFC 7523, OpenID Connect Core §9), and refuses bad assertions.
func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	c, u := client(t, "pkjwt"), account(t, "pkjwt")
	tokenURL := srv.endpoint(t, "token_endpoint")

	t.Run("code flow", func(t *testing.T) {
		newBrowser(t).signIn(c, u, request{})
	})
	t.Run("client_credentials", func(t *testing.T) {
		tok := c.tokenOK(t, url.Values{"grant_type": {grantClientCr}, "scope": {"api.read"}})
		if tok.RefreshToken != "" {
			t.Error("client_credentials issued a refresh token (RFC 6749 §4.4.3)")
		}
	})

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	stranger := &rp{ID: c.ID, key: other, kid: c.kid}
	now := time.Now()
	with := func(change func(m map[string]any)) map[string]any {
		m := assertionClaims(c.ID, tokenURL)
		change(m)
		return m
	}
	reused := c.assertion(t, assertionClaims(c.ID, tokenURL))
	tests := []struct {
		name      string
		assertion string
		typ       string // client_assertion_type; default RFC 7523's
		codes     []string
	}{
		{"not a JWT", "not-a-jwt", "", []string{"invalid_client"}},
		{"signed by another key", stranger.assertion(t, assertionClaims(c.ID, tokenURL)), "", []string{"invalid_client"}},
		{"unsigned (alg none)", unsigned(assertionClaims(c.ID, tokenURL)), "", []string{"invalid_client"}},
		{"wrong audience", c.assertion(t, with(func(m map[string]any) { m["aud"] = "https://elsewhere.test/token" })), "", []string{"invalid_client"}},
		{"expired", c.assertion(t, with(func(m map[string]any) {
			m["iat"], m["exp"] = now.Add(-10*time.Minute).Unix(), now.Add(-5*time.Minute).Unix()
		})), "", []string{"invalid_client"}},
		{"iss and sub of another client", c.assertion(t, with(func(m map[string]any) { m["iss"], m["sub"] = "conf-pkce", "conf-pkce" })), "", []string{"invalid_client"}},
		{"no jti", c.assertion(t, with(func(m map[string]any) { delete(m, "jti") })), "", []string{"invalid_client"}},
		{"wrong assertion type", c.assertion(t, assertionClaims(c.ID, tokenURL)), "urn:ietf:params:oauth:client-assertion-type:saml2-bearer", []string{"invalid_client", "invalid_request"}},
		{"replayed assertion", reused, "", []string{"invalid_client"}},
	}
	// The first use of the assertion replayed below must succeed.
	if r := postAssertion(t, c, reused, "", url.Values{"grant_type": {grantClientCr}, "scope": {"api.read"}}); r.Status != http.StatusOK {
		t.Fatalf("first use of a valid assertion: %s", r)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postAssertion(t, c, tt.assertion, tt.typ, url.Values{"grant_type": {grantClientCr}, "scope": {"api.read"}})
			wantOAuthError(t, r, status400or401, tt.codes...)
		})
	}
}

// TestOIDCCEnsureClientAssertionWithIssAudSucceeds mirrors the module of
// that name: a client assertion whose aud is the issuer is accepted.
func TestOIDCCEnsureClientAssertionWithIssAudSucceeds(t *testing.T) {
	t.Parallel()
	c := client(t, "pkjwt")
	a := c.assertion(t, assertionClaims(c.ID, srv.issuer))
	if r := postAssertion(t, c, a, "", url.Values{"grant_type": {grantClientCr}, "scope": {"api.read"}}); r.Status != http.StatusOK {
		t.Errorf("assertion with aud = issuer: %s", r)
	}
}

// postAssertion posts to the token endpoint with a given client assertion.
func postAssertion(t testing.TB, c *rp, assertion, typ string, form url.Values) *apiResponse {
	t.Helper()
	if typ == "" {
		typ = assertionType
	}
	f := cloneValues(form)
	f.Set("client_id", c.ID)
	f.Set("client_assertion_type", typ)
	f.Set("client_assertion", assertion)
	return send(t, newFormRequest(t, srv.endpoint(t, "token_endpoint"), f))
}

// unsigned returns a JWT with alg none.
func unsigned(claims map[string]any) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	p, _ := json.Marshal(claims)
	return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "."
}

// TestOIDCCRefreshToken mirrors oidcc-refresh-token: refresh works, rotates
// the refresh token, keeps the subject, and is bound to its client.
func TestOIDCCRefreshToken(t *testing.T) {
	t.Parallel()
	c, u := client(t, "refresh"), account(t, "refresh")
	b := newBrowser(t)
	scopes := []string{"openid", "email", "offline_access"}

	t.Run("rotation", func(t *testing.T) {
		b.t = t
		l := b.signIn(c, u, request{scopes: scopes})
		rt1 := l.token.RefreshToken
		if rt1 == "" {
			t.Fatal("no refresh_token for scope offline_access")
		}
		r := c.refresh(t, rt1)
		if r.Status != http.StatusOK {
			t.Fatalf("refresh: %s", r)
		}
		tok2 := tokenOf(t, r)
		checkTokenResponse(t, tok2)
		rt2 := tok2.RefreshToken
		switch {
		case rt2 == "":
			t.Fatal("refresh response has no new refresh_token")
		case rt2 == rt1:
			t.Fatal("refresh returned the same refresh_token: no rotation")
		case tok2.AccessToken == l.token.AccessToken:
			t.Error("refresh returned the same access_token")
		}
		if _, ok := r.JSON["id_token"]; ok {
			idt, claims := c.idToken(t, tok2, idWant{nonce: l.idToken.Nonce, sub: u.Sub, refreshed: true})
			if idt.Subject != l.idToken.Subject {
				t.Errorf("refreshed id_token sub = %q, want %q", idt.Subject, l.idToken.Subject)
			}
			if at, ok := l.claims["auth_time"]; ok && claims["auth_time"] != at {
				t.Errorf("refreshed id_token auth_time = %v, want the original %v (OIDC Core §12.2)", claims["auth_time"], at)
			}
		}
		if got := userinfo(t, "get", tok2.AccessToken).str("sub"); got != u.Sub {
			t.Errorf("userinfo sub with the refreshed access token = %q, want %q", got, u.Sub)
		}

		r = c.refresh(t, rt2)
		if r.Status != http.StatusOK {
			t.Fatalf("refresh with the rotated refresh token: %s", r)
		}
		wantOAuthError(t, c.refresh(t, rt1), status400, "invalid_grant")
	})

	t.Run("bound to its client", func(t *testing.T) {
		b.t = t
		l := b.signIn(c, u, request{scopes: scopes})
		if l.token.RefreshToken == "" {
			t.Fatal("no refresh_token for scope offline_access")
		}
		thief := client(t, "refresh-other")
		wantOAuthError(t, thief.refresh(t, l.token.RefreshToken), status400or401, "invalid_grant", "invalid_client", "unauthorized_client")
	})
}

// TestRefreshTokenReuseDetection replays a spent refresh token: the server
// must treat it as theft and revoke the whole grant, so the newest refresh
// and access tokens stop working.
func TestRefreshTokenReuseDetection(t *testing.T) {
	t.Parallel()
	c, u := client(t, "refresh-reuse"), account(t, "refresh-reuse")
	l := newBrowser(t).signIn(c, u, request{scopes: []string{"openid", "offline_access"}})
	rt1 := l.token.RefreshToken
	if rt1 == "" {
		t.Fatal("no refresh_token for scope offline_access")
	}
	r := c.refresh(t, rt1)
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %s", r)
	}
	tok2 := tokenOf(t, r)
	if !c.active(t, tok2.AccessToken) {
		t.Fatal("the refreshed access token is not active")
	}

	wantOAuthError(t, c.refresh(t, rt1), status400, "invalid_grant")

	if c.active(t, tok2.AccessToken) {
		t.Error("the newest access token is still active after its grant's spent refresh token was replayed")
	}
	if r := userinfoResponse(t, "get", tok2.AccessToken); r.Status != http.StatusUnauthorized {
		t.Errorf("userinfo with the newest access token after the replay: %s, want 401", r)
	}
	if tok2.RefreshToken != "" {
		wantOAuthError(t, c.refresh(t, tok2.RefreshToken), status400, "invalid_grant")
	}
}

// TestClientCredentials checks the client_credentials grant (RFC 6749
// §4.4).
func TestClientCredentials(t *testing.T) {
	t.Parallel()
	c := client(t, "cc")
	t.Run("granted", func(t *testing.T) {
		cfg := clientcredentials.Config{
			ClientID: c.ID, ClientSecret: c.Secret, TokenURL: srv.endpoint(t, "token_endpoint"),
			Scopes: []string{"api.read"}, AuthStyle: oauth2.AuthStyleInHeader,
		}
		tok, err := cfg.Token(srv.ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		checkTokenResponse(t, tok)
		if tok.RefreshToken != "" {
			t.Error("client_credentials issued a refresh token (RFC 6749 §4.4.3)")
		}
		if tok.Extra("id_token") != nil {
			t.Error("client_credentials issued an id_token")
		}
		info := c.introspect(t, tok.AccessToken)
		if info.JSON["active"] != true {
			t.Fatalf("introspection: %s", info)
		}
		if got := info.str("client_id"); got != c.ID {
			t.Errorf("introspection client_id = %q, want %q", got, c.ID)
		}
		if got := strings.Fields(info.str("scope")); !containsAll(got, "api.read") {
			t.Errorf("introspection scope = %q, want api.read", info.str("scope"))
		}
	})
	t.Run("scope not allowed", func(t *testing.T) {
		r := c.post(t, srv.endpoint(t, "token_endpoint"), url.Values{"grant_type": {grantClientCr}, "scope": {"api.admin"}})
		wantOAuthError(t, r, status400, "invalid_scope")
	})
	t.Run("grant not registered", func(t *testing.T) {
		other := client(t, "server-basic")
		r := other.post(t, srv.endpoint(t, "token_endpoint"), url.Values{"grant_type": {grantClientCr}})
		wantOAuthError(t, r, status400or401, "unauthorized_client")
	})
}

// TestIntrospection checks RFC 7662 token introspection.
func TestIntrospection(t *testing.T) {
	t.Parallel()
	c, u := client(t, "introspect"), account(t, "introspect")
	l := newBrowser(t).signIn(c, u, request{scopes: []string{"openid", "email", "offline_access"}})

	t.Run("access token", func(t *testing.T) {
		r := c.introspect(t, l.token.AccessToken)
		if r.JSON["active"] != true {
			t.Fatalf("active = %v, want true: %s", r.JSON["active"], r)
		}
		if got := r.str("client_id"); got != c.ID {
			t.Errorf("client_id = %q, want %q", got, c.ID)
		}
		if got := r.str("sub"); got != u.Sub {
			t.Errorf("sub = %q, want %q", got, u.Sub)
		}
		if got := strings.Fields(r.str("scope")); !containsAll(got, "openid", "email") {
			t.Errorf("scope = %q, want openid and email", r.str("scope"))
		}
		exp, ok := r.JSON["exp"].(float64)
		if !ok {
			t.Errorf("exp = %v, want a number", r.JSON["exp"])
		} else if time.Unix(int64(exp), 0).Before(time.Now()) {
			t.Errorf("exp %v is in the past", exp)
		}
	})
	t.Run("refresh token", func(t *testing.T) {
		r := c.introspect(t, l.token.RefreshToken)
		if r.JSON["active"] != true {
			t.Fatalf("active = %v, want true: %s", r.JSON["active"], r)
		}
		if got := r.str("client_id"); got != c.ID {
			t.Errorf("client_id = %q, want %q", got, c.ID)
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		if r := c.introspect(t, "no-such-token"); r.JSON["active"] != false {
			t.Errorf("active = %v, want false", r.JSON["active"])
		}
	})
}

// TestRevocation checks RFC 7009 token revocation.
func TestRevocation(t *testing.T) {
	t.Parallel()
	c, u := client(t, "revoke"), account(t, "revoke")
	b := newBrowser(t)
	scopes := []string{"openid", "offline_access"}
	revoke := func(t *testing.T, token, hint string) {
		t.Helper()
		form := url.Values{"token": {token}}
		if hint != "" {
			form.Set("token_type_hint", hint)
		}
		if r := c.post(t, srv.endpoint(t, "revocation_endpoint"), form); r.Status != http.StatusOK {
			t.Fatalf("revocation: %s, want 200", r)
		}
	}

	t.Run("access token", func(t *testing.T) {
		b.t = t
		l := b.signIn(c, u, request{scopes: scopes})
		revoke(t, l.token.AccessToken, "access_token")
		if c.active(t, l.token.AccessToken) {
			t.Error("the access token is still active after revocation")
		}
		if r := userinfoResponse(t, "get", l.token.AccessToken); r.Status != http.StatusUnauthorized {
			t.Errorf("userinfo with a revoked access token: %s, want 401", r)
		}
	})
	t.Run("refresh token", func(t *testing.T) {
		b.t = t
		l := b.signIn(c, u, request{scopes: scopes})
		revoke(t, l.token.RefreshToken, "") // no hint
		if c.active(t, l.token.RefreshToken) {
			t.Error("the refresh token is still active after revocation")
		}
		wantOAuthError(t, c.refresh(t, l.token.RefreshToken), status400, "invalid_grant")
	})
	t.Run("unknown token", func(t *testing.T) {
		revoke(t, "no-such-token", "refresh_token")
	})
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}
