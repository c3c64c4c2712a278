package page

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name, uiLocales, acceptLanguage string
		want                            Lang
	}{
		{"nothing", "", "", English},
		{"ui_locales de", "de", "", German},
		{"ui_locales region", "de-CH", "", German},
		{"ui_locales beats Accept-Language", "de", "en-US,en;q=0.9", German},
		{"ui_locales en beats German browser", "en", "de-DE,de;q=0.9", English},
		{"first supported ui_locales tag", "fr-CA de en", "", German},
		{"unsupported ui_locales falls to Accept-Language", "fr ja", "de", German},
		{"malformed ui_locales ignored", "!!! de", "", German},
		{"Accept-Language German", "", "de-AT", German},
		{"Accept-Language by quality", "", "en;q=0.5, de;q=0.8", German},
		{"Accept-Language quality order", "", "de;q=0.3, en;q=0.9", English},
		{"Accept-Language skips unsupported", "", "fr-FR, ja;q=0.9, de;q=0.8", German},
		{"Accept-Language weight zero", "", "de;q=0, fr", English},
		{"unsupported only", "fr", "it, es;q=0.5", English},
		{"wildcard", "", "*", English},
		{"malformed Accept-Language", "", ";;;q=x", English},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/login", nil)
			if tc.acceptLanguage != "" {
				r.Header.Set("Accept-Language", tc.acceptLanguage)
			}
			if got := Negotiate(tc.uiLocales, r); got != tc.want {
				t.Errorf("Negotiate(%q, Accept-Language %q) = %s, want %s", tc.uiLocales, tc.acceptLanguage, got.Tag(), tc.want.Tag())
			}
		})
	}
	if got := Negotiate("de", nil); got != German {
		t.Errorf("without a request: %s, want de", got.Tag())
	}
}

func TestT(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Lang
		msg  string
		args []any
		want string
	}{
		{"English is the key", English, "Sign in", nil, "Sign in"},
		{"German", German, "Sign in", nil, "Anmelden"},
		{"unknown falls back to English", German, "No such message, surely", nil, "No such message, surely"},
		{"unknown with args", German, "Hello %s", []any{"Ada"}, "Hello Ada"},
		{"format with args", German, "Link your %s sign-in", []any{"GitHub"}, "Anmeldung mit GitHub verknüpfen"},
		{"English format with args", English, "Link your %s sign-in", []any{"GitHub"}, "Link your GitHub sign-in"},
		{"formatted message matched", German, "Sign-in with GitHub failed", nil, "Anmeldung mit GitHub fehlgeschlagen"},
		{"formatted message, two values", German,
			"The Acme ID account you signed in with is not the one linked to this account. Nothing was linked. Try again with the right Acme ID account, or with the password.", nil,
			"Das Acme ID-Konto, mit dem Sie sich angemeldet haben, ist nicht das mit diesem Konto verknüpfte. Es wurde nichts verknüpft. Versuchen Sie es mit dem richtigen Acme ID-Konto erneut oder mit dem Passwort."},
		{"number verb", German, "Use at least 12 characters.", nil, "Verwenden Sie mindestens 12 Zeichen."},
		{"number verb needs a number", German, "Use at least many characters.", nil, "Use at least many characters."},
		{"exact match first", German, "Continue", nil, "Weiter"},
		{"value translated too", German, "Too many sign-in attempts. Try again in 15 minutes.", nil,
			"Zu viele Anmeldeversuche. Versuchen Sie es in 15 Minuten erneut."},
		{"format not matched across lines", German, "Sign-in with\nfailed", nil, "Sign-in with\nfailed"},
		{"out of range Lang is English", Lang(200), "Sign in", nil, "Sign in"},
		{"short format used with values", German, "Link %s", []any{"GitHub"}, "GitHub verknüpfen"},
		{"short format matches nothing", German, "Link with Corp SSO", nil, "Link with Corp SSO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.l.T(tc.msg, tc.args...); got != tc.want {
				t.Errorf("T(%q) = %q, want %q", tc.msg, got, tc.want)
			}
		})
	}
}

func TestTag(t *testing.T) {
	for l, want := range map[Lang]string{English: "en", German: "de", Lang(9): "en"} {
		if got := l.Tag(); got != want {
			t.Errorf("Lang(%d).Tag() = %q, want %q", l, got, want)
		}
	}
}

func TestDate(t *testing.T) {
	d := time.Date(2026, time.March, 4, 10, 0, 0, 0, time.UTC)
	if got := English.Date(d); got != "4 March 2026" {
		t.Errorf("English: %q", got)
	}
	if got := German.Date(d); got != "4. März 2026" {
		t.Errorf("German: %q", got)
	}
}

func TestParseCatalog(t *testing.T) {
	for _, bad := range []string{`[]`, `{"a": 1}`, `{"a": "b"`, `"x"`} {
		if _, err := parseCatalog([]byte(bad)); err == nil {
			t.Errorf("parseCatalog(%s) accepted", bad)
		}
	}
	c, err := parseCatalog([]byte(`{"long enough %s b": "x %s y", "a": "first", "a": "second", "number is now %d": "N %d", "a %s": "short"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.translate("a", true); got != "second" {
		t.Errorf("duplicate key: %q, want the later entry", got)
	}
	if got := c.translate("long enough (1) b", true); got != "x (1) y" {
		t.Errorf("format: %q", got)
	}
	if got := c.translate("long enough (1) b", false); got != "long enough (1) b" {
		t.Errorf("format matched when told not to: %q", got)
	}
	if got := c.translate("number is now -3", true); got != "N -3" {
		t.Errorf("number: %q", got)
	}
	if got := c.translate("a b", true); got != "a b" {
		t.Errorf("short format matched: %q", got)
	}
}

func TestHTML(t *testing.T) {
	msg := "An account for <strong>%s</strong> exists. Enter its password to link your %s sign-in to it; after that, %s alone signs you in."
	got := German.HTML(msg, "<script>@example.com", "A&B", "A&B")
	want := "Für <strong>&lt;script&gt;@example.com</strong> gibt es bereits ein Konto. Geben Sie dessen Passwort ein, um Ihre Anmeldung mit A&amp;B damit zu verknüpfen; danach meldet A&amp;B Sie allein an."
	if string(got) != want {
		t.Errorf("German.HTML = %q\nwant %q", got, want)
	}
	if got := English.HTML("<em>%s</em>", `"x"`); got != "<em>&#34;x&#34;</em>" {
		t.Errorf("English.HTML = %q", got)
	}
}

func TestLangInContext(t *testing.T) {
	ctx := t.Context()
	if got := LangFrom(ctx); got != English {
		t.Errorf("empty context: %s", got.Tag())
	}
	if got := LangFrom(WithLang(ctx, German)); got != German {
		t.Errorf("German context: %s", got.Tag())
	}
	if _, ok := LangOf(ctx); ok {
		t.Error("LangOf found a language in an empty context")
	}
	if l, ok := LangOf(WithLang(ctx, English)); !ok || l != English {
		t.Errorf("LangOf(English context) = %s, %v", l.Tag(), ok)
	}
}

func TestTags(t *testing.T) {
	if got := Tags(); len(got) != 2 || got[0] != "en" || got[1] != "de" {
		t.Errorf("Tags() = %v", got)
	}
}
