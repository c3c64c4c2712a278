package authz

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/internal/smtptest"
	"github.com/atrium-id/atrium/storage"
)

// The provider tells the old address of an email change for the account
// area.
var _ account.EmailChangeNotifier = (*Provider)(nil)

// langTransport sends Accept-Language with every request of a browser.
type langTransport struct {
	lang string
	next http.RoundTripper
}

func (t langTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept-Language", t.lang)
	return t.next.RoundTrip(r)
}

// browserIn is a new browser whose language is lang.
func (e *testEnv) browserIn(lang string) *http.Client {
	b := e.browser()
	b.Transport = langTransport{lang, http.DefaultTransport}
	return b
}

// saveLanguage stores lang as the test user's language preference.
func (e *testEnv) saveLanguage(lang string) {
	e.t.Helper()
	if err := e.store.PutPreferences(context.Background(), &storage.Preferences{UserID: e.userID, Language: lang}); err != nil {
		e.t.Fatal(err)
	}
}

// TestSavedLanguageInteraction: once the password identifies the user,
// the consent screen is in their saved language, over the browser's and
// under the app's ui_locales. The login page before it follows the
// browser only.
func TestSavedLanguageInteraction(t *testing.T) {
	e := newTestEnv(t)
	e.saveLanguage("de")
	_, challenge := pkcePair()
	for _, tc := range []struct {
		name, uiLocales, browser string
		login, consent           string
	}{
		{"saved over the browser", "", "en-US,en;q=0.9", "<h1>Sign in</h1>", "<h1>Zugriff erlauben?</h1>"},
		{"ui_locales over saved", "en", "en-US", "<h1>Sign in</h1>", "<h1>Allow access?</h1>"},
		{"unsupported ui_locales, saved decides", "fr", "en", "<h1>Sign in</h1>", "<h1>Zugriff erlauben?</h1>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browserIn(tc.browser)
			params := codeParams("app", "openid email", challenge)
			if tc.uiLocales != "" {
				params.Set("ui_locales", tc.uiLocales)
			}
			resp, body := getPage(t, b, e.authorizeURL(params), tc.browser)
			mustContain(t, "login page", body, tc.login)
			resp = submitForm(t, b, resp.Request.URL.String(), body, "login", url.Values{"email": {testEmail}, "password": {testPassword}})
			body = readBody(t, resp)
			mustContain(t, "consent page", body, tc.consent)
		})
	}
}

// TestSavedLanguageMFA: the second-factor step and its setup, after the
// password identified the user, are in their saved language.
func TestSavedLanguageMFA(t *testing.T) {
	e := newMFAEnv(t, nil)
	e.saveLanguage("de")
	_, challenge := pkcePair()
	// The app asks for two factors, the user has one: the setup step.
	params := codeParams("app", "openid", challenge)
	params.Set("acr_values", acrMFA)
	f := e.drive(e.browserIn("en"), params, func(string) url.Values { return nil })
	mustContain(t, "setup page", f.page, `<html lang="de">`, "Bestätigung in zwei Schritten einrichten", `id="totp-secret"`)

	e.enrolTOTP()
	f = e.drive(e.browserIn("en"), codeParams("app", "openid", challenge), func(string) url.Values { return nil })
	if f.mfaPages != 1 {
		t.Fatalf("no second-factor page: %d %s", f.status, f.page)
	}
	mustContain(t, "second-factor page", f.page, `<html lang="de">`, "Bestätigung in zwei Schritten")

	// Without a saved language the browser decides.
	e.saveLanguage("")
	f = e.drive(e.browserIn("en"), codeParams("app", "openid", challenge), func(string) url.Values { return nil })
	mustContain(t, "second-factor page", f.page, `<html lang="en">`, "Two-step verification")
}

// TestSavedLanguageMails: the verification link asked for on the account
// pages and the password reset mail to a known address are in the
// user's saved language, from an English browser; the reset page itself
// answers in the browser's language, whatever the address.
func TestSavedLanguageMails(t *testing.T) {
	e := newMailEnv(t)
	e.serveAccount(account.Config{Users: e.store, Consents: e.store, Clients: e.store, Tokens: e.store,
		Preferences: e.store, Purposes: testPurposes})
	e.saveLanguage("de")
	ctx := context.Background()
	u, _ := e.store.GetUser(ctx, e.userID)
	u.EmailVerified = false
	if err := e.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}

	b := e.browserIn("en-US,en;q=0.9")
	e.session(b, time.Now())
	_, prefs := e.get(b, "/account/preferences")
	mustContain(t, "preferences page", prefs, `<html lang="de">`)
	resp := submitForm(t, b, e.srv.URL+"/account/preferences", prefs, "/account/email/verify", nil)
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("resend: %d %s", resp.StatusCode, body)
	}
	m := e.smtp.WaitFor(testEmail, nil)
	if m.Subject != "Bestätigen Sie Ihre E-Mail-Adresse" || !strings.Contains(m.HTML, `lang="de"`) {
		t.Errorf("verification mail: %q\n%s", m.Subject, m.Text)
	}

	// The reset page is English (the browser's); the mail to the known
	// address German (the account's); with ui_locales=en English.
	forgotMail := func(b *http.Client, params url.Values) {
		t.Helper()
		resp, login := getPage(t, b, e.authorizeURL(params), "en")
		forgot, forgotURL := follow(t, b, resp.Request.URL.String(), login, "forgot-password?")
		resp = submitForm(t, b, forgotURL, forgot, "forgot-password", url.Values{"email": {testEmail}})
		mustContain(t, "reset notice", readBody(t, resp), `<html lang="en">`, "<h1>Check your email</h1>")
	}
	_, challenge := pkcePair()
	forgotMail(e.browserIn("en"), codeParams("app", "openid", challenge))
	m = e.smtp.WaitFor(testEmail, func(m *smtptest.Message) bool { return strings.Contains(m.Text, pathResetPassword) })
	if m.Subject != "Passwort zurücksetzen" {
		t.Errorf("reset mail of a user who saved German: %q", m.Subject)
	}
	// Its link names the user: the reset page is German too, in an
	// English browser.
	link := mailLinkRe.FindString(m.Text)
	rb := e.browserIn("en")
	reset, resetPage := getPage(t, rb, link, "en")
	mustContain(t, "reset page", resetPage, `<html lang="de">`, "<h1>Neues Passwort wählen</h1>")
	resp = submitForm(t, rb, reset.Request.URL.String(), resetPage, "reset-password",
		url.Values{"password": {"a new long passphrase"}, "password_confirm": {"a new long passphrase"}})
	mustContain(t, "password changed", readBody(t, resp), `<html lang="de">`, "<h1>Passwort geändert</h1>")
	params := codeParams("app", "openid", challenge)
	params.Set("ui_locales", "en")
	forgotMail(e.browserIn("de"), params)
	m = e.smtp.WaitFor(testEmail, func(m *smtptest.Message) bool { return m.Subject == "Reset your password" })
	if !strings.Contains(m.Text, pathResetPassword) {
		t.Errorf("reset mail with ui_locales=en: %q\n%s", m.Subject, m.Text)
	}
}

// TestAuthorizeErrorPageLanguage: the page for an authorization request
// that cannot be answered by redirect says what went wrong in the
// page's language, with fosite's description labelled for developers.
func TestAuthorizeErrorPageLanguage(t *testing.T) {
	e := newTestEnv(t)
	_, challenge := pkcePair()
	unknown := codeParams("nobody", "openid", challenge)
	badRedirect := codeParams("app", "openid", challenge)
	badRedirect.Set("redirect_uri", "https://evil.example/cb")
	for _, tc := range []struct {
		name    string
		params  url.Values
		browser string
		want    []string
	}{
		{"unknown client, German", unknown, "de", []string{`<html lang="de">`,
			"Die Anwendung ist hier nicht bekannt oder hat sich nicht richtig ausgewiesen. Kehren Sie zur Anwendung zurück",
			"Technische Angaben für die Entwickler der Anwendung: <code>invalid_client"}},
		{"unknown client, English", unknown, "en", []string{`<html lang="en">`,
			"The application is not known here, or it did not identify itself correctly. Go back to the application",
			"Technical details for the application&#39;s developer: <code>invalid_client"}},
		{"unregistered redirect_uri, German", badRedirect, "de", []string{`<html lang="de">`,
			"Die Anmeldeanfrage der Anwendung ist unvollständig oder ungültig.", "<code>invalid_request: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := getPage(t, e.browser(), e.authorizeURL(tc.params), tc.browser)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			mustContain(t, "error page", body, tc.want...)
		})
	}
	// Every sentence of the page has its German.
	for code, msg := range authorizeErrors {
		if page.German.T(msg) == msg {
			t.Errorf("%s: no German for %q", code, msg)
		}
	}
	if page.German.T(msgAuthorizeError) == msgAuthorizeError {
		t.Errorf("no German for %q", msgAuthorizeError)
	}
}

// TestEmailChangeNotice: changing the address on the Profile page tells
// the old address, in the user's language, with the new one masked and
// no link that acts by itself; the new address gets its link.
func TestEmailChangeNotice(t *testing.T) {
	e := newMailEnv(t)
	e.serveAccount(account.Config{Users: e.store, Consents: e.store, Clients: e.store, Tokens: e.store,
		Preferences: e.store, Purposes: testPurposes})
	e.saveLanguage("de")
	b := e.browserIn("en")
	e.session(b, time.Now())

	resp, body := postProfile(t, e.testEnv, b, url.Values{"email": {"Nora.New@Elsewhere.example"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("email change: %d %s", resp.StatusCode, body)
	}
	m := e.smtp.WaitFor(testEmail, nil)
	if m.Subject != "Ihre E-Mail-Adresse wurde geändert" {
		t.Errorf("notice subject %q", m.Subject)
	}
	for _, part := range []string{m.Text, m.HTML} {
		mustContain(t, "notice", part, "n***@elsewhere.example", e.srv.URL+"/account/security")
		if strings.Contains(strings.ToLower(part), "nora.new@") || strings.Contains(part, "token") {
			t.Errorf("the notice shows the new address or a token:\n%s", part)
		}
	}
	v := e.smtp.WaitFor("nora.new@elsewhere.example", nil)
	if v.Subject != "Bestätigen Sie Ihre E-Mail-Adresse" || !strings.Contains(v.Text, pathVerifyEmail+"?token=") {
		t.Errorf("verification of the new address: %q\n%s", v.Subject, v.Text)
	}

	// A save that leaves the address as it is tells nobody.
	if resp, body := postProfile(t, e.testEnv, b, url.Values{"nickname": {"Countess"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("nickname: %d %s", resp.StatusCode, body)
	}
	if resp, body := postProfile(t, e.testEnv, b, url.Values{"email": {"Nora.New@elsewhere.example"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("same address: %d %s", resp.StatusCode, body)
	}
	// The next change tells the address just left, in English now.
	e.saveLanguage("")
	if resp, body := postProfile(t, e.testEnv, b, url.Values{"email": {"ada@example.com"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change back: %d %s", resp.StatusCode, body)
	}
	m = e.smtp.WaitFor("nora.new@elsewhere.example", func(m *smtptest.Message) bool { return m.Subject == "Your email address was changed" })
	mustContain(t, "second notice", m.Text, "a***@example.com")
	notices := 0
	for _, m := range e.smtp.Messages() {
		if strings.Contains(m.Subject, "geändert") || strings.Contains(m.Subject, "changed") {
			notices++
		}
	}
	if notices != 2 {
		t.Errorf("%d notices, want one per change of address", notices)
	}
}

func TestMaskEmail(t *testing.T) {
	for in, want := range map[string]string{
		"nora@example.com": "n***@example.com",
		"émile@x.example":  "é***@x.example",
		"a@b":              "a***@b",
		"no-at-sign":       "***",
		"@example.com":     "***",
	} {
		if got := maskEmail(in); got != want {
			t.Errorf("maskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

// prefsCounter is the test's store counting the reads of preferences.
type prefsCounter struct {
	storage.UserStore
	storage.PreferenceStore
	reads atomic.Int32
}

func (c *prefsCounter) GetPreferences(ctx context.Context, userID string) (*storage.Preferences, error) {
	c.reads.Add(1)
	return c.PreferenceStore.GetPreferences(ctx, userID)
}

// TestSavedLanguageReadOnlyForPages: an authorization answered from the
// SSO session and a remembered consent, which shows no page, reads no
// preferences; the login page before the user is known reads none
// either; the consent page reads them once.
func TestSavedLanguageReadOnlyForPages(t *testing.T) {
	e := newTestEnv(t)
	c := &prefsCounter{UserStore: e.store, PreferenceStore: e.store}
	e.p.stores.Users = c
	b := e.browser()
	_, challenge := pkcePair()
	params := codeParams("app", "openid email", challenge)

	resp, login := getPage(t, b, e.authorizeURL(params), "en")
	if n := c.reads.Load(); n != 0 {
		t.Errorf("the login page read preferences %d times", n)
	}
	resp = submitForm(t, b, resp.Request.URL.String(), login, "login", url.Values{"email": {testEmail}, "password": {testPassword}})
	consentPage := readBody(t, resp)
	mustContain(t, "consent page", consentPage, `value="allow"`)
	if n := c.reads.Load(); n != 1 {
		t.Errorf("the consent page read preferences %d times, want 1", n)
	}
	resp = submitForm(t, noRedirects(b), resp.Request.URL.String(), consentPage, "consent", url.Values{"action": {"allow"}})
	readBody(t, resp)

	c.reads.Store(0)
	if loc := e.signIn(b, params); loc.Query().Get("code") == "" {
		t.Fatalf("SSO authorization: %v", loc)
	}
	if n := c.reads.Load(); n != 0 {
		t.Errorf("an authorization answered without a page read preferences %d times", n)
	}
}
