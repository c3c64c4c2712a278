package conformance

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// Selectors of the account area's security page and the sign-in's second
// step.
const (
	selSetupTOTP     = `form[action="/account/security/totp"] button[type="submit"]`
	selTOTPSecret    = `#totp-secret`
	selConfirmCode   = `form[action="/account/security/totp/confirm"] input[name="code"]`
	selConfirmSubmit = `form[action="/account/security/totp/confirm"] button[type="submit"]`
	selRecoveryCodes = `#recovery-codes li`
	selSignOut       = `#signout`

	selMFACode     = `input[name="code"]`
	selMFARemember = `input[type="checkbox"][name="remember"]`
	selMFASubmit   = `form:has(input[name="code"]) button[type="submit"]`
)

// totpStep is the 30-second step of a TOTP code made at t.
func totpStep(t time.Time) int64 { return t.Unix() / 30 }

// signOutOfAccount opens the account area and signs out there, ending
// the browser's SSO session.
func (c *chrome) signOutOfAccount() {
	c.t.Helper()
	c.open(srv.issuer + "/account/security")
	if resp := c.submit("sign out", selSignOut); resp.Status != 200 {
		c.t.Errorf("signing out answered %d, want 200", resp.Status)
	}
}

// passwordToMFA starts an authorization, signs in with a password and
// returns the request, checking that the browser stands on the second
// step's page.
func (c *chrome) passwordToMFA(client *rp, u *user) *pkceRequest {
	c.t.Helper()
	req := newPKCERequest(client)
	c.navigate(req.URL, selEmail)
	c.fill(selEmail, u.Email)
	c.fill(selPassword, u.Password)
	c.submit("sign in with the password", selSignIn)
	c.onMFAPage()
	if loc, _ := url.Parse(c.location()); loc.Query().Get("interaction") == "" {
		c.t.Errorf("the second step is at %s, want /login/mfa?interaction=...", loc)
	}
	return req
}

// onMFAPage checks that the browser shows the second step of a sign-in
// (after a refused code, the answer to the form's POST to /login/mfa).
func (c *chrome) onMFAPage() {
	c.t.Helper()
	loc, err := url.Parse(c.location())
	if err != nil || loc.Path != "/login/mfa" || c.which(selMFACode) == "" {
		c.fail("expected the second step at /login/mfa", errors.New(tail(c.pageText(), 300)))
	}
}

// mfaAnswer submits a code (and ticks "remember this device") on the
// second step's page and returns the response status.
func (c *chrome) mfaAnswer(code string, remember bool) int64 {
	c.t.Helper()
	c.fill(selMFACode, code)
	if remember {
		c.do("tick remember this device", chromedp.Click(selMFARemember))
	}
	return c.submit("submit the code", selMFASubmit).Status
}

// TestChromiumTOTP sets up an authenticator app on the account's security
// page and signs in with it: the account area asks to sign in first; the
// page shows the secret, and a code of it turns two steps on and shows
// recovery codes. After signing out, a password sign-in leads to the
// second step, where a wrong code and the setup's code (a replay) are
// refused with a message, and the next step's code signs in (amr pwd, otp,
// mfa). A recovery code signs in once (amr pwd, mfa) and is refused the
// second time; "remember this device" then skips the second step at the
// next sign-in in this browser.
func TestChromiumTOTP(t *testing.T) {
	t.Parallel()
	c := newChrome(t)
	c.extend(3 * time.Minute)
	client, u, app := browserRP(t, "chromium-totp")

	// The account area sends the browser to sign in first.
	c.open(srv.issuer + "/account/security")
	if c.which(selPassword) == "" {
		c.fail("expected the sign-in page before the account area", errors.New(tail(c.pageText(), 300)))
	}
	c.screenshot("account-sign-in")
	c.fill(selEmail, u.Email)
	c.fill(selPassword, u.Password)
	c.submit("sign in to the account area", selSignIn)
	if loc := c.location(); loc != srv.issuer+"/account/security" {
		c.fail("expected the security page after signing in", errors.New(loc))
	}
	c.screenshot("security")

	c.submit("set up an authenticator app", selSetupTOTP)
	c.screenshot("totp-setup")
	secret := c.text(selTOTPSecret)
	if secret == "" {
		c.fail("read the secret", errors.New("#totp-secret is empty or missing"))
	}
	if n := value(c, "count the images", chromedp.Evaluate[int](`document.images.length`)); n == 0 {
		t.Error("the setup page shows no QR code image")
	}
	if broken := c.brokenImages(); len(broken) > 0 {
		t.Errorf("the setup page's QR code does not load: src %q (html/template replaces a data: URL given as a string with #ZgotmplZ)", broken)
	}

	// A wrong code leaves two steps off and asks again.
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatalf("the page's secret %q is not base32: %v", secret, err)
	}
	c.fill(selConfirmCode, wrongCode(code))
	if status := c.submit("confirm a wrong code", selConfirmSubmit).Status; status != 401 {
		t.Errorf("a wrong setup code answered %d, want 401", status)
	}
	c.screenshot("totp-setup-wrong-code")
	if msg := c.text(selError); msg == "" {
		t.Error("a wrong setup code: no message on the page")
	}
	if c.text(selTOTPSecret) != secret {
		t.Error("after a wrong setup code the page no longer offers the same secret")
	}

	enrolled := time.Now()
	code, err = totp.GenerateCode(secret, enrolled)
	if err != nil {
		t.Fatal(err)
	}
	c.fill(selConfirmCode, code)
	c.submit("confirm the code", selConfirmSubmit)
	c.screenshot("recovery-codes")
	codes := value(c, "read the recovery codes", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('`+selRecoveryCodes+`'), li => li.innerText.trim())`))
	if len(codes) < 2 || slices.Contains(codes, "") {
		c.fail("expected recovery codes in #recovery-codes", errors.New(strings.Join(codes, ", ")))
	}

	c.signOutOfAccount()
	c.screenshot("signed-out")
	// Signed out: the account area asks to sign in again.
	c.open(srv.issuer + "/account/security")
	if c.which(selPassword) == "" {
		t.Error("after signing out the account area does not ask to sign in")
	}

	// A password sign-in now leads to the second step.
	req := c.passwordToMFA(client, u)
	c.screenshot("mfa")
	if c.which(selMFARemember) == "" {
		t.Error(`the second step offers no "remember this device" checkbox`)
	}
	if status := c.mfaAnswer(wrongCode(code), false); status != 401 {
		t.Errorf("a wrong code answered %d, want 401", status)
	}
	c.screenshot("mfa-wrong-code")
	if msg := c.text(selError); msg == "" {
		t.Error("a wrong code: no message on the page")
	}
	c.onMFAPage()

	// The setup's code again: refused as used while it is still valid.
	before := totpStep(time.Now())
	status := c.mfaAnswer(code, false)
	fresh := before <= totpStep(enrolled)+1 && totpStep(time.Now()) <= totpStep(enrolled)+1
	c.screenshot("mfa-replayed-code")
	if status != 401 {
		t.Errorf("the setup's code used again answered %d, want 401", status)
	}
	msg := c.text(selError)
	switch {
	case msg == "":
		t.Error("the setup's code used again: no message on the page")
	case fresh && !strings.Contains(strings.ToLower(msg), "used"):
		t.Errorf("the setup's code used again within its validity: the page says %q, want it to say the code was used", msg)
	}
	c.onMFAPage()

	// The next step's code signs in.
	for totpStep(time.Now()) <= totpStep(enrolled) {
		time.Sleep(200 * time.Millisecond)
	}
	next, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c.mfaAnswer(next, false)
	claims, _ := redeem(t, client, req, c.toApp(app))
	for _, want := range []string{"pwd", "otp", "mfa"} {
		if !slices.Contains(claims.AMR, want) {
			t.Errorf("amr = %v after password and TOTP, want it to contain %s", claims.AMR, want)
		}
	}

	// A recovery code signs in once.
	c.signOutOfAccount()
	req = c.passwordToMFA(client, u)
	c.mfaAnswer(codes[0], false)
	claims, _ = redeem(t, client, req, c.toApp(app))
	if !slices.Contains(claims.AMR, "pwd") || !slices.Contains(claims.AMR, "mfa") || slices.Contains(claims.AMR, "otp") {
		t.Errorf("amr = %v after password and a recovery code, want pwd and mfa, no otp", claims.AMR)
	}

	c.signOutOfAccount()
	req = c.passwordToMFA(client, u)
	if status := c.mfaAnswer(codes[0], false); status != 401 {
		t.Errorf("a used recovery code answered %d, want 401", status)
	}
	c.screenshot("mfa-used-recovery-code")
	if msg := c.text(selError); msg == "" {
		t.Error("a used recovery code: no message on the page")
	}
	c.onMFAPage()

	// Another recovery code, and this browser is remembered.
	c.mfaAnswer(codes[1], true)
	claims, _ = redeem(t, client, req, c.toApp(app))
	if !slices.Contains(claims.AMR, "mfa") {
		t.Errorf("amr = %v after a recovery code, want mfa", claims.AMR)
	}

	// The next password sign-in skips the second step.
	c.signOutOfAccount()
	req = newPKCERequest(client)
	c.navigate(req.URL, selEmail)
	c.fill(selEmail, u.Email)
	c.fill(selPassword, u.Password)
	c.submit("sign in on the remembered device", selSignIn)
	if loc, _ := url.Parse(c.location()); loc != nil && loc.Path == "/login/mfa" {
		c.fail("a remembered device was asked for the second step", errors.New(loc.String()))
	}
	claims, _ = redeem(t, client, req, c.toApp(app))
	if claims.Subject != u.Sub {
		t.Errorf("signed in as %q, want %q", claims.Subject, u.Sub)
	}

	checkPageHeaders(t, c.documents(), 10)
}

// wrongCode is a six-digit code that differs from code in every digit.
func wrongCode(code string) string {
	b := []byte(code)
	for i := range b {
		b[i] = '0' + (b[i]-'0'+5)%10
	}
	return string(b)
}
