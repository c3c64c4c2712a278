package conformance

import (
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// rpApp is a relying party's web app on its own loopback origin: its
// callback page shows the authorization response it was sent, for the
// browser to land on and the test to read.
type rpApp struct {
	*httptest.Server
	Callback string // the redirect URI
}

var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>App</title></head>
<body><h1>App callback</h1>
{{with .Get "code"}}<p>code <code id="code">{{.}}</code></p>{{end}}
{{with .Get "state"}}<p>state <code id="state">{{.}}</code></p>{{end}}
{{with .Get "error"}}<p>error <code id="error">{{.}}</code></p>{{end}}
</body></html>`))

// passkeyPage is a page of the app's origin on which a test calls the
// WebAuthn API.
const passkeyPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Passkey</title></head>
<body><h1 id="ready">Passkey test page</h1></body></html>`

// framePage is a page of the app's origin that embeds another page, as a
// clickjacking attempt would.
var framePage = template.Must(template.New("frame").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Frame</title></head>
<body><h1 id="ready">Framing test page</h1><iframe id="framed" src="{{.}}" width="600" height="500"></iframe></body></html>`))

func newRPApp(t testing.TB) *rpApp {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = callbackPage.Execute(w, r.URL.Query())
	})
	mux.HandleFunc("GET /passkey", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, passkeyPage)
	})
	mux.HandleFunc("GET /frame", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = framePage.Execute(w, r.URL.Query().Get("src"))
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return &rpApp{Server: s, Callback: s.URL + "/callback"}
}

// browserRP registers a client whose redirect URI is a new app's callback,
// and a user, both with the CLI while the server runs.
func browserRP(t testing.TB, name string) (*rp, *user, *rpApp) {
	t.Helper()
	app := newRPApp(t)
	name = name + "-" + randomString(3)
	c, err := srv.createClient(t.TempDir(), name, clientSpec{
		redirectURIs: []string{app.Callback},
		scopes:       []string{"openid", "profile", "email"},
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := srv.createUser(name)
	if err != nil {
		t.Fatal(err)
	}
	return c, u, app
}

// pkceRequest is an authorization request with PKCE (S256), state and a
// nonce, and the values to check its response with.
type pkceRequest struct {
	cfg      oauth2.Config
	verifier string
	state    string
	nonce    string
	URL      string
}

func newPKCERequest(c *rp) *pkceRequest {
	r := &pkceRequest{
		cfg: oauth2.Config{
			ClientID:     c.ID,
			ClientSecret: c.Secret,
			Endpoint:     srv.provider.Endpoint(),
			RedirectURL:  c.RedirectURI,
			Scopes:       c.Scopes,
		},
		verifier: oauth2.GenerateVerifier(),
		state:    randomString(8),
		nonce:    randomString(8),
	}
	r.URL = r.cfg.AuthCodeURL(r.state, oauth2.S256ChallengeOption(r.verifier), oidc.Nonce(r.nonce))
	return r
}

// Selectors of Atrium's sign-in and consent pages.
const (
	selEmail    = `form[action="login"] input[name="email"]`
	selPassword = `form[action="login"] input[name="password"]`
	selSignIn   = `form[action="login"] button[type="submit"]`
	selError    = `p.error[role="alert"]:not([hidden])`
	selAllow    = `form[action="consent"] button[name="action"][value="allow"]`
	selCode     = `#code`
)

// signInPage fills the sign-in form and submits it.
func (c *chrome) signInPage(email, password string) {
	c.t.Helper()
	c.do("fill in the sign-in form",
		chromedp.WaitVisible(selEmail),
		chromedp.SendKeys(selEmail, email),
		chromedp.SendKeys(selPassword, password),
	)
	c.screenshot("sign-in-filled")
	c.do("submit the sign-in form", chromedp.Click(selSignIn))
}

// TestChromiumSignIn signs in through Atrium's pages in a real browser:
// the authorization request with PKCE opens the sign-in page, the user
// types email and password, allows the app on the consent page and lands
// on the app's callback with a code, which the app exchanges for an
// id_token about that user, signed in with a password.
func TestChromiumSignIn(t *testing.T) {
	t.Parallel()
	c := newChrome(t)
	client, u, app := browserRP(t, "chromium-signin")
	req := newPKCERequest(client)

	c.navigate(req.URL, selEmail)
	c.screenshot("sign-in")
	if title := value(c, "read the title", chromedp.Title()); !strings.HasPrefix(title, "Sign in") {
		t.Errorf("sign-in page title = %q, want it to start with %q", title, "Sign in")
	}
	c.signInPage(u.Email, u.Password)

	c.do("wait for the consent page", chromedp.WaitVisible(selAllow))
	c.screenshot("consent")
	c.do("allow", chromedp.Click(selAllow))

	c.do("wait for the app's callback", chromedp.WaitVisible(selCode))
	c.screenshot("app-callback")
	loc := value(c, "read the location", chromedp.Location())
	if !strings.HasPrefix(loc, app.Callback+"?") {
		t.Fatalf("landed on %s, want the app's callback %s", loc, app.Callback)
	}
	got, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	q := got.Query()
	if q.Get("state") != req.state {
		t.Errorf("state = %q, want %q", q.Get("state"), req.state)
	}
	code := value(c, "read the code", chromedp.Text(selCode))
	if code == "" || code != q.Get("code") {
		t.Fatalf("the page shows code %q, the URL has %q", code, q.Get("code"))
	}

	// The app's back channel: the code and the PKCE verifier for tokens.
	ctx := srv.ctx(t)
	tok, err := req.cfg.Exchange(ctx, code, oauth2.VerifierOption(req.verifier))
	if err != nil {
		t.Fatalf("exchange the code: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("the token response has no id_token")
	}
	idt, err := srv.verifier(client.ID).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify the id_token: %v", err)
	}
	var claims struct {
		Nonce string   `json:"nonce"`
		ACR   string   `json:"acr"`
		AMR   []string `json:"amr"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if idt.Subject != u.Sub {
		t.Errorf("sub = %q, want the user's id %q", idt.Subject, u.Sub)
	}
	if claims.Nonce != req.nonce {
		t.Errorf("nonce = %q, want %q", claims.Nonce, req.nonce)
	}
	if claims.ACR != "1" {
		t.Errorf("acr = %q, want %q (signed in with a password)", claims.ACR, "1")
	}
	if !slices.Contains(claims.AMR, "pwd") {
		t.Errorf("amr = %v, want it to contain pwd", claims.AMR)
	}

	checkPageHeaders(t, c.documents(), 2) // the sign-in and consent pages
}

// checkPageHeaders checks that each HTML page the browser loaded from the
// issuer (redirects aside) forbids framing and carries the Content-Security-Policy, and that
// there were at least min of them.
func checkPageHeaders(t testing.TB, docs []document, min int) {
	t.Helper()
	pages := 0
	for _, d := range docs {
		if !onIssuer(d.URL) || d.Status/100 == 3 || !strings.HasPrefix(d.Header.Get("Content-Type"), "text/html") {
			continue // redirects are not shown
		}
		pages++
		csp := d.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%d %s: Content-Security-Policy %q has no frame-ancestors 'none'", d.Status, d.URL, csp)
		}
		if !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%d %s: Content-Security-Policy %q has no default-src 'none'", d.Status, d.URL, csp)
		}
		if xfo := d.Header.Get("X-Frame-Options"); !strings.EqualFold(xfo, "DENY") {
			t.Errorf("%d %s: X-Frame-Options = %q, want DENY", d.Status, d.URL, xfo)
		}
	}
	if pages < min {
		t.Errorf("the browser loaded %d HTML pages from the issuer, want at least %d; documents: %v", pages, min, docs)
	}
}

// TestChromiumWrongPassword submits a wrong password: the sign-in page
// comes back with the error message, the email kept and the password
// field empty, and the browser never reaches the app.
func TestChromiumWrongPassword(t *testing.T) {
	t.Parallel()
	c := newChrome(t)
	client, u, app := browserRP(t, "chromium-wrong")
	req := newPKCERequest(client)

	c.navigate(req.URL, selEmail)
	c.screenshot("sign-in")
	c.signInPage(u.Email, u.Password+"-wrong")
	c.do("wait for the error message", chromedp.WaitVisible(selError))
	c.screenshot("wrong-password")

	if msg := value(c, "read the error", chromedp.Text(selError)); !strings.Contains(msg, "Incorrect email or password") {
		t.Errorf("error message = %q, want it to say the email or password is incorrect", msg)
	}
	if email := value(c, "read the email field", chromedp.Value(selEmail)); email != u.Email {
		t.Errorf("email field = %q, want %q kept", email, u.Email)
	}
	if pw := value(c, "read the password field", chromedp.Value(selPassword)); pw != "" {
		t.Error("the password field is filled again after a failed sign-in")
	}
	if loc := value(c, "read the location", chromedp.Location()); strings.HasPrefix(loc, app.URL) {
		t.Errorf("a wrong password reached the app: %s", loc)
	}
	checkPageHeaders(t, c.documents(), 2) // the sign-in page twice
}

// layout is where the sign-in form sits on a page.
type layout struct {
	ViewportWidth float64 `json:"viewportWidth"`
	ScrollWidth   float64 `json:"scrollWidth"`
	Left          float64 `json:"left"`
	Right         float64 `json:"right"`
	Width         float64 `json:"width"`
	ButtonBottom  float64 `json:"buttonBottom"`
	ViewportH     float64 `json:"viewportHeight"`
	FontSize      float64 `json:"fontSize"`
}

const layoutJS = `(() => {
	const f = document.querySelector('form[action="login"]').getBoundingClientRect();
	const b = document.querySelector('form[action="login"] button[type="submit"]').getBoundingClientRect();
	const input = document.querySelector('form[action="login"] input[name="email"]');
	return {
		viewportWidth: window.innerWidth,
		viewportHeight: window.innerHeight,
		scrollWidth: document.documentElement.scrollWidth,
		left: f.left, right: f.right, width: f.width,
		buttonBottom: b.bottom,
		fontSize: parseFloat(getComputedStyle(input).fontSize),
	};
})()`

// TestChromiumPhoneViewport opens the sign-in page on a phone-sized
// screen (390x844 CSS pixels, as an iPhone 12 to 15): the form is visible
// and fits the width without sideways scrolling, the button is on the
// first screen, and the inputs' text is large enough that mobile browsers
// do not zoom in on focus. Then it signs in on that screen.
func TestChromiumPhoneViewport(t *testing.T) {
	t.Parallel()
	c := newChrome(t)
	client, u, app := browserRP(t, "chromium-phone")
	req := newPKCERequest(client)

	c.do("emulate a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile))
	c.navigate(req.URL, selPassword)
	c.screenshot("sign-in-phone")

	l := value(c, "measure the sign-in form", chromedp.Evaluate[layout](layoutJS))
	if l.ViewportWidth != 390 {
		t.Errorf("viewport width = %v, want 390 (is the viewport meta tag missing?)", l.ViewportWidth)
	}
	if l.ScrollWidth > l.ViewportWidth {
		t.Errorf("the page is %v px wide on a %v px screen: it scrolls sideways", l.ScrollWidth, l.ViewportWidth)
	}
	if l.Width <= 0 || l.Left < 0 || l.Right > l.ViewportWidth {
		t.Errorf("the form spans %v to %v px, outside a %v px screen", l.Left, l.Right, l.ViewportWidth)
	}
	if l.ButtonBottom > l.ViewportH {
		t.Errorf("the sign-in button ends at %v px, below the first screen of %v px", l.ButtonBottom, l.ViewportH)
	}
	if l.FontSize < 16 {
		t.Errorf("the inputs' font size is %v px: mobile browsers zoom in on focus below 16 px", l.FontSize)
	}

	c.signInPage(u.Email, u.Password)
	c.do("wait for the consent page", chromedp.WaitVisible(selAllow))
	c.screenshot("consent-phone")
	c.do("allow", chromedp.Click(selAllow), chromedp.WaitVisible(selCode))
	if loc := value(c, "read the location", chromedp.Location()); !strings.HasPrefix(loc, app.Callback+"?") {
		t.Errorf("landed on %s, want the app's callback", loc)
	}
}

// TestSignInPageHeaders reads the security headers of the sign-in page
// as a plain HTTP client sees them, so that a page the browser tests do not
// visit still has them checked once without a browser in the way.
func TestSignInPageHeaders(t *testing.T) {
	t.Parallel()
	client, _, _ := browserRP(t, "chromium-headers")
	req := newPKCERequest(client)
	b := newBrowser(t)
	p := b.get(req.URL)
	if p.loginForm() == nil {
		t.Fatalf("the authorization request did not show the sign-in page: %s", p.describe())
	}
	checkPageHeaders(t, []document{{URL: p.URL.String(), Status: int64(p.Status), Header: p.Header}}, 1)
}

// TestChromiumVirtualAuthenticator checks the harness for passkeys: a
// virtual authenticator added over the DevTools protocol answers the
// WebAuthn API of a page (on localhost, a secure context and a valid
// relying party ID) and holds the passkey it created.
func TestChromiumVirtualAuthenticator(t *testing.T) {
	t.Parallel()
	c := newChrome(t)
	app := newRPApp(t)
	_, port, err := net.SplitHostPort(app.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	id := c.virtualAuthenticator()
	if id == "" {
		t.Fatal("WebAuthn.addVirtualAuthenticator returned no id")
	}
	if creds := c.credentials(id); len(creds) != 0 {
		t.Fatalf("a new authenticator holds %d credentials", len(creds))
	}

	c.navigate("http://localhost:"+port+"/passkey", "#ready")
	created := value(c, "create a passkey", chromedp.Evaluate[string](`(async () => {
		const cred = await navigator.credentials.create({publicKey: {
			challenge: crypto.getRandomValues(new Uint8Array(32)),
			rp: {id: "localhost", name: "Atrium test"},
			user: {id: new TextEncoder().encode("user-1"), name: "passkey@conformance.test", displayName: "Passkey"},
			pubKeyCredParams: [{type: "public-key", alg: -7}],
			authenticatorSelection: {residentKey: "required", userVerification: "required"},
		}});
		return cred.type;
	})()`, chromedp.EvalAwaitPromise))
	c.screenshot("passkey-created")
	if created != "public-key" {
		t.Fatalf("navigator.credentials.create returned a %q credential", created)
	}
	creds := c.credentials(id)
	if len(creds) != 1 {
		t.Fatalf("the authenticator holds %d credentials, want 1", len(creds))
	}
	if cr := creds[0]; cr.RpID != "localhost" || !cr.IsResidentCredential || string(cr.UserHandle) != "user-1" {
		t.Errorf("credential rpId %q, resident %v, user handle %q; want localhost, true, user-1", cr.RpID, cr.IsResidentCredential, cr.UserHandle)
	}
	// And it signs in with it, without a password or a prompt.
	asserted := value(c, "sign in with the passkey", chromedp.Evaluate[string](`(async () => {
		const a = await navigator.credentials.get({publicKey: {
			challenge: crypto.getRandomValues(new Uint8Array(32)),
			rpId: "localhost",
			userVerification: "required",
		}});
		return new TextDecoder().decode(a.response.userHandle);
	})()`, chromedp.EvalAwaitPromise))
	if asserted != "user-1" {
		t.Errorf("the assertion's user handle = %q, want user-1", asserted)
	}
}

// TestChromiumNoFraming embeds the sign-in page in an iframe of another
// origin, as a clickjacking page would: Chromium refuses to show it
// (frame-ancestors 'none'), and the frame holds an error page instead.
func TestChromiumNoFraming(t *testing.T) {
	t.Parallel()
	c := newChrome(t)
	client, _, app := browserRP(t, "chromium-frame")
	req := newPKCERequest(client)

	// The framing page is on localhost, as the issuer: same-site, so the
	// frame is in the page's frame tree and gets the issuer's cookies, and
	// only frame-ancestors stands in the way.
	_, port, err := net.SplitHostPort(app.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.navigate("http://localhost:"+port+"/frame?src="+url.QueryEscape(req.URL), "#framed")
	c.screenshot("framed-sign-in")
	tree, err := chromedp.Call(c.ctx, cdppage.GetFrameTree, cdp.Empty{})
	if err != nil {
		c.fail("Page.getFrameTree", err)
	}
	if len(tree.FrameTree.ChildFrames) != 1 {
		t.Fatalf("the app's page has %d frames, want 1", len(tree.FrameTree.ChildFrames))
	}
	f := tree.FrameTree.ChildFrames[0].Frame
	if onIssuer(f.URL) || !onIssuer(f.UnreachableURL) {
		t.Errorf("the frame shows %q (unreachable %q), want Chromium's error page in place of the issuer's", f.URL, f.UnreachableURL)
	}
	framed := 0
	for _, d := range c.documents() {
		if onIssuer(d.URL) && d.Status == 200 {
			framed++
		}
	}
	if framed == 0 {
		t.Error("the frame never loaded the sign-in page, so its refusal was not tested")
	}
	checkPageHeaders(t, c.documents(), 1)
}
