package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
)

const (
	maxRedirects = 10 // consecutive redirects, as browsers allow roughly
	maxForms     = 5  // forms submitted in one flow: login, consent, and some slack
)

// browser is a worker's cookie jar and the client that uses it.
type browser struct {
	hc  *http.Client
	buf *bytes.Buffer
}

func newBrowser(e *env, buf *bytes.Buffer) *browser {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &browser{hc: newHTTPClient(e.transport, jar), buf: buf}
}

// randomToken is 256 random bits, base64url: a state, a nonce or a PKCE
// verifier (RFC 7636 §4.1 allows 43 such characters).
func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func badTokenResponse(u string, body []byte, err error) error {
	if err != nil {
		return fmt.Errorf("POST %s: status 200 but not a token response: %v%s", u, err, snippet(body))
	}
	return fmt.Errorf("POST %s: status 200 without access_token%s", u, snippet(body))
}

// authorize drives the authorization request through the server's pages to
// the redirect URI and returns the code and the PKCE verifier.
//
// The states of the flow, one response at a time:
//
//	3xx to the redirect URI  done: check state (and iss), return the code
//	3xx elsewhere            follow (GET), up to maxRedirects in a row
//	200 with a form          fill and submit it (login form first), up to maxForms
//	anything else            fail with the page's URL and status
//
// A login form shown again after the password was sent (with a 200, or a
// 4xx as Atrium answers) means the sign-in was refused, and fails the flow.
func (e *env) authorize(ctx context.Context, b *browser, scope string) (code, verifier string, r result) {
	verifier = randomToken()
	state, nonce := randomToken(), randomToken()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {e.cfg.clientID},
		"redirect_uri":          {e.cfg.redirectURI},
		"state":                 {state},
		"nonce":                 {nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	if scope != "" {
		q.Set("scope", scope)
	}
	// Some servers (oidc-provider) issue a refresh token only when consent
	// was asked for.
	if hasScope(scope, "offline_access") {
		q.Set("prompt", "consent")
	}
	sep := "?"
	if strings.Contains(e.ep.authorize, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.ep.authorize+sep+q.Encode(), nil)
	if err != nil {
		return "", "", flowFailure("authorization endpoint: %v", err)
	}
	redirects, forms, sentPassword := 0, 0, false
	for {
		req.Header.Set("Accept", "text/html,*/*")
		resp, err := b.hc.Do(req)
		if err != nil {
			return "", "", transportFailure(req.Method, req.URL.String(), err)
		}
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			drain(resp)
			loc, err := resp.Location()
			if err != nil {
				return "", "", flowFailure("%s %s: status %d without a usable Location: %v", req.Method, req.URL, resp.StatusCode, err)
			}
			if strings.HasPrefix(loc.String(), e.cfg.redirectURI) {
				code, r := e.authorizationResponse(loc, state)
				return code, verifier, r
			}
			if redirects++; redirects > maxRedirects {
				return "", "", flowFailure("more than %d redirects in a row, last to %s", maxRedirects, loc)
			}
			req, err = http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
			if err != nil {
				return "", "", flowFailure("redirect to %s: %v", loc, err)
			}
		case resp.StatusCode == http.StatusOK:
			body, err := readBody(resp, b.buf)
			if err != nil {
				return "", "", transportFailure(req.Method, req.URL.String(), err)
			}
			p := parsePage(body)
			f := p.pick()
			switch {
			case f == nil:
				return "", "", flowFailure("%s %s: status 200 but no form on the page%s", req.Method, req.URL, snippet(body))
			case f.hasPassword() && sentPassword:
				return "", "", flowFailure("%s %s: the login form again: sign-in refused%s", req.Method, req.URL, snippet(body))
			}
			if forms++; forms > maxForms {
				return "", "", flowFailure("%s %s: more than %d forms in one flow", req.Method, req.URL, maxForms)
			}
			v, err := f.values(e.cfg.username, e.cfg.password)
			if err != nil {
				return "", "", flowFailure("%s %s: %v", req.Method, req.URL, err)
			}
			sentPassword = sentPassword || f.hasPassword()
			next, err := f.request(resp.Request.URL, p.base, v)
			if err != nil {
				return "", "", flowFailure("%s %s: form action %q: %v", req.Method, req.URL, f.action, err)
			}
			req = next.WithContext(ctx)
			redirects = 0
		default:
			body, _ := readBody(resp, b.buf)
			r := statusFailure(req.Method, req.URL.String(), resp.StatusCode, body)
			if sentPassword && looksLikeHTML(body) {
				if f := parsePage(body).pick(); f != nil && f.hasPassword() {
					// Some servers (Atrium) answer a refused sign-in with
					// a 4xx and the form again.
					r.err = fmt.Errorf("%s %s: status %d with the login form again: sign-in refused%s", req.Method, req.URL, resp.StatusCode, snippet(body))
				}
			}
			return "", "", r
		}
	}
}

// authorizationResponse checks the redirect to the redirect URI and returns
// its code.
func (e *env) authorizationResponse(loc *url.URL, state string) (string, result) {
	q := loc.Query()
	if q.Get("code") == "" && loc.Fragment != "" {
		q, _ = url.ParseQuery(loc.Fragment)
	}
	switch {
	case q.Get("error") != "":
		return "", flowFailure("authorization error %q: %s (redirect %s)", q.Get("error"), q.Get("error_description"), loc)
	case q.Get("state") != state:
		return "", flowFailure("redirect %s: state %q, sent %q", loc, q.Get("state"), state)
	case q.Has("iss") && e.ep.issuer != "" && q.Get("iss") != e.ep.issuer:
		return "", flowFailure("redirect %s: iss %q, want %q", loc, q.Get("iss"), e.ep.issuer)
	case q.Get("code") == "":
		return "", flowFailure("redirect %s: no code", loc)
	}
	return q.Get("code"), success
}

// exchange redeems code at the token endpoint. With tokens it decodes the
// response; otherwise the status alone decides.
func (e *env) exchange(ctx context.Context, code, verifier string, buf *bytes.Buffer, tokens bool) (tokenResponse, result) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {e.cfg.redirectURI},
		"code_verifier": {verifier},
	}.Encode()
	u := e.ep.token
	resp, err := post(ctx, e.hc, u, e.auth.formHeader(), e.auth.body(form))
	if err != nil {
		return tokenResponse{}, transportFailure(http.MethodPost, u, err)
	}
	if !tokens {
		return tokenResponse{}, expectStatus(resp, http.StatusOK, http.MethodPost, u, buf)
	}
	body, r := checkStatus(resp, http.StatusOK, http.MethodPost, u, buf)
	if !r.ok {
		return tokenResponse{}, r
	}
	var t tokenResponse
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return tokenResponse{}, result{key: keyBadResponse, err: badTokenResponse(u, body, err)}
	}
	return t, success
}

// signIn runs a whole code flow in b and returns the tokens.
func (e *env) signIn(ctx context.Context, b *browser, scope string) (tokenResponse, result) {
	code, verifier, r := e.authorize(ctx, b, scope)
	if !r.ok {
		return tokenResponse{}, r
	}
	return e.exchange(ctx, code, verifier, b.buf, true)
}

func hasScope(scope, s string) bool {
	for _, f := range strings.Fields(scope) {
		if f == s {
			return true
		}
	}
	return false
}
