package authz

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/atrium-id/atrium/internal/redistest"
	"github.com/atrium-id/atrium/storage"
	redisstore "github.com/atrium-id/atrium/storage/redis"
)

// exchangeEnv is a provider with token exchange on, its clock movable.
type exchangeEnv struct {
	*testEnv
	mu     sync.Mutex
	offset time.Duration
}

func (x *exchangeEnv) now() time.Time {
	x.mu.Lock()
	defer x.mu.Unlock()
	return time.Now().Add(x.offset)
}

func (x *exchangeEnv) advance(d time.Duration) {
	x.mu.Lock()
	x.offset += d
	x.mu.Unlock()
}

// The exchanging clients: "orders" is the API apiOrders, which calls
// apiBilling for its users; "billing" (JWT access tokens) is apiBilling,
// which calls apiReports; "stranger" may use the grant but exchange no
// one's tokens; "nogrant" lacks the grant.
func exchangeConfig(x *exchangeEnv) func(*Config) {
	return func(c *Config) {
		c.Now = x.now
		c.Resources = []Resource{{URI: apiOrders, Name: "orders"}, {URI: apiBilling, Name: "billing"}, {URI: apiReports, Name: "reports"}}
		c.TokenExchange = TokenExchange{Enabled: true, Clients: map[string]TokenExchangeClient{
			"orders":  {SubjectResources: []string{apiOrders}},
			"billing": {SubjectResources: []string{apiBilling}},
		}}
	}
}

func newExchangeEnv(t *testing.T, state ...storage.StateStore) *exchangeEnv {
	x := &exchangeEnv{}
	x.testEnv = newTestEnvWith(t, exchangeConfig(x), state...)
	x.addResourceClient(t, "rsapp", "")
	for _, c := range []*storage.Client{
		{ID: "orders", GrantTypes: []string{grantTokenExchange, "client_credentials"}, Scopes: []string{"openid", "email", "api"}, Audience: []string{apiBilling}},
		{ID: "billing", GrantTypes: []string{grantTokenExchange, "client_credentials"}, Scopes: []string{"api"}, Audience: []string{apiReports}, AccessTokenFormat: accessTokenFormatJWT},
		{ID: "stranger", GrantTypes: []string{grantTokenExchange}, Scopes: []string{"openid", "email", "api"}, Audience: []string{apiBilling}},
		{ID: "nogrant", GrantTypes: []string{"client_credentials"}, Scopes: []string{"openid", "email", "api"}, Audience: []string{apiBilling}},
	} {
		c.SecretHash = HashClientSecret(testSecret)
		if err := x.store.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

func exchangeBackends(t *testing.T, fn func(t *testing.T, x *exchangeEnv)) {
	t.Run("sql", func(t *testing.T) { fn(t, newExchangeEnv(t)) })
	t.Run("redis", func(t *testing.T) {
		rs, err := redisstore.Open(context.Background(), redistest.URL(t), redisstore.WithPrefix("authz-test:"+randomToken()[:12]+":"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		fn(t, newExchangeEnv(t, rs))
	})
}

// userTokens signs the user in to rsapp for apiOrders and returns its
// token response.
func (x *exchangeEnv) userTokens(t *testing.T) map[string]any {
	t.Helper()
	loc, verifier := x.authorizeWith(t, "rsapp", "openid email api offline_access", url.Values{"resource": {apiOrders}})
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
	status, tok := x.postToken(form, "rsapp", testSecret)
	if status != 200 {
		t.Fatalf("code exchange: %d %v", status, tok)
	}
	return tok
}

func (x *exchangeEnv) clientToken(t *testing.T, clientID string) string {
	t.Helper()
	status, tok := x.postToken(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}, clientID, testSecret)
	if status != 200 {
		t.Fatalf("client_credentials for %s: %d %v", clientID, status, tok)
	}
	return tok["access_token"].(string)
}

func exchangeForm(subject string, kv ...string) url.Values {
	f := url.Values{"grant_type": {grantTokenExchange}, "subject_token": {subject}, "subject_token_type": {tokenTypeAccessToken}}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			f.Del(kv[i])
			continue
		}
		f.Add(kv[i], kv[i+1])
	}
	return f
}

// storedSessionID is the SSO session an opaque access token is listed under.
func (x *exchangeEnv) storedSessionID(t *testing.T, token string) string {
	t.Helper()
	tk, err := x.p.stores.Tokens.GetToken(context.Background(), storage.KindAccessToken, token[strings.LastIndexByte(token, '.')+1:])
	if err != nil {
		t.Fatal(err)
	}
	return tk.SessionID
}

func TestTokenExchange(t *testing.T) {
	exchangeBackends(t, func(t *testing.T, x *exchangeEnv) {
		user := x.userTokens(t)
		subject := user["access_token"].(string)

		// orders, the API the user's token is for, exchanges it for a
		// token to apiBilling, acting itself (its own token as actor).
		actor := x.clientToken(t, "orders")
		status, tok := x.postToken(exchangeForm(subject, "audience", "billing", "scope", "openid email api",
			"actor_token", actor, "actor_token_type", tokenTypeAccessToken), "orders", testSecret)
		if status != 200 {
			t.Fatalf("exchange: %d %v", status, tok)
		}
		if tok["issued_token_type"] != tokenTypeAccessToken || !strings.EqualFold(tok["token_type"].(string), "bearer") ||
			tok["refresh_token"] != nil || tok["id_token"] != nil || tok["scope"] != "openid email api" {
			t.Fatalf("exchange response %v", tok)
		}
		if exp := tok["expires_in"].(float64); exp <= 0 || exp > user["expires_in"].(float64)+1 {
			t.Fatalf("expires_in %v beyond the subject token's %v", exp, user["expires_in"])
		}
		t1 := tok["access_token"].(string)
		in := x.introspectAll(t, t1)
		act, _ := in["act"].(map[string]any)
		if in["active"] != true || in["sub"] != x.userID || in["client_id"] != "orders" || !slices.Equal(audOf(in["aud"]), []string{apiBilling}) ||
			act["sub"] != "orders" || act["act"] != nil || in["scope"] != "openid email api" {
			t.Fatalf("introspection of the exchanged token: %v", in)
		}
		// Listed under the user's SSO session, as the subject token is.
		if sid := x.storedSessionID(t, t1); sid == "" || sid != x.storedSessionID(t, subject) {
			t.Fatalf("exchanged token's sid %q, subject token's %q", sid, x.storedSessionID(t, subject))
		}
		if status, info := x.userinfo(t1); status != 200 || info["sub"] != x.userID || info["email"] != testEmail {
			t.Fatalf("userinfo with the exchanged token: %d %v", status, info)
		}

		// billing exchanges that one again, for a JWT: act nests orders.
		status, tok = x.postToken(exchangeForm(t1, "resource", apiReports, "requested_token_type", tokenTypeJWT,
			"actor_token", x.clientToken(t, "billing"), "actor_token_type", tokenTypeAccessToken), "billing", testSecret)
		if status != 200 || tok["issued_token_type"] != tokenTypeJWT || tok["scope"] != "api" {
			t.Fatalf("second exchange: %d %v", status, tok)
		}
		t2 := tok["access_token"].(string)
		_, claims := x.verifyAccessJWT(t, t2)
		b, _ := json.Marshal(claims["act"])
		if claims["sub"] != x.userID || claims["client_id"] != "billing" || !slices.Equal(audOf(claims["aud"]), []string{apiReports}) ||
			string(b) != `{"act":{"sub":"orders"},"sub":"billing"}` {
			t.Fatalf("JWT of the second exchange: %v", claims)
		}
		if in := x.introspectAll(t, t2); in["active"] != true || in["act"] == nil {
			t.Fatalf("introspection of the second exchange: %v", in)
		}

		// Revoking the subject token revokes everything exchanged from it.
		x.revokeToken(t, "rsapp", subject)
		for name, tk := range map[string]string{"first": t1, "second": t2} {
			if x.introspect(t, tk) {
				t.Fatalf("the %s exchanged token is active after the subject token was revoked", name)
			}
		}
	})
}

func TestTokenExchangeRefusals(t *testing.T) {
	exchangeBackends(t, func(t *testing.T, x *exchangeEnv) {
		ctx := context.Background()
		user := x.userTokens(t)
		subject, refresh := user["access_token"].(string), user["refresh_token"].(string)
		ccToken := x.clientToken(t, "rsapp")

		// A spent subject token: refreshing replaces the access token.
		old := x.userTokens(t)
		if status, _ := x.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old["refresh_token"].(string)}}, "rsapp", testSecret); status != 200 {
			t.Fatal("refresh failed")
		}
		replaced := old["access_token"].(string)

		for _, tc := range []struct {
			name, client string
			form         url.Values
			before       func()
			err, desc    string
		}{
			{name: "missing subject_token", client: "orders", form: exchangeForm("", "subject_token", ""), err: "invalid_request", desc: "subject_token is required"},
			{name: "missing subject_token_type", client: "orders", form: exchangeForm(subject, "subject_token_type", ""), err: "invalid_request", desc: "subject_token_type is required"},
			{name: "unknown subject_token_type", client: "orders", form: url.Values{"grant_type": {grantTokenExchange}, "subject_token": {subject}, "subject_token_type": {"urn:example:saml"}}, err: "invalid_request", desc: "urn:example:saml"},
			{name: "id_token type", client: "orders", form: url.Values{"grant_type": {grantTokenExchange}, "subject_token": {subject}, "subject_token_type": {tokenTypeIDToken}}, err: "invalid_request", desc: tokenTypeIDToken},
			{name: "garbage subject token", client: "orders", form: exchangeForm("ory_at_garbage.garbage"), err: "invalid_request", desc: "not an active access token"},
			{name: "replaced subject token", client: "orders", form: exchangeForm(replaced), err: "invalid_request", desc: "not an active access token"},
			{name: "refresh token as access token", client: "orders", form: exchangeForm(refresh), err: "invalid_request", desc: "not an active access token"},
			{name: "client_credentials subject token", client: "orders", form: exchangeForm(ccToken), err: "invalid_request", desc: "not for a user"},
			{name: "public client", client: "spa", form: exchangeForm(subject, "client_id", "spa"), err: "unauthorized_client"},
			{name: "client without the grant", client: "nogrant", form: exchangeForm(subject), err: "unauthorized_client"},
			{name: "client the token is not for", client: "stranger", form: exchangeForm(subject), err: "invalid_request", desc: `tokens issued to the client 'rsapp'`},
			{name: "scope beyond the subject token", client: "orders", form: exchangeForm(subject, "scope", "openid profile"), err: "invalid_scope", desc: "profile"},
			{name: "scope beyond the client", client: "orders", form: exchangeForm(subject, "scope", "offline_access"), err: "invalid_scope", desc: "offline_access"},
			{name: "resource not the client's", client: "orders", form: exchangeForm(subject, "resource", apiReports), err: "invalid_target"},
			{name: "audience not the client's", client: "orders", form: exchangeForm(subject, "audience", "reports"), err: "invalid_target"},
			{name: "unknown audience", client: "orders", form: exchangeForm(subject, "audience", "payroll"), err: "invalid_target", desc: "payroll"},
			{name: "garbage actor token", client: "orders", form: exchangeForm(subject, "actor_token", "ory_at_x.y", "actor_token_type", tokenTypeAccessToken), err: "invalid_request", desc: "actor_token is not an active"},
			{name: "actor token of another client", client: "orders", form: exchangeForm(subject, "actor_token", x.clientToken(t, "nogrant"), "actor_token_type", tokenTypeAccessToken), err: "invalid_request", desc: "as actor_token"},
			{name: "actor token without type", client: "orders", form: exchangeForm(subject, "actor_token", subject), err: "invalid_request", desc: "actor_token_type is required"},
			{name: "actor type without token", client: "orders", form: exchangeForm(subject, "actor_token_type", tokenTypeAccessToken), err: "invalid_request"},
			{name: "requested refresh token", client: "orders", form: exchangeForm(subject, "requested_token_type", tokenTypeRefreshToken), err: "invalid_request", desc: tokenTypeRefreshToken},
			{name: "requested JWT by an opaque client", client: "orders", form: exchangeForm(subject, "requested_token_type", tokenTypeJWT), err: "invalid_request", desc: "JWT access tokens"},
			{name: "disabled user", client: "orders", form: exchangeForm(subject), err: "invalid_request", desc: "disabled", before: func() {
				x.setDisabled(t, true)
			}},
			{name: "expired subject token", client: "orders", form: exchangeForm(subject), err: "invalid_request", desc: "expired", before: func() {
				x.advance(2 * time.Hour)
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.before != nil {
					tc.before()
					t.Cleanup(func() { x.setDisabled(t, false); x.mu.Lock(); x.offset = 0; x.mu.Unlock() })
				}
				user, pass := tc.client, testSecret
				if tc.client == "spa" {
					user, pass = "", ""
				}
				status, body := x.postToken(tc.form, user, pass)
				if status != 400 || body["error"] != tc.err || !strings.Contains(body["error_description"].(string), tc.desc) || body["access_token"] != nil {
					t.Fatalf("%d %v, want 400 %s mentioning %q", status, body, tc.err, tc.desc)
				}
			})
		}

		// Nothing was issued, and no token was spent or revoked.
		for _, c := range []string{"orders", "stranger", "nogrant", "spa"} {
			if n, err := x.p.stores.Tokens.RevokeUserClientTokens(ctx, x.userID, c); err != nil || n != 0 {
				t.Fatalf("refused exchanges stored %d tokens for %s (%v)", n, c, err)
			}
		}
		if !x.introspect(t, subject) {
			t.Fatal("the subject token is no longer active")
		}
		if status, body := x.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, "rsapp", testSecret); status != 200 {
			t.Fatalf("the refresh token presented as subject_token no longer works: %d %v", status, body)
		}
	})
}

func (x *exchangeEnv) setDisabled(t *testing.T, disabled bool) {
	u, err := x.store.GetUser(context.Background(), x.userID)
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = disabled
	if err := x.store.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}

// A token exchanged from one that expires expires with it; a client
// asking for no scope gets the subject token's it may have, without
// offline_access; without resource or audience, the subject token's
// resources the client may ask for.
func TestTokenExchangeDefaults(t *testing.T) {
	x := newExchangeEnv(t)
	x.updateClient("orders", func(c *storage.Client) { c.Audience = []string{apiOrders, apiBilling} })
	subject := x.userTokens(t)["access_token"].(string)
	status, tok := x.postToken(exchangeForm(subject), "orders", testSecret)
	if status != 200 || !slices.Equal(sorted(strings.Fields(tok["scope"].(string))), []string{"api", "email", "openid"}) {
		t.Fatalf("exchange without scope: %d %v", status, tok)
	}
	in := x.introspectAll(t, tok["access_token"].(string))
	if !slices.Equal(audOf(in["aud"]), []string{apiOrders}) || in["act"] != nil {
		t.Fatalf("exchanged without audience: %v", in)
	}
}

// Ending the SSO session revokes the exchanged tokens with the others.
func TestTokenExchangeSessionEnd(t *testing.T) {
	x := newExchangeEnv(t)
	subject := x.userTokens(t)["access_token"].(string)
	status, tok := x.postToken(exchangeForm(subject, "resource", apiBilling), "orders", testSecret)
	if status != 200 {
		t.Fatalf("exchange: %d %v", status, tok)
	}
	sid := x.storedSessionID(t, tok["access_token"].(string))
	if _, err := x.p.stores.Tokens.RevokeSessionTokens(context.Background(), x.userID, sid); err != nil {
		t.Fatal(err)
	}
	if x.introspect(t, tok["access_token"].(string)) {
		t.Fatal("exchanged token active after its session ended")
	}
}

func TestTokenExchangeDisabled(t *testing.T) {
	e := newTestEnv(t)
	status, body := e.postToken(exchangeForm("x"), "app", testSecret)
	if status != 400 || body["error"] != "unsupported_grant_type" {
		t.Fatalf("exchange when disabled: %d %v", status, body)
	}
	for _, enabled := range []bool{false, true} {
		e := newTestEnvWith(t, func(c *Config) { c.TokenExchange.Enabled = enabled })
		resp, err := http.Get(e.srv.URL + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Grants []string `json:"grant_types_supported"`
		}
		json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if slices.Contains(doc.Grants, grantTokenExchange) != enabled {
			t.Fatalf("enabled %v: grant_types_supported %v", enabled, doc.Grants)
		}
	}
}

// A DPoP-bound subject token is exchanged only with a proof of its key,
// and the new token is bound to it; a proof with an unbound subject
// token binds the new token.
func TestTokenExchangeDPoP(t *testing.T) {
	x := newExchangeEnv(t)
	key, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.EdDSA)
	tokenURL := x.srv.URL + pathToken
	proof := func(k dpopKey) string { return k.proof(t, "POST", tokenURL, x.now(), proofOpts{}) }

	loc, verifier := x.authorizeWith(t, "rsapp", "openid email api", url.Values{"resource": {apiOrders}})
	a := x.dpopToken(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "rsapp", proof(key))
	if a.status != 200 || a.body["token_type"] != "DPoP" {
		t.Fatalf("bound code exchange: %d %v", a.status, a.body)
	}
	bound := a.body["access_token"].(string)

	for name, proofs := range map[string][]string{"no proof": nil, "another key's proof": {proof(other)}} {
		a := x.dpopToken(exchangeForm(bound, "resource", apiBilling), "orders", proofs...)
		if a.status != 400 || a.body["error"] != "invalid_request" || !strings.Contains(a.body["error_description"].(string), "DPoP") || a.body["access_token"] != nil {
			t.Fatalf("exchange of a bound token with %s: %d %v", name, a.status, a.body)
		}
	}
	if n, err := x.p.stores.Tokens.RevokeUserClientTokens(context.Background(), x.userID, "orders"); err != nil || n != 0 {
		t.Fatalf("refused exchanges stored %d tokens (%v)", n, err)
	}
	a = x.dpopToken(exchangeForm(bound, "resource", apiBilling), "orders", proof(key))
	if a.status != 200 || a.body["token_type"] != "DPoP" {
		t.Fatalf("exchange of a bound token with its key's proof: %d %v", a.status, a.body)
	}
	in := x.introspectAll(t, a.body["access_token"].(string))
	if cnf, _ := in["cnf"].(map[string]any); in["token_type"] != "DPoP" || cnf["jkt"] != key.jkt(t) {
		t.Fatalf("introspection of the exchanged bound token: %v", in)
	}

	// An unbound subject token and a proof: the new token is bound.
	subject := x.userTokens(t)["access_token"].(string)
	a = x.dpopToken(exchangeForm(subject, "resource", apiBilling), "orders", proof(other))
	if a.status != 200 || a.body["token_type"] != "DPoP" {
		t.Fatalf("exchange with a proof: %d %v", a.status, a.body)
	}
	if cnf, _ := x.introspectAll(t, a.body["access_token"].(string))["cnf"].(map[string]any); cnf["jkt"] != other.jkt(t) {
		t.Fatal("the token exchanged with a proof is not bound to its key")
	}
}

// Revoking the user's consent to the app whose token was exchanged
// revokes the exchanged token too.
func TestTokenExchangeConsentRevoked(t *testing.T) {
	x := newExchangeEnv(t)
	subject := x.userTokens(t)["access_token"].(string)
	status, tok := x.postToken(exchangeForm(subject, "resource", apiBilling), "orders", testSecret)
	if status != 200 {
		t.Fatalf("exchange: %d %v", status, tok)
	}
	if err := x.p.RevokeConsent(httptest.NewRequest(http.MethodPost, "/account/apps", nil), x.userID, "rsapp"); err != nil {
		t.Fatal(err)
	}
	if x.introspect(t, tok["access_token"].(string)) {
		t.Fatal("exchanged token active after the user revoked the consent to the subject token's app")
	}
}

// Registration offers the grant only when token exchange is on, and never
// to a public client.
func TestTokenExchangeRegistration(t *testing.T) {
	md := func(auth string) map[string]any {
		return map[string]any{"token_endpoint_auth_method": auth, "redirect_uris": []string{"https://rp.example/cb"},
			"grant_types": []string{"authorization_code", grantTokenExchange}}
	}
	allow := func(r *Registration) { r.AllowedGrantTypes = []string{"authorization_code", grantTokenExchange} }
	off := newRegistrationEnv(t, RegistrationOpen, nil, allow)
	if status, out := off.registerJSON("", md("client_secret_basic")); status != 400 || out["error"] != "invalid_client_metadata" {
		t.Fatalf("registration with the grant while token exchange is off: %d %v", status, out)
	}
	on := newTestEnvWith(t, func(c *Config) {
		c.Registration.Mode = RegistrationOpen
		allow(&c.Registration)
		c.TokenExchange.Enabled = true
	})
	if status, out := on.registerJSON("", md("none")); status != 400 || out["error"] != "invalid_client_metadata" {
		t.Fatalf("registration of a public client with the grant: %d %v", status, out)
	}
	if status, out := on.registerJSON("", md("client_secret_basic")); status != 201 {
		t.Fatalf("registration with the grant while token exchange is on: %d %v", status, out)
	}
}

// TestTokenExchangePairwiseActor: a user acting, named in act, is named
// as the exchanging client sees users; a pairwise client never sees the
// user's ID there.
func TestTokenExchangePairwiseActor(t *testing.T) {
	x := newExchangeEnv(t)
	ctx := context.Background()
	orders, err := x.store.GetClient(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	orders.SubjectType, orders.Sector = subjectPairwise, "orders.example"
	if err := x.store.UpdateClient(ctx, orders); err != nil {
		t.Fatal(err)
	}
	subject := x.userTokens(t)["access_token"].(string)
	status, tok := x.postToken(exchangeForm(subject, "audience", "billing", "scope", "api",
		"actor_token", subject, "actor_token_type", tokenTypeAccessToken), "orders", testSecret)
	if status != 200 {
		t.Fatalf("exchange: %d %v", status, tok)
	}
	in := x.introspectAll(t, tok["access_token"].(string))
	act, _ := in["act"].(map[string]any)
	want := x.p.subjectFor(orders, x.userID)
	if want == x.userID || in["sub"] != want || act["sub"] != want || act["client_id"] != "rsapp" {
		t.Fatalf("introspection sub %v act %v, want both %q (pairwise), act client_id rsapp", in["sub"], act, want)
	}
}
