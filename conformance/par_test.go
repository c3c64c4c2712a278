package conformance

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Pushed authorization requests (RFC 9126) and request objects (RFC 9101),
// as the OpenID Foundation's FAPI 2.0 and OpenID Connect plans test them.

// parRequest is the authorization request of the client for /par, and the
// authorization that will carry its state, nonce and PKCE verifier.
func parRequest(c *rp) (url.Values, *authorization) {
	z := &authorization{state: randomString(12), nonce: randomString(12), verifier: oauth2.GenerateVerifier()}
	return url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {c.RedirectURI},
		"scope": {"openid profile email"}, "state": {z.state}, "nonce": {z.nonce},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(z.verifier)}, "code_challenge_method": {"S256"},
	}, z
}

// push posts form to the PAR endpoint as the client.
func (c *rp) push(t testing.TB, form url.Values) *apiResponse {
	t.Helper()
	return c.post(t, srv.endpoint(t, "pushed_authorization_request_endpoint"), form)
}

// pushed pushes form and returns the request_uri, after checking the
// answer (RFC 9126 §2.2).
func (c *rp) pushed(t testing.TB, form url.Values) string {
	t.Helper()
	r := c.push(t, form)
	uri := r.str("request_uri")
	exp, _ := r.JSON["expires_in"].(float64)
	if r.Status != http.StatusCreated || !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || exp <= 0 {
		t.Fatalf("PAR as %s: %s, want 201 with a request_uri and expires_in", c.ID, r)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("PAR answer Cache-Control %q, want no-store", cc)
	}
	return uri
}

// redeem sends the browser to the authorization endpoint with the
// request_uri (and extra parameters) and drives it as the actor.
func (b *browser) redeem(c *rp, requestURI string, extra url.Values, a actor) *outcome {
	b.t.Helper()
	q := url.Values{"client_id": {c.ID}, "request_uri": {requestURI}}
	for k, v := range extra {
		q[k] = v
	}
	return b.authorizeFrom(b.get(srv.endpoint(b.t, "authorization_endpoint")+"?"+q.Encode()), a)
}

// finish exchanges the code of z and checks the ID token.
func (z *authorization) finish(t testing.TB, c *rp, u *user) *oauth2.Token {
	t.Helper()
	tok := c.exchange(t, z.code(t, c), z.verifier)
	c.idToken(t, tok, idWant{nonce: z.nonce, sub: u.Sub})
	return tok
}

// TestFAPI2PARWithoutDuplicateParameters mirrors
// fapi2-security-profile-final-par-without-duplicate-parameters: the
// authorization request carries only client_id and request_uri, for each
// client authentication method, private_key_jwt with the PAR endpoint as
// the assertion's audience (RFC 9126 §2). Parameters the browser adds are
// ignored (RFC 9126 §4): prompt=none would fail, another state would be
// echoed.
func TestFAPI2PARWithoutDuplicateParameters(t *testing.T) {
	t.Parallel()
	u := account(t, "par")
	if srv.discovery["require_pushed_authorization_requests"] != false {
		t.Errorf("require_pushed_authorization_requests = %v, want false by default", srv.discovery["require_pushed_authorization_requests"])
	}
	b := newBrowser(t)
	for _, name := range []string{"par-basic", "par-public", "par-pkjwt"} {
		t.Run(name, func(t *testing.T) {
			b.t = t
			c := client(t, name)
			form, z := parRequest(c)
			var uri string
			if c.AuthMethod == authPrivateJWT {
				form.Set("client_assertion_type", assertionType)
				form.Set("client_assertion", c.assertion(t, assertionClaims(c.ID, srv.endpoint(t, "pushed_authorization_request_endpoint"))))
				r := send(t, newFormRequest(t, srv.endpoint(t, "pushed_authorization_request_endpoint"), form))
				if r.Status != http.StatusCreated {
					t.Fatalf("PAR with an assertion for the PAR endpoint: %s", r)
				}
				uri = r.str("request_uri")
			} else {
				uri = c.pushed(t, form)
			}
			z.outcome = b.redeem(c, uri, url.Values{"prompt": {"none"}, "state": {"browser-state"}, "scope": {"openid"}}, actor{user: u})
			z.finish(t, c, u)
		})
	}
}

// TestFAPI2PARAttemptReuseRequestURI mirrors
// fapi2-security-profile-final-par-attempt-reuse-request_uri: a
// request_uri serves one authorization request.
func TestFAPI2PARAttemptReuseRequestURI(t *testing.T) {
	t.Parallel()
	c, u := client(t, "par-basic"), account(t, "par")
	form, z := parRequest(c)
	uri := c.pushed(t, form)
	b := newBrowser(t)
	z.outcome = b.redeem(c, uri, nil, actor{user: u})
	z.finish(t, c, u)
	again := b.redeem(c, uri, nil, actor{user: u})
	refused := again.Params.Get("error") == "invalid_request_uri" || (again.Mode == "" && again.Page.Status == http.StatusBadRequest)
	if !refused || again.Params.Has("code") {
		t.Fatalf("request_uri used twice: %s, want invalid_request_uri or an error page", again.describe())
	}
}

// TestFAPI2PARAttemptToUseRequestURIForDifferentClient mirrors
// fapi2-security-profile-final-par-attempt-to-use-request_uri-for-different-client:
// another client's request_uri is refused, and stays its own.
func TestFAPI2PARAttemptToUseRequestURIForDifferentClient(t *testing.T) {
	t.Parallel()
	c, other, u := client(t, "par-basic"), client(t, "par-other"), account(t, "par")
	form, z := parRequest(c)
	uri := c.pushed(t, form)
	b := newBrowser(t)
	o := b.redeem(other, uri, nil, actor{user: u})
	if o.Params.Has("code") || (o.Mode != "" && o.Params.Get("error") != "invalid_request_uri") {
		t.Fatalf("%s redeeming the request_uri of %s: %s, want invalid_request_uri", other.ID, c.ID, o.describe())
	}
	if o.Mode != "" && o.Target.Host != "par-other.rp.test" {
		t.Fatalf("the error went to %s, not to the redeeming client", o.Target)
	}
	z.outcome = b.redeem(c, uri, nil, actor{user: u})
	z.finish(t, c, u)
}

// TestPARRejectsBadRequests: the PAR endpoint answers a client that does
// not authenticate with invalid_client, and a redirect_uri the client did
// not register, a request_uri in the body or a public client without PKCE
// with 400 (RFC 9126 §2.3).
func TestPARRejectsBadRequests(t *testing.T) {
	t.Parallel()
	c, pub := client(t, "par-basic"), client(t, "par-public")
	endpoint := srv.endpoint(t, "pushed_authorization_request_endpoint")
	form, _ := parRequest(c)
	wantOAuthError(t, send(t, newFormRequest(t, endpoint, form)), []int{401}, "invalid_client")

	bad := cloneValues(form)
	bad.Set("redirect_uri", "https://par-basic.rp.test/elsewhere")
	wantOAuthError(t, c.push(t, bad), []int{400}, "invalid_request")

	bad = cloneValues(form)
	bad.Set("request_uri", "urn:ietf:params:oauth:request_uri:abc")
	wantOAuthError(t, c.push(t, bad), []int{400}, "invalid_request")

	bad, _ = parRequest(pub)
	bad.Del("code_challenge")
	bad.Del("code_challenge_method")
	wantOAuthError(t, pub.push(t, bad), []int{400}, "invalid_request")
}

// signedRequest is a request object of the client: its claims signed
// with its key (RS256, as its client assertions), or with alg none when
// key is false.
func (c *rp) signedRequest(t testing.TB, claims map[string]any, key bool) string {
	t.Helper()
	if key {
		return c.assertion(t, claims)
	}
	b, _ := json.Marshal(claims)
	return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(b) + "."
}

// requestClaims are the claims of a good request object carrying form.
func requestClaims(c *rp, form url.Values) map[string]any {
	claims := map[string]any{"iss": c.ID, "aud": srv.issuer, "exp": time.Now().Add(5 * time.Minute).Unix(), "iat": time.Now().Unix()}
	for k := range form {
		claims[k] = form.Get(k)
	}
	return claims
}

// TestOIDCCEnsureRequestObjectWithRedirectURI mirrors the module of that
// name: a signed request object carrying redirect_uri (and the other
// parameters; the query has only client_id, response_type and scope) is
// used, by value at the authorization endpoint and inside a pushed
// request.
func TestOIDCCEnsureRequestObjectWithRedirectURI(t *testing.T) {
	t.Parallel()
	c, u := client(t, "request-object"), account(t, "request-object")
	if srv.discovery["request_parameter_supported"] != true {
		t.Fatal("discovery does not advertise request_parameter_supported")
	}
	b := newBrowser(t)
	t.Run("by value", func(t *testing.T) {
		b.t = t
		form, z := parRequest(c)
		q := url.Values{"client_id": {c.ID}, "response_type": {"code"}, "scope": {"openid"},
			"request": {c.signedRequest(t, requestClaims(c, form), true)}}
		z.outcome = b.authorizeFrom(b.get(srv.endpoint(t, "authorization_endpoint")+"?"+q.Encode()), actor{user: u})
		tok := z.finish(t, c, u)
		if sc, _ := tok.Extra("scope").(string); sc != "openid profile email" {
			t.Errorf("scope %q, want the request object's", sc)
		}
	})
	t.Run("pushed", func(t *testing.T) {
		b.t = t
		form, z := parRequest(c)
		uri := c.pushed(t, url.Values{"request": {c.signedRequest(t, requestClaims(c, form), true)}})
		z.outcome = b.redeem(c, uri, nil, actor{user: u})
		z.finish(t, c, u)
	})
}

// TestOIDCCUnsignedRequestObjectSupportedCorrectlyOrRejectedAsUnsupported
// mirrors the module of that name: discovery offers none among
// request_object_signing_alg_values_supported, so an unsigned request
// object (without iss and aud, as the module sends it) is used: the flow
// completes with its parameters. The object of a client that registered a
// signing algorithm must be signed with it (TestFAPI1RequestObjectRejects).
func TestOIDCCUnsignedRequestObjectSupportedCorrectlyOrRejectedAsUnsupported(t *testing.T) {
	t.Parallel()
	unsignedRequestObjectModule(t, client(t, "request-unsigned"), account(t, "request-unsigned"), "")
}

// unsignedRequestObjectModule is that module for the client c and its user
// u; a mode other than "" is the request object's response_mode, which
// the answer must use.
func unsignedRequestObjectModule(t *testing.T, c *rp, u *user, mode string) {
	algs, _ := srv.discovery["request_object_signing_alg_values_supported"].([]any)
	if !slices.Contains(algs, any("none")) {
		t.Fatalf("request_object_signing_alg_values_supported = %v, want none among them", algs)
	}
	form, z := parRequest(c)
	if mode != "" {
		form.Set("response_mode", mode)
	}
	claims := requestClaims(c, form)
	delete(claims, "iss")
	delete(claims, "aud")
	q := url.Values{"client_id": {c.ID}, "response_type": {"code"}, "scope": {"openid"}, "request": {c.signedRequest(t, claims, false)}}
	b := newBrowser(t)
	z.outcome = b.authorizeFrom(b.get(srv.endpoint(t, "authorization_endpoint")+"?"+q.Encode()), actor{user: u})
	if mode != "" {
		wantMode(t, z, mode)
	}
	tok := z.finish(t, c, u)
	if sc, _ := tok.Extra("scope").(string); sc != "openid profile email" {
		t.Errorf("scope %q, want the request object's", sc)
	}
}

// TestFAPI1RequestObjectRejects mirrors the FAPI 1.0 Advanced modules that
// send a bad request object: each is refused with invalid_request_object,
// by redirect with the query's state.
func TestFAPI1RequestObjectRejects(t *testing.T) {
	t.Parallel()
	c, other := client(t, "request-object"), client(t, "par-pkjwt")
	tests := []struct {
		module string
		mod    func(claims map[string]any)
		signer *rp // default c; nil key for alg none
		none   bool
	}{
		{"fapi1-advanced-final-ensure-request-object-signature-algorithm-is-none-fails", nil, nil, true},
		{"fapi1-advanced-final-ensure-request-object-with-bad-aud-fails", func(m map[string]any) { m["aud"] = "https://other.example" }, nil, false},
		{"fapi1-advanced-final-ensure-expired-request-object-fails", func(m map[string]any) { m["exp"] = time.Now().Add(-10 * time.Minute).Unix() }, nil, false},
		{"fapi1-advanced-final-ensure-request-object-signed-by-other-client-fails", nil, other, false},
	}
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			t.Parallel()
			form, z := parRequest(c)
			claims := requestClaims(c, form)
			if tt.mod != nil {
				tt.mod(claims)
			}
			signer := c
			if tt.signer != nil {
				signer = tt.signer
			}
			q := cloneValues(form)
			q.Set("request", signer.signedRequest(t, claims, !tt.none))
			b := newBrowser(t)
			z.outcome = b.authorizeFrom(b.get(srv.endpoint(t, "authorization_endpoint")+"?"+q.Encode()), actor{})
			if e := z.authError(t, c); e != "invalid_request_object" {
				t.Fatalf("error %q, want invalid_request_object", e)
			}
		})
	}
}
