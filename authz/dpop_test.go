package authz

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/atrium-id/atrium/storage"
)

// dpopKey is a client's DPoP key.
type dpopKey struct {
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func newDPoPKey(t *testing.T, alg jose.SignatureAlgorithm) dpopKey {
	t.Helper()
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256, jose.PS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dpopKey{alg: alg, priv: priv}
}

func (k dpopKey) jkt(t *testing.T) string {
	t.Helper()
	tp, err := (&jose.JSONWebKey{Key: k.priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// proofOpts are a proof's claims and header; zero values take a good
// proof's.
type proofOpts struct {
	htm, htu, typ, jti, ath, nonce string
	iat                            time.Time
	claims                         map[string]any // replace all claims
}

// proof signs a DPoP proof for method at u.
func (k dpopKey) proof(t *testing.T, method, u string, now time.Time, o proofOpts) string {
	t.Helper()
	claims := map[string]any{"jti": randomToken(), "htm": method, "htu": u, "iat": now.Unix()}
	if o.htm != "" {
		claims["htm"] = o.htm
	}
	if o.htu != "" {
		claims["htu"] = o.htu
	}
	if o.jti != "" {
		claims["jti"] = o.jti
	}
	if !o.iat.IsZero() {
		claims["iat"] = o.iat.Unix()
	}
	if o.ath != "" {
		claims["ath"] = o.ath
	}
	if o.nonce != "" {
		claims["nonce"] = o.nonce
	}
	if o.claims != nil {
		claims = o.claims
	}
	typ := "dpop+jwt"
	if o.typ != "" {
		typ = o.typ
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv},
		(&jose.SignerOptions{EmbedJWK: true}).WithType(jose.ContentType(typ)))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
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

// rawJWT builds a JWT from a header and claims with the given signature.
func rawJWT(header, claims map[string]any, sig string) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "." + sig
}

func ath(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

type dpopAnswer struct {
	status int
	body   map[string]any
	header http.Header
}

// dpopDo sends req with the given DPoP headers.
func (e *testEnv) dpopDo(req *http.Request, proofs ...string) dpopAnswer {
	e.t.Helper()
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return dpopAnswer{resp.StatusCode, out, resp.Header}
}

// dpopToken posts form to the token endpoint with the given DPoP headers.
func (e *testEnv) dpopToken(form url.Values, user string, proofs ...string) dpopAnswer {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+pathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, testSecret)
	}
	return e.dpopDo(req, proofs...)
}

// dpopUserinfo calls userinfo with token under scheme and the proofs.
func (e *testEnv) dpopUserinfo(scheme, token string, proofs ...string) dpopAnswer {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+pathUserinfo, nil)
	req.Header.Set("Authorization", scheme+" "+token)
	return e.dpopDo(req, proofs...)
}

// dpopCode signs in as the public client spa and returns a code exchange
// form.
func (e *testEnv) dpopCode(extra url.Values) url.Values {
	e.t.Helper()
	verifier, challenge := pkcePair()
	params := codeParams("spa", "openid email offline_access", challenge)
	for k, v := range extra {
		params[k] = v
	}
	q := e.signIn(e.browser(), params).Query()
	if q.Get("code") == "" {
		e.t.Fatalf("authorization response %v: want a code", q)
	}
	return url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"}, "code": {q.Get("code")},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}}
}

func wantDPoPError(t *testing.T, what string, a dpopAnswer, status int, code, desc string) {
	t.Helper()
	if a.status != status || a.body["error"] != code || (desc != "" && a.body["error_description"] != desc) {
		t.Fatalf("%s: %d %v, want %d %s %q", what, a.status, a.body, status, code, desc)
	}
}

// TestDPoPCodeFlow: a public client binds its tokens to its key at the
// code exchange; userinfo takes the token only as DPoP with a proof of
// that key; introspection reports the binding; a refresh must prove the
// same key, and a proof serves once.
func TestDPoPCodeFlow(t *testing.T) {
	stateBackends(t, func(t *testing.T, e *testEnv) {
		key, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.EdDSA)
		tokenURL := e.srv.URL + pathToken
		first := key.proof(t, "POST", tokenURL, time.Now(), proofOpts{})
		a := e.dpopToken(e.dpopCode(nil), "", first)
		if a.status != 200 || a.body["token_type"] != "DPoP" || a.body["refresh_token"] == nil {
			t.Fatalf("code exchange with a proof: %d %v, want token_type DPoP", a.status, a.body)
		}
		at, rt := a.body["access_token"].(string), a.body["refresh_token"].(string)

		// Userinfo: DPoP with a proof of the key works; Bearer does not.
		ui := e.dpopUserinfo("DPoP", at, key.proof(t, "GET", e.srv.URL+pathUserinfo, time.Now(), proofOpts{ath: ath(at)}))
		if ui.status != 200 || ui.body["sub"] != e.userID {
			t.Fatalf("userinfo with DPoP: %d %v", ui.status, ui.body)
		}
		ui = e.dpopUserinfo("Bearer", at)
		wantDPoPError(t, "DPoP-bound token as Bearer", ui, 401, "invalid_token", "")
		if !strings.HasPrefix(ui.header.Get("WWW-Authenticate"), "DPoP ") {
			t.Errorf("WWW-Authenticate %q, want a DPoP challenge", ui.header.Get("WWW-Authenticate"))
		}
		// Nor in the form body (RFC 6750 §2.2).
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+pathUserinfo, strings.NewReader(url.Values{"access_token": {at}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		wantDPoPError(t, "DPoP-bound token in the form body", e.dpopDo(req), 401, "invalid_token", "")
		ui = e.dpopUserinfo("DPoP", at, other.proof(t, "GET", e.srv.URL+pathUserinfo, time.Now(), proofOpts{ath: ath(at)}))
		wantDPoPError(t, "userinfo with another key", ui, 401, "invalid_dpop_proof", "The DPoP proof's key is not the one the access token is bound to.")

		// The account API's bearer check.
		req, _ = http.NewRequest(http.MethodGet, e.srv.URL+"/account/api/profile", nil)
		req.Header.Set("Authorization", "DPoP "+at)
		req.Header.Set("DPoP", key.proof(t, "GET", e.srv.URL+"/account/api/profile", time.Now(), proofOpts{ath: ath(at)}))
		if user, _, _, err := e.p.BearerUser(req, "email"); err != nil || user.ID != e.userID {
			t.Fatalf("BearerUser with DPoP: %v %v", user, err)
		}
		req.Header.Set("Authorization", "Bearer "+at)
		req.Header.Del("DPoP")
		if _, _, _, err := e.p.BearerUser(req, "email"); err == nil || err.(*BearerError).Code != "invalid_token" {
			t.Fatalf("BearerUser with a DPoP-bound token as Bearer: %v, want invalid_token", err)
		}

		in := e.introspectAll(t, at)
		if cnf, _ := in["cnf"].(map[string]any); in["active"] != true || in["token_type"] != "DPoP" || cnf["jkt"] != key.jkt(t) {
			t.Fatalf("introspection of a bound token: %v, want token_type DPoP and cnf.jkt", in)
		}

		refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {rt}}
		wantDPoPError(t, "refresh without a proof", e.dpopToken(refresh, ""), 400, "invalid_dpop_proof",
			"This grant is bound to a DPoP key: send a DPoP proof made with it.")
		wantDPoPError(t, "refresh with another key", e.dpopToken(refresh, "", other.proof(t, "POST", tokenURL, time.Now(), proofOpts{})),
			400, "invalid_dpop_proof", "The DPoP proof's key is not the one this grant is bound to.")
		wantDPoPError(t, "refresh with a replayed proof", e.dpopToken(refresh, "", first),
			400, "invalid_dpop_proof", "The DPoP proof was already used (jti).")
		a = e.dpopToken(refresh, "", key.proof(t, "POST", tokenURL, time.Now(), proofOpts{}))
		if a.status != 200 || a.body["token_type"] != "DPoP" {
			t.Fatalf("refresh with the same key: %d %v", a.status, a.body)
		}
		// The new refresh token is bound to the key too.
		refresh.Set("refresh_token", a.body["refresh_token"].(string))
		wantDPoPError(t, "second refresh with another key", e.dpopToken(refresh, "", other.proof(t, "POST", tokenURL, time.Now(), proofOpts{})),
			400, "invalid_dpop_proof", "The DPoP proof's key is not the one this grant is bound to.")
	})
}

// TestDPoPConfidentialRefresh: a confidential client's refresh token is
// not bound, but what a refresh issues is bound to the proof it presents;
// without a proof it is a Bearer token again.
func TestDPoPConfidentialRefresh(t *testing.T) {
	e := newTestEnv(t)
	key, other := newDPoPKey(t, jose.RS256), newDPoPKey(t, jose.PS256)
	verifier, challenge := pkcePair()
	q := e.signIn(e.browser(), codeParams("app", "openid offline_access", challenge)).Query()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
	// htu is compared without its query and fragment.
	a := e.dpopToken(form, "app", key.proof(t, "POST", e.srv.URL+pathToken, time.Now(), proofOpts{htu: e.srv.URL + pathToken + "?x=1#y"}))
	if a.status != 200 || a.body["token_type"] != "DPoP" {
		t.Fatalf("code exchange: %d %v", a.status, a.body)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.body["refresh_token"].(string)}}
	a = e.dpopToken(refresh, "app", other.proof(t, "POST", e.srv.URL+pathToken, time.Now(), proofOpts{}))
	if a.status != 200 || a.body["token_type"] != "DPoP" {
		t.Fatalf("refresh with another key: %d %v, want a token bound to it", a.status, a.body)
	}
	if in := e.introspectAll(t, a.body["access_token"].(string)); in["cnf"].(map[string]any)["jkt"] != other.jkt(t) {
		t.Fatalf("introspection: %v, want the refresh's key", in)
	}
	refresh.Set("refresh_token", a.body["refresh_token"].(string))
	a = e.dpopToken(refresh, "app")
	if a.status != 200 || a.body["token_type"] != "bearer" {
		t.Fatalf("refresh without a proof: %d %v, want a bearer token", a.status, a.body)
	}
	if in := e.introspectAll(t, a.body["access_token"].(string)); in["token_type"] != "Bearer" || in["cnf"] != nil {
		t.Fatalf("introspection of a bearer token: %v", in)
	}
	at := a.body["access_token"].(string)
	if ui := e.dpopUserinfo("Bearer", at); ui.status != 200 {
		t.Fatalf("userinfo with a bearer token: %d %v", ui.status, ui.body)
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+pathUserinfo, strings.NewReader(url.Values{"access_token": {at}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if ui := e.dpopDo(req); ui.status != 200 {
		t.Fatalf("userinfo with a bearer token in the form body: %d %v", ui.status, ui.body)
	}
	ui := e.dpopUserinfo("DPoP", at, key.proof(t, "GET", e.srv.URL+pathUserinfo, time.Now(), proofOpts{ath: ath(at)}))
	wantDPoPError(t, "unbound token as DPoP", ui, 401, "invalid_token", "This access token is not DPoP-bound: send it as a Bearer token.")
}

// TestDPoPBadProofs: each bad proof at the token endpoint is refused with
// invalid_dpop_proof and spends nothing: the code still exchanges with a
// good proof afterwards.
func TestDPoPBadProofs(t *testing.T) {
	clock := &pkClock{t: time.Now()}
	e := newTestEnvWith(t, func(c *Config) { c.Now = clock.now })
	clock.advance(time.Since(clock.now())) // not before the clients were made
	key, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.ES256)
	tokenURL := e.srv.URL + pathToken
	now := clock.now()
	good := func(o proofOpts) string { return key.proof(t, "POST", tokenURL, now, o) }
	pubJWK, _ := json.Marshal(jose.JSONWebKey{Key: key.priv.Public()})
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: key.priv})
	var pub, priv map[string]any
	_ = json.Unmarshal(pubJWK, &pub)
	_ = json.Unmarshal(privJWK, &priv)
	claims := map[string]any{"jti": "j1", "htm": "POST", "htu": tokenURL, "iat": now.Unix()}
	goodParts := strings.Split(good(proofOpts{}), ".")
	otherParts := strings.Split(other.proof(t, "POST", tokenURL, now, proofOpts{}), ".")
	form := e.dpopCode(nil)
	for _, tc := range []struct {
		name   string
		proofs []string
		desc   string
	}{
		{"another URL (htu)", []string{good(proofOpts{htu: e.srv.URL + pathUserinfo})}, "The DPoP proof's htu is not this request's URL."},
		{"another host (htu)", []string{good(proofOpts{htu: "https://evil.example" + pathToken})}, "The DPoP proof's htu is not this request's URL."},
		{"another method (htm)", []string{good(proofOpts{htm: "GET"})}, "The DPoP proof's htm is not this request's method."},
		{"too old iat", []string{good(proofOpts{iat: now.Add(-61 * time.Second)})}, "The DPoP proof is too old (iat)."},
		{"future iat", []string{good(proofOpts{iat: now.Add(10 * time.Second)})}, "The DPoP proof is issued in the future (iat)."},
		{"iat not a number", []string{good(proofOpts{claims: map[string]any{"jti": "j", "htm": "POST", "htu": tokenURL, "iat": "now"}})}, "The DPoP proof's iat must be a number."},
		{"no jti", []string{good(proofOpts{claims: map[string]any{"htm": "POST", "htu": tokenURL, "iat": now.Unix()}})}, "The DPoP proof needs a jti."},
		{"wrong typ", []string{good(proofOpts{typ: "JWT"})}, "The DPoP proof's typ must be dpop+jwt."},
		{"alg none", []string{rawJWT(map[string]any{"alg": "none", "typ": "dpop+jwt", "jwk": pub}, claims, "")},
			"The DPoP proof is not a JWT signed with one of RS256, PS256, ES256, EdDSA."},
		{"alg HS256", []string{rawJWT(map[string]any{"alg": "HS256", "typ": "dpop+jwt", "jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}}, claims, "c2ln")},
			"The DPoP proof is not a JWT signed with one of RS256, PS256, ES256, EdDSA."},
		{"private key in jwk", []string{rawJWT(map[string]any{"alg": "ES256", "typ": "dpop+jwt", "jwk": priv}, claims, goodParts[2])},
			"The DPoP proof's jwk must be a public key."},
		{"no jwk", []string{rawJWT(map[string]any{"alg": "ES256", "typ": "dpop+jwt"}, claims, goodParts[2])},
			"The DPoP proof's jwk must be a public key."},
		{"bad signature", []string{goodParts[0] + "." + goodParts[1] + "." + otherParts[2]}, "The DPoP proof's signature does not verify with its jwk."},
		{"two DPoP headers", []string{good(proofOpts{}), good(proofOpts{})}, "Send exactly one DPoP header."},
		{"not a JWT", []string{"not-a-jwt"}, "The DPoP proof is not a JWT signed with one of RS256, PS256, ES256, EdDSA."},
		{"JSON serialization", []string{`{"payload":"` + goodParts[1] + `","protected":"` + goodParts[0] + `","signature":"` + goodParts[2] + `"}`},
			"The DPoP proof is not a JWT signed with one of RS256, PS256, ES256, EdDSA."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantDPoPError(t, tc.name, e.dpopToken(form, "", tc.proofs...), 400, "invalid_dpop_proof", tc.desc)
		})
	}
	a := e.dpopToken(form, "", good(proofOpts{}))
	if a.status != 200 || a.body["token_type"] != "DPoP" {
		t.Fatalf("code exchange with a good proof after bad ones: %d %v", a.status, a.body)
	}
	at := a.body["access_token"].(string)

	// At userinfo the proof must carry the token's hash, and serves once.
	uiURL := e.srv.URL + pathUserinfo
	wantDPoPError(t, "userinfo without ath", e.dpopUserinfo("DPoP", at, key.proof(t, "GET", uiURL, now, proofOpts{})),
		401, "invalid_dpop_proof", "The DPoP proof needs ath, the hash of the access token.")
	wantDPoPError(t, "userinfo with a wrong ath", e.dpopUserinfo("DPoP", at, key.proof(t, "GET", uiURL, now, proofOpts{ath: ath("other")})),
		401, "invalid_dpop_proof", "The DPoP proof's ath is not the hash of this access token.")
	wantDPoPError(t, "userinfo without a proof", e.dpopUserinfo("DPoP", at),
		401, "invalid_dpop_proof", "A DPoP proof is required with a DPoP access token.")
	p := key.proof(t, "GET", uiURL, now, proofOpts{ath: ath(at)})
	if ui := e.dpopUserinfo("DPoP", at, p); ui.status != 200 {
		t.Fatalf("userinfo: %d %v", ui.status, ui.body)
	}
	wantDPoPError(t, "userinfo with a replayed proof", e.dpopUserinfo("DPoP", at, p),
		401, "invalid_dpop_proof", "The DPoP proof was already used (jti).")
	// The iat window follows the provider's clock.
	clock.advance(2 * time.Minute)
	wantDPoPError(t, "userinfo with a proof older than the window", e.dpopUserinfo("DPoP", at, key.proof(t, "GET", uiURL, now, proofOpts{ath: ath(at)})),
		401, "invalid_dpop_proof", "The DPoP proof is too old (iat).")
}

// TestDPoPNonce: with nonces required, a proof without the current nonce
// gets use_dpop_nonce and a nonce to retry with; a nonce two buckets old
// is stale.
func TestDPoPNonce(t *testing.T) {
	clock := &pkClock{t: time.Now()}
	e := newTestEnvWith(t, func(c *Config) { c.Now = clock.now; c.DPoP.RequireNonce = true })
	clock.advance(time.Since(clock.now())) // not before the clients were made
	key := newDPoPKey(t, jose.ES256)
	tokenURL := e.srv.URL + pathToken
	form := e.dpopCode(nil)
	a := e.dpopToken(form, "", key.proof(t, "POST", tokenURL, clock.now(), proofOpts{}))
	wantDPoPError(t, "token request without a nonce", a, 400, "use_dpop_nonce", "The DPoP proof must carry the nonce in the DPoP-Nonce header.")
	nonce := a.header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	a = e.dpopToken(form, "", key.proof(t, "POST", tokenURL, clock.now(), proofOpts{nonce: "made-up"}))
	wantDPoPError(t, "token request with a made-up nonce", a, 400, "use_dpop_nonce", "The DPoP proof's nonce is stale; use the one in the DPoP-Nonce header.")
	a = e.dpopToken(form, "", key.proof(t, "POST", tokenURL, clock.now(), proofOpts{nonce: nonce}))
	if a.status != 200 || a.body["token_type"] != "DPoP" || a.header.Get("DPoP-Nonce") == "" {
		t.Fatalf("retry with the nonce: %d %v %v", a.status, a.body, a.header)
	}
	at := a.body["access_token"].(string)
	uiURL := e.srv.URL + pathUserinfo

	// The previous bucket's nonce is still accepted.
	clock.advance(dpopNonceBucket)
	if ui := e.dpopUserinfo("DPoP", at, key.proof(t, "GET", uiURL, clock.now(), proofOpts{ath: ath(at), nonce: nonce})); ui.status != 200 || ui.header.Get("DPoP-Nonce") == "" {
		t.Fatalf("userinfo with the previous nonce: %d %v", ui.status, ui.body)
	}
	clock.advance(dpopNonceBucket)
	ui := e.dpopUserinfo("DPoP", at, key.proof(t, "GET", uiURL, clock.now(), proofOpts{ath: ath(at), nonce: nonce}))
	wantDPoPError(t, "userinfo with a stale nonce", ui, 401, "use_dpop_nonce", "The DPoP proof's nonce is stale; use the one in the DPoP-Nonce header.")
	if !strings.Contains(ui.header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) || ui.header.Get("DPoP-Nonce") == "" || ui.header.Get("DPoP-Nonce") == nonce {
		t.Fatalf("stale nonce answer headers %v, want a DPoP challenge and a fresh nonce", ui.header)
	}
	fresh := ui.header.Get("DPoP-Nonce")
	if ui := e.dpopUserinfo("DPoP", at, key.proof(t, "GET", uiURL, clock.now(), proofOpts{ath: ath(at), nonce: fresh})); ui.status != 200 {
		t.Fatalf("userinfo with the fresh nonce: %d %v", ui.status, ui.body)
	}
}

// TestDPoPJKT: a code authorized with dpop_jkt exchanges only with a proof
// of that key (RFC 9449 §10); a client registered for DPoP-bound tokens
// cannot get a token without a proof.
func TestDPoPJKT(t *testing.T) {
	e := newTestEnv(t)
	key, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.ES256)
	tokenURL := e.srv.URL + pathToken
	form := e.dpopCode(url.Values{"dpop_jkt": {key.jkt(t)}})
	wantDPoPError(t, "dpop_jkt code without a proof", e.dpopToken(form, ""), 400, "invalid_dpop_proof",
		"This grant is bound to a DPoP key: send a DPoP proof made with it.")
	wantDPoPError(t, "dpop_jkt code with another key", e.dpopToken(form, "", other.proof(t, "POST", tokenURL, time.Now(), proofOpts{})), 400, "invalid_dpop_proof",
		"The DPoP proof's key is not the one this grant is bound to.")
	if a := e.dpopToken(form, "", key.proof(t, "POST", tokenURL, time.Now(), proofOpts{})); a.status != 200 || a.body["token_type"] != "DPoP" {
		t.Fatalf("dpop_jkt code with its key: %d %v", a.status, a.body)
	}

	if err := e.store.CreateClient(context.Background(), &storage.Client{ID: "bound", SecretHash: HashClientSecret(testSecret),
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"}, DPoPBoundAccessTokens: true}); err != nil {
		t.Fatal(err)
	}
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}
	wantDPoPError(t, "DPoP-bound client without a proof", e.dpopToken(cc, "bound"), 400, "invalid_dpop_proof",
		"This client must send a DPoP proof with its token requests.")
	if a := e.dpopToken(cc, "bound", key.proof(t, "POST", tokenURL, time.Now(), proofOpts{})); a.status != 200 || a.body["token_type"] != "DPoP" {
		t.Fatalf("DPoP-bound client with a proof: %d %v", a.status, a.body)
	}
}

// TestDPoPPAR: a request pushed with a DPoP proof binds its code to the
// proof's key (RFC 9449 §10.1); a dpop_jkt of another key is refused.
func TestDPoPPAR(t *testing.T) {
	e := newTestEnv(t)
	key, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.ES256)
	parURL := e.srv.URL + pathPAR
	verifier, challenge := pkcePair()
	push := func(form url.Values, proof string) dpopAnswer {
		req, _ := http.NewRequest(http.MethodPost, parURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("app", testSecret)
		return e.dpopDo(req, proof)
	}
	form := codeParams("app", "openid", challenge)
	form.Set("dpop_jkt", other.jkt(t))
	wantDPoPError(t, "dpop_jkt of another key", push(form, key.proof(t, "POST", parURL, time.Now(), proofOpts{})),
		400, "invalid_dpop_proof", "dpop_jkt is not the thumbprint of the DPoP proof's key.")
	form.Del("dpop_jkt")
	a := push(form, key.proof(t, "POST", parURL, time.Now(), proofOpts{}))
	uri, _ := a.body["request_uri"].(string)
	if a.status != http.StatusCreated || uri == "" {
		t.Fatalf("/par with a proof: %d %v", a.status, a.body)
	}
	q := e.signIn(e.browser(), url.Values{"client_id": {"app"}, "request_uri": {uri}}).Query()
	tokenForm := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
	tokenURL := e.srv.URL + pathToken
	wantDPoPError(t, "code of a DPoP push exchanged with another key", e.dpopToken(tokenForm, "app", other.proof(t, "POST", tokenURL, time.Now(), proofOpts{})),
		400, "invalid_dpop_proof", "The DPoP proof's key is not the one this grant is bound to.")
	if a := e.dpopToken(tokenForm, "app", key.proof(t, "POST", tokenURL, time.Now(), proofOpts{})); a.status != 200 || a.body["token_type"] != "DPoP" {
		t.Fatalf("code of a DPoP push with its key: %d %v", a.status, a.body)
	}
}
