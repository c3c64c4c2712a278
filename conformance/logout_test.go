package conformance

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The OpenID Foundation's RP-Initiated Logout and Back-Channel Logout
// plans: a relying party signs its user out at the end_session_endpoint
// discovery advertises, and is told of the logout by a logout token.

// logoutSignIn registers a client with a post_logout_redirect_uri (and
// md), creates a user and signs them in with it in a new browser.
func logoutSignIn(t *testing.T, name string, md map[string]any) (*browser, *rp, *login, string) {
	t.Helper()
	postLogout := "https://" + name + ".dynamic.rp.test/signed-out"
	if md == nil {
		md = map[string]any{}
	}
	md["post_logout_redirect_uris"] = []string{postLogout}
	c := registerRP(t, name, md)
	u, err := srv.createUser(name + "-" + randomString(3))
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	l := b.signIn(c, u, request{scopes: []string{"openid", "offline_access"}})
	return b, c, l, postLogout
}

// rawIDToken is the login's ID token as the client got it.
func (l *login) rawIDToken(t testing.TB) string {
	t.Helper()
	raw, _ := l.token.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token")
	}
	return raw
}

// endSession sends the browser to the end_session_endpoint.
func (b *browser) endSession(t testing.TB, params url.Values) *page {
	t.Helper()
	return b.get(srv.endpoint(t, "end_session_endpoint") + "?" + params.Encode())
}

// stillSignedIn reports whether prompt=none gets the client a code.
func (b *browser) stillSignedIn(t testing.TB, c *rp) bool {
	t.Helper()
	z := b.authorize(c, request{scopes: []string{"openid"}, extra: url.Values{"prompt": {"none"}}}, actor{})
	if z.Mode == "" {
		t.Fatalf("prompt=none: %s", z.describe())
	}
	return z.Params.Get("code") != ""
}

// confirmLogout submits the confirmation form of page p.
func (b *browser) confirmLogout(t testing.TB, p *page) *page {
	t.Helper()
	if p.Status != http.StatusOK || len(p.Forms) != 1 || p.Forms[0].Values.Get("csrf_token") == "" {
		t.Fatalf("want a confirmation page with a CSRF-protected form, got %s", p.describe())
	}
	return b.submit(p.Forms[0], nil)
}

// TestOIDCCRPInitiatedLogout mirrors oidcc-rp-initiated-logout: logout
// with id_token_hint, post_logout_redirect_uri and state redirects there
// with state; the session is gone (prompt=none: login_required) and so
// are the session's tokens.
func TestOIDCCRPInitiatedLogout(t *testing.T) {
	t.Parallel()
	b, c, l, postLogout := logoutSignIn(t, "logout", nil)
	p := b.endSession(t, url.Values{"id_token_hint": {l.rawIDToken(t)}, "post_logout_redirect_uri": {postLogout}, "state": {"bye-1"}})
	if p.Redirect == nil || p.Redirect.String() != postLogout+"?state=bye-1" {
		t.Fatalf("want a redirect to %s?state=bye-1, got %s", postLogout, p.describe())
	}
	if b.stillSignedIn(t, c) {
		t.Error("prompt=none still gets a code after logout")
	}
	if r := c.refresh(t, l.token.RefreshToken); r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
		t.Errorf("refresh after logout = %s, want invalid_grant", r)
	}
}

// TestOIDCCRPInitiatedLogoutNoState mirrors
// oidcc-rp-initiated-logout-no-state: the redirect carries no state.
func TestOIDCCRPInitiatedLogoutNoState(t *testing.T) {
	t.Parallel()
	b, c, l, postLogout := logoutSignIn(t, "logout-no-state", nil)
	p := b.endSession(t, url.Values{"id_token_hint": {l.rawIDToken(t)}, "post_logout_redirect_uri": {postLogout}})
	if p.Redirect == nil || p.Redirect.String() != postLogout {
		t.Fatalf("want a redirect to %s, got %s", postLogout, p.describe())
	}
	if b.stillSignedIn(t, c) {
		t.Error("still signed in")
	}
}

// TestOIDCCRPInitiatedLogoutNoPostLogoutRedirectURI mirrors
// oidcc-rp-initiated-logout-no-post-logout-redirect-uri: signed out, on
// a page of the server.
func TestOIDCCRPInitiatedLogoutNoPostLogoutRedirectURI(t *testing.T) {
	t.Parallel()
	b, c, l, _ := logoutSignIn(t, "logout-no-plru", nil)
	p := b.endSession(t, url.Values{"id_token_hint": {l.rawIDToken(t)}, "state": {"s"}})
	if p.Redirect != nil || p.Status != http.StatusOK || !strings.Contains(p.Text, "You are signed out") {
		t.Fatalf("want the signed-out page, got %s", p.describe())
	}
	if b.stillSignedIn(t, c) {
		t.Error("still signed in")
	}
}

// TestOIDCCRPInitiatedLogoutNoParams mirrors
// oidcc-rp-initiated-logout-no-params: the person confirms, then sees the
// signed-out page.
func TestOIDCCRPInitiatedLogoutNoParams(t *testing.T) {
	logoutConfirmed(t, url.Values{})
}

// TestOIDCCRPInitiatedLogoutOnlyState mirrors
// oidcc-rp-initiated-logout-only-state: as without parameters.
func TestOIDCCRPInitiatedLogoutOnlyState(t *testing.T) {
	logoutConfirmed(t, url.Values{"state": {"only-state"}})
}

func logoutConfirmed(t *testing.T, params url.Values) {
	t.Parallel()
	b, c, _, _ := logoutSignIn(t, "logout-no-params", nil)
	first := b.endSession(t, params)
	if !b.stillSignedIn(t, c) {
		t.Fatalf("%v: signed out before confirming", params)
	}
	p := b.confirmLogout(t, first)
	if p.Redirect != nil || p.Status != http.StatusOK || !strings.Contains(p.Text, "You are signed out") {
		t.Fatalf("%v: want the signed-out page, got %s", params, p.describe())
	}
	if b.stillSignedIn(t, c) {
		t.Errorf("%v: still signed in after confirming", params)
	}
}

// TestOIDCCRPInitiatedLogoutBadPostLogoutRedirectURI mirrors
// oidcc-rp-initiated-logout-bad-post-logout-redirect-uri.
func TestOIDCCRPInitiatedLogoutBadPostLogoutRedirectURI(t *testing.T) {
	logoutRefused(t, func(hint, _ string) url.Values {
		return url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://attacker.rp.test/signed-out"}, "state": {"s"}}
	})
}

// TestOIDCCRPInitiatedLogoutQueryAddedToPostLogoutRedirectURI mirrors
// oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri.
func TestOIDCCRPInitiatedLogoutQueryAddedToPostLogoutRedirectURI(t *testing.T) {
	logoutRefused(t, func(hint, postLogout string) url.Values {
		return url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {postLogout + "?foo=bar"}, "state": {"s"}}
	})
}

// TestOIDCCRPInitiatedLogoutModifiedIDTokenHint mirrors
// oidcc-rp-initiated-logout-modified-id-token-hint: the hint changed to
// alg none.
func TestOIDCCRPInitiatedLogoutModifiedIDTokenHint(t *testing.T) {
	logoutRefused(t, func(hint, postLogout string) url.Values {
		parts := strings.Split(hint, ".")
		algNone := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
		return url.Values{"id_token_hint": {algNone}, "post_logout_redirect_uri": {postLogout}, "state": {"s"}}
	})
}

// TestOIDCCRPInitiatedLogoutBadIDTokenHint mirrors
// oidcc-rp-initiated-logout-bad-id-token-hint: the hint's claims signed
// with a key of the suite.
func TestOIDCCRPInitiatedLogoutBadIDTokenHint(t *testing.T) {
	logoutRefused(t, nil)
}

// TestOIDCCRPInitiatedLogoutNoIDTokenHint mirrors
// oidcc-rp-initiated-logout-no-id-token-hint.
func TestOIDCCRPInitiatedLogoutNoIDTokenHint(t *testing.T) {
	logoutRefused(t, func(_, postLogout string) url.Values {
		return url.Values{"post_logout_redirect_uri": {postLogout}, "state": {"s"}}
	})
}

// logoutRefused checks a logout request the modules expect to be refused:
// no redirect to the client, and no sign-out without the person's
// confirmation (an error page or a confirmation page). params builds the
// request from the ID token and the registered post_logout_redirect_uri;
// nil sends a forged ID token (fakeIDToken).
func logoutRefused(t *testing.T, params func(hint, postLogout string) url.Values) {
	t.Parallel()
	b, c, l, postLogout := logoutSignIn(t, "logout-refused", nil)
	var v url.Values
	if params == nil {
		v = url.Values{"id_token_hint": {fakeIDToken(t, c, l)}, "post_logout_redirect_uri": {postLogout}, "state": {"s"}}
	} else {
		v = params(l.rawIDToken(t), postLogout)
	}
	p := b.endSession(t, v)
	if p.Redirect != nil {
		t.Fatalf("redirected to %s", p.Redirect)
	}
	confirm := p.Status == http.StatusOK && len(p.Forms) == 1 && p.Forms[0].Values.Get("csrf_token") != ""
	if p.Status != http.StatusBadRequest && !confirm {
		t.Errorf("want an error page or a confirmation, got %s", p.describe())
	}
	if !b.stillSignedIn(t, c) {
		t.Fatal("signed out without confirmation")
	}
}

// fakeIDToken is the login's ID token signed with a key of the test.
func fakeIDToken(t *testing.T, c *rp, l *login) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "suite-1"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(l.claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// logoutReceiver is a relying party's backchannel_logout_uri.
type logoutReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	tokens []string
	got    chan struct{}
}

func newLogoutReceiver(t *testing.T) *logoutReceiver {
	r := &logoutReceiver{got: make(chan struct{}, 8)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "want a form POST", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.tokens = append(r.tokens, req.PostFormValue("logout_token"))
		r.mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		r.got <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// TestOIDCCBackChannelRPInitiatedLogout mirrors
// oidcc-backchannel-rp-initiated-logout: discovery advertises back-channel
// logout with sid; after an RP-initiated logout the client's
// backchannel_logout_uri gets a logout token that verifies with the JWKS
// and carries iss, aud, iat, exp, jti, the event, and the ID token's sub
// and sid, and no nonce.
func TestOIDCCBackChannelRPInitiatedLogout(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"backchannel_logout_supported", "backchannel_logout_session_supported",
		"frontchannel_logout_supported", "frontchannel_logout_session_supported"} {
		if srv.discovery[k] != true {
			t.Errorf("discovery %s = %v, want true", k, srv.discovery[k])
		}
	}
	recv := newLogoutReceiver(t)
	b, c, l, postLogout := logoutSignIn(t, "backchannel", map[string]any{
		"backchannel_logout_uri": recv.srv.URL + "/bcl", "backchannel_logout_session_required": true,
	})
	p := b.endSession(t, url.Values{"id_token_hint": {l.rawIDToken(t)}, "post_logout_redirect_uri": {postLogout}, "state": {"bc"}})
	if p.Redirect == nil || p.Redirect.String() != postLogout+"?state=bc" {
		t.Fatalf("want a redirect to %s?state=bc, got %s", postLogout, p.describe())
	}
	select {
	case <-recv.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no logout token within 10s")
	}
	recv.mu.Lock()
	raw := recv.tokens[0]
	recv.mu.Unlock()

	// A relying party checks it as it checks an ID token, and more.
	lt, err := srv.verifier(c.ID).Verify(srv.ctx(t), raw)
	if err != nil {
		t.Fatalf("logout token does not verify: %v", err)
	}
	var claims map[string]any
	if err := lt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if typ := jws.Signatures[0].Header.ExtraHeaders["typ"]; typ != "logout+jwt" {
		t.Errorf("typ = %v, want logout+jwt", typ)
	}
	events, _ := claims["events"].(map[string]any)
	switch {
	case events == nil || events["http://schemas.openid.net/event/backchannel-logout"] == nil:
		t.Errorf("events = %v", claims["events"])
	case claims["sid"] == nil || claims["sid"] != l.claims["sid"]:
		t.Errorf("sid = %v, want the ID token's %v", claims["sid"], l.claims["sid"])
	case claims["sub"] != l.claims["sub"]:
		t.Errorf("sub = %v, want %v", claims["sub"], l.claims["sub"])
	case claims["jti"] == nil || claims["iat"] == nil:
		t.Errorf("jti %v, iat %v", claims["jti"], claims["iat"])
	case claims["nonce"] != nil:
		t.Error("a logout token must not carry a nonce")
	}
}
