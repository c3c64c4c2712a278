package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// htmlForm is a <form> of a page, as much of it as submitting needs.
type htmlForm struct {
	action  string // as written; resolved against the page by request
	method  string // lower case; "" means get
	fields  []field
	buttons []button // submit buttons, in order
}

// field is a control that may be submitted: an input other than a button,
// a textarea or a select.
type field struct {
	typ     string // input type in lower case ("text" by default), "textarea" or "select"
	name    string
	value   string
	checked bool
}

type button struct{ name, value, label string }

// page is what the form driver reads of an HTML page.
type page struct {
	base  string // <base href>, if any
	forms []*htmlForm
}

// parsePage tokenizes an HTML page and collects its forms and their
// controls. A control belongs to the form it appears in; nested forms are
// ignored, as browsers do.
func parsePage(body []byte) *page {
	p := &page{}
	z := html.NewTokenizer(bytes.NewReader(body))
	var (
		form *htmlForm
		// Text goes to at most one of these at a time.
		btn      *button
		textarea *field
		sel      *field
		opt      *option
		opts     []option
	)
	endOption := func() {
		if opt != nil {
			if !opt.hasValue {
				opt.value = strings.TrimSpace(opt.text.String())
			}
			opts = append(opts, *opt)
			opt = nil
		}
	}
	endSelect := func() {
		endOption()
		if sel != nil && form != nil && len(opts) > 0 {
			sel.value = opts[0].value
			for _, o := range opts {
				if o.selected {
					sel.value = o.value
					break
				}
			}
			form.fields = append(form.fields, *sel)
		}
		sel, opts = nil, nil
	}
	endForm := func() {
		endSelect()
		if form != nil {
			p.forms = append(p.forms, form)
		}
		form, btn, textarea = nil, nil, nil
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			endForm()
			return p
		case html.TextToken:
			switch {
			case btn != nil:
				btn.label += string(z.Text())
			case textarea != nil:
				textarea.value += string(z.Text())
			case opt != nil:
				opt.text.Write(z.Text())
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "form":
				endForm()
			case "button":
				if btn != nil && form != nil {
					btn.label = strings.TrimSpace(btn.label)
					form.buttons = append(form.buttons, *btn)
				}
				btn = nil
			case "textarea":
				if textarea != nil && form != nil {
					form.fields = append(form.fields, *textarea)
				}
				textarea = nil
			case "option":
				endOption()
			case "select":
				endSelect()
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			t := z.Token()
			switch t.Data {
			case "base":
				if p.base == "" {
					p.base = attr(t, "href")
				}
			case "form":
				if form == nil {
					form = &htmlForm{action: attr(t, "action"), method: strings.ToLower(attr(t, "method"))}
				}
			}
			if form == nil || hasAttr(t, "disabled") {
				continue
			}
			switch t.Data {
			case "input":
				typ := strings.ToLower(attr(t, "type"))
				if typ == "" {
					typ = "text"
				}
				switch typ {
				case "submit":
					form.buttons = append(form.buttons, button{name: attr(t, "name"), value: attr(t, "value"), label: attr(t, "value")})
				case "image", "button", "reset", "file":
				default:
					form.fields = append(form.fields, field{typ: typ, name: attr(t, "name"), value: attr(t, "value"), checked: hasAttr(t, "checked")})
				}
			case "button":
				switch strings.ToLower(attr(t, "type")) {
				case "", "submit":
					btn = &button{name: attr(t, "name"), value: attr(t, "value")}
				}
			case "textarea":
				textarea = &field{typ: "textarea", name: attr(t, "name")}
			case "select":
				endSelect()
				sel = &field{typ: "select", name: attr(t, "name")}
			case "option":
				endOption()
				if sel != nil {
					v, has := attrOK(t, "value")
					opt = &option{value: v, hasValue: has, selected: hasAttr(t, "selected")}
				}
			}
		}
	}
}

type option struct {
	value    string
	hasValue bool
	selected bool
	text     strings.Builder
}

func attrOK(t html.Token, key string) (string, bool) {
	for _, a := range t.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func attr(t html.Token, key string) string { v, _ := attrOK(t, key); return v }

func hasAttr(t html.Token, key string) bool { _, ok := attrOK(t, key); return ok }

func (f *htmlForm) hasPassword() bool {
	for _, fd := range f.fields {
		if fd.typ == "password" {
			return true
		}
	}
	return false
}

// pick returns the form to submit: the first with a password field (a login
// form), else the first form; nil when the page has none.
func (p *page) pick() *htmlForm {
	for _, f := range p.forms {
		if f.hasPassword() {
			return f
		}
	}
	if len(p.forms) > 0 {
		return p.forms[0]
	}
	return nil
}

// usernameNames are the names of a username field, besides type=email.
var usernameNames = map[string]bool{"email": true, "login": true, "username": true, "user": true}

// allowWords start the label or value of a button that grants consent.
var allowWords = []string{"allow", "accept", "continue", "yes", "confirm", "authorize", "authorise", "approve"}

var errNoUsernameField = errors.New("login form has no username field (an input of type email, or named email, login, username or user)")

// values fills f the way a person would: on a login form, username into the
// first input of type email or named like a username (else the first text
// input) and password into the password fields; hidden and prefilled fields
// are kept. The submit button sent is the first on a login form and the
// first allow-like one on any other (else the first).
func (f *htmlForm) values(username, password string) (url.Values, error) {
	login := f.hasPassword()
	user := -1
	if login {
		for i, fd := range f.fields {
			if fd.typ == "email" || usernameNames[strings.ToLower(fd.name)] && fd.typ != "hidden" && fd.typ != "password" {
				user = i
				break
			}
		}
		if user < 0 {
			for i, fd := range f.fields {
				if fd.typ == "text" {
					user = i
					break
				}
			}
		}
		if user < 0 {
			return nil, errNoUsernameField
		}
	}
	v := url.Values{}
	for i, fd := range f.fields {
		switch {
		case fd.name == "":
			continue
		case i == user:
			v.Add(fd.name, username)
		case fd.typ == "password":
			v.Add(fd.name, password)
		case fd.typ == "checkbox" || fd.typ == "radio":
			if fd.checked {
				if fd.value == "" {
					fd.value = "on"
				}
				v.Add(fd.name, fd.value)
			}
		default:
			v.Add(fd.name, fd.value)
		}
	}
	if b := f.submitButton(login); b != nil && b.name != "" {
		v.Add(b.name, b.value)
	}
	return v, nil
}

func (f *htmlForm) submitButton(login bool) *button {
	if len(f.buttons) == 0 {
		return nil
	}
	if !login {
		for i, b := range f.buttons {
			for _, s := range []string{b.value, b.label} {
				s = strings.ToLower(strings.TrimSpace(s))
				for _, w := range allowWords {
					if strings.HasPrefix(s, w) {
						return &f.buttons[i]
					}
				}
			}
		}
	}
	return &f.buttons[0]
}

// request builds the submission of f, found on the page at pageURL, as a
// browser would: the action resolved against <base href> or the page, a
// POST with a form body or a GET with the values as the query.
func (f *htmlForm) request(pageURL *url.URL, base string, v url.Values) (*http.Request, error) {
	ref := pageURL
	if base != "" {
		b, err := pageURL.Parse(base)
		if err != nil {
			return nil, err
		}
		ref = b
	}
	action, err := ref.Parse(f.action)
	if err != nil {
		return nil, err
	}
	action.Fragment = ""
	if f.method == "post" {
		req, err := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(v.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", pageURL.Scheme+"://"+pageURL.Host)
		req.Header.Set("Referer", pageURL.String())
		return req, nil
	}
	action.RawQuery = v.Encode()
	return http.NewRequest(http.MethodGet, action.String(), nil)
}

func looksLikeHTML(body []byte) bool {
	start := bytes.TrimSpace(body[:min(len(body), 512)])
	return len(start) > 0 && start[0] == '<' && bytes.Contains(bytes.ToLower(start), []byte("<html"))
}

// visibleText is about the first limit bytes of the text a person would
// read on an HTML page: no markup, styles or scripts.
func visibleText(body []byte, limit int) string {
	z := html.NewTokenizer(bytes.NewReader(body))
	var b strings.Builder
	skip := 0 // inside <style>, <script>, ...
	for b.Len() < limit {
		switch z.Next() {
		case html.ErrorToken:
			return b.String()
		case html.StartTagToken:
			if name, _ := z.TagName(); hiddenText[string(name)] {
				skip++
			}
		case html.EndTagToken:
			if name, _ := z.TagName(); hiddenText[string(name)] && skip > 0 {
				skip--
			}
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
				b.WriteByte(' ')
			}
		}
	}
	return b.String()
}

var hiddenText = map[string]bool{"style": true, "script": true, "noscript": true, "template": true, "title": true}
