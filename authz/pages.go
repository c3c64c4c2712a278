package authz

import (
	"bytes"
	"embed"
	"net/http"
	"sync"

	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

//go:embed templates/*.html
var templateFS embed.FS

// ParsePages parses the provider's page templates with theme (its
// branding and override folder), for Config.Pages.
func ParsePages(theme page.Theme) (*page.Set, error) {
	return page.Parse(theme, templateFS, "templates/*.html")
}

// defaultPages are the embedded templates with the default theme, for a
// Config without Pages.
var defaultPages = sync.OnceValue(func() *page.Set { return page.MustParse(templateFS, "templates/*.html") })

func (p *Provider) pages() *page.Set {
	if p.cfg.Pages != nil {
		return p.cfg.Pages
	}
	return defaultPages()
}

// pageData is what every page template receives.
type pageData struct {
	Title       string
	Interaction string
	CSRF        string
	Email       string
	Error       string
	Client      *storage.Client
	Scopes      []scopeView
	Message     string
	RequestID   string
	// Providers are the upstream sign-in buttons of the login page.
	Providers []providerButton
	// Retry, on an error page, links back to the interaction's login page.
	Retry string
	// Provider and Action name the upstream and the form target of the
	// link page.
	Provider string
	Action   string
	// Account marks the login page of an account sign-in (no client).
	Account bool
	// Params and ScriptNonce are the resubmit page's fields and the CSP
	// nonce of its script.
	Params      []param
	ScriptNonce string
	// L is the page's language, set by render from Locales (the
	// interaction's ui_locales) and the request's Accept-Language.
	L       page.Lang
	Locales string
	// MFA is the second-factor page's content.
	MFA *mfaView
	// Fields are the sign-up page's profile inputs.
	Fields []fieldView
	// Passkey is the passkey form of the login and MFA pages (passkey.go).
	Passkey *passkeyView
}

type providerButton struct {
	ID, Label, Logo string
}

type param struct{ Name, Value string }

// scopeView is a scope on the consent screen (consent.go).
type scopeView struct {
	Name        string
	Description string
	Claims      []string // the claims it releases
	New         bool     // not granted before, when others were
}

func (p *Provider) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	if l, ok := page.LangOf(r.Context()); ok && d.Locales == "" {
		// The caller's choice (inLang), for a page of an interaction
		// that does not carry the interaction.
		d.L = l
	} else {
		d.L = page.Negotiate(d.Locales, r)
	}
	if d.Passkey != nil && d.ScriptNonce == "" {
		d.ScriptNonce = d.Passkey.Nonce
	}
	var buf bytes.Buffer
	if err := p.pages().Execute(&buf, name+".html", d); err != nil {
		p.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	page.SecureHeaders(w.Header())
	w.Header().Set("Content-Language", d.L.Tag())
	if d.ScriptNonce != "" {
		// The one page with a script: it runs only with this nonce.
		w.Header().Set("Content-Security-Policy", page.CSP+"; script-src 'nonce-"+d.ScriptNonce+"'")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage shows a person what went wrong, with the request ID to quote.
func (p *Provider) errorPage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	p.render(w, r, status, "error", pageData{Title: title, Message: message, RequestID: requestID(w, r)})
}

func (p *Provider) serverError(w http.ResponseWriter, r *http.Request, err error) {
	page.ServerError(w, r, p.log, err, "We cannot sign you in right now. Please try again in a few seconds.",
		func(status int, title, msg string) { p.errorPage(w, r, status, title, msg) })
}

func requestID(w http.ResponseWriter, r *http.Request) string { return page.RequestID(w, r) }

// inLang returns r carrying the language of the page it answers (the
// interaction's ui_locales, else Accept-Language), so that a mail sent
// after the answer is in that language.
func (p *Provider) inLang(r *http.Request, ix *interaction) *http.Request {
	locales := ""
	if ix != nil {
		locales = ix.Form.Get("ui_locales")
	}
	return r.WithContext(page.WithLang(r.Context(), page.Negotiate(locales, r)))
}
