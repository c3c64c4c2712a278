package conformance

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Selectors of Atrium's sign-up, password reset and notice pages.
const (
	selSignupLink     = `a[href^="signup"]`
	selSignupEmail    = `form[action="signup"] input[name="email"]`
	selSignupName     = `form[action="signup"] input[name="name"]`
	selSignupPassword = `form[action="signup"] input[name="password"]`
	selSignupSubmit   = `form[action="signup"] button[type="submit"]`

	selForgotLink   = `a[href^="forgot-password"]`
	selForgotEmail  = `form[action="forgot-password"] input[name="email"]`
	selForgotSubmit = `form[action="forgot-password"] button[type="submit"]`

	selResetPassword = `form[action="reset-password"] input[name="password"]`
	selResetConfirm  = `form[action="reset-password"] input[name="password_confirm"]`
	selResetSubmit   = `form[action="reset-password"] button[type="submit"]`

	selHeading = `h1`
)

// TestChromiumSignUp creates an account from an app's authorization
// request: the sign-in page leads to the sign-up page, the new user is
// signed in and brought back to the app with email_verified false, the
// verification mail arrives at the SMTP server, its link opened in the
// same browser confirms the address, and the next authorization says
// email_verified true. The link then works no more.
func TestChromiumSignUp(t *testing.T) {
	t.Parallel()
	c := newChrome(t)
	c.extend(90 * time.Second)
	client, app := newAppClient(t, "chromium-signup")
	email := newAddress("signup")
	password := "amber lantern " + randomString(4)
	req := newPKCERequest(client)

	c.navigate(req.URL, selEmail)
	c.screenshot("sign-in")
	c.submit("open the sign-up page", selSignupLink)
	c.screenshot("sign-up")
	if h := c.text(selHeading); !strings.Contains(strings.ToLower(h), "account") {
		t.Errorf("sign-up page heading = %q, want it to speak of an account", h)
	}
	c.fill(selSignupEmail, email)
	c.fill(selSignupName, "Ada Signup")
	c.fill(selSignupPassword, password)
	c.screenshot("sign-up-filled")
	c.submit("create the account", selSignupSubmit)

	claims, tok := redeem(t, client, req, c.toApp(app))
	if claims.Email != email {
		t.Errorf("email = %q, want %q", claims.Email, email)
	}
	if claims.EmailVerified == nil || *claims.EmailVerified {
		t.Errorf("email_verified = %v before the mail's link was opened, want false", fmtBool(claims.EmailVerified))
	}
	if !slices.Contains(claims.AMR, "pwd") {
		t.Errorf("amr = %v after a sign-up with a password, want pwd", claims.AMR)
	}
	if ui := userinfoOf(t, tok); ui.EmailVerified || ui.Email != email || ui.Subject != claims.Subject {
		t.Errorf("userinfo sub %q email %q email_verified %v; want %q, %q, false", ui.Subject, ui.Email, ui.EmailVerified, claims.Subject, email)
	}

	m := waitMail(t, email, 1)
	if m.Subject != "Confirm your email address" {
		t.Errorf("the verification mail's subject is %q, want %q (an English browser)", m.Subject, "Confirm your email address")
	}
	if m.AuthUser != mailUser || !strings.Contains(m.From, "id@conformance.test") {
		t.Errorf("the mail came from %q authenticated as %q, want the configured sender as %q", m.From, m.AuthUser, mailUser)
	}
	link := firstLink(t, m)
	if u, _ := url.Parse(link); u == nil || u.Path != "/verify-email" {
		t.Errorf("the verification mail %q links to %s, want /verify-email", m.Subject, link)
	}
	if resp := c.open(link); resp.Status != 200 {
		t.Errorf("the verification link answered %d, want 200", resp.Status)
	}
	c.screenshot("email-verified")
	if txt := c.pageText(); !strings.Contains(txt, email) {
		t.Errorf("the verification page does not name %s: %q", email, txt)
	}

	// The SSO session goes on: the app's next request needs no sign-in.
	req2 := newPKCERequest(client)
	c.open(req2.URL)
	claims2, tok2 := redeem(t, client, req2, c.toApp(app))
	if claims2.Subject != claims.Subject {
		t.Errorf("sub = %q after verification, want %q", claims2.Subject, claims.Subject)
	}
	if claims2.EmailVerified == nil || !*claims2.EmailVerified {
		t.Errorf("email_verified = %v after the link was opened, want true", fmtBool(claims2.EmailVerified))
	}
	if ui := userinfoOf(t, tok2); !ui.EmailVerified {
		t.Error("userinfo says email_verified false after the link was opened")
	}

	// The link works once.
	if resp := c.open(link); resp.Status != 400 {
		t.Errorf("the verification link opened again answered %d, want 400", resp.Status)
	}
	c.screenshot("link-used")
	if h := c.text(selHeading); !strings.Contains(strings.ToLower(h), "link") {
		t.Errorf("the used link's page says %q, want it to say the link is used or expired", h)
	}
	checkPageHeaders(t, c.documents(), 5)
}

func fmtBool(b *bool) string {
	if b == nil {
		return "absent"
	}
	if *b {
		return "true"
	}
	return "false"
}

// TestChromiumSignUpBadInput submits the sign-up form with what the
// server must refuse: the page comes back with a message, keeps the
// address, and no account is made (the address can sign up afterwards,
// and no mail was sent for the refused attempts). The browser's own checks
// (type=email, minlength) are switched off for the server's answer; that
// they stop the form first is checked too.
func TestChromiumSignUpBadInput(t *testing.T) {
	t.Parallel()
	c := newChrome(t)
	c.extend(90 * time.Second)
	client, app := newAppClient(t, "chromium-signup-bad")
	email := newAddress("signup-bad")
	req := newPKCERequest(client)

	c.navigate(req.URL, selEmail)
	c.submit("open the sign-up page", selSignupLink)

	// The browser refuses to send a short password or a malformed address.
	for _, f := range []struct{ sel, value string }{
		{selSignupEmail, "not-an-address"},
		{selSignupPassword, "short"},
	} {
		c.fill(selSignupEmail, email)
		c.fill(selSignupPassword, "long enough passphrase "+randomString(2))
		c.fill(f.sel, f.value)
		msg := value(c, "check the form", chromedp.Evaluate[string](
			`document.querySelector('`+f.sel+`').validationMessage`))
		if msg == "" {
			t.Errorf("the browser accepts %q in %s: the page lacks type=email or minlength", f.value, f.sel)
		}
	}

	cases := []struct {
		name, email, password, want string
	}{
		{"common password", email, "password123", "common"},
		{"too short", email, "abc12", "at least"},
		{"email as password", email, email, "email"},
		{"invalid email", "not-an-address", "long enough passphrase", "valid email"},
		{"invalid email, two @", "ada@@", "long enough passphrase", "valid email"},
	}
	for _, tc := range cases {
		value(c, "switch off the browser's checks", chromedp.Evaluate[bool](
			`document.querySelector('form[action="signup"]').noValidate = true`))
		c.fill(selSignupEmail, tc.email)
		c.fill(selSignupPassword, tc.password)
		resp := c.submit("submit: "+tc.name, selSignupSubmit)
		c.screenshot("sign-up-" + strings.ReplaceAll(tc.name, " ", "-"))
		if resp.Status != 400 {
			t.Errorf("%s: status %d, want 400", tc.name, resp.Status)
		}
		msg := c.text(selError)
		if !strings.Contains(strings.ToLower(msg), tc.want) {
			t.Errorf("%s: the page says %q, want a message containing %q", tc.name, msg, tc.want)
		}
		if got := value(c, "read the email field", chromedp.Value(selSignupEmail)); got != tc.email {
			t.Errorf("%s: email field = %q, want %q kept", tc.name, got, tc.email)
		}
		if got := value(c, "read the password field", chromedp.Value(selSignupPassword)); got != "" {
			t.Errorf("%s: the password is filled in again", tc.name)
		}
	}
	if n := len(mailsTo(email)); n != 0 {
		t.Errorf("refused sign-ups sent %d mails to %s", n, email)
	}

	// Nothing was created: the address signs up now.
	c.fill(selSignupEmail, email)
	c.fill(selSignupPassword, "long enough passphrase "+randomString(2))
	c.submit("create the account", selSignupSubmit)
	claims, _ := redeem(t, client, req, c.toApp(app))
	if claims.Email != email {
		t.Errorf("email = %q, want %q", claims.Email, email)
	}
	waitMail(t, email, 1)
}

// TestChromiumPasswordReset resets a password from the sign-in page: the
// mail's link opens a form for the new password, which then signs in while
// the old one no longer does; the link used again is refused with a page
// that says so; and a request for an address without an account gets the
// same page as one for an address with one, and no mail.
func TestChromiumPasswordReset(t *testing.T) {
	t.Parallel()
	c := newChrome(t)
	c.extend(90 * time.Second)
	client, u, app := browserRP(t, "chromium-reset")
	newPassword := "quiet harbour " + randomString(4)

	req := newPKCERequest(client)
	c.navigate(req.URL, selEmail)
	c.submit("open the forgot-password page", selForgotLink)
	c.screenshot("forgot")
	c.fill(selForgotEmail, u.Email)
	c.screenshot("forgot-filled")
	known := c.submit("request the link", selForgotSubmit)
	c.screenshot("check-email")
	knownHeading, knownText := c.text(selHeading), c.pageText()

	m := waitMail(t, u.Email, 1)
	link := firstLink(t, m)
	if pu, _ := url.Parse(link); pu == nil || pu.Path != "/reset-password" {
		t.Errorf("the reset mail %q links to %s, want /reset-password", m.Subject, link)
	}
	c.open(link)
	c.screenshot("reset")
	if txt := c.pageText(); !strings.Contains(txt, u.Email) {
		t.Errorf("the reset page does not name the account %s: %q", u.Email, txt)
	}

	// Two passwords that differ are refused on the page.
	c.fill(selResetPassword, newPassword)
	c.fill(selResetConfirm, newPassword+"x")
	if resp := c.submit("set two different passwords", selResetSubmit); resp.Status != 400 {
		t.Errorf("two different passwords: status %d, want 400", resp.Status)
	}
	c.screenshot("reset-mismatch")
	if msg := c.text(selError); msg == "" {
		t.Error("two different passwords: no error message on the page")
	}

	c.fill(selResetPassword, newPassword)
	c.fill(selResetConfirm, newPassword)
	c.screenshot("reset-filled")
	if resp := c.submit("set the new password", selResetSubmit); resp.Status != 200 {
		t.Errorf("setting the new password answered %d, want 200", resp.Status)
	}
	c.screenshot("password-changed")

	// The link works once, and says so.
	if resp := c.open(link); resp.Status != 400 {
		t.Errorf("the reset link opened again answered %d, want 400", resp.Status)
	}
	c.screenshot("link-used")
	if n := value(c, "count the password fields", chromedp.Evaluate[int](`document.querySelectorAll('input[type=password]').length`)); n != 0 {
		t.Error("the used link shows a password form again")
	}
	if h := c.text(selHeading); !strings.Contains(strings.ToLower(h), "link") {
		t.Errorf("the used link's page says %q, want it to say the link is used or expired", h)
	}

	// The old password no longer signs in; the new one does.
	req2 := newPKCERequest(client)
	c.navigate(req2.URL, selEmail)
	c.fill(selEmail, u.Email)
	c.fill(selPassword, u.Password)
	c.submit("sign in with the old password", selSignIn)
	c.screenshot("old-password-refused")
	if msg := c.text(selError); msg == "" {
		c.fail("the old password was not refused", errors.New(tail(c.pageText(), 300)))
	}
	c.fill(selPassword, newPassword)
	c.submit("sign in with the new password", selSignIn)
	claims, _ := redeem(t, client, req2, c.toApp(app))
	if claims.Subject != u.Sub {
		t.Errorf("signed in as %q, want %q", claims.Subject, u.Sub)
	}

	// An address without an account: the same page, and no mail.
	unknown := newAddress("nobody")
	req3 := newPKCERequest(client)
	c.open(req3.URL + "&prompt=login")
	c.submit("open the forgot-password page", selForgotLink)
	c.fill(selForgotEmail, unknown)
	resp := c.submit("request a link for an unknown address", selForgotSubmit)
	c.screenshot("check-email-unknown")
	if resp.Status != known.Status {
		t.Errorf("status %d for an unknown address, %d for a known one", resp.Status, known.Status)
	}
	if h := c.text(selHeading); h != knownHeading {
		t.Errorf("heading %q for an unknown address, %q for a known one", h, knownHeading)
	}
	if txt := c.pageText(); txt != knownText {
		t.Errorf("page for an unknown address:\n%q\nfor a known one:\n%q", txt, knownText)
	}
	// The known address's mail came within a second or so; give the
	// unknown one as long before looking.
	time.Sleep(2 * time.Second)
	if n := len(mailsTo(unknown)); n != 0 {
		t.Errorf("%d mails sent to %s, which has no account", n, unknown)
	}
	if n := len(mailsTo(u.Email)); n != 1 {
		t.Errorf("%d mails sent to %s, want the one reset mail", n, u.Email)
	}
}

// TestChromiumSignUpExistingAddress signs up with the address of an
// existing account: the page says so without signing anyone in, the
// owner's password still works and the attempt's does not, and the owner
// gets a mail about it, with no verification link.
func TestChromiumSignUpExistingAddress(t *testing.T) {
	t.Parallel()
	c := newChrome(t)
	c.extend(90 * time.Second)
	client, u, app := browserRP(t, "chromium-signup-exists")
	intruder := "someone else entirely " + randomString(4)

	req := newPKCERequest(client)
	c.navigate(req.URL, selEmail)
	c.submit("open the sign-up page", selSignupLink)
	c.fill(selSignupEmail, u.Email)
	c.fill(selSignupPassword, intruder)
	resp := c.submit("sign up with a taken address", selSignupSubmit)
	c.screenshot("sign-up-exists")
	if resp.Status != 409 {
		t.Errorf("a sign-up with a taken address answered %d, want 409", resp.Status)
	}
	if msg := c.text(selError); msg == "" {
		t.Error("a sign-up with a taken address: no message on the page")
	}
	if loc := c.location(); strings.HasPrefix(loc, app.URL) || c.which(selSignupEmail) == "" {
		t.Fatalf("a sign-up with a taken address left the sign-up page for %s", loc)
	}

	m := waitMail(t, u.Email, 1)
	if strings.Contains(m.Text, "/verify-email") || strings.Contains(m.Text, "/reset-password") {
		t.Errorf("the notice to the owner carries a link that acts on the account:\n%s", m.Text)
	}

	// The intruder's password does not sign in; the owner's does.
	c.navigate(req.URL, selEmail)
	c.fill(selEmail, u.Email)
	c.fill(selPassword, intruder)
	c.submit("sign in with the sign-up's password", selSignIn)
	if msg := c.text(selError); msg == "" {
		t.Fatal("the password typed on the sign-up page signs in to the existing account")
	}
	c.fill(selPassword, u.Password)
	c.submit("sign in with the owner's password", selSignIn)
	claims, _ := redeem(t, client, req, c.toApp(app))
	if claims.Subject != u.Sub {
		t.Errorf("signed in as %q, want the existing account %q", claims.Subject, u.Sub)
	}
}
