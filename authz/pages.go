package authz

import (
	"bytes"
	"context"
	"embed"
	"net/http"
	"sync"

	"github.com/ory/fosite"

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
	// Detail, on an error page, is the technical description for the
	// app's developer, shown untranslated below Message.
	Detail string
	// ClientHost, on the consent page of a client identified by a
	// metadata document, is its client ID's host (cimd.go).
	ClientHost string
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
	// L is the page's language, set by render (langFor) from Locales
	// (the interaction's ui_locales), the saved language of UserID (the
	// user the page is for, once known) and the request's
	// Accept-Language.
	L       page.Lang
	Locales string
	UserID  string
	// MFA is the second-factor page's content.
	MFA *mfaView
	// Fields are the sign-up page's profile inputs.
	Fields []fieldView
	// Passkey is the passkey form of the login and MFA pages (passkey.go).
	Passkey *passkeyView
	// Device is the user code of the device page and of the consent
	// screen of a device request (device.go).
	Device *deviceView
	// Resources are the APIs the app of the consent screen asks to use
	// on the user's behalf (consent.go).
	Resources []resourceView
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
	Declined    bool     // declined before: shown unticked
}

// resourceView is a resource (API) on the consent screen (consent.go).
type resourceView struct {
	Name string // the configured resource's name, "" without one
	URI  string
	New  bool // not allowed before, when the user answered the app before
}

func (p *Provider) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	if l, ok := page.LangOf(r.Context()); ok && d.Locales == "" {
		// The caller's choice (inLang), for a page of an interaction
		// that does not carry the interaction.
		d.L = l
	} else {
		d.L = p.langFor(r.Context(), r, d.Locales, d.UserID)
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

// authorizeErrors are the sentences the error page of an authorization
// request that cannot be answered by redirect shows for its error code:
// fosite's descriptions are English and written for developers, so the
// person gets one of these and the description stays below as Detail.
var authorizeErrors = map[string]string{
	"invalid_request":           "The application's sign-in request is incomplete or not valid.",
	"invalid_request_uri":       "The application's sign-in request is incomplete or not valid.",
	"invalid_request_object":    "The application's sign-in request is incomplete or not valid.",
	"request_not_supported":     "The application's sign-in request uses an option this service does not support.",
	"request_uri_not_supported": "The application's sign-in request uses an option this service does not support.",
	"invalid_client":            "The application is not known here, or it did not identify itself correctly.",
	"unauthorized_client":       "The application is not allowed to sign you in this way.",
	"invalid_scope":             "The application asked for access that this service does not offer.",
	"unsupported_response_type": "The application asked for a kind of answer that this service does not support.",
	"access_denied":             "Access was denied.",
	"server_error":              "Something went wrong on our side.",
	"temporarily_unavailable":   "The service is busy or under maintenance.",
}

// msgAuthorizeError is the sentence for an error code authorizeErrors
// does not hold.
const msgAuthorizeError = "The application's sign-in request cannot be answered."

// authorizeErrorPage shows the person an authorization request's error
// that cannot go back to the app (unknown client, unregistered
// redirect_uri): a sentence in the page's language for its code, and the
// code with fosite's description, labelled, for the app's developer.
func (p *Provider) authorizeErrorPage(w http.ResponseWriter, r *http.Request, rfc *fosite.RFC6749Error) {
	msg, ok := authorizeErrors[rfc.ErrorField]
	if !ok {
		msg = msgAuthorizeError
	}
	detail := rfc.ErrorField
	if d := errorDescription(rfc); d != "" {
		detail += ": " + d
	}
	p.render(w, r, http.StatusBadRequest, "error", pageData{Title: "The application sent an invalid sign-in request",
		Message: msg + " Go back to the application and try again; if this keeps happening, tell the application's support.",
		Detail:  detail, RequestID: requestID(w, r)})
}

func (p *Provider) serverError(w http.ResponseWriter, r *http.Request, err error) {
	page.ServerError(w, r, p.log, err, "We cannot sign you in right now. Please try again in a few seconds.",
		func(status int, title, msg string) { p.errorPage(w, r, status, title, msg) })
}

func requestID(w http.ResponseWriter, r *http.Request) string { return page.RequestID(w, r) }

// inLang returns r carrying the language of the page it answers (langFor
// with the interaction's ui_locales and user), so that a mail sent after
// the answer is in that language. Without an interaction, a language r
// already carries stays: the account area's, which is the signed-in
// user's choice.
func (p *Provider) inLang(r *http.Request, ix *interaction) *http.Request {
	if _, ok := page.LangOf(r.Context()); ok && ix == nil {
		return r
	}
	locales, userID := "", ""
	if ix != nil {
		locales, userID = ix.Form.Get("ui_locales"), ix.UserID
	}
	return r.WithContext(page.WithLang(r.Context(), p.langFor(r.Context(), r, locales, userID)))
}

// inUserLang returns r carrying the language of the pages and mails of
// the known user userID, when no interaction is at hand (a link from a
// mail identified them): their saved language, else the browser's.
func (p *Provider) inUserLang(r *http.Request, userID string) *http.Request {
	return r.WithContext(page.WithLang(r.Context(), p.langFor(r.Context(), r, "", userID)))
}

// langFor is the language of a page or mail for the user userID ("" while
// the person is not known: never one looked up from a typed address):
// the app's ui_locales, which knows best for its own flow, else the
// language the user saved on the Preferences page, else the browser's
// Accept-Language (r's; nil for none). The preference is read only here,
// when a page or mail is made, and not when ui_locales decides.
func (p *Provider) langFor(ctx context.Context, r *http.Request, uiLocales, userID string) page.Lang {
	if l, ok := page.FromLocales(uiLocales); ok {
		return l
	}
	return page.Negotiate(p.savedLanguage(ctx, userID), r)
}

// savedLanguage is the language tag the user chose on the Preferences
// page, "" for none. The user store keeps preferences when it is also a
// storage.PreferenceStore (the SQL store is); a failed read falls back to
// the browser's language.
func (p *Provider) savedLanguage(ctx context.Context, userID string) string {
	ps, ok := p.stores.Users.(storage.PreferenceStore)
	if !ok || userID == "" {
		return ""
	}
	prefs, err := ps.GetPreferences(ctx, userID)
	if err != nil {
		p.log.WarnContext(ctx, "read preferences", "user_id", userID, "err", err)
		return ""
	}
	return prefs.Language
}
