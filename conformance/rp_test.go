package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
)

// clockSkew is the leeway allowed between the server's clock and ours.
const clockSkew = 5 * time.Second

// config is the client's x/oauth2 configuration, wired to the endpoints
// discovery advertises and to the client's registered auth method.
func (c *rp) config(scopes ...string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if c.AuthMethod != authBasic {
		style = oauth2.AuthStyleInParams
	}
	ep := srv.provider.Endpoint()
	ep.AuthStyle = style
	return &oauth2.Config{
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		RedirectURL:  c.RedirectURI,
		Scopes:       scopes,
		Endpoint:     ep,
	}
}

// request is an authorization request to send.
type request struct {
	scopes  []string   // default openid profile email
	noNonce bool       // send no nonce
	noPKCE  bool       // send no code_challenge
	extra   url.Values // further parameters, overriding the others
	post    bool       // send it by POST instead of GET
}

// authorization is an authorization request sent and where it ended.
type authorization struct {
	*outcome
	state, nonce, verifier string
}

// authorize sends an authorization request for the client and drives the
// browser through it as the actor.
func (b *browser) authorize(c *rp, r request, a actor) *authorization {
	b.t.Helper()
	z := &authorization{state: randomString(12)}
	scopes := r.scopes
	if scopes == nil {
		scopes = []string{"openid", "profile", "email"}
	}
	var opts []oauth2.AuthCodeOption
	if !r.noNonce {
		z.nonce = randomString(12)
		opts = append(opts, oauth2.SetAuthURLParam("nonce", z.nonce))
	}
	if !r.noPKCE {
		z.verifier = oauth2.GenerateVerifier()
		opts = append(opts, oauth2.S256ChallengeOption(z.verifier))
	}
	for k, vs := range r.extra {
		opts = append(opts, oauth2.SetAuthURLParam(k, vs[0]))
	}
	u := c.config(scopes...).AuthCodeURL(z.state, opts...)
	var first *page
	if r.post {
		parsed, err := url.Parse(u)
		if err != nil {
			b.t.Fatal(err)
		}
		q := parsed.Query()
		parsed.RawQuery = ""
		first = b.postForm(parsed.String(), q)
	} else {
		first = b.get(u)
	}
	z.outcome = b.authorizeFrom(first, a)
	return z
}

// code returns the authorization code of a successful response, after
// checking the response: sent to the redirect_uri, state echoed, iss equal
// to the issuer (RFC 9207), code long enough.
func (z *authorization) code(t testing.TB, c *rp) string {
	t.Helper()
	if z.Mode == "" {
		t.Fatalf("authorization did not complete: %s", z.describe())
	}
	if e := z.Params.Get("error"); e != "" {
		t.Fatalf("authorization failed: error=%s error_description=%q", e, z.Params.Get("error_description"))
	}
	z.checkResponse(t, c)
	code := z.Params.Get("code")
	if len(code) < 22 { // 128 bits in base64url
		t.Fatalf("authorization code %q is shorter than 128 bits", code)
	}
	return code
}

// authError returns the error of an authorization error response, after
// checking it was sent to the redirect_uri with state and iss.
func (z *authorization) authError(t testing.TB, c *rp) string {
	t.Helper()
	if z.Mode == "" {
		t.Fatalf("want an error response to the client, got %s", z.describe())
	}
	z.checkResponse(t, c)
	if z.Params.Has("code") {
		t.Errorf("error response carries a code: %v", z.Params)
	}
	e := z.Params.Get("error")
	if e == "" {
		t.Fatalf("want an error response, got %v", z.Params)
	}
	if d := z.Params.Get("error_description"); strings.ContainsFunc(d, func(r rune) bool {
		return r < 0x20 || r == '"' || r == '\\' || r > 0x7e
	}) {
		t.Errorf("error_description %q has characters RFC 6749 §4.1.2.1 forbids", d)
	}
	return e
}

func (z *authorization) checkResponse(t testing.TB, c *rp) {
	t.Helper()
	target := *z.Target
	target.RawQuery, target.Fragment = "", ""
	base, _ := url.Parse(c.RedirectURI)
	base.RawQuery = ""
	if target.String() != base.String() {
		t.Errorf("authorization response sent to %s, want the redirect_uri %s", z.Target, c.RedirectURI)
	}
	if got := z.Params.Get("state"); got != z.state {
		t.Errorf("state = %q, want %q echoed", got, z.state)
	}
	if got := z.Params.Get("iss"); got != srv.issuer {
		t.Errorf("iss = %q, want the issuer %q (RFC 9207, advertised in discovery)", got, srv.issuer)
	}
}

// exchange redeems a code at the token endpoint.
func (c *rp) exchange(t testing.TB, code, verifier string) *oauth2.Token {
	t.Helper()
	if c.AuthMethod == authPrivateJWT {
		form := url.Values{"grant_type": {grantCode}, "code": {code}, "redirect_uri": {c.RedirectURI}}
		if verifier != "" {
			form.Set("code_verifier", verifier)
		}
		return c.tokenOK(t, form)
	}
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	tok, err := c.config().Exchange(srv.ctx(t), code, opts...)
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	checkTokenResponse(t, tok)
	return tok
}

// checkTokenResponse checks what every token response carries.
func checkTokenResponse(t testing.TB, tok *oauth2.Token) {
	t.Helper()
	if tok.AccessToken == "" {
		t.Error("token response has no access_token")
	}
	if !strings.EqualFold(tok.TokenType, "bearer") {
		t.Errorf("token_type = %q, want Bearer", tok.TokenType)
	}
	if tok.Extra("expires_in") == nil {
		t.Error("token response has no expires_in")
	}
}

// idWant is what an id_token must say beyond the checks made on every one.
type idWant struct {
	nonce    string // "" means the claim must be absent
	sub      string
	authTime bool // auth_time required (max_age was sent)
	// refreshed marks an id_token from a refresh (OIDC Core §12.2): nonce
	// and at_hash are then optional.
	refreshed bool
}

// idToken verifies the id_token of a token response with go-oidc and
// checks its claims as OpenID Connect Core §3.1.3.7 asks of a client.
func (c *rp) idToken(t testing.TB, tok *oauth2.Token, want idWant) (*oidc.IDToken, map[string]any) {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("token response has no id_token")
	}
	idt, err := srv.verifier(c.ID).Verify(srv.ctx(t), raw)
	if err != nil {
		t.Fatalf("id_token does not verify: %v", err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}

	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.PS256, jose.EdDSA})
	if err != nil {
		t.Fatalf("id_token: %v", err)
	}
	h := jws.Signatures[0].Header
	if h.Algorithm != string(jose.RS256) {
		t.Errorf("id_token alg = %s, want RS256 by default", h.Algorithm)
	}
	if h.KeyID == "" {
		t.Error("id_token header has no kid")
	}

	if idt.Subject == "" {
		t.Error("id_token has no sub")
	}
	if want.sub != "" && idt.Subject != want.sub {
		t.Errorf("sub = %q, want %q (the user's id)", idt.Subject, want.sub)
	}
	if len(idt.Audience) > 1 || claims["azp"] != nil {
		if azp, _ := claims["azp"].(string); azp != c.ID {
			t.Errorf("azp = %v with aud %v, want %q", claims["azp"], idt.Audience, c.ID)
		}
	}
	now := time.Now()
	if _, ok := claims["iat"].(float64); !ok {
		t.Error("id_token has no numeric iat")
	} else if idt.IssuedAt.After(now.Add(clockSkew)) {
		t.Errorf("iat %v is in the future", idt.IssuedAt)
	}
	if !idt.Expiry.After(idt.IssuedAt) {
		t.Errorf("exp %v is not after iat %v", idt.Expiry, idt.IssuedAt)
	}
	_, hasNonce := claims["nonce"]
	switch {
	case want.nonce == "" && hasNonce:
		t.Errorf("id_token has nonce %v, but none was sent", claims["nonce"])
	case want.nonce != "" && idt.Nonce != want.nonce && !(want.refreshed && !hasNonce):
		t.Errorf("nonce = %q, want %q echoed", idt.Nonce, want.nonce)
	}
	if at, ok := claims["auth_time"].(float64); ok {
		if time.Unix(int64(at), 0).After(now.Add(clockSkew)) {
			t.Errorf("auth_time %v is in the future", at)
		}
	} else if want.authTime {
		t.Error("id_token has no auth_time, but max_age was sent")
	}
	if idt.AccessTokenHash == "" {
		if !want.refreshed {
			t.Error("id_token has no at_hash")
		}
	} else if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	return idt, claims
}

// login is a completed code flow.
type login struct {
	*authorization
	token   *oauth2.Token
	idToken *oidc.IDToken
	claims  map[string]any // of the id_token
}

// signIn runs the code flow for the client as the user, with the checks
// every flow gets, and returns the tokens.
func (b *browser) signIn(c *rp, u *user, r request) *login {
	b.t.Helper()
	z := b.authorize(c, r, actor{user: u})
	code := z.code(b.t, c)
	tok := c.exchange(b.t, code, z.verifier)
	_, maxAge := r.extra["max_age"]
	idt, claims := c.idToken(b.t, tok, idWant{nonce: z.nonce, sub: u.Sub, authTime: maxAge})
	return &login{authorization: z, token: tok, idToken: idt, claims: claims}
}

// authTime returns the auth_time claim of the login's id_token.
func (l *login) authTime(t testing.TB) int64 {
	t.Helper()
	at, ok := l.claims["auth_time"].(float64)
	if !ok {
		t.Fatalf("id_token has no auth_time: %v", l.claims)
	}
	return int64(at)
}

// apiResponse is a back-channel JSON response.
type apiResponse struct {
	Status int
	Header http.Header
	Body   string
	JSON   map[string]any
}

func (r *apiResponse) str(key string) string {
	s, _ := r.JSON[key].(string)
	return s
}

func (r *apiResponse) String() string {
	return fmt.Sprintf("%d %s", r.Status, tail(r.Body, 500))
}

// post sends a form to an endpoint, authenticated as the client with its
// registered method.
func (c *rp) post(t testing.TB, endpoint string, form url.Values) *apiResponse {
	t.Helper()
	form = cloneValues(form)
	var user, pass string
	switch c.AuthMethod {
	case authBasic:
		user, pass = url.QueryEscape(c.ID), url.QueryEscape(c.Secret)
	case authPost:
		form.Set("client_id", c.ID)
		form.Set("client_secret", c.Secret)
	case authNone:
		form.Set("client_id", c.ID)
	case authPrivateJWT:
		form.Set("client_id", c.ID)
		form.Set("client_assertion_type", assertionType)
		form.Set("client_assertion", c.assertion(t, assertionClaims(c.ID, srv.endpoint(t, "token_endpoint"))))
	}
	req := newFormRequest(t, endpoint, form)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	return send(t, req)
}

// tokenOK posts to the token endpoint and returns the successful response.
func (c *rp) tokenOK(t testing.TB, form url.Values) *oauth2.Token {
	t.Helper()
	r := c.post(t, srv.endpoint(t, "token_endpoint"), form)
	if r.Status != http.StatusOK {
		t.Fatalf("token request (%s) as %s: %s", form.Get("grant_type"), c.ID, r)
	}
	tok := tokenOf(t, r)
	checkTokenResponse(t, tok)
	return tok
}

// tokenOf turns a token endpoint response into an oauth2.Token.
func tokenOf(t testing.TB, r *apiResponse) *oauth2.Token {
	t.Helper()
	tok := &oauth2.Token{
		AccessToken:  r.str("access_token"),
		TokenType:    r.str("token_type"),
		RefreshToken: r.str("refresh_token"),
	}
	if s, ok := r.JSON["expires_in"].(float64); ok {
		tok.Expiry = time.Now().Add(time.Duration(s) * time.Second)
	}
	return tok.WithExtra(r.JSON)
}

// refresh redeems a refresh token as the client.
func (c *rp) refresh(t testing.TB, refreshToken string) *apiResponse {
	t.Helper()
	return c.post(t, srv.endpoint(t, "token_endpoint"), url.Values{
		"grant_type": {grantRefresh}, "refresh_token": {refreshToken},
	})
}

// introspect asks the introspection endpoint about a token, as the client.
func (c *rp) introspect(t testing.TB, token string) *apiResponse {
	t.Helper()
	r := c.post(t, srv.endpoint(t, "introspection_endpoint"), url.Values{"token": {token}})
	if r.Status != http.StatusOK {
		t.Fatalf("introspection as %s: %s", c.ID, r)
	}
	if _, ok := r.JSON["active"].(bool); !ok {
		t.Fatalf("introspection response has no boolean active: %s", r)
	}
	return r
}

// active reports whether introspection says the token is active.
func (c *rp) active(t testing.TB, token string) bool {
	t.Helper()
	return c.introspect(t, token).JSON["active"] == true
}

// wantOAuthError checks an RFC 6749 §5.2 error response.
func wantOAuthError(t testing.TB, r *apiResponse, statuses []int, codes ...string) {
	t.Helper()
	if !slices.Contains(statuses, r.Status) {
		t.Errorf("status %d, want one of %v: %s", r.Status, statuses, r)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if e := r.str("error"); !slices.Contains(codes, e) {
		t.Errorf("error = %q, want one of %v: %s", e, codes, r)
	}
}

// assertionType is the client_assertion_type of RFC 7523 §2.2.
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionClaims are the claims of a valid client assertion.
func assertionClaims(clientID, aud string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": clientID,
		"sub": clientID,
		"aud": aud,
		"jti": randomString(16),
		"iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(),
	}
}

// assertion signs claims with the client's key.
func (c *rp) assertion(t testing.TB, claims map[string]any) string {
	t.Helper()
	if c.key == nil {
		t.Fatalf("client %s has no key", c.ID)
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: c.key, KeyID: c.kid}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newFormRequest(t testing.TB, endpoint string, form url.Values) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// send sends a back-channel request and decodes a JSON answer.
func send(t testing.TB, req *http.Request) *apiResponse {
	t.Helper()
	resp, err := srv.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	r := &apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &r.JSON); err != nil {
			t.Fatalf("%s %s: invalid JSON: %v: %s", req.Method, req.URL, err, body)
		}
	}
	return r
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
