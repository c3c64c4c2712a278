package account

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atrium-id/atrium/internal/page"
)

func TestWithLang(t *testing.T) {
	type data struct {
		Title string
		L     page.Lang
	}
	if got := withLang(data{Title: "x"}, page.German).(data); got.L != page.German || got.Title != "x" {
		t.Errorf("value: %+v", got)
	}
	p := &data{}
	if got := withLang(p, page.German).(*data); got != p || p.L != page.German {
		t.Errorf("pointer: %+v", p)
	}
	// A language the caller chose stays.
	p = &data{L: page.German}
	withLang(p, page.English)
	if p.L != page.German {
		t.Errorf("chosen language replaced: %s", p.L.Tag())
	}
	type noLang struct{ Title string }
	if got := withLang(noLang{"x"}, page.German); got != (noLang{"x"}) {
		t.Errorf("struct without L: %+v", got)
	}
	type wrongType struct{ L string }
	if got := withLang(wrongType{"x"}, page.German); got != (wrongType{"x"}) {
		t.Errorf("L of another type: %+v", got)
	}
	if got := withLang("text", page.German); got != "text" {
		t.Errorf("not a struct: %v", got)
	}
}

// TestMessagePageLanguage renders the account area's message page for a
// German browser, with the embedded and a themed page set.
func TestMessagePageLanguage(t *testing.T) {
	themed, err := ParsePages(page.Theme{Name: "Acme", PrimaryColor: "#0a7d4f"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		pages *page.Set
		lang  string
		want  []string
	}{
		{"German", nil, "de-DE", []string{`<html lang="de">`, "<h1>Dieses Formular ist abgelaufen</h1>",
			"Es wurde nichts geändert.", "Zurück zu Ihren Anmeldemethoden", "– Atrium</title>"}},
		{"English", nil, "en", []string{`<html lang="en">`, "<h1>This form has expired</h1>", "Back to your sign-in methods"}},
		{"themed", themed, "de", []string{`<html lang="de">`, "--primary:#0a7d4f", "– Acme</title>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{pages: tc.pages}
			if h.pages == nil {
				h.pages = defaultPages()
			}
			r := httptest.NewRequest("POST", pathUnlink, nil)
			r.Header.Set("Accept-Language", tc.lang)
			w := httptest.NewRecorder()
			h.fail(w, r, http.StatusForbidden, "This form has expired", "Nothing was changed. Go back to the page and try again.")
			if w.Code != http.StatusForbidden {
				t.Fatalf("status %d", w.Code)
			}
			for _, want := range tc.want {
				if !strings.Contains(w.Body.String(), want) {
					t.Errorf("page lacks %q:\n%s", want, w.Body)
				}
			}
		})
	}
}
