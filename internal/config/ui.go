package config

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// UI brands the pages (sign-in, sign-up, consent, account).
type UI struct {
	// Name is the product name in titles and the page header; default
	// "Atrium".
	Name string `yaml:"name"`
	// LogoURL is shown above the form: an https URL, or a base64 data:
	// URL of an image.
	LogoURL string `yaml:"logo_url"`
	// PrimaryColor (buttons, links) and BackgroundColor are #rgb or
	// #rrggbb.
	PrimaryColor    string `yaml:"primary_color"`
	BackgroundColor string `yaml:"background_color"`
	// TemplatesDir holds templates that replace the embedded ones of the
	// same name (login.html, layout.html, ...).
	TemplatesDir string `yaml:"templates_dir"`
}

var uiColor = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// uiDataLogo is a base64 data: URL of a PNG, JPEG, GIF, WebP or SVG image.
var uiDataLogo = regexp.MustCompile(`^data:image/(?:png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=]+$`)

// maxLogoURL bounds ui.logo_url (a data: URL holds the image).
const maxLogoURL = 64 << 10

func (c *Config) validateUI() []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{c.key(path)}, args...)...))
	}
	u := c.UI
	if strings.ContainsAny(u.Name, "\r\n") || len(u.Name) > 100 {
		bad("ui.name", "must be one line of at most 100 bytes")
	}
	if u.LogoURL != "" {
		switch {
		case len(u.LogoURL) > maxLogoURL:
			bad("ui.logo_url", "longer than %d bytes; serve a large logo from an https URL", maxLogoURL)
		case strings.HasPrefix(u.LogoURL, "data:"):
			if !uiDataLogo.MatchString(u.LogoURL) {
				bad("ui.logo_url", "a data: URL must be a base64 PNG, JPEG, GIF, WebP or SVG image (data:image/png;base64,...)")
			}
		case !validHTTPSURL(u.LogoURL):
			bad("ui.logo_url", "%q is not an absolute https URL or a data:image URL", u.LogoURL)
		}
	}
	for _, k := range []struct{ path, v string }{
		{"ui.primary_color", u.PrimaryColor},
		{"ui.background_color", u.BackgroundColor},
	} {
		if k.v != "" && !uiColor.MatchString(k.v) {
			bad(k.path, "%q is not a colour as #rgb or #rrggbb", k.v)
		}
	}
	if u.TemplatesDir != "" {
		if fi, err := os.Stat(u.TemplatesDir); err != nil {
			bad("ui.templates_dir", "%v", err)
		} else if !fi.IsDir() {
			bad("ui.templates_dir", "%q is not a folder", u.TemplatesDir)
		}
	}
	return errs
}

func validHTTPSURL(s string) bool {
	if strings.ContainsAny(s, " \"'<>\\") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}
