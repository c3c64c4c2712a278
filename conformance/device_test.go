package conformance

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// The device authorization grant (RFC 8628), as a device without a
// browser uses it: it asks for codes, shows the user code, and polls the
// token endpoint while the user answers in a browser.

const grantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// deviceStart asks the device authorization endpoint for codes as c and
// checks the answer (RFC 8628 §3.2).
func (c *rp) deviceStart(t *testing.T, scope string) *apiResponse {
	t.Helper()
	r := c.post(t, srv.endpoint(t, "device_authorization_endpoint"), url.Values{"scope": {scope}})
	code, uri := r.str("user_code"), r.str("verification_uri")
	if r.Status != http.StatusOK || r.str("device_code") == "" || len(code) != 9 || code[4] != '-' ||
		uri != srv.issuer+"/device" || r.str("verification_uri_complete") != uri+"?user_code="+code ||
		r.JSON["expires_in"] == nil || r.JSON["interval"] == nil {
		t.Fatalf("device authorization as %s: %s", c.ID, r)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("device authorization answer Cache-Control %q, want no-store", cc)
	}
	return r
}

// devicePoll polls the token endpoint once for the device code.
func (c *rp) devicePoll(t *testing.T, deviceCode string) *apiResponse {
	t.Helper()
	return c.post(t, srv.endpoint(t, "token_endpoint"), url.Values{"grant_type": {grantDeviceCode}, "device_code": {deviceCode}})
}

// deviceWait waits the polling interval of the device answer.
func deviceWait(start *apiResponse) {
	s, _ := start.JSON["interval"].(float64)
	time.Sleep(time.Duration(s)*time.Second + 100*time.Millisecond)
}

// answerDevice opens verification_uri_complete in a browser, confirms the
// code, signs in as u and answers the consent screen, which must show the
// code; it returns the last page.
func answerDevice(t *testing.T, start *apiResponse, u *user, deny bool) *page {
	t.Helper()
	b := newBrowser(t)
	p := b.get(start.str("verification_uri_complete"))
	var f *form
	for _, g := range p.Forms {
		if g.Values.Has("user_code") {
			f = g
		}
	}
	if f == nil || f.Values.Get("user_code") != start.str("user_code") {
		t.Fatalf("the device page does not ask for the code of its link: %s", p.describe())
	}
	p = b.submit(f, nil)
	if lf := p.loginForm(); lf != nil {
		p = b.submit(lf, url.Values{"email": {u.Email}, "password": {u.Password}})
	}
	cf := p.consentForm()
	if cf == nil {
		t.Fatalf("no consent screen after sign-in: %s", p.describe())
	}
	if !strings.Contains(p.Text, start.str("user_code")) {
		t.Errorf("the consent screen does not show the user code %s: %s", start.str("user_code"), p.Text)
	}
	choice := "allow"
	if deny {
		choice = "deny"
	}
	return b.submit(cf, url.Values{"action": {choice}})
}

// TestDeviceAuthorizationGrant: a public device client (registered with
// the CLI while the server runs) gets codes, polls (pending, then
// slow_down when too fast), the user allows in a browser, and one poll
// gets tokens as the code flow's (a verified ID token, a refresh token
// that works); the device code then gets invalid_grant. A confidential
// client's request the user denies gets access_denied.
func TestDeviceAuthorizationGrant(t *testing.T) {
	t.Parallel()
	if srv.discovery["device_authorization_endpoint"] != srv.issuer+"/device_authorization" {
		t.Fatalf("discovery device_authorization_endpoint = %v", srv.discovery["device_authorization_endpoint"])
	}
	if gts, _ := srv.discovery["grant_types_supported"].([]any); !containsAny(gts, grantDeviceCode) {
		t.Fatalf("grant_types_supported %v lacks the device grant", gts)
	}
	name := "device-" + randomString(4)
	tv, err := srv.createClient(t.TempDir(), name+"-tv", clientSpec{public: true, grants: []string{grantDeviceCode, grantRefresh}})
	if err != nil {
		t.Fatal(err)
	}
	box, err := srv.createClient(t.TempDir(), name+"-box", clientSpec{grants: []string{grantDeviceCode}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := srv.createUser(name)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("allow", func(t *testing.T) {
		t.Parallel()
		start := tv.deviceStart(t, "openid email offline_access")
		deviceCode := start.str("device_code")
		wantOAuthError(t, tv.devicePoll(t, deviceCode), []int{http.StatusBadRequest}, "authorization_pending")
		wantOAuthError(t, tv.devicePoll(t, deviceCode), []int{http.StatusBadRequest}, "slow_down")
		if p := answerDevice(t, start, u, false); p.Status != http.StatusOK || !strings.Contains(p.Text, "Your device is connected") {
			t.Fatalf("after allow: %s", p.describe())
		}
		deviceWait(start)
		r := tv.devicePoll(t, deviceCode)
		if r.Status != http.StatusOK {
			t.Fatalf("poll after approval: %s", r)
		}
		tok := tokenOf(t, r)
		checkTokenResponse(t, tok)
		tv.idToken(t, tok, idWant{sub: u.Sub})
		if got := userinfo(t, "post-header", tok.AccessToken).str("email"); got != u.Email {
			t.Errorf("userinfo email = %q, want %q", got, u.Email)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token with offline_access")
		}
		if rr := tv.refresh(t, tok.RefreshToken); rr.Status != http.StatusOK {
			t.Errorf("refresh: %s", rr)
		}
		deviceWait(start)
		wantOAuthError(t, tv.devicePoll(t, deviceCode), []int{http.StatusBadRequest}, "invalid_grant")
	})

	t.Run("deny", func(t *testing.T) {
		t.Parallel()
		start := box.deviceStart(t, "openid")
		if p := answerDevice(t, start, u, true); p.Status != http.StatusOK {
			t.Fatalf("after deny: %s", p.describe())
		}
		wantOAuthError(t, box.devicePoll(t, start.str("device_code")), []int{http.StatusBadRequest}, "access_denied")
		// Another client's device code.
		deviceWait(start)
		wantOAuthError(t, tv.devicePoll(t, start.str("device_code")), []int{http.StatusBadRequest}, "invalid_grant")
	})

	t.Run("rejects", func(t *testing.T) {
		t.Parallel()
		wantOAuthError(t, tv.devicePoll(t, oauth2.GenerateVerifier()), []int{http.StatusBadRequest}, "invalid_grant")
		wantOAuthError(t, tv.post(t, srv.endpoint(t, "token_endpoint"), url.Values{"grant_type": {grantDeviceCode}}),
			[]int{http.StatusBadRequest}, "invalid_request")
		other := client(t, "server-basic") // no device grant
		wantOAuthError(t, other.post(t, srv.endpoint(t, "device_authorization_endpoint"), url.Values{"scope": {"openid"}}),
			[]int{http.StatusBadRequest}, "unauthorized_client")
		wantOAuthError(t, tv.post(t, srv.endpoint(t, "device_authorization_endpoint"), url.Values{"scope": {"openid api.read"}}),
			[]int{http.StatusBadRequest}, "invalid_scope")
		// A wrong code on the page: a message, and no sign-in.
		b := newBrowser(t)
		p := b.get(srv.issuer + "/device")
		if len(p.Forms) != 1 {
			t.Fatalf("device page: %s", p.describe())
		}
		p = b.submit(p.Forms[0], url.Values{"user_code": {"BCDF-GHJK"}})
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Text, "not valid or has expired") || p.loginForm() != nil {
			t.Errorf("wrong code: %s", p.describe())
		}
	})
}

func containsAny(list []any, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
