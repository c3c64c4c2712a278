package authz

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/internal/smtptest"
)

// getPage fetches u with the browser, sending Accept-Language lang.
func getPage(t *testing.T, b *http.Client, u, lang string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readBody(t, resp)
}

// TestGermanSignIn runs an authorization request with ui_locales=de from
// an English browser: the login page, its error and the consent page are
// German.
func TestGermanSignIn(t *testing.T) {
	e := newTestEnv(t)
	b := e.browser()
	_, challenge := pkcePair()
	params := codeParams("app", "openid email", challenge)
	params.Set("ui_locales", "de-DE en")
	resp, body := getPage(t, b, e.authorizeURL(params), "en-US,en;q=0.9")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login page: %s\n%s", resp.Status, body)
	}
	mustContain(t, "login page", body,
		`<html lang="de">`, `<title>Anmelden – Atrium</title>`, `<h1>Anmelden</h1>`,
		`weiter zu <strong>App</strong>`, `<label for="email">E-Mail</label>`, `<label for="password">Passwort</label>`,
		`>Passwort vergessen?</a>`, `Neu hier?`)
	if got := resp.Header.Get("Content-Language"); got != "de" {
		t.Errorf("Content-Language %q, want de", got)
	}
	if strings.Contains(body, ">Sign in<") {
		t.Errorf("English left on the German login page:\n%s", body)
	}

	pageURL := resp.Request.URL.String()
	resp = submitForm(t, b, pageURL, body, "login", url.Values{"email": {testEmail}, "password": {"wrong password!"}})
	body = readBody(t, resp)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %s", resp.Status)
	}
	mustContain(t, "login error", body, `<html lang="de">`,
		`<p class="error" role="alert">E-Mail-Adresse oder Passwort ist falsch.</p>`, `aria-invalid="true"`)

	resp = submitForm(t, b, pageURL, body, "login", url.Values{"email": {testEmail}, "password": {testPassword}})
	body = readBody(t, resp)
	mustContain(t, "consent page", body, `<html lang="de">`, `<h1>Zugriff erlauben?</h1>`,
		`<strong>App</strong> möchte:`, `<li>Wissen, wer Sie sind</li>`, `value="email" checked> Ihre E-Mail-Adresse</label>`, `Gibt weiter: email, email_verified`, `>Erlauben</button>`)
}

// TestPageLanguage checks which language the login page is in for
// ui_locales and Accept-Language.
func TestPageLanguage(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct {
		name, uiLocales, acceptLanguage, want string
	}{
		{"browser German", "", "de-CH, en;q=0.5", "de"},
		{"browser English", "", "en-GB", "en"},
		{"ui_locales over the browser", "en", "de", "en"},
		{"unsupported ui_locales, browser decides", "fr", "de", "de"},
		{"nothing supported", "fr", "ja, it;q=0.8", "en"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, challenge := pkcePair()
			params := codeParams("app", "openid", challenge)
			if tc.uiLocales != "" {
				params.Set("ui_locales", tc.uiLocales)
			}
			resp, body := getPage(t, e.browser(), e.authorizeURL(params), tc.acceptLanguage)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s\n%s", resp.Status, body)
			}
			h1 := map[string]string{"en": "<h1>Sign in</h1>", "de": "<h1>Anmelden</h1>"}[tc.want]
			mustContain(t, "login page", body, `<html lang="`+tc.want+`">`, h1)
		})
	}
	// A page without an interaction follows the browser.
	resp, body := getPage(t, e.browser(), e.srv.URL+"/login?interaction=nope", "de")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown interaction: %s", resp.Status)
	}
	mustContain(t, "error page", body, `<html lang="de">`, `<h1>Dieser Anmeldelink ist abgelaufen oder ungültig</h1>`,
		`Kehren Sie zur Anwendung zurück`)
}

// TestBrandedPages gives the provider a themed page set.
func TestBrandedPages(t *testing.T) {
	pages, err := ParsePages(page.Theme{Name: "Acme", LogoURL: "https://cdn.acme.example/logo.png", PrimaryColor: "#0a7d4f"})
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnvWith(t, func(c *Config) { c.Pages = pages })
	_, challenge := pkcePair()
	_, body := getPage(t, e.browser(), e.authorizeURL(codeParams("app", "openid", challenge)), "")
	mustContain(t, "login page", body, `--primary:#0a7d4f`, `<img src="https://cdn.acme.example/logo.png" alt="Acme">`,
		`<title>Sign in – Acme</title>`)
	if strings.Contains(body, "#2557d6") {
		t.Errorf("default colour on a branded page:\n%s", body)
	}
}

// TestGermanMails signs up and asks for a password reset from German
// pages (ui_locales=de, English browser): the mails are German too.
func TestGermanMails(t *testing.T) {
	e := newMailEnv(t)
	b := e.browser()
	_, challenge := pkcePair()
	params := codeParams("app", "openid email", challenge)
	params.Set("ui_locales", "de")
	resp, login := getPage(t, b, e.authorizeURL(params), "en")
	loginURL := resp.Request.URL.String()

	signup, signupURL := follow(t, b, loginURL, login, "signup?")
	mustContain(t, "sign-up page", signup, `<html lang="de">`, "<h1>Konto erstellen</h1>")
	resp = submitForm(t, b, signupURL, signup, "signup", url.Values{
		"email": {"grete@example.com"}, "name": {"Grete"}, "password": {"eine lange Passphrase"}})
	readBody(t, resp)
	m := e.smtp.WaitFor("grete@example.com", nil)
	if m.Subject != "Bestätigen Sie Ihre E-Mail-Adresse" || !strings.Contains(m.Text, "Hallo Grete,") || !strings.Contains(m.HTML, `lang="de"`) {
		t.Errorf("verification mail: %q\n%s\n%s", m.Subject, m.Text, m.HTML)
	}

	forgot, forgotURL := follow(t, b, loginURL, login, "forgot-password?")
	mustContain(t, "forgot page", forgot, `<html lang="de">`, "<h1>Passwort zurücksetzen</h1>")
	resp = submitForm(t, b, forgotURL, forgot, "forgot-password", url.Values{"email": {testEmail}})
	mustContain(t, "reset notice", readBody(t, resp), `<html lang="de">`, "<h1>Sehen Sie in Ihr E-Mail-Postfach</h1>")
	m = e.smtp.WaitFor(testEmail, nil)
	if m.Subject != "Passwort zurücksetzen" || !strings.Contains(m.Text, "Um ein neues Passwort zu wählen") {
		t.Errorf("reset mail: %q\n%s", m.Subject, m.Text)
	}

	// The same from an English page: English mails.
	b = e.browser()
	resp, login = getPage(t, b, e.authorizeURL(codeParams("app", "openid email", challenge)), "en")
	forgot, forgotURL = follow(t, b, resp.Request.URL.String(), login, "forgot-password?")
	resp = submitForm(t, b, forgotURL, forgot, "forgot-password", url.Values{"email": {testEmail}})
	readBody(t, resp)
	m = e.smtp.WaitFor(testEmail, func(m *smtptest.Message) bool { return m.Subject != "Passwort zurücksetzen" })
	if m.Subject != "Reset your password" {
		t.Errorf("reset mail from an English page: %q", m.Subject)
	}
}

func TestDiscoveryUILocales(t *testing.T) {
	e := newTestEnv(t)
	resp, err := http.Get(e.srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		UILocales []string `json:"ui_locales_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !slices.Equal(doc.UILocales, []string{"en", "de"}) {
		t.Errorf("ui_locales_supported = %v, want [en de]", doc.UILocales)
	}
}
