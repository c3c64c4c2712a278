package conformance

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// loginTexts are what the sign-in page says in one language.
type loginTexts struct {
	Lang, Heading, Button, Forgot, EmailLabel string
}

var (
	loginEnglish = loginTexts{"en", "Sign in", "Sign in", "Forgot password?", "Email"}
	loginGerman  = loginTexts{"de", "Anmelden", "Anmelden", "Passwort vergessen?", "E-Mail"}
)

// acceptLanguage makes the tab send that Accept-Language header, or
// Chromium's own (en-US) when it is "".
func (c *chrome) acceptLanguage(v string) {
	c.t.Helper()
	h := network.Headers{}
	if v != "" {
		h["Accept-Language"] = v
	}
	if _, err := chromedp.Call(c.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h}); err != nil {
		c.fail("Network.setExtraHTTPHeaders", err)
	}
}

// readLogin reads the texts of the sign-in page.
func (c *chrome) readLogin() loginTexts {
	c.t.Helper()
	return loginTexts{
		Lang:       value(c, "read the page's language", chromedp.Evaluate[string](`document.documentElement.lang`)),
		Heading:    c.text(selHeading),
		Button:     c.text(selSignIn),
		Forgot:     c.text(selForgotLink),
		EmailLabel: c.text(`label[for="email"]`),
	}
}

// TestChromiumGerman opens the sign-in page in German: for a browser that
// asks for German (Accept-Language), and for an app that asks for it
// (ui_locales) whatever the browser's language; ui_locales wins over the
// browser. A reset requested from a German page sends a German mail. Then
// it signs in on the German page and finds the consent page in German too.
func TestChromiumGerman(t *testing.T) {
	t.Parallel()
	c := newChrome(t)
	client, u, app := browserRP(t, "chromium-german")

	cases := []struct {
		name, acceptLanguage, uiLocales string
		want                            loginTexts
	}{
		{"english browser", "", "", loginEnglish},
		{"accept-language de", "de", "", loginGerman},
		{"accept-language de-DE with weights", "de-DE,de;q=0.9,en;q=0.8", "", loginGerman},
		{"ui_locales de, english browser", "en-US,en;q=0.9", "de", loginGerman},
		{"ui_locales en, german browser", "de", "en", loginEnglish},
		{"ui_locales fr de, english browser", "en", "fr de", loginGerman},
	}
	for _, tc := range cases {
		c.acceptLanguage(tc.acceptLanguage)
		req := newPKCERequest(client)
		u := req.URL
		if tc.uiLocales != "" {
			u += "&ui_locales=" + strings.ReplaceAll(tc.uiLocales, " ", "+")
		}
		c.navigate(u, selEmail)
		c.screenshot("sign-in-" + unsafeName.ReplaceAllString(tc.name, "-"))
		if got := c.readLogin(); got != tc.want {
			t.Errorf("%s: the sign-in page says %+v, want %+v", tc.name, got, tc.want)
		}
		if cl := lastDocument(c, "/login").Header.Get("Content-Language"); cl != tc.want.Lang {
			t.Errorf("%s: the sign-in page's Content-Language = %q, want %q", tc.name, cl, tc.want.Lang)
		}
	}

	// An app that asks for German gets German mails too: a reset
	// requested from its sign-in page, in an English browser.
	c.acceptLanguage("en")
	req := newPKCERequest(client)
	c.navigate(req.URL+"&ui_locales=de", selEmail)
	c.submit("open the forgot-password page", selForgotLink)
	c.fill(selForgotEmail, u.Email)
	c.submit("request a reset link", selForgotSubmit)
	c.screenshot("check-email-de")
	if h := c.text(selHeading); h != "Sehen Sie in Ihr E-Mail-Postfach" {
		t.Errorf("the page after a reset request says %q, want it in German", h)
	}
	if m := waitMail(t, u.Email, 1); m.Subject != "Passwort zurücksetzen" {
		t.Errorf("the reset mail's subject is %q, want the German %q", m.Subject, "Passwort zurücksetzen")
	}

	// The language holds through the interaction: the consent page of a
	// German sign-in is German.
	c.acceptLanguage("de")
	req = newPKCERequest(client)
	c.navigate(req.URL, selEmail)
	c.fill(selEmail, u.Email)
	c.fill(selPassword, u.Password)
	c.submit("sign in", selSignIn)
	c.screenshot("consent-de")
	if h := c.text(selHeading); h != "Zugriff erlauben?" {
		t.Errorf("the consent page's heading is %q, want %q", h, "Zugriff erlauben?")
	}
	if b := c.text(selAllow); b != "Erlauben" {
		t.Errorf("the consent page's allow button says %q, want %q", b, "Erlauben")
	}
	c.toApp(app)
}

// lastDocument returns the last document the tab loaded from the issuer
// at path.
func lastDocument(c *chrome, path string) document {
	c.t.Helper()
	docs := c.documents()
	for i := len(docs) - 1; i >= 0; i-- {
		if u, err := url.Parse(docs[i].URL); err == nil && onIssuer(docs[i].URL) && u.Path == path {
			return docs[i]
		}
	}
	c.t.Fatalf("the browser loaded no page at %s", path)
	return document{}
}
