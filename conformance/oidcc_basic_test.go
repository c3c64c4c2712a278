package conformance

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// The OpenID Foundation's Basic OP plan (oidcc-basic-certification-test-plan):
// the modules other files do not mirror already. Each test here takes the
// response mode, so that TestOIDCCFormPostPlan runs the same checks for the
// Form Post plan (oidcc-formpost-basic-certification-test-plan), which is
// the Basic plan with response_mode=form_post.

// withMode adds response_mode=mode to extra ("" keeps the default, query).
func withMode(mode string, extra url.Values) url.Values {
	out := cloneValues(extra)
	if mode != "" {
		out.Set("response_mode", mode)
	}
	return out
}

// wantMode checks the authorization response came the way mode asks.
func wantMode(t testing.TB, z *authorization, mode string) {
	t.Helper()
	want := mode
	if want == "" {
		want = "query"
	}
	if z.Mode != want {
		t.Errorf("authorization response by %q, want %q: %s", z.Mode, want, z.describe())
	}
}

// basicClient registers a fresh confidential client (its own consent,
// sessions and grants) and creates a fresh user.
func basicClient(t *testing.T, name string, md map[string]any) (*rp, *user) {
	t.Helper()
	if md == nil {
		md = map[string]any{}
	}
	c := registerRP(t, name, md)
	if m, _ := md["token_endpoint_auth_method"].(string); m != "" {
		c.AuthMethod = m
	}
	u, err := srv.createUser(name + "-" + randomString(3))
	if err != nil {
		t.Fatal(err)
	}
	return c, u
}

// modeSignIn signs u in to c in a new browser with the response mode.
func modeSignIn(t *testing.T, c *rp, u *user, mode string, r request) (*browser, *login) {
	t.Helper()
	b := newBrowser(t)
	r.extra = withMode(mode, r.extra)
	l := b.signIn(c, u, r)
	wantMode(t, l.authorization, mode)
	return b, l
}

// TestOIDCCIdTokenSignature mirrors oidcc-idtoken-signature: with no
// id_token_signed_response_alg registered, the id_token is signed RS256,
// and its kid names a key of the JWKS.
func TestOIDCCIdTokenSignature(t *testing.T) { idTokenSignature(t, "") }

func idTokenSignature(t *testing.T, mode string) {
	t.Parallel()
	c, u := basicClient(t, "idtoken-signature", nil)
	_, l := modeSignIn(t, c, u, mode, request{}) // signIn verifies it with the JWKS
	raw := l.rawIDToken(t)
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Header
	if h.Algorithm != string(jose.RS256) {
		t.Errorf("alg = %s, want RS256", h.Algorithm)
	}
	set := fetchJWKS(t)
	keys := set.Key(h.KeyID)
	if h.KeyID == "" || len(keys) != 1 {
		t.Fatalf("kid %q matches %d keys of the JWKS, want exactly one", h.KeyID, len(keys))
	}
	if _, err := jws.Verify(keys[0].Key); err != nil {
		t.Errorf("the id_token does not verify with the JWKS key %q: %v", h.KeyID, err)
	}
}

// fetchJWKS returns the provider's key set.
func fetchJWKS(t testing.TB) *jose.JSONWebKeySet {
	t.Helper()
	raw, err := json.Marshal(fetchJSON(t, srv.endpoint(t, "jwks_uri")))
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	return &set
}

// TestOIDCCUserinfoGet mirrors oidcc-userinfo-get: UserInfo by GET with
// the access token in the Authorization header.
func TestOIDCCUserinfoGet(t *testing.T) { userinfoModule(t, "", "get") }

// TestOIDCCUserinfoPostHeader mirrors oidcc-userinfo-post-header: by POST,
// the token in the Authorization header.
func TestOIDCCUserinfoPostHeader(t *testing.T) { userinfoModule(t, "", "post-header") }

// TestOIDCCUserinfoPostBody mirrors oidcc-userinfo-post-body: by POST, the
// token in the form body (RFC 6750 §2.2).
func TestOIDCCUserinfoPostBody(t *testing.T) { userinfoModule(t, "", "post-body") }

func userinfoModule(t *testing.T, mode, how string) {
	t.Parallel()
	c, u := basicClient(t, "userinfo-"+how, nil)
	_, l := modeSignIn(t, c, u, mode, request{})
	info := userinfo(t, how, l.token.AccessToken).JSON
	if info["sub"] != l.idToken.Subject {
		t.Errorf("userinfo sub = %v, want the id_token's %q", info["sub"], l.idToken.Subject)
	}
	checkStandardClaims(t, info)
}

// checkStandardClaims checks the JSON types of the standard claims present
// (OpenID Connect Core §5.1), as the suite's ValidateUserInfoStandardClaims
// does.
func checkStandardClaims(t testing.TB, claims map[string]any) {
	t.Helper()
	for k, v := range claims {
		ok := true
		switch k {
		case "sub", "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
			"profile", "picture", "website", "email", "gender", "birthdate", "zoneinfo", "locale", "phone_number":
			_, ok = v.(string)
		case "email_verified", "phone_number_verified":
			_, ok = v.(bool)
		case "updated_at":
			_, ok = v.(float64)
		case "address":
			var a map[string]any
			if a, ok = v.(map[string]any); ok {
				for part, pv := range a {
					if _, isString := pv.(string); !isString || !slices.Contains([]string{"formatted", "street_address",
						"locality", "region", "postal_code", "country"}, part) {
						t.Errorf("address.%s = %#v: not a string member of the address claim", part, pv)
					}
				}
			}
		}
		if !ok {
			t.Errorf("claim %s = %#v has the wrong JSON type", k, v)
		}
	}
	if s, ok := claims["sub"].(string); !ok || s == "" || len(s) > 255 {
		t.Errorf("sub = %#v, want a string of 1 to 255 characters", claims["sub"])
	}
}

// setProfile fills in the signed-in user's profile on the account page,
// so that the phone and address scopes have something to release.
func setProfile(t testing.TB, b *browser, set url.Values) {
	t.Helper()
	p := b.get(srv.issuer + "/account/profile")
	var f *form
	for _, pf := range p.Forms {
		if _, ok := pf.Types["phone_number"]; ok {
			f = pf
		}
	}
	if f == nil {
		t.Fatalf("no profile form with phone_number: %s", p.describe())
	}
	after := b.submit(f, set)
	if after.Status >= 400 {
		t.Fatalf("saving the profile: %s", after.describe())
	}
}

// profileValues are what setProfile stores for the scope tests.
var profileValues = url.Values{
	"phone_number": {"+44 20 7946 0000"}, "street_address": {"12 Conformance Road"},
	"postal_code": {"SW1Y 4LE"}, "locality": {"London"}, "country": {"United Kingdom"},
}

// scopeModule signs in with scopes and checks UserInfo releases the claims
// of each requested scope (the user has a value of each) and none of the
// others, as oidcc-scope-* do.
func scopeModule(t *testing.T, mode, name string, scopes []string) {
	t.Parallel()
	c, u := basicClient(t, name, map[string]any{"scope": "openid profile email address phone offline_access"})
	b := newBrowser(t)
	b.signIn(c, u, request{scopes: []string{"openid", "profile"}})
	setProfile(t, b, profileValues)

	z := b.authorize(c, request{scopes: scopes, extra: withMode(mode, url.Values{"prompt": {"consent"}})}, actor{user: u})
	wantMode(t, z, mode)
	tok := c.exchange(t, z.code(t, c), z.verifier)
	idt, _ := c.idToken(t, tok, idWant{nonce: z.nonce, sub: u.Sub})
	if sc, _ := tok.Extra("scope").(string); sc != "" && !sameWords(sc, strings.Join(scopes, " ")) {
		t.Errorf("token response scope %q, want the requested %q", sc, strings.Join(scopes, " "))
	}
	info := userinfo(t, "get", tok.AccessToken).JSON
	if info["sub"] != idt.Subject {
		t.Errorf("userinfo sub = %v, id_token sub %q", info["sub"], idt.Subject)
	}
	checkStandardClaims(t, info)
	released := map[string][]string{
		"profile": {"name", "updated_at"},
		"email":   {"email", "email_verified"},
		"address": {"address"},
		"phone":   {"phone_number", "phone_number_verified"},
	}
	for scope, claims := range released {
		for _, claim := range claims {
			_, has := info[claim]
			switch want := slices.Contains(scopes, scope); {
			case want && !has:
				t.Errorf("scope %s granted, but userinfo lacks %s: %v", scope, claim, info)
			case !want && has:
				t.Errorf("scope %s not requested, but userinfo releases %s = %v", scope, claim, info[claim])
			}
		}
	}
	if a, ok := info["address"].(map[string]any); ok && (a["locality"] != "London" || a["postal_code"] != "SW1Y 4LE") {
		t.Errorf("address = %v, want the profile's", a)
	}
	if v, ok := info["phone_number"]; ok && v != profileValues.Get("phone_number") {
		t.Errorf("phone_number = %v, want the profile's", v)
	}
	if v, ok := info["email"]; ok && v != u.Email {
		t.Errorf("email = %v, want %q", v, u.Email)
	}
}

// sameWords reports whether two space-separated lists hold the same words.
func sameWords(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// TestOIDCCScopeProfile mirrors oidcc-scope-profile.
func TestOIDCCScopeProfile(t *testing.T) {
	scopeModule(t, "", "scope-profile", []string{"openid", "profile"})
}

// TestOIDCCScopeEmail mirrors oidcc-scope-email.
func TestOIDCCScopeEmail(t *testing.T) {
	scopeModule(t, "", "scope-email", []string{"openid", "email"})
}

// TestOIDCCScopeAddress mirrors oidcc-scope-address.
func TestOIDCCScopeAddress(t *testing.T) {
	scopeModule(t, "", "scope-address", []string{"openid", "address"})
}

// TestOIDCCScopePhone mirrors oidcc-scope-phone.
func TestOIDCCScopePhone(t *testing.T) {
	scopeModule(t, "", "scope-phone", []string{"openid", "phone"})
}

// TestOIDCCScopeAll mirrors oidcc-scope-all.
func TestOIDCCScopeAll(t *testing.T) {
	scopeModule(t, "", "scope-all", []string{"openid", "profile", "email", "address", "phone"})
}

// TestOIDCCEnsureOtherScopeOrderSucceeds mirrors
// oidcc-ensure-other-scope-order-succeeds: "email openid" works as "openid
// email" does (RFC 6749 §3.3: the order does not matter).
func TestOIDCCEnsureOtherScopeOrderSucceeds(t *testing.T) {
	scopeModule(t, "", "scope-order", []string{"email", "openid"})
}

// parameterModule signs in once, then sends an authorization request with
// extra riding the SSO session: it must succeed without a page, for the
// same user. It returns the second login.
func parameterModule(t *testing.T, mode, name string, extra func(first *login, u *user) url.Values) *login {
	t.Helper()
	c, u := basicClient(t, name, nil)
	b, first := modeSignIn(t, c, u, mode, request{})
	l := b.signIn(c, u, request{extra: withMode(mode, extra(first, u))})
	wantMode(t, l.authorization, mode)
	if l.Logins != 0 || l.Consents != 0 {
		t.Errorf("the SSO session and consent should suffice, got %d login and %d consent pages", l.Logins, l.Consents)
	}
	if l.idToken.Subject != first.idToken.Subject {
		t.Errorf("sub = %q, want %q", l.idToken.Subject, first.idToken.Subject)
	}
	return l
}

// TestOIDCCDisplayPage mirrors oidcc-display-page: display=page is
// accepted.
func TestOIDCCDisplayPage(t *testing.T) { displayModule(t, "", "page") }

// TestOIDCCDisplayPopup mirrors oidcc-display-popup: display=popup is
// accepted.
func TestOIDCCDisplayPopup(t *testing.T) { displayModule(t, "", "popup") }

func displayModule(t *testing.T, mode, display string) {
	t.Parallel()
	// The modules sign in with the parameter: the login page must show.
	c, u := basicClient(t, "display-"+display, nil)
	z := newBrowser(t).authorize(c, request{extra: withMode(mode, url.Values{"display": {display}})}, actor{user: u})
	wantMode(t, z, mode)
	if z.Logins != 1 {
		t.Errorf("display=%s: %d login forms, want 1", display, z.Logins)
	}
	tok := c.exchange(t, z.code(t, c), z.verifier)
	c.idToken(t, tok, idWant{nonce: z.nonce, sub: u.Sub})
}

// TestOIDCCIdTokenHint mirrors oidcc-id-token-hint: prompt=none with the
// id_token of the session as id_token_hint gets a code silently, for the
// same sub.
func TestOIDCCIdTokenHint(t *testing.T) { idTokenHintModule(t, "") }

func idTokenHintModule(t *testing.T, mode string) {
	t.Parallel()
	parameterModule(t, mode, "id-token-hint", func(first *login, _ *user) url.Values {
		return url.Values{"prompt": {"none"}, "id_token_hint": {first.rawIDToken(t)}}
	})
}

// TestOIDCCLoginHint mirrors oidcc-login-hint: login_hint is accepted,
// and (Atrium's choice) fills in the email of the login form.
func TestOIDCCLoginHint(t *testing.T) { loginHintModule(t, "") }

func loginHintModule(t *testing.T, mode string) {
	t.Parallel()
	c, u := basicClient(t, "login-hint", nil)
	b := newBrowser(t)
	hint := url.Values{"login_hint": {u.Email}}
	z := b.authorize(c, request{extra: withMode(mode, hint)}, actor{}) // stops at the login form
	f := z.Page.loginForm()
	if f == nil {
		t.Fatalf("want the login form, got %s", z.describe())
	}
	if got := f.Values.Get("email"); got != u.Email {
		t.Errorf("login form email = %q, want the login_hint %q", got, u.Email)
	}
	z.outcome = b.authorizeFrom(z.Page, actor{user: u})
	wantMode(t, z, mode)
	tok := c.exchange(t, z.code(t, c), z.verifier)
	c.idToken(t, tok, idWant{nonce: z.nonce, sub: u.Sub})
}

// TestOIDCCUILocales mirrors oidcc-ui-locales: ui_locales is accepted; a
// language Atrium has (de) is the login page's.
func TestOIDCCUILocales(t *testing.T) { uiLocalesModule(t, "") }

func uiLocalesModule(t *testing.T, mode string) {
	t.Parallel()
	c, u := basicClient(t, "ui-locales", nil)
	b := newBrowser(t)
	// The suite sends "se" unless configured; se is not a language of
	// Atrium, so the list goes on to one that is.
	z := b.authorize(c, request{extra: withMode(mode, url.Values{"ui_locales": {"se de"}})}, actor{})
	p := z.Page
	if p.loginForm() == nil {
		t.Fatalf("want the login form, got %s", z.describe())
	}
	if !strings.Contains(p.Body, `lang="de"`) {
		t.Errorf("ui_locales=\"se de\": the login page is not in German: %s", tail(p.Body, 300))
	}
	z.outcome = b.authorizeFrom(p, actor{user: u})
	wantMode(t, z, mode)
	tok := c.exchange(t, z.code(t, c), z.verifier)
	c.idToken(t, tok, idWant{nonce: z.nonce, sub: u.Sub})
}

// TestOIDCCClaimsLocales mirrors oidcc-claims-locales: claims_locales is
// accepted and UserInfo still answers.
func TestOIDCCClaimsLocales(t *testing.T) { claimsLocalesModule(t, "") }

func claimsLocalesModule(t *testing.T, mode string) {
	t.Parallel()
	l := parameterModule(t, mode, "claims-locales", func(*login, *user) url.Values {
		return url.Values{"claims_locales": {"se"}}
	})
	info := userinfo(t, "get", l.token.AccessToken).JSON
	if info["sub"] != l.idToken.Subject {
		t.Errorf("userinfo sub = %v, want %q", info["sub"], l.idToken.Subject)
	}
	checkStandardClaims(t, info)
}

// TestOIDCCEnsureRequestWithAcrValuesSucceeds mirrors
// oidcc-ensure-request-with-acr-values-succeeds: acr_values with the
// advertised acr_values_supported succeeds, and the id_token's acr is one
// of them (the module warns otherwise).
func TestOIDCCEnsureRequestWithAcrValuesSucceeds(t *testing.T) { acrValuesModule(t, "") }

func acrValuesModule(t *testing.T, mode string) {
	t.Parallel()
	supported, ok := stringList(srv.discovery, "acr_values_supported")
	if !ok || len(supported) == 0 {
		supported = []string{"1", "2"} // what the module sends then
	}
	c, u := basicClient(t, "acr-values", nil)
	_, l := modeSignIn(t, c, u, mode, request{extra: url.Values{"acr_values": {strings.Join(supported, " ")}}})
	acr, _ := l.claims["acr"].(string)
	if !slices.Contains(supported, acr) {
		t.Errorf("acr = %q, want one of the requested %v", acr, supported)
	}
}

// TestOIDCCClaimsEssential mirrors oidcc-claims-essential: with scope
// openid, a claims parameter asking for name as essential at UserInfo
// succeeds, and the id_token carries no name. Atrium advertises
// claims_parameter_supported false and releases claims by scope only, so
// UserInfo has no name: the module's warning, not a failure (OpenID
// Connect Core §5.5 makes the parameter optional).
func TestOIDCCClaimsEssential(t *testing.T) { claimsEssentialModule(t, "") }

func claimsEssentialModule(t *testing.T, mode string) {
	t.Parallel()
	if srv.discovery["claims_parameter_supported"] != false {
		t.Errorf("claims_parameter_supported = %v; this test expects false", srv.discovery["claims_parameter_supported"])
	}
	claims, _ := json.Marshal(map[string]any{"userinfo": map[string]any{"name": map[string]any{"essential": true}}})
	c, u := basicClient(t, "claims-essential", nil)
	_, l := modeSignIn(t, c, u, mode, request{scopes: []string{"openid"}, extra: url.Values{"claims": {string(claims)}}})
	info := userinfo(t, "get", l.token.AccessToken).JSON
	if info["sub"] != l.idToken.Subject {
		t.Errorf("userinfo sub = %v, want %q", info["sub"], l.idToken.Subject)
	}
	checkStandardClaims(t, info)
	if v, ok := l.claims["name"]; ok {
		t.Errorf("the id_token carries name = %v; it was asked for at UserInfo only", v)
	}
}

// TestOIDCCServerClientSecretPost mirrors oidcc-server-client-secret-post:
// the code flow for a client authenticating with client_secret_post.
func TestOIDCCServerClientSecretPost(t *testing.T) { secretPostModule(t, "") }

func secretPostModule(t *testing.T, mode string) {
	t.Parallel()
	c, u := basicClient(t, "secret-post", map[string]any{"token_endpoint_auth_method": authPost})
	_, l := modeSignIn(t, c, u, mode, request{})
	// The secret in the Basic header instead is refused: the client
	// registered client_secret_post.
	basic := *c
	basic.AuthMethod = authBasic
	z := newBrowser(t).authorize(c, request{}, actor{user: u})
	r := basic.post(t, srv.endpoint(t, "token_endpoint"), url.Values{
		"grant_type": {grantCode}, "code": {z.code(t, c)}, "redirect_uri": {c.RedirectURI}, "code_verifier": {z.verifier},
	})
	wantOAuthError(t, r, status400or401, "invalid_client")
	if info := userinfo(t, "post-body", l.token.AccessToken); info.str("sub") != l.idToken.Subject {
		t.Errorf("userinfo sub = %q, want %q", info.str("sub"), l.idToken.Subject)
	}
}

// TestOIDCCEnsureRequestWithValidPkceSucceeds mirrors
// oidcc-ensure-request-with-valid-pkce-succeeds: a confidential client's
// S256 challenge and verifier are accepted.
func TestOIDCCEnsureRequestWithValidPkceSucceeds(t *testing.T) { validPKCEModule(t, "") }

func validPKCEModule(t *testing.T, mode string) {
	t.Parallel()
	c, u := basicClient(t, "valid-pkce", nil)
	verifier := oauth2.GenerateVerifier()
	b := newBrowser(t)
	z := b.authorize(c, request{noPKCE: true, extra: withMode(mode, url.Values{
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	})}, actor{user: u})
	wantMode(t, z, mode)
	tok := c.exchange(t, z.code(t, c), verifier)
	c.idToken(t, tok, idWant{nonce: z.nonce, sub: u.Sub})
}

// TestOIDCCCodereuse30Seconds mirrors oidcc-codereuse-30seconds: a code
// replayed 30 seconds after its use is refused with invalid_grant, and
// the access token it gave is revoked. The wait is the module's: Atrium
// must remember a used code that long, not only for an instant.
func TestOIDCCCodereuse30Seconds(t *testing.T) { codeReuse30Module(t, "") }

func codeReuse30Module(t *testing.T, mode string) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits 30 seconds")
	}
	c, u := basicClient(t, "codereuse-30s", nil)
	z := newBrowser(t).authorize(c, request{extra: withMode(mode, nil)}, actor{user: u})
	wantMode(t, z, mode)
	code := z.code(t, c)
	tok := c.exchange(t, code, z.verifier)
	time.Sleep(30 * time.Second)
	r := c.post(t, srv.endpoint(t, "token_endpoint"), url.Values{
		"grant_type": {grantCode}, "code": {code}, "redirect_uri": {c.RedirectURI}, "code_verifier": {z.verifier},
	})
	wantOAuthError(t, r, status400, "invalid_grant")
	if r := userinfoResponse(t, "get", tok.AccessToken); r.Status != http.StatusUnauthorized {
		t.Errorf("userinfo with the access token of the replayed code: %s, want 401", r)
	}
}
