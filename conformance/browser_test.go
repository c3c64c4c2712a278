package conformance

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// browser is a user agent with a cookie jar. It follows redirects within
// the issuer's origin and stops at the first one that leaves it (to a
// client's redirect_uri), so the authorization response can be read.
type browser struct {
	t testing.TB
	c *http.Client
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := url.Parse(srv.issuer)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, c: &http.Client{
		Jar:     jar,
		Timeout: httpTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !sameOrigin(req.URL, issuer) {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return fmt.Errorf("stopped after %d redirects", len(via))
			}
			return nil
		},
	}}
}

// page is an HTML page the browser landed on, or, when Redirect is set, a
// redirect out of the issuer's origin that the browser did not follow.
type page struct {
	URL      *url.URL // where the page was served from
	Status   int
	Header   http.Header
	Body     string
	Redirect *url.URL // the Location of a redirect leaving the issuer
	Forms    []*form
	Text     string // the visible text, white space collapsed
}

// form is one HTML form of a page.
type form struct {
	Method  string
	Action  *url.URL   // resolved against the page URL
	Values  url.Values // every named input with its value, hidden ones included
	Types   map[string]string
	Buttons []button
}

type button struct{ Name, Value string }

// hidden returns the names of the form's hidden inputs.
func (f *form) hidden() []string {
	var names []string
	for n, typ := range f.Types {
		if typ == "hidden" {
			names = append(names, n)
		}
	}
	return names
}

func (f *form) isLogin() bool { return f.Types["password"] == "password" }

func (f *form) isConsent() bool {
	for _, b := range f.Buttons {
		if b.Name == "action" && (b.Value == "allow" || b.Value == "deny") {
			return true
		}
	}
	return false
}

// loginForm returns the page's login form, or nil.
func (p *page) loginForm() *form {
	for _, f := range p.Forms {
		if f.isLogin() {
			return f
		}
	}
	return nil
}

// consentForm returns the page's consent form, or nil.
func (p *page) consentForm() *form {
	for _, f := range p.Forms {
		if f.isConsent() {
			return f
		}
	}
	return nil
}

// get loads a URL.
func (b *browser) get(u string) *page {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// postForm posts url-encoded values to a URL.
func (b *browser) postForm(u string, v url.Values) *page {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodPost, u, strings.NewReader(v.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// submit posts a form with its values, overridden by set.
func (b *browser) submit(f *form, set url.Values) *page {
	b.t.Helper()
	v := url.Values{}
	for k, vs := range f.Values {
		v[k] = append([]string(nil), vs...)
	}
	for k, vs := range set {
		v[k] = vs
	}
	if !strings.EqualFold(f.Method, http.MethodPost) {
		b.t.Fatalf("form to %s has method %q, want post", f.Action, f.Method)
	}
	return b.postForm(f.Action.String(), v)
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		b.t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	p := &page{URL: resp.Request.URL, Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		loc, err := resp.Location()
		if err != nil {
			b.t.Fatalf("%s %s: %d without a usable Location: %v", req.Method, req.URL, resp.StatusCode, err)
		}
		p.Redirect = loc
		return p
	}
	if strings.Contains(resp.Header.Get("Content-Type"), "html") {
		parsePage(b.t, p)
	}
	return p
}

// parsePage fills the forms and text of an HTML page.
func parsePage(t testing.TB, p *page) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.Body))
	if err != nil {
		t.Fatalf("%s: not HTML: %v", p.URL, err)
	}
	var text strings.Builder
	var cur *form
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			text.WriteString(n.Data)
			text.WriteByte(' ')
		case html.ElementNode:
			switch n.DataAtom {
			case atom.Script, atom.Style, atom.Head:
				return
			case atom.Form:
				f := &form{Method: attr(n, "method"), Values: url.Values{}, Types: map[string]string{}}
				if f.Method == "" {
					f.Method = http.MethodGet
				}
				action, err := p.URL.Parse(attr(n, "action"))
				if err != nil {
					t.Fatalf("%s: form action %q: %v", p.URL, attr(n, "action"), err)
				}
				f.Action = action
				p.Forms = append(p.Forms, f)
				outer := cur
				cur = f
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
				cur = outer
				return
			case atom.Input:
				if cur != nil && attr(n, "name") != "" {
					typ := strings.ToLower(attr(n, "type"))
					if typ == "" {
						typ = "text"
					}
					name := attr(n, "name")
					cur.Types[name] = typ
					switch typ {
					case "submit", "button", "image", "reset":
						cur.Buttons = append(cur.Buttons, button{name, attr(n, "value")})
					case "checkbox", "radio":
						if hasAttr(n, "checked") {
							cur.Values.Add(name, attr(n, "value"))
						}
					default:
						cur.Values.Add(name, attr(n, "value"))
					}
				}
			case atom.Button:
				if cur != nil && attr(n, "name") != "" {
					typ := strings.ToLower(attr(n, "type"))
					if typ == "" || typ == "submit" {
						cur.Buttons = append(cur.Buttons, button{attr(n, "name"), attr(n, "value")})
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	p.Text = strings.Join(strings.Fields(text.String()), " ")
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

// describe summarises a page for failure messages.
func (p *page) describe() string {
	if p.Redirect != nil {
		return fmt.Sprintf("%d redirect to %s", p.Status, p.Redirect)
	}
	return fmt.Sprintf("%d page at %s: %q", p.Status, p.URL, tail(p.Text, 300))
}

// actor says how the browser's user answers the pages of an authorization.
type actor struct {
	user *user // signs in with these credentials; nil stops at a login form
	deny bool  // answers the consent page with deny
}

// outcome is where an authorization ended.
type outcome struct {
	// Mode is "query" when the server redirected to the client (or
	// "fragment" when the parameters came in the fragment), "form_post" when it served a form that posts to the client, and ""
	// when the flow stopped on a page of the server.
	Mode   string
	Target *url.URL   // the redirect or form_post target
	Params url.Values // the authorization response parameters
	Page   *page      // the last page seen

	Logins   int // login forms submitted
	Consents int // consent forms submitted
}

func (o *outcome) describe() string {
	switch o.Mode {
	case "":
		return "stopped on " + o.Page.describe()
	default:
		return fmt.Sprintf("%s response to %s %v", o.Mode, o.Target, o.Params)
	}
}

// authorize drives the browser from a first page through login and consent
// until the authorization response leaves the server, or a page the actor
// cannot answer. It submits each of the login and consent forms at most
// once, so a second login form (after a wrong password, say) ends it.
func (b *browser) authorizeFrom(first *page, a actor) *outcome {
	b.t.Helper()
	o := &outcome{}
	p := first
	for range 10 {
		o.Page = p
		if p.Redirect != nil {
			o.Mode, o.Target = "query", p.Redirect
			o.Params = p.Redirect.Query()
			if p.Redirect.Fragment != "" && !o.Params.Has("code") && !o.Params.Has("error") {
				o.Mode = "fragment"
				o.Params, _ = url.ParseQuery(p.Redirect.Fragment)
			}
			return o
		}
		for _, f := range p.Forms {
			if !sameOrigin(f.Action, p.URL) {
				o.Mode, o.Target, o.Params = "form_post", f.Action, f.Values
				return o
			}
		}
		if f := p.loginForm(); f != nil {
			if a.user == nil || o.Logins > 0 {
				return o
			}
			o.Logins++
			p = b.submit(f, url.Values{"email": {a.user.Email}, "password": {a.user.Password}})
			continue
		}
		if f := p.consentForm(); f != nil {
			if o.Consents > 0 {
				return o
			}
			o.Consents++
			choice := "allow"
			if a.deny {
				choice = "deny"
			}
			p = b.submit(f, url.Values{"action": {choice}})
			continue
		}
		return o
	}
	b.t.Fatalf("authorization did not end after 10 pages; last %s", p.describe())
	return nil
}
