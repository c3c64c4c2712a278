package page

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Theme is an operator's branding of the pages.
type Theme struct {
	// Name is the product name in titles and the page header; default
	// "Atrium".
	Name string
	// LogoURL is an https or data:image URL shown above the form.
	LogoURL string
	// PrimaryColor (buttons, links, focus rings) and BackgroundColor are
	// #rgb or #rrggbb; empty for the defaults.
	PrimaryColor    string
	BackgroundColor string
	// Dir is a folder of templates that replace the embedded ones of the
	// same name (login.html, layout.html, ...); empty for none.
	Dir string
}

// Default colours and name.
const (
	DefaultName            = "Atrium"
	DefaultPrimaryColor    = "#2557d6"
	DefaultBackgroundColor = "#f4f5f7"
)

var colorRE = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// ValidColor reports whether s is a colour a theme accepts: #rgb or
// #rrggbb, nothing else (it is written into the pages' style sheet).
func ValidColor(s string) bool { return colorRE.MatchString(s) }

// maxLogoURL bounds a logo URL (a data: URL is the image itself).
const maxLogoURL = 64 << 10

// CheckLogoURL reports why s cannot be a logo URL: it must be an absolute
// https URL, or a base64 data: URL of a PNG, JPEG, GIF, WebP or SVG image.
func CheckLogoURL(s string) error {
	if len(s) > maxLogoURL {
		return fmt.Errorf("longer than %d bytes", maxLogoURL)
	}
	if rest, ok := strings.CutPrefix(s, "data:"); ok {
		mediaType, _, ok := strings.Cut(rest, ";base64,")
		switch {
		case !ok:
			return errors.New("a data: URL must be base64 encoded (data:image/png;base64,...)")
		case mediaType != "image/png" && mediaType != "image/jpeg" && mediaType != "image/gif" &&
			mediaType != "image/webp" && mediaType != "image/svg+xml":
			return fmt.Errorf("data: URL of type %q is not a PNG, JPEG, GIF, WebP or SVG image", mediaType)
		}
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return errors.New("not an absolute https URL or a data:image URL")
	}
	if strings.ContainsAny(s, " \"'<>\\") {
		return errors.New("has characters a URL must escape")
	}
	return nil
}

// Check reports every invalid field of t, each named by its field.
func (t Theme) Check() error {
	var errs []error
	if t.LogoURL != "" {
		if err := CheckLogoURL(t.LogoURL); err != nil {
			errs = append(errs, fmt.Errorf("logo URL: %w", err))
		}
	}
	if t.PrimaryColor != "" && !ValidColor(t.PrimaryColor) {
		errs = append(errs, fmt.Errorf("primary colour %q is not #rgb or #rrggbb", t.PrimaryColor))
	}
	if t.BackgroundColor != "" && !ValidColor(t.BackgroundColor) {
		errs = append(errs, fmt.Errorf("background colour %q is not #rgb or #rrggbb", t.BackgroundColor))
	}
	if strings.ContainsAny(t.Name, "\r\n") {
		errs = append(errs, errors.New("name must be one line"))
	}
	return errors.Join(errs...)
}

// Brand is what templates see of the theme, as {{brand}}: values checked
// at parse time and typed for html/template.
type Brand struct {
	Name string
	Logo template.URL
	// Primary is the colour of buttons and links, OnPrimary the text on
	// it (black or white, whichever contrasts more), Background the page's.
	Primary, OnPrimary, Background template.CSS
}

func (t Theme) brand() Brand {
	b := Brand{Name: t.Name, Logo: template.URL(t.LogoURL),
		Primary: template.CSS(t.PrimaryColor), Background: template.CSS(t.BackgroundColor)}
	if b.Name == "" {
		b.Name = DefaultName
	}
	if b.Primary == "" {
		b.Primary = DefaultPrimaryColor
	}
	if b.Background == "" {
		b.Background = DefaultBackgroundColor
	}
	b.OnPrimary = "#fff"
	if contrast(string(b.Primary), "#fff") < contrast(string(b.Primary), "#000") {
		b.OnPrimary = "#000"
	}
	return b
}

// contrast is the WCAG contrast ratio of two valid colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// luminance is the WCAG relative luminance of #rgb or #rrggbb.
func luminance(c string) float64 {
	h := c[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	var ch [3]float64
	for i := range ch {
		v, _ := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		s := float64(v) / 255
		if s <= 0.04045 {
			ch[i] = s / 12.92
		} else {
			ch[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*ch[0] + 0.7152*ch[1] + 0.0722*ch[2]
}

// Set is a parsed set of page templates: the layout and one package's
// pages, with the theme's overrides and branding. It is safe for
// concurrent use.
type Set struct {
	t     *template.Template
	brand Brand
}

// LayoutFile is the name of the shared layout's file.
const LayoutFile = "layout.html"

// Parse parses the layout and the files of fsys matching pattern (such
// as "templates/*.html"), each replaced by the file of the same base name
// in theme.Dir when there is one. Errors name the file.
func Parse(theme Theme, fsys fs.FS, pattern string) (*Set, error) {
	if err := theme.Check(); err != nil {
		return nil, err
	}
	s := &Set{brand: theme.brand()}
	t := template.New("page").Funcs(template.FuncMap{"brand": func() Brand { return s.brand }})
	names := []string{LayoutFile}
	// srcs names each template's file in errors: its override or its name.
	srcs := map[string]string{}
	parse := func(name string, embedded func() ([]byte, error)) error {
		var b []byte
		var err error
		src := name
		if theme.Dir != "" {
			src = filepath.Join(theme.Dir, name)
			b, err = os.ReadFile(src)
			if errors.Is(err, fs.ErrNotExist) {
				err, src = nil, name
			} else if err != nil {
				return fmt.Errorf("template %s: %w", src, err)
			}
		}
		if b == nil {
			if b, err = embedded(); err != nil {
				return fmt.Errorf("template %s: %w", name, err)
			}
		}
		srcs[name] = src
		if _, err := t.New(name).Parse(string(b)); err != nil {
			return fmt.Errorf("template %s: %w", src, err)
		}
		return nil
	}
	if err := parse(LayoutFile, func() ([]byte, error) { return layoutFS.ReadFile(LayoutFile) }); err != nil {
		return nil, err
	}
	files, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		name := path.Base(f)
		if err := parse(name, func() ([]byte, error) { return fs.ReadFile(fsys, f) }); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	// html/template escapes a template on its first execution; do it now,
	// so an override that cannot be escaped safely fails start-up instead
	// of its first request. Errors of the run itself (no data) are not
	// the template's.
	for _, name := range names[1:] {
		err := t.ExecuteTemplate(io.Discard, name, nil)
		var te *template.Error
		if errors.As(err, &te) {
			return nil, fmt.Errorf("template %s: %w", srcs[name], err)
		}
	}
	s.t = t
	return s, nil
}

// MustParse is Parse for the embedded templates, which parse or are a
// build defect.
func MustParse(fsys fs.FS, pattern string) *Set {
	s, err := Parse(Theme{}, fsys, pattern)
	if err != nil {
		panic(err)
	}
	return s
}

// Execute writes the page of the file name (such as "login.html").
func (s *Set) Execute(w io.Writer, name string, data any) error {
	return s.t.ExecuteTemplate(w, name, data)
}

// Has reports whether the set has a template of the file name.
func (s *Set) Has(name string) bool { return s.t.Lookup(name) != nil }

// Brand is the set's branding.
func (s *Set) Brand() Brand { return s.brand }
