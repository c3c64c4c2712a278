package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeBranding starts serve with the ui keys and an override folder:
// the pages carry the colours and logo, the override replaces its embedded
// template, and the other pages stay embedded.
func TestServeBranding(t *testing.T) {
	dir := t.TempDir()
	err := os.WriteFile(filepath.Join(dir, "error.html"),
		[]byte(`{{template "head" .}}<h1 class="acme-error">{{.L.T .Title}}</h1>{{template "foot"}}`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "loign.html"), []byte(`{{template "head" .}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	logo := "https://cdn.acme.example/logo.svg"
	s := startServer(t, map[string]string{
		"ATRIUM_UI_NAME":             "Acme",
		"ATRIUM_UI_LOGO_URL":         logo,
		"ATRIUM_UI_PRIMARY_COLOR":    "#0a7d4f",
		"ATRIUM_UI_BACKGROUND_COLOR": "#f3f6f4",
		"ATRIUM_UI_TEMPLATES_DIR":    dir,
	}, "--dev", "--data", t.TempDir())

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	get := func(path, lang string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", s.base+path, nil)
		req.Header.Set("Accept-Language", lang)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	// An unknown client: the error page, in German for a German browser.
	status, body, h := get("/authorize?client_id=nobody&response_type=code", "de-DE,de;q=0.9,en;q=0.5")
	if status != http.StatusBadRequest {
		t.Fatalf("status %d:\n%s", status, body)
	}
	for _, want := range []string{
		`<html lang="de">`,
		`<h1 class="acme-error">Die Anwendung hat eine ungültige Anmeldeanfrage gesendet</h1>`,
		`--primary:#0a7d4f`, `--bg:#f3f6f4`,
		`<img src="` + logo + `" alt="Acme">`,
		`– Acme</title>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("error page lacks %q:\n%s", want, body)
		}
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if !strings.Contains(s.logs.String(), "loign.html") || !strings.Contains(s.logs.String(), "replaces no template") {
		t.Errorf("no warning about the misspelt override:\n%s", s.logs)
	}
	// An embedded page (the account area's sign-in goes through the login
	// page) keeps its template, with the branding.
	status, body, _ = get("/account", "en")
	if status != http.StatusOK || !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, `--primary:#0a7d4f`) ||
		!strings.Contains(body, `name="password"`) {
		t.Errorf("account sign-in page: status %d\n%s", status, body)
	}
}

func TestServeRefusesBadTemplates(t *testing.T) {
	for _, tc := range []struct{ name, file, text, want string }{
		{"page", "login.html", `{{template "head" .}}<h1>{{.L.T "Sign in"</h1>`, "login.html"},
		{"layout", "layout.html", `{{define "head"}}<html>`, "layout.html"},
		{"account page", "identities.html", `{{template "nosuch" .}}`, "identities.html"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := atrium(t, map[string]string{"ATRIUM_UI_TEMPLATES_DIR": dir},
				"serve", "--dev", "--data", t.TempDir(), "--addr", freePort(t))
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, tc.want)) {
				t.Fatalf("serve: %v\nwant an error naming %s", err, filepath.Join(dir, tc.want))
			}
		})
	}
	_, err := atrium(t, map[string]string{"ATRIUM_UI_PRIMARY_COLOR": "#fff;}body{display:none"},
		"serve", "--dev", "--data", t.TempDir(), "--addr", freePort(t))
	if err == nil || !strings.Contains(err.Error(), "ui.primary_color (from ATRIUM_UI_PRIMARY_COLOR)") {
		t.Fatalf("serve with a bad colour: %v", err)
	}
}
