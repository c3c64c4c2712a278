package page

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/language"
)

// Lang is the language a page is written in. The zero value is English.
//
// Pages are written in English: a message's English text is its key in
// the catalog of every other language (locales/<tag>.json, a flat JSON
// object from English to the translation). A message without a
// translation is shown in English.
type Lang uint8

// The supported languages.
const (
	English Lang = iota
	German
)

// langs maps a Lang to its tag and catalog file.
var langs = [...]struct {
	tag  string
	base language.Base
}{
	English: {"en", language.MustParseBase("en")},
	German:  {"de", language.MustParseBase("de")},
}

// Tag is the language's BCP 47 tag, for <html lang>: "en" or "de".
func (l Lang) Tag() string {
	if int(l) >= len(langs) {
		return langs[English].tag
	}
	return langs[l].tag
}

// Tags are the tags of the supported languages, for the discovery
// document's ui_locales_supported.
func Tags() []string {
	out := make([]string, len(langs))
	for i, l := range langs {
		out[i] = l.tag
	}
	return out
}

// T translates the English message msg. With args, the translation is a
// format for fmt.Sprintf. Without args, a message the catalog does not
// hold verbatim is matched against its formats ("Sign-in with %s
// failed" translates "Sign-in with GitHub failed"), so messages built in
// Go from a format need only the format's entry.
func (l Lang) T(msg string, args ...any) string {
	s := msg
	if l != English && int(l) < len(langs) {
		s = catalogs()[l].translate(msg, len(args) == 0)
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// HTML is T for a message with markup, such as "An account for
// <strong>%s</strong> exists.": msg and its translation are trusted HTML
// (they come from the templates and the embedded catalog), args are
// escaped.
func (l Lang) HTML(msg string, args ...any) template.HTML {
	esc := make([]any, len(args))
	for i, a := range args {
		esc[i] = template.HTMLEscapeString(fmt.Sprint(a))
	}
	s := msg
	if l != English && int(l) < len(langs) {
		s = catalogs()[l].translate(msg, false)
	}
	if len(esc) > 0 {
		s = fmt.Sprintf(s, esc...)
	}
	return template.HTML(s)
}

// Negotiate picks a page's language: the first supported tag of
// uiLocales (the OpenID Connect ui_locales parameter, space separated),
// else the best supported language of the request's Accept-Language,
// else English.
func Negotiate(uiLocales string, r *http.Request) Lang {
	if l, ok := FromLocales(uiLocales); ok {
		return l
	}
	if r != nil {
		// Sorted by quality, weight 0 dropped.
		tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
		if err == nil {
			for _, t := range tags {
				if l, ok := supported(t); ok {
					return l
				}
			}
		}
	}
	return English
}

// FromLocales returns the first supported language of uiLocales (space
// separated BCP 47 tags), if any: the part of Negotiate that needs no
// request.
func FromLocales(uiLocales string) (Lang, bool) {
	for _, s := range strings.Fields(uiLocales) {
		if t, err := language.Parse(s); err == nil {
			if l, ok := supported(t); ok {
				return l, true
			}
		}
	}
	return English, false
}

// supported returns the Lang of t's language (de-AT is German), if any.
func supported(t language.Tag) (Lang, bool) {
	b, conf := t.Base()
	if conf != language.Exact {
		return English, false
	}
	for i, l := range langs {
		if l.base == b {
			return Lang(i), true
		}
	}
	return English, false
}

//go:embed locales/*.json
var localesFS embed.FS

// catalog is one language's translations.
type catalog struct {
	exact map[string]string
	// formats are the entries whose key has verbs (%s, %d), as patterns
	// matching the messages they format.
	formats []format
}

type format struct {
	re    *regexp.Regexp
	verbs []byte // 's', 'd' or 'v' per capture
	to    string
}

// has reports whether the catalog translates msg, verbatim or by a format.
func (c *catalog) has(msg string) bool {
	if _, ok := c.exact[msg]; ok {
		return true
	}
	for _, f := range c.formats {
		if f.re.MatchString(msg) {
			return true
		}
	}
	return false
}

func (c *catalog) translate(msg string, match bool) string {
	if s, ok := c.exact[msg]; ok && s != "" {
		return s
	}
	if !match {
		return msg
	}
	for _, f := range c.formats {
		m := f.re.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		args := make([]any, len(m)-1)
		for i, s := range m[1:] {
			// A value may be a message itself ("Too many attempts. %s"
			// with "Try again in 5 minutes."); it is shorter than msg, so
			// this ends.
			args[i] = c.translate(s, true)
			if f.verbs[i] == 'd' {
				n, _ := strconv.Atoi(s)
				args[i] = n
			}
		}
		return fmt.Sprintf(f.to, args...)
	}
	return msg
}

// minFormatText is the least literal text a format needs to translate
// messages it did not format itself: short ones ("Link %s") would also
// match texts that merely start alike, such as an operator's button label.
const minFormatText = 12

// verb is a formatting verb of a catalog key.
var verb = regexp.MustCompile(`%(?:\[\d+\])?[sdv]`)

// catalogs parses the embedded catalogs once; a malformed catalog is a
// build defect (TestCatalogs fails on it).
var catalogs = sync.OnceValue(func() []*catalog {
	cs := make([]*catalog, len(langs))
	for i, l := range langs {
		if Lang(i) == English {
			continue
		}
		b, err := localesFS.ReadFile("locales/" + l.tag + ".json")
		if err != nil {
			panic(err)
		}
		c, err := parseCatalog(b)
		if err != nil {
			panic(fmt.Sprintf("page: locales/%s.json: %v", l.tag, err))
		}
		cs[i] = c
	}
	return cs
})

func parseCatalog(b []byte) (*catalog, error) {
	entries, err := decodeCatalog(b)
	if err != nil {
		return nil, err
	}
	c := &catalog{exact: make(map[string]string, len(entries))}
	for _, e := range entries {
		c.exact[e[0]] = e[1]
		if e[1] == "" || !verb.MatchString(e[0]) || len(verb.ReplaceAllString(e[0], "")) < minFormatText {
			continue
		}
		var re strings.Builder
		var verbs []byte
		re.WriteString("^")
		last := 0
		for _, loc := range verb.FindAllStringIndex(e[0], -1) {
			re.WriteString(regexp.QuoteMeta(e[0][last:loc[0]]))
			v := e[0][loc[1]-1]
			if v == 'd' {
				re.WriteString(`(-?\d+)`)
			} else {
				re.WriteString(`(.+?)`)
			}
			verbs = append(verbs, v)
			last = loc[1]
		}
		re.WriteString(regexp.QuoteMeta(e[0][last:]) + "$")
		c.formats = append(c.formats, format{re: regexp.MustCompile(re.String()), verbs: verbs, to: e[1]})
	}
	return c, nil
}

// decodeCatalog reads a flat JSON object of strings, in file order. A
// duplicate key is kept (the later entry wins in the catalog);
// TestCatalogs reports it.
func decodeCatalog(b []byte) ([][2]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out [][2]string
	for dec.More() {
		var k, v string
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ = t.(string)
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%q: %w", k, err)
		}
		out = append(out, [2]string{k, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

var germanMonths = [...]string{"Januar", "Februar", "März", "April", "Mai", "Juni",
	"Juli", "August", "September", "Oktober", "November", "Dezember"}

// Date writes the day of t (in t's location) in the language: "2 January
// 2006" or "2. Januar 2006".
func (l Lang) Date(t time.Time) string {
	if l == German {
		return fmt.Sprintf("%d. %s %d", t.Day(), germanMonths[t.Month()-1], t.Year())
	}
	return t.Format("2 January 2006")
}

type langKey struct{}

// WithLang returns ctx carrying l, for work done after the page, such as a
// mail sent in the background, to be in the page's language.
func WithLang(ctx context.Context, l Lang) context.Context {
	return context.WithValue(ctx, langKey{}, l)
}

// LangFrom returns the language WithLang put in ctx, English without one.
func LangFrom(ctx context.Context) Lang {
	l, _ := LangOf(ctx)
	return l
}

// LangOf returns the language WithLang put in ctx, if any.
func LangOf(ctx context.Context) (Lang, bool) {
	l, ok := ctx.Value(langKey{}).(Lang)
	return l, ok
}
