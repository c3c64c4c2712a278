package authz

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestAccountAPIDPoP: the account API takes a DPoP-bound token only with a
// proof of its key, and refuses it with a DPoP challenge (RFC 9449 §7.1),
// carrying a fresh DPoP-Nonce when nonces are required, so a client can
// retry with the nonce.
func TestAccountAPIDPoP(t *testing.T) {
	e := newAccountAPIEnv(t)
	e.p.cfg.DPoP.RequireNonce = true
	key := newDPoPKey(t, jose.ES256)
	verifier, challenge := pkcePair()
	code := e.signIn(e.browser(), codeParams(selfClient, "openid "+ScopeAccountRead, challenge)).Query().Get("code")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
	tokenURL := e.srv.URL + pathToken
	a := e.dpopToken(form, selfClient, key.proof(t, "POST", tokenURL, time.Now(), proofOpts{}))
	nonce := a.header.Get("DPoP-Nonce")
	if a.status != http.StatusBadRequest || nonce == "" {
		t.Fatalf("token request without a nonce: %d %v, want use_dpop_nonce with a nonce", a.status, a.body)
	}
	a = e.dpopToken(form, selfClient, key.proof(t, "POST", tokenURL, time.Now(), proofOpts{nonce: nonce}))
	if a.status != http.StatusOK || a.body["token_type"] != "DPoP" {
		t.Fatalf("token request with the nonce: %d %v", a.status, a.body)
	}
	at := a.body["access_token"].(string)
	meURL := e.srv.URL + "/account/api/v1/me"
	me := func(scheme string, proofs ...string) dpopAnswer {
		req, _ := http.NewRequest(http.MethodGet, meURL, nil)
		req.Header.Set("Authorization", scheme+" "+at)
		return e.dpopDo(req, proofs...)
	}

	for _, c := range []struct {
		what   string
		answer dpopAnswer
		code   string
	}{
		{"as Bearer", me("Bearer"), "invalid_token"},
		{"without a nonce", me("DPoP", key.proof(t, "GET", meURL, time.Now(), proofOpts{ath: ath(at)})), "use_dpop_nonce"},
		{"with a made-up nonce", me("DPoP", key.proof(t, "GET", meURL, time.Now(), proofOpts{ath: ath(at), nonce: "made-up"})), "use_dpop_nonce"},
	} {
		wantDPoPError(t, c.what, c.answer, http.StatusUnauthorized, c.code, "")
		if ch := c.answer.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "DPoP ") || !strings.Contains(ch, `error="`+c.code+`"`) {
			t.Errorf("%s: WWW-Authenticate %q, want a DPoP challenge with %s", c.what, ch, c.code)
		}
		if c.answer.header.Get("DPoP-Nonce") == "" {
			t.Errorf("%s: no DPoP-Nonce to retry with", c.what)
		}
	}
	fresh := me("DPoP", key.proof(t, "GET", meURL, time.Now(), proofOpts{ath: ath(at)})).header.Get("DPoP-Nonce")
	if ok := me("DPoP", key.proof(t, "GET", meURL, time.Now(), proofOpts{ath: ath(at), nonce: fresh})); ok.status != http.StatusOK || ok.body["email"] != testEmail {
		t.Fatalf("account API with the nonce: %d %v", ok.status, ok.body)
	}
}
