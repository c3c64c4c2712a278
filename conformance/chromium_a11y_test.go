package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// envRequireNode turns the skip for missing npm packages into a failure
// (.ci/run sets it).
const envRequireNode = "ATRIUM_TEST_REQUIRE_NODE"

// axeSource returns axe-core's script from the conformance tests' npm
// packages, or skips t (fails it with ATRIUM_TEST_REQUIRE_NODE=1) when
// they are not installed.
func axeSource(t testing.TB) string {
	t.Helper()
	file := filepath.Join("testdata", "oidc-upstream", "node_modules", "axe-core", "axe.min.js")
	b, err := os.ReadFile(file)
	if err != nil {
		need(t, envRequireNode, "needs axe-core: `npm ci --prefix conformance/testdata/oidc-upstream` (%v)", err)
	}
	return string(b)
}

// axeViolation is one rule a page breaks, as axe-core reports it.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"` // each node's selector and what fails
}

func (v axeViolation) String() string {
	return fmt.Sprintf("%s (%s): %s\n\t\t%s", v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n\t\t"))
}

// axeRun checks the loaded page with axe-core and returns its violations.
// The script goes in through the DevTools protocol, which the page's
// Content-Security-Policy (no inline or foreign scripts) does not govern.
const axeRun = `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
	id: v.id, impact: v.impact || "", help: v.help,
	nodes: v.nodes.map(n => n.target.join(" ") + ": " + (n.failureSummary || "").replace(/\s+/g, " ")),
})))`

// a11yChecker runs axe-core on each page a test visits and keeps what it
// finds.
type a11yChecker struct {
	c      *chrome
	src    string
	pages  []string
	failed map[string][]axeViolation // serious and critical, by page
	minor  map[string][]axeViolation // moderate and minor, by page
}

// check screenshots the loaded page and runs axe-core on it.
func (a *a11yChecker) check(name string) {
	a.c.t.Helper()
	a.c.screenshot(name)
	if !value(a.c, "load axe-core", chromedp.Evaluate[bool](a.src+"\n;typeof axe === 'object'")) {
		a.c.t.Fatalf("%s: axe-core did not load", name)
	}
	vs := value(a.c, "run axe-core on "+name, chromedp.Evaluate[[]axeViolation](axeRun, chromedp.EvalAwaitPromise))
	a.pages = append(a.pages, name)
	// A broken image is no violation to axe-core when it has an alt text,
	// but the person sees the alt text in place of the picture.
	for _, src := range a.c.brokenImages() {
		a.failed[name] = append(a.failed[name], axeViolation{ID: "broken-image", Impact: "serious",
			Help: "Images must load", Nodes: []string{"img[src=" + tail(src, 60) + "]"}})
	}
	// Text smaller than 16 px in a field makes phones zoom in on focus
	// (the rule TestChromiumPhoneViewport applies to the sign-in form).
	small := value(a.c, "measure the inputs", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("input, textarea"))
		.filter(i => !["hidden", "checkbox", "radio", "submit", "button"].includes(i.type) && i.getClientRects().length > 0)
		.filter(i => parseFloat(getComputedStyle(i).fontSize) < 16)
		.map(i => "input[name=" + i.name + "] " + getComputedStyle(i).fontSize)`))
	if len(small) > 0 {
		a.failed[name] = append(a.failed[name], axeViolation{ID: "input-font-size", Impact: "serious",
			Help: "Text fields must use at least 16 px text (a field without a type attribute misses the layout's input styles)", Nodes: small})
	}
	for _, v := range vs {
		switch v.Impact {
		case "serious", "critical":
			a.failed[name] = append(a.failed[name], v)
		default:
			a.minor[name] = append(a.minor[name], v)
		}
	}
}

// report fails the test with the serious and critical violations of each
// page, and logs the others.
func (a *a11yChecker) report(t testing.TB) {
	t.Helper()
	for _, p := range a.pages {
		for _, v := range a.minor[p] {
			t.Logf("%s: %s", p, v)
		}
	}
	for _, p := range a.pages {
		for _, v := range a.failed[p] {
			t.Errorf("%s: %s", p, v)
		}
	}
	t.Logf("checked %d pages (axe-core, images, text size of fields): %s", len(a.pages), strings.Join(a.pages, ", "))
}

// TestChromiumAccessibility runs axe-core in Chromium on every page a
// person meets, in the states they meet them in (with an error message,
// with a notice): sign-in, sign-up, forgotten password and reset, the
// second step's setup and code pages, consent, every page of the account area and the
// error page. Serious and critical violations fail the test, listed by
// page; the others are logged. Two checks axe-core does not make fail it
// too: an image that does not load, and a field with text under 16 px.
func TestChromiumAccessibility(t *testing.T) {
	t.Parallel()
	src := axeSource(t)
	c := newChrome(t)
	c.extend(4 * time.Minute)
	a := &a11yChecker{c: c, src: src, failed: map[string][]axeViolation{}, minor: map[string][]axeViolation{}}
	defer a.report(t)
	client, u, app := browserRP(t, "chromium-a11y")

	// The pages forbid inline scripts: a script element the page adds does
	// not run, while DevTools' evaluation (and so axe-core) does.
	req := newPKCERequest(client)
	c.navigate(req.URL, selEmail)
	ran := value(c, "add an inline script", chromedp.Evaluate[bool](`(() => {
		const s = document.createElement("script");
		s.textContent = "window.inlineRan = true";
		document.head.appendChild(s);
		return window.inlineRan === true;
	})()`))
	if ran {
		t.Error("an inline script ran on the sign-in page: its Content-Security-Policy allows inline scripts")
	}
	a.check("sign-in")

	// The checker finds what it should: a button without a name and an
	// image without a text alternative, planted in the page.
	value(c, "plant violations", chromedp.Evaluate[bool](`(() => {
		document.body.insertAdjacentHTML("beforeend", '<button id="planted-button"></button><img id="planted-img" src="data:,">');
		return true;
	})()`))
	planted := value(c, "run axe-core on the planted page", chromedp.Evaluate[[]axeViolation](axeRun, chromedp.EvalAwaitPromise))
	found := map[string]bool{}
	for _, v := range planted {
		found[v.ID] = v.Impact == "critical" || v.Impact == "serious"
	}
	if !found["button-name"] || !found["image-alt"] {
		t.Fatalf("axe-core did not report the planted button-name and image-alt violations as serious: %v", planted)
	}

	c.fill(selEmail, u.Email)
	c.fill(selPassword, u.Password+"-wrong")
	c.submit("sign in with a wrong password", selSignIn)
	a.check("sign-in-error")

	c.submit("open the sign-up page", selSignupLink)
	a.check("sign-up")
	c.fill(selSignupEmail, newAddress("a11y"))
	c.fill(selSignupPassword, "password123")
	c.submit("sign up with a common password", selSignupSubmit)
	a.check("sign-up-error")

	c.navigate(req.URL, selEmail)
	c.submit("open the forgot-password page", selForgotLink)
	a.check("forgot-password")
	c.fill(selForgotEmail, u.Email)
	c.submit("request a reset link", selForgotSubmit)
	a.check("check-email")

	link := firstLink(t, waitMail(t, u.Email, 1))
	c.open(link)
	a.check("reset-password")
	newPassword := "lilac meadow " + randomString(4)
	c.fill(selResetPassword, newPassword)
	c.fill(selResetConfirm, newPassword+"x")
	c.submit("set two different passwords", selResetSubmit)
	a.check("reset-password-error")
	c.fill(selResetPassword, newPassword)
	c.fill(selResetConfirm, newPassword)
	c.submit("set the new password", selResetSubmit)
	a.check("password-changed")
	c.open(link)
	a.check("link-used")
	u.Password = newPassword

	// An app that asks for two steps: the second step's setup during
	// sign-in, the recovery codes, then consent.
	req = newPKCERequest(client)
	c.navigate(req.URL+"&acr_values=2", selEmail)
	c.fill(selEmail, u.Email)
	c.fill(selPassword, u.Password)
	c.submit("sign in", selSignIn)
	a.check("mfa-setup")
	secret := c.text(selTOTPSecret)
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatalf("the second step's setup shows no usable secret (%q): %v", secret, err)
	}
	c.fill(selMFACode, wrongCode(code))
	c.submit("set up with a wrong code", selMFASubmit)
	a.check("mfa-setup-error")
	c.fill(selMFACode, code)
	c.submit("set up with the code", selMFASubmit)
	a.check("mfa-recovery-codes")
	codes := value(c, "read the recovery codes", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('`+selRecoveryCodes+`'), li => li.innerText.trim())`))
	if len(codes) == 0 {
		t.Fatal("the second step's setup showed no recovery codes")
	}
	c.submit("continue", `form[action="mfa"] button[type="submit"]`)
	a.check("consent")
	c.toApp(app)

	// The account area, with two steps on; then signed out.
	c.open(srv.issuer + "/account/security")
	a.check("account-security")
	c.open(srv.issuer + "/account/identities")
	a.check("account-identities")
	c.open(srv.issuer + "/account/passkeys")
	a.check("account-passkeys")
	c.open(srv.issuer + "/account/profile")
	a.check("account-profile")
	c.fill("#f-phone_number", "not a number")
	c.submit("save a phone number that is none", `form[action="/account/profile"] button[type="submit"]`)
	a.check("account-profile-error")
	if txt := c.pageText(); !strings.Contains(txt, "Member number") || !strings.Contains(txt, "Enter a phone number") {
		t.Errorf("the profile page checked shows no operator attribute or no error:\n%s", txt)
	}
	c.open(srv.issuer + "/account/apps")
	a.check("account-apps")
	c.open(srv.issuer + "/account/sessions")
	a.check("account-sessions")
	c.open(srv.issuer + "/account/activity")
	a.check("account-activity")
	c.open(srv.issuer + "/account/preferences")
	a.check("account-preferences")
	if txt := c.pageText(); !strings.Contains(txt, "Newsletter") {
		t.Errorf("the preferences page checked shows no purpose to opt into:\n%s", txt)
	}
	c.submit("save the preferences", `form[action="/account/preferences"] button[type="submit"]`)
	a.check("account-preferences-saved")
	c.open(srv.issuer + "/account/data")
	a.check("account-data")
	c.open(srv.issuer + "/account/delete")
	a.check("account-delete")
	c.fill("#confirm", "not the words")
	c.submit("confirm the deletion with the wrong words", "#delete")
	a.check("account-delete-error")
	c.signOutOfAccount()
	a.check("signed-out")

	// Signing in to the account area: the sign-in page, the second step's
	// code page, with an error, and the setup page once two steps are off.
	c.open(srv.issuer + "/account/security")
	a.check("account-sign-in")
	c.fill(selEmail, u.Email)
	c.fill(selPassword, u.Password)
	c.submit("sign in to the account area", selSignIn)
	c.onMFAPage()
	a.check("mfa")
	c.mfaAnswer(wrongCode(code), false)
	a.check("mfa-error")
	c.mfaAnswer(codes[0], false)
	if loc := c.location(); loc != srv.issuer+"/account/security" {
		t.Fatalf("signed in with a recovery code at %s, want the security page", loc)
	}
	c.submit("turn the app off", `form[action="/account/security/totp/remove"] button[type="submit"]`)
	a.check("account-security-off")
	c.submit("set up an authenticator app", selSetupTOTP)
	a.check("account-totp-setup")

	// The error page of a request that cannot go back to its app.
	c.open(srv.issuer + "/authorize?response_type=code&scope=openid&client_id=no-such-client&redirect_uri=" + app.Callback)
	a.check("error")
}
