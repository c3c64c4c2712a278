package authz

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// verifyAccessJWT checks token against the provider's JWKS, as a resource
// server would, and returns its header typ and claims.
func (e *testEnv) verifyAccessJWT(t *testing.T, token string) (string, map[string]any) {
	t.Helper()
	resp, err := http.Get(e.srv.URL + pathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	err = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatalf("access token %q is not a JWS: %v", token, err)
	}
	h := jws.Signatures[0].Header
	keys := set.Key(h.KeyID)
	if len(keys) == 0 {
		t.Fatalf("kid %q is not in the JWKS", h.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("access token does not verify with the JWKS: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	return typ, claims
}

func (e *testEnv) revokeToken(t *testing.T, clientID, token string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+pathRevoke, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, testSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revocation: %d", resp.StatusCode)
	}
}

func TestJWTAccessTokens(t *testing.T) {
	stateBackends(t, func(t *testing.T, e *testEnv) {
		e.addResourceClient(t, "jwtapp", accessTokenFormatJWT)
		start := time.Now()
		loc, verifier := e.authorizeWith(t, "jwtapp", "openid email offline_access", url.Values{"resource": {apiOrders}})
		status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "jwtapp", testSecret)
		if status != 200 {
			t.Fatalf("code exchange: %d %v", status, tok)
		}
		at := tok["access_token"].(string)
		// Capped by JWTAccessTokenLifespan (10m), not the hour of opaque tokens.
		if in, _ := tok["expires_in"].(float64); in < 500 || in > 601 {
			t.Fatalf("expires_in = %v, want at most 600", tok["expires_in"])
		}
		typ, claims := e.verifyAccessJWT(t, at)
		if typ != "at+jwt" {
			t.Fatalf("typ = %q, want at+jwt", typ)
		}
		num := func(k string) time.Time { f, _ := claims[k].(float64); return time.Unix(int64(f), 0) }
		if claims["iss"] != e.srv.URL || claims["sub"] != e.userID || claims["client_id"] != "jwtapp" ||
			!slices.Equal(audOf(claims["aud"]), []string{apiOrders}) || claims["scope"] != "openid email offline_access" ||
			claims["jti"] == nil || claims["jti"] == "" || claims["acr"] == nil || claims["amr"] == nil {
			t.Fatalf("claims = %v", claims)
		}
		if iat, exp, auth := num("iat"), num("exp"), num("auth_time"); iat.Before(start.Add(-time.Second)) ||
			exp.Sub(iat) < 9*time.Minute || exp.Sub(iat) > 10*time.Minute+time.Second || auth.Before(start.Add(-time.Second)) || auth.After(iat) {
			t.Fatalf("iat %v, exp %v, auth_time %v", iat, exp, auth)
		}

		// Atrium's own endpoints take it, and introspection shows its aud.
		if s, _ := e.userinfo(at); s != 200 {
			t.Fatalf("userinfo with a JWT access token: %d", s)
		}
		if got := e.introspectAs(t, "jwtapp", at); got["active"] != true || !slices.Equal(audOf(got["aud"]), []string{apiOrders}) {
			t.Fatalf("introspection = %v", got)
		}
		// A JWT whose payload was changed is refused though its signature
		// segment names a stored token.
		parts := strings.Split(at, ".")
		forged := strings.Replace(parts[1], parts[1][:4], base64.RawURLEncoding.EncodeToString([]byte("{\"x")), 1)
		if s, _ := e.userinfo(parts[0] + "." + forged + "." + parts[2]); s != 401 {
			t.Fatalf("userinfo with a forged JWT: %d, want 401", s)
		}

		// Refresh issues a new JWT and retires the old one.
		status, tok2 := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, "jwtapp", testSecret)
		if status != 200 {
			t.Fatalf("refresh: %d %v", status, tok2)
		}
		at2 := tok2["access_token"].(string)
		if _, c2 := e.verifyAccessJWT(t, at2); c2["jti"] == claims["jti"] || c2["sub"] != e.userID || c2["auth_time"] != claims["auth_time"] {
			t.Fatalf("refreshed claims = %v (first %v)", c2, claims)
		}
		if e.introspectAs(t, "jwtapp", at)["active"] == true {
			t.Fatal("the access token a refresh replaced is still active")
		}

		// Revoked: inactive at introspection, refused by userinfo.
		e.revokeToken(t, "jwtapp", at2)
		if e.introspectAs(t, "jwtapp", at2)["active"] == true {
			t.Fatal("a revoked JWT access token is still active")
		}
		if s, _ := e.userinfo(at2); s != 401 {
			t.Fatalf("userinfo with a revoked JWT: %d, want 401", s)
		}

		// client_credentials: sub is the client, aud defaults to the issuer.
		status, cc := e.postToken(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}, "jwtapp", testSecret)
		if status != 200 {
			t.Fatalf("client_credentials: %d %v", status, cc)
		}
		_, ccClaims := e.verifyAccessJWT(t, cc["access_token"].(string))
		if ccClaims["sub"] != "jwtapp" || !slices.Equal(audOf(ccClaims["aud"]), []string{e.srv.URL}) || ccClaims["auth_time"] != nil {
			t.Fatalf("client_credentials claims = %v", ccClaims)
		}
		if got := e.introspectAs(t, "jwtapp", cc["access_token"].(string)); got["active"] != true || !slices.Equal(audOf(got["aud"]), []string{e.srv.URL}) {
			t.Fatalf("client_credentials introspection = %v", got)
		}

		// Opaque stays the default.
		if op := e.grant(t, "app", "openid")["access_token"].(string); isJWT(op) {
			t.Fatalf("an opaque client got a JWT: %s", op)
		}
	})
}

// TestJWTAccessTokenExpiry: a JWT access token expires by the provider's
// clock after JWTAccessTokenLifespan, though opaque ones live an hour.
func TestJWTAccessTokenExpiry(t *testing.T) {
	now := time.Now()
	e := newTestEnvWith(t, func(c *Config) { c.Now = func() time.Time { return now } })
	e.addResourceClient(t, "jwtapp", accessTokenFormatJWT)
	now = time.Now() // after the client's creation
	status, cc := e.postToken(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}, "jwtapp", testSecret)
	if status != 200 {
		t.Fatalf("client_credentials: %d %v", status, cc)
	}
	at := cc["access_token"].(string)
	if e.introspectAs(t, "jwtapp", at)["active"] != true {
		t.Fatalf("a fresh JWT access token is inactive: %v", e.introspectAs(t, "jwtapp", at))
	}
	now = now.Add(9 * time.Minute)
	if e.introspectAs(t, "jwtapp", at)["active"] != true {
		t.Fatal("a JWT access token is inactive within its 10 minutes")
	}
	now = now.Add(2 * time.Minute)
	if e.introspectAs(t, "jwtapp", at)["active"] == true {
		t.Fatal("a JWT access token is active past tokens.jwt_access_token_lifespan")
	}
}

// A DPoP-bound JWT access token names its key (cnf.jkt), so a resource
// server validating it itself can check the proof; an unbound one has none.
func TestJWTAccessTokenDPoPBinding(t *testing.T) {
	e := newTestEnv(t)
	e.addResourceClient(t, "jwtapp", accessTokenFormatJWT)
	key := newDPoPKey(t, jose.ES256)
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}
	a := e.dpopToken(form, "jwtapp", key.proof(t, "POST", e.srv.URL+pathToken, time.Now(), proofOpts{}))
	if a.status != 200 || a.body["token_type"] != "DPoP" {
		t.Fatalf("client_credentials with a proof: %d %v", a.status, a.body)
	}
	_, claims := e.verifyAccessJWT(t, a.body["access_token"].(string))
	if cnf, _ := claims["cnf"].(map[string]any); cnf == nil || cnf["jkt"] != key.jkt(t) {
		t.Fatalf("claims = %v, want cnf.jkt of the proof's key", claims)
	}
	a = e.dpopToken(form, "jwtapp")
	if _, claims := e.verifyAccessJWT(t, a.body["access_token"].(string)); a.status != 200 || claims["cnf"] != nil {
		t.Fatalf("bearer JWT: %d, claims %v, want no cnf", a.status, claims)
	}
}
