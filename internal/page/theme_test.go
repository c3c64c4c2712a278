package page

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// testPages is a package's templates, as authz and account embed theirs.
var testPages = fstest.MapFS{
	"templates/hello.html": {Data: []byte(`{{template "head" .}}<h1>{{.L.T "Sign in"}}</h1>{{template "foot"}}`)},
	"templates/other.html": {Data: []byte(`{{template "head" .}}<p>other</p>{{template "foot"}}`)},
}

type testData struct {
	Title string
	L     Lang
}

func render(t *testing.T, s *Set, name string, d testData) string {
	t.Helper()
	var b strings.Builder
	if err := s.Execute(&b, name, d); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestParseDefaults(t *testing.T) {
	s, err := Parse(Theme{}, testPages, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	if !s.Has("hello.html") || !s.Has(LayoutFile) || s.Has("login.html") {
		t.Errorf("Has: hello.html %v, layout.html %v, login.html %v", s.Has("hello.html"), s.Has(LayoutFile), s.Has("login.html"))
	}
	got := render(t, s, "hello.html", testData{Title: "Sign in", L: German})
	for _, want := range []string{
		`<html lang="de">`, `<title>Anmelden – Atrium</title>`, `<h1>Anmelden</h1>`,
		`--primary:#2557d6`, `--bg:#f4f5f7`, `--on-primary:#fff`, `<span>Atrium</span>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("page lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "<img") {
		t.Errorf("a logo without a logo URL:\n%s", got)
	}
	if got := render(t, s, "hello.html", testData{Title: "Sign in"}); !strings.Contains(got, `<html lang="en">`) || !strings.Contains(got, "<h1>Sign in</h1>") {
		t.Errorf("English page:\n%s", got)
	}
}

func TestParseBranding(t *testing.T) {
	logo := "https://cdn.example.com/acme.svg"
	s, err := Parse(Theme{Name: "Acme <ID>", LogoURL: logo, PrimaryColor: "#ffcc00", BackgroundColor: "#123"}, testPages, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	got := render(t, s, "hello.html", testData{Title: "Sign in"})
	for _, want := range []string{
		`--primary:#ffcc00`, `--bg:#123`,
		// Black text on a light button.
		`--on-primary:#000`,
		`<img src="` + logo + `" alt="Acme &lt;ID&gt;">`,
		`<title>Sign in – Acme &lt;ID&gt;</title>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("page lacks %q:\n%s", want, got)
		}
	}
	data := "data:image/png;base64,iVBORw0KGgo="
	s, err = Parse(Theme{LogoURL: data}, testPages, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	if got := render(t, s, "hello.html", testData{}); !strings.Contains(got, `<img src="`+data+`"`) {
		t.Errorf("data: logo not shown as is:\n%s", got)
	}
}

func TestThemeCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		theme Theme
		want  string
	}{
		{"colour name", Theme{PrimaryColor: "red"}, "primary colour"},
		{"CSS injection", Theme{PrimaryColor: "#fff;}body{display:none"}, "primary colour"},
		{"four digits", Theme{BackgroundColor: "#1234"}, "background colour"},
		{"no hash", Theme{BackgroundColor: "123456"}, "background colour"},
		{"http logo", Theme{LogoURL: "http://example.com/logo.png"}, "logo URL"},
		{"javascript logo", Theme{LogoURL: "javascript:alert(1)"}, "logo URL"},
		{"relative logo", Theme{LogoURL: "/logo.png"}, "logo URL"},
		{"data logo of HTML", Theme{LogoURL: "data:text/html;base64,PHNjcmlwdD4="}, "logo URL"},
		{"data logo not base64", Theme{LogoURL: "data:image/svg+xml,<svg/>"}, "logo URL"},
		{"quote in logo", Theme{LogoURL: `https://example.com/a"b.png`}, "logo URL"},
		{"name on two lines", Theme{Name: "Acme\nEvil"}, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.theme.Check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check() = %v, want an error naming %q", err, tc.want)
			}
			if _, err := Parse(tc.theme, testPages, "templates/*.html"); err == nil {
				t.Fatal("Parse accepted the theme")
			}
		})
	}
	for _, ok := range []Theme{
		{},
		{Name: "Acme", LogoURL: "https://example.com/logo.png?v=2", PrimaryColor: "#ABC", BackgroundColor: "#a1b2c3"},
		{LogoURL: "data:image/svg+xml;base64,PHN2Zy8+"},
	} {
		if err := ok.Check(); err != nil {
			t.Errorf("Check(%+v) = %v", ok, err)
		}
	}
}

func TestParseOverrides(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("hello.html", `{{template "head" .}}<h1>Welcome to {{brand.Name}}: {{.L.T "Sign in"}}</h1>{{template "foot"}}`)
	write("layout.html", `{{define "head"}}<html lang="{{.L.Tag}}"><body class="custom">{{end}}{{define "foot"}}</body></html>{{end}}`)
	write("unrelated.html", `{{ this is not parsed`)
	s, err := Parse(Theme{Name: "Acme", Dir: dir}, testPages, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := render(t, s, "hello.html", testData{L: German}), `<html lang="de"><body class="custom"><h1>Welcome to Acme: Anmelden</h1></body></html>`; got != want {
		t.Errorf("overridden page = %q, want %q", got, want)
	}
	if got, want := render(t, s, "other.html", testData{}), `<html lang="en"><body class="custom"><p>other</p></body></html>`; got != want {
		t.Errorf("embedded page in the overridden layout = %q, want %q", got, want)
	}

	for _, tc := range []struct{ name, file, text string }{
		{"syntax", "hello.html", `{{template "head" .}}{{.L.T "x"`},
		{"layout syntax", "layout.html", `{{define "head"}}`},
		{"unknown function", "other.html", `{{nosuchfunc}}`},
		{"unknown template", "other.html", `{{template "nosuch" .}}`},
		{"unsafe context", "other.html", `{{template "head" .}}<a href="{{.Title}}{{template "foot"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Parse(Theme{Dir: dir}, testPages, "templates/*.html")
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, tc.file)) {
				t.Fatalf("Parse = %v, want an error naming %s", err, filepath.Join(dir, tc.file))
			}
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "hello.html"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Parse(Theme{Dir: dir}, testPages, "templates/*.html")
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "hello.html")) {
			t.Fatalf("Parse = %v, want an error naming the file", err)
		}
	})
}

func TestContrast(t *testing.T) {
	if c := contrast("#000", "#fff"); c < 20.9 || c > 21.1 {
		t.Errorf("black on white: %.2f, want 21", c)
	}
	if c := contrast("#2557d6", "#2557d6"); c != 1 {
		t.Errorf("same colour: %.2f, want 1", c)
	}
	for color, want := range map[string]string{"#2557d6": "#fff", "#ffcc00": "#000", "#000": "#fff", "#eee": "#000"} {
		if got := (Theme{PrimaryColor: color}).brand().OnPrimary; string(got) != want {
			t.Errorf("text on %s = %s, want %s", color, got, want)
		}
	}
}
