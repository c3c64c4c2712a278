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
	got, l := withLang(data{Title: "x"}, page.German)
	if d := got.(data); d.L != page.German || d.Title != "x" || l != page.German {
		t.Errorf("value: %+v %s", d, l.Tag())
	}
	p := &data{}
	if got, _ := withLang(p, page.German); got.(*data) != p || p.L != page.German {
		t.Errorf("pointer: %+v", p)
	}
	// A language the caller chose stays, and is the page's.
	p = &data{L: page.German}
	if _, l := withLang(p, page.English); p.L != page.German || l != page.German {
		t.Errorf("chosen language replaced: %s, page %s", p.L.Tag(), l.Tag())
	}
	type noLang struct{ Title string }
	if got, _ := withLang(noLang{"x"}, page.German); got != (noLang{"x"}) {
		t.Errorf("struct without L: %+v", got)
	}
	type wrongType struct{ L string }
	if got, _ := withLang(wrongType{"x"}, page.German); got != (wrongType{"x"}) {
		t.Errorf("L of another type: %+v", got)
	}
	if got, _ := withLang("text", page.German); got != "text" {
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
			if got, want := w.Header().Get("Content-Language"), tc.lang[:2]; got != want {
				t.Errorf("Content-Language %q, want %q", got, want)
			}
			for _, want := range tc.want {
				if !strings.Contains(w.Body.String(), want) {
					t.Errorf("page lacks %q:\n%s", want, w.Body)
				}
			}
		})
	}
}
