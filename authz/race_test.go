package authz

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atrium-id/atrium/authz/keys"
	"github.com/atrium-id/atrium/internal/redistest"
	"github.com/atrium-id/atrium/storage"
	redisstore "github.com/atrium-id/atrium/storage/redis"
)

// stateBackends runs fn against each store the grant state can live in.
func stateBackends(t *testing.T, fn func(t *testing.T, e *testEnv)) {
	t.Run("sql", func(t *testing.T) { fn(t, newTestEnv(t)) })
	t.Run("redis", func(t *testing.T) {
		rs, err := redisstore.Open(context.Background(), redistest.URL(t), redisstore.WithPrefix("authz-test:"+randomToken()[:12]+":"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		fn(t, newTestEnv(t, rs))
	})
}

// race posts form twice at the same instant and returns both answers.
func (e *testEnv) race(form url.Values) raceResult {
	var statuses [2]int
	var bodies [2]map[string]any
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 2 {
		wg.Go(func() {
			<-start
			statuses[i], bodies[i] = e.postToken(form, "app", testSecret)
		})
	}
	close(start)
	wg.Wait()
	return raceResult{statuses, bodies}
}

type raceResult struct {
	statuses [2]int
	bodies   [2]map[string]any
}

// grant signs in with a fresh browser and exchanges the code: the token
// response of a new grant.
func (e *testEnv) grant(t *testing.T, clientID, scope string) map[string]any {
	t.Helper()
	verifier, challenge := pkcePair()
	code := e.signIn(e.browser(), codeParams(clientID, scope, challenge)).Query().Get("code")
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, clientID, testSecret)
	if status != 200 {
		t.Fatalf("code exchange: %d %v", status, tok)
	}
	return tok
}

// oneWinner checks that exactly one of two racing requests succeeded and
// the other got invalid_grant, and returns the winner's body.
func oneWinner(t *testing.T, r raceResult) map[string]any {
	t.Helper()
	statuses, bodies := r.statuses, r.bodies
	switch {
	case statuses[0] == 200 && statuses[1] == 400 && bodies[1]["error"] == "invalid_grant":
		return bodies[0]
	case statuses[1] == 200 && statuses[0] == 400 && bodies[0]["error"] == "invalid_grant":
		return bodies[1]
	}
	t.Fatalf("racing requests answered %d %v and %d %v, want one 200 and one 400 invalid_grant",
		statuses[0], bodies[0], statuses[1], bodies[1])
	return nil
}

// TestConcurrentRedemption redeems one code, then one refresh token, from
// two requests at once: exactly one wins and the other gets invalid_grant
// and, counting as reuse, revokes the grant, the winner's new tokens too.
func TestConcurrentRedemption(t *testing.T) {
	stateBackends(t, func(t *testing.T, e *testEnv) {
		for range 10 {
			verifier, challenge := pkcePair()
			code := e.signIn(e.browser(), codeParams("app", "openid offline_access", challenge)).Query().Get("code")
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
			oneWinner(t, e.race(form))
		}

		rt := e.grant(t, "app", "openid offline_access")["refresh_token"].(string)
		var winners []string
		for range 10 {
			won := oneWinner(t, e.race(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}))
			winners = append(winners, won["access_token"].(string))
			// Start the next round from a fresh grant.
			rt = e.grant(t, "app", "openid offline_access")["refresh_token"].(string)
		}
		// The loser's attempt was reuse: once the delayed second revocation
		// has run, none of the winners' tokens is active, however the
		// writes interleaved.
		time.Sleep(reuseRevokeDelay + 500*time.Millisecond)
		for i, at := range winners {
			if e.introspect(t, at) {
				t.Errorf("winner %d's access token is still active after the reuse revocation", i)
			}
		}
	})
}

var _ storage.StateStore = (*redisstore.Store)(nil)

// TestIssuedTokensExpire checks every code and token is stored with the
// lifetime it was issued with, and introspection reports it: state kept
// without an expiry would live (and be accepted) for ever.
func TestIssuedTokensExpire(t *testing.T) {
	stateBackends(t, func(t *testing.T, e *testEnv) {
		ss := e.p.stores.Tokens
		near := func(what string, got, want time.Time) {
			t.Helper()
			if d := got.Sub(want); d < -time.Minute || d > time.Minute {
				t.Errorf("%s expires at %v, want about %v", what, got, want)
			}
		}
		verifier, challenge := pkcePair()
		code := e.signIn(e.browser(), codeParams("app", "openid offline_access", challenge)).Query().Get("code")
		status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "app", testSecret)
		if status != 200 {
			t.Fatalf("code exchange: %d %v", status, tok)
		}
		now := time.Now()
		sig := func(token string) string { return token[strings.LastIndexByte(token, '.')+1:] }
		at, err := ss.GetToken(context.Background(), storage.KindAccessToken, sig(tok["access_token"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		near("access token", at.ExpiresAt, now.Add(time.Hour))
		rt, err := ss.GetToken(context.Background(), storage.KindRefreshToken, sig(tok["refresh_token"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		near("refresh token", rt.ExpiresAt, now.Add(30*24*time.Hour))
		ac, err := ss.GetToken(context.Background(), storage.KindAuthorizeCode, sig(code))
		if err != nil {
			t.Fatal(err)
		}
		near("spent authorization code", ac.ExpiresAt, now.Add(5*time.Minute+time.Hour))

		status, cc := e.postToken(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}, "app", testSecret)
		if status != 200 {
			t.Fatalf("client_credentials: %d %v", status, cc)
		}
		for _, token := range []string{tok["access_token"].(string), cc["access_token"].(string)} {
			out := e.introspectAll(t, token)
			exp, _ := out["exp"].(float64)
			near("introspected access token", time.Unix(int64(exp), 0), now.Add(time.Hour))
		}
	})
}

// TestIDTokenAlgorithmPerClient: a client registered with an ID token
// algorithm gets its ID tokens signed with it, at the code exchange and at
// every refresh; other clients get the default, RS256. Each verifies
// against the published JWKS.
func TestIDTokenAlgorithmPerClient(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	for _, alg := range []string{"ES256", "EdDSA"} {
		c, err := e.store.GetClient(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		c.ID, c.IDTokenSignedResponseAlg = "app-"+alg, alg
		if err := e.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	header := func(idToken string) map[string]any {
		seg, _, _ := strings.Cut(idToken, ".")
		b, _ := base64.RawURLEncoding.DecodeString(seg)
		var h map[string]any
		_ = json.Unmarshal(b, &h)
		return h
	}
	for client, want := range map[string]string{"app": "RS256", "app-ES256": "ES256", "app-EdDSA": "EdDSA"} {
		verifier, challenge := pkcePair()
		code := e.signIn(e.browser(), codeParams(client, "openid offline_access", challenge)).Query().Get("code")
		status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, client, testSecret)
		if status != 200 {
			t.Fatalf("%s: code exchange: %d %v", client, status, tok)
		}
		status, refreshed := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, client, testSecret)
		if status != 200 {
			t.Fatalf("%s: refresh: %d %v", client, status, refreshed)
		}
		for when, idt := range map[string]any{"code exchange": tok["id_token"], "refresh": refreshed["id_token"]} {
			s, _ := idt.(string)
			h := header(s)
			if h["alg"] != want || h[keys.AlgorithmHeader] != nil {
				t.Errorf("%s, %s: ID token header %v, want alg %s", client, when, h, want)
			}
			if _, err := e.p.keys.(*keys.Manager).Verify(ctx, s); err != nil {
				t.Errorf("%s, %s: ID token does not verify: %v", client, when, err)
			}
		}
	}
}

// TestIntrospectingSpentRefreshTokenIsNotReuse: a spent refresh token
// presented to introspection is reported inactive, and the grant lives on;
// only presenting it at the token endpoint is reuse.
func TestIntrospectingSpentRefreshTokenIsNotReuse(t *testing.T) {
	e := newTestEnv(t)
	rt1 := e.grant(t, "app", "openid offline_access")["refresh_token"].(string)
	status, tok := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, "app", testSecret)
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, tok)
	}
	if e.introspect(t, rt1) {
		t.Fatal("a spent refresh token introspects active")
	}
	time.Sleep(reuseRevokeDelay + 500*time.Millisecond)
	status, out := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, "app", testSecret)
	if status != 200 {
		t.Fatalf("refresh after introspecting the spent token: %d %v, want the grant still alive", status, out)
	}
}
