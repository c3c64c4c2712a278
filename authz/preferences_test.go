package authz

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/storage"
)

// The provider gives the account area the client address behind trusted
// proxies for the consent ledger.
var _ account.ClientAddresser = (*Provider)(nil)

var testPurposes = []account.Purpose{
	{ID: "newsletter", Label: "Newsletter", Description: "Our news, once a month."},
	{ID: "offers", Label: "Special offers"},
}

// newPreferencesEnv serves the account area with the Preferences page
// and a few other pages, the provider trusting 127.0.0.1 as a proxy.
func newPreferencesEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newTestEnvWith(t, func(c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	e.p.stores.Audit = e.store
	e.serveAccount(account.Config{Users: e.store, Sessions: e.store, Consents: e.store, Clients: e.store,
		Tokens: e.store, Audit: e.store, Preferences: e.store, Purposes: testPurposes, PolicyVersion: "2031-03"})
	return e
}

// postPreferences submits the Preferences page's CSRF token with form
// (the form as given, not the page's ticked boxes), from the address
// forwardedFor through the trusted proxy.
func postPreferences(t *testing.T, e *testEnv, b *http.Client, form url.Values, forwardedFor string) (*http.Response, string) {
	t.Helper()
	_, page := e.get(b, "/account/preferences")
	m := hiddenRe.FindStringSubmatch(page)
	if m == nil || m[1] != "csrf_token" {
		t.Fatalf("preferences page without its CSRF token: %s", page)
	}
	form = cloneValues(form)
	form.Set("csrf_token", m[2])
	return postForm(t, e, b, form, forwardedFor)
}

func postForm(t *testing.T, e *testEnv, b *http.Client, form url.Values, forwardedFor string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/account/preferences", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Preferences test browser")
	req.Header.Set("X-Forwarded-For", forwardedFor)
	resp, err := noRedirects(b).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readBody(t, resp)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func (e *testEnv) prefs() storage.Preferences {
	e.t.Helper()
	p, err := e.store.GetPreferences(context.Background(), e.userID)
	if err != nil {
		e.t.Fatal(err)
	}
	return *p
}

// ledgerEntry is what the test checks of a ledger event.
type ledgerEntry struct {
	Purpose, ClientID, Action, Scopes, PolicyVersion, IP, UserAgent string
}

func entries(l []*storage.ConsentEvent) []ledgerEntry {
	var out []ledgerEntry
	for _, e := range l {
		out = append(out, ledgerEntry{e.Purpose, e.ClientID, e.Action, strings.Join(e.Scopes, " "), e.PolicyVersion, e.IP, e.UserAgent})
	}
	return out
}

func TestAccountPreferences(t *testing.T) {
	e := newPreferencesEnv(t)
	b := e.browser()
	e.session(b, time.Now())

	resp, page := e.get(b, "/account/preferences")
	if resp.StatusCode != 200 {
		t.Fatalf("preferences page: %d %s", resp.StatusCode, page)
	}
	mustContain(t, "preferences page", page, "Newsletter", "Our news, once a month.", "Special offers",
		`value="newsletter:email"`, `value="offers:sms"`, `<option value="CHF">CHF · Swiss franc`, `<option value="" selected>The language of your browser`,
		`aria-current="page"`)
	if strings.Contains(page, " checked>") {
		t.Errorf("a new account has an opt-in ticked: %s", page)
	}
	if _, other := e.get(b, "/account/profile"); !strings.Contains(other, `href="/account/preferences"`) {
		t.Errorf("the account navigation does not link to the preferences: %s", other)
	}

	// Save: the stored preferences, one ledger entry per opt-in turned on.
	resp, body := postPreferences(t, e, b, url.Values{"language": {"de"}, "currency": {"CHF"},
		"optin": {"newsletter:email", "newsletter:sms", "offers:email"}}, "203.0.113.9")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/preferences?saved=1" {
		t.Fatalf("save: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	p := e.prefs()
	if p.Language != "de" || p.Currency != "CHF" || p.UpdatedAt.IsZero() ||
		!reflect.DeepEqual(p.OptIns, map[string][]string{"newsletter": {"email", "sms"}, "offers": {"email"}}) {
		t.Fatalf("stored: %+v", p)
	}
	granted := func(purpose, channel string) ledgerEntry {
		return ledgerEntry{purpose, "", storage.ConsentGranted, channel, "2031-03", "203.0.113.9", "Preferences test browser"}
	}
	revoked := func(purpose, channel string) ledgerEntry {
		return ledgerEntry{purpose, "", storage.ConsentRevoked, channel, "2031-03", "198.51.100.7", "Preferences test browser"}
	}
	want := []ledgerEntry{granted("newsletter", "email"), granted("newsletter", "sms"), granted("offers", "email")}
	if got := entries(e.ledger()); !reflect.DeepEqual(got, want) {
		t.Fatalf("ledger after the first save:\n%+v\nwant\n%+v", got, want)
	}

	// The page shows the choices, in German now.
	_, page = e.get(b, "/account/preferences?saved=1")
	mustContain(t, "preferences page after a save", page, `<html lang="de"`, "Ihre Einstellungen sind gespeichert.",
		`value="newsletter:email" checked>`, `value="newsletter:sms" checked>`, `value="offers:email" checked>`,
		`<option value="CHF" selected>`, `<option value="de" selected lang="de">Deutsch`)
	if strings.Contains(page, `value="offers:sms" checked`) {
		t.Errorf("an opt-in not given is ticked: %s", page)
	}
	// Every account page follows the preference, whatever the browser asks.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/account/profile", nil)
	req.Header.Set("Accept-Language", "en-US,en;q=0.9")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.Header.Get("Content-Language") != "de" || !strings.Contains(body, "Profil") {
		t.Errorf("profile page with the German preference: %q %s", resp.Header.Get("Content-Language"), body)
	}
	// Another user's pages keep following their browser.
	other := e.browser()
	e.sessionOf(other, e.otherUser(t), time.Now())
	req, _ = http.NewRequest(http.MethodGet, e.srv.URL+"/account/preferences", nil)
	req.Header.Set("Accept-Language", "en")
	if resp, err := other.Do(req); err != nil {
		t.Fatal(err)
	} else if body := readBody(t, resp); resp.Header.Get("Content-Language") != "en" || !strings.Contains(body, "Language of these pages") {
		t.Errorf("another user's preferences page: %q %s", resp.Header.Get("Content-Language"), body)
	}

	// A change: exactly the opt-ins changed are written.
	resp, body = postPreferences(t, e, b, url.Values{"language": {""}, "currency": {"CHF"},
		"optin": {"newsletter:email", "offers:email", "offers:sms"}}, "198.51.100.7")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second save: %d %s", resp.StatusCode, body)
	}
	want = append(want, revoked("newsletter", "sms"))
	w := granted("offers", "sms")
	w.IP = "198.51.100.7"
	want = append(want, w)
	if got := entries(e.ledger()); !reflect.DeepEqual(got, want) {
		t.Fatalf("ledger after the second save:\n%+v\nwant\n%+v", got, want)
	}
	if p := e.prefs(); p.Language != "" || !reflect.DeepEqual(p.OptIns, map[string][]string{"newsletter": {"email"}, "offers": {"email", "sms"}}) {
		t.Fatalf("stored after the second save: %+v", p)
	}
	req, _ = http.NewRequest(http.MethodGet, e.srv.URL+"/account/preferences", nil)
	req.Header.Set("Accept-Language", "en")
	if resp, err := b.Do(req); err != nil {
		t.Fatal(err)
	} else if readBody(t, resp); resp.Header.Get("Content-Language") != "en" {
		t.Errorf("back to the browser's language: Content-Language %q", resp.Header.Get("Content-Language"))
	}

	// The same again: nothing to write.
	resp, _ = postPreferences(t, e, b, url.Values{"currency": {"CHF"}, "optin": {"newsletter:email", "offers:email", "offers:sms"}}, "198.51.100.7")
	if resp.Header.Get("Location") != "/account/preferences?saved=none" || len(e.ledger()) != len(want) {
		t.Errorf("an unchanged save: %s, %d ledger entries, want %d", resp.Header.Get("Location"), len(e.ledger()), len(want))
	}

	// Bad input: a clear message, nothing stored, nothing in the ledger.
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"unknown language", url.Values{"language": {"fr"}, "optin": {"newsletter:email"}}, "choose a language from the list"},
		{"unknown currency", url.Values{"currency": {"XBT"}, "optin": {"newsletter:email"}}, "choose a currency from the list"},
		{"lower-case currency", url.Values{"currency": {"chf"}}, "choose a currency from the list"},
		{"unknown purpose", url.Values{"currency": {"CHF"}, "optin": {"newsletter:email", "surveys:email"}}, "choose only the messages listed"},
		{"unknown channel", url.Values{"currency": {"CHF"}, "optin": {"newsletter:pigeon"}}, "choose only the messages listed"},
		{"no channel", url.Values{"currency": {"CHF"}, "optin": {"newsletter"}}, "choose only the messages listed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, ledgerBefore := e.prefs(), len(e.ledger())
			resp, body := postPreferences(t, e, b, tc.form, "198.51.100.7")
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			mustContain(t, "refused preferences", body, "Nothing was saved: "+tc.want)
			if after := e.prefs(); !reflect.DeepEqual(after, before) {
				t.Errorf("a refused save changed the preferences:\n%+v\n%+v", before, after)
			}
			if n := len(e.ledger()); n != ledgerBefore {
				t.Errorf("a refused save wrote %d ledger entries", n-ledgerBefore)
			}
		})
	}
	t.Run("missing CSRF token", func(t *testing.T) {
		before, ledgerBefore := e.prefs(), len(e.ledger())
		resp, body := postForm(t, e, b, url.Values{"currency": {"USD"}, "optin": {"newsletter:sms"}}, "198.51.100.7")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Nothing was changed.") {
			t.Fatalf("no CSRF token: %d %s", resp.StatusCode, body)
		}
		if after := e.prefs(); !reflect.DeepEqual(after, before) || len(e.ledger()) != ledgerBefore {
			t.Errorf("a form without CSRF token changed something: %+v", after)
		}
	})
	t.Run("another user's CSRF token", func(t *testing.T) {
		before, ledgerBefore := e.prefs(), len(e.ledger())
		_, page := e.get(other, "/account/preferences")
		m := hiddenRe.FindStringSubmatch(page)
		resp, _ := postForm(t, e, b, url.Values{"csrf_token": {m[2]}, "currency": {"USD"}}, "198.51.100.7")
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("another session's CSRF token: %d", resp.StatusCode)
		}
		if after := e.prefs(); !reflect.DeepEqual(after, before) || len(e.ledger()) != ledgerBefore {
			t.Errorf("a form with another session's CSRF token changed something: %+v", after)
		}
	})

	// Without a session: sign in first.
	resp, err = noRedirects(e.browser()).Get(e.srv.URL + "/account/preferences")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := resp.Location(); resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != pathLogin {
		t.Fatalf("no session: %d %v", resp.StatusCode, loc)
	}
}

// otherUser creates a second account and returns its ID.
func (e *testEnv) otherUser(t *testing.T) string {
	t.Helper()
	if err := e.store.CreateUser(context.Background(), &storage.User{ID: "user-grace", Email: "grace@example.com", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	return "user-grace"
}
