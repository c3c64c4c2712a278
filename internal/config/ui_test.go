package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestBadUIConfigs(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"ui_bad_color", []string{
			`ui.primary_color: "red" is not a colour as #rgb or #rrggbb`,
			`ui.background_color: "#fff;}body{display:none" is not a colour as #rgb or #rrggbb`,
		}},
		{"ui_bad_logo", []string{`ui.logo_url: "http://cdn.example.com/logo.png" is not an absolute https URL or a data:image URL`}},
		{"ui_bad_data_logo", []string{"ui.logo_url: a data: URL must be a base64 PNG, JPEG, GIF, WebP or SVG image"}},
		{"ui_missing_templates_dir", []string{"ui.templates_dir: stat testdata/does-not-exist: no such file or directory"}},
		{"ui_unknown_key", []string{"line 2: ui.primary_colour: unknown key"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := load(t, filepath.Join("testdata", tc.file+".bad.yaml"), noEnv)
			if err == nil {
				t.Fatalf("expected an error")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not contain %q", err, want)
				}
			}
		})
	}
}

func TestUIFromEnv(t *testing.T) {
	dir := t.TempDir()
	c, err := load(t, "", envOf(map[string]string{
		"ATRIUM_UI_NAME":             "Acme",
		"ATRIUM_UI_LOGO_URL":         "https://cdn.example.com/acme.svg",
		"ATRIUM_UI_PRIMARY_COLOR":    "#C0FFEE",
		"ATRIUM_UI_BACKGROUND_COLOR": "#fff",
		"ATRIUM_UI_TEMPLATES_DIR":    dir,
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := UI{Name: "Acme", LogoURL: "https://cdn.example.com/acme.svg", PrimaryColor: "#C0FFEE", BackgroundColor: "#fff", TemplatesDir: dir}
	if c.UI != want {
		t.Errorf("ui = %+v, want %+v", c.UI, want)
	}
	_, err = load(t, "", envOf(map[string]string{"ATRIUM_UI_PRIMARY_COLOR": "blue"}))
	if err == nil || !strings.Contains(err.Error(), `ui.primary_color (from ATRIUM_UI_PRIMARY_COLOR): "blue" is not a colour`) {
		t.Errorf("bad colour from the environment: %v", err)
	}
	c, err = load(t, "", envOf(map[string]string{"ATRIUM_UI_LOGO_URL": "data:image/png;base64,iVBORw0KGgo="}))
	if err != nil || c.UI.LogoURL != "data:image/png;base64,iVBORw0KGgo=" {
		t.Errorf("data: logo: %v", err)
	}
}
