package account

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"sync"

	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// Authenticator is what the account area needs of the OpenID Provider
// (*authz.Provider implements it).
type Authenticator interface {
	// SessionUser returns the browser's SSO session and its user, or
	// storage.ErrNotFound when the browser is not signed in.
	SessionUser(r *http.Request) (*storage.Session, *storage.User, error)
	// StartSignIn sends the browser to sign in, then back to returnTo, a
	// path under /account.
	StartSignIn(w http.ResponseWriter, r *http.Request, returnTo string)
	// StartLink sends the signed-in browser to sign in with the upstream
	// provider, links the identity it signs in as to the user, and returns
	// to returnTo with the query parameter linked=<provider>. The caller
	// has checked CSRF.
	StartLink(w http.ResponseWriter, r *http.Request, provider, returnTo string)
	// SignOut ends the browser's SSO session.
	SignOut(w http.ResponseWriter, r *http.Request) error
}

// Auditor records audit events; an Authenticator that is one (as
// *authz.Provider is) records the account area's.
type Auditor interface {
	Audit(r *http.Request, typ, userID string, detail map[string]string)
}

// Verifier mails verification links; an Authenticator that is one (as
// *authz.Provider is) lets a user with an unconfirmed address ask for a
// new link.
type Verifier interface {
	// ResendVerification mails u a new link; limited reports that the
	// address has had its hour's mails.
	ResendVerification(r *http.Request, u *storage.User) (limited bool, err error)
}

// ConsentRevoker withdraws a user's consent to a client; an Authenticator
// that is one (as *authz.Provider is) does it for the Connected apps
// page, keeping its consent records.
type ConsentRevoker interface {
	// RevokeConsent deletes the user's consent to the client and revokes
	// every token the client holds for the user.
	RevokeConsent(r *http.Request, userID, clientID string) error
}

// SessionRevoker ends a user's SSO session together with the tokens
// issued under it; an Authenticator that is one (as *authz.Provider is)
// does it for the Sessions page and API, so the apps signed in through a
// session the user signs out lose access too.
type SessionRevoker interface {
	// EndSession deletes the user's session s (one already gone is no
	// error) and revokes every token issued under it.
	EndSession(r *http.Request, userID string, s *storage.Session) error
}

// TokenRevoker revokes the tokens a client holds for a user
// (storage.TokenStore implements it).
type TokenRevoker interface {
	RevokeUserClientTokens(ctx context.Context, subject, clientID string) (int, error)
}

// audit records an audit event when the Authenticator keeps them.
func (h *Handler) audit(r *http.Request, typ, userID string, detail map[string]string) {
	if a, ok := h.cfg.Auth.(Auditor); ok {
		a.Audit(r, typ, userID, detail)
	}
}

// Provider is a configured upstream identity provider, as the account
// area names it.
type Provider struct {
	ID    string
	Name  string // for sentences: "GitHub"
	Label string // button text: "Continue with GitHub"
	Logo  string
}

// Config configures the account area.
type Config struct {
	Identities  storage.IdentityStore
	Credentials storage.CredentialStore
	// Providers are the configured upstreams, in the login page's order.
	Providers []Provider
	Auth      Authenticator
	// Factors sets up and checks authenticator apps and recovery codes;
	// nil leaves the two-step verification page out.
	Factors *login.Factors
	// UseOnce spends a TOTP code (storage.TokenStore.UseOnce); required
	// with Factors.
	UseOnce login.UseOnce
	// Passkeys registers passkeys (the Passkeys page); nil leaves the page
	// out. Needs UseOnce.
	Passkeys *login.PasskeyRelyingParty
	// Users edits the profile (the Profile page); nil leaves it out.
	Users storage.UserStore
	// Attributes are the operator-defined user attributes the Profile
	// page shows, the editable ones as fields.
	Attributes []storage.AttributeDef
	// Sessions lists and ends the user's SSO sessions (the Sessions
	// page); nil leaves it out. Ending one goes through the Authenticator
	// when it is a SessionRevoker, which revokes the session's tokens too.
	Sessions storage.SessionStore
	// Consents and Clients list the apps the user let in (the Connected
	// apps page); nil leaves it out. Removing an app's access goes through
	// the Authenticator when it is a ConsentRevoker, else it deletes the
	// consent and revokes the app's tokens with Tokens.
	Consents storage.ConsentStore
	Clients  storage.ClientStore
	Tokens   TokenRevoker
	// ResourceName is the configured name of a resource (API) an app may
	// be let reach, "" without one (authz.Provider.ResourceName); the
	// Connected apps page then names it by its URI, as it does for all
	// when ResourceName is nil.
	ResourceName func(uri string) string
	// Audit lists the user's security-relevant history (the Activity
	// page); nil leaves it out.
	Audit storage.AuditStore
	// Data exports and erases the user's records (the Your data pages);
	// nil leaves them out.
	Data *DataStores
	// Preferences stores the user's language, currency and opt-ins (the
	// Preferences page, whose language the account pages then use); nil
	// leaves it out. Needs Consents: each opt-in turned on or off is
	// written to its ledger, with PolicyVersion (config
	// consent.policy_version).
	Preferences   storage.PreferenceStore
	Purposes      []Purpose
	PolicyVersion string
	// CSRFKey (at least 32 bytes) keys the CSRF tokens of the forms.
	CSRFKey []byte
	Log     *slog.Logger
	// Pages are the account area's templates (ParsePages); nil for the
	// embedded ones with the default theme.
	Pages *page.Set
}

// Handler serves /account and the paths under it.
type Handler struct {
	cfg     Config
	log     *slog.Logger
	pages   *page.Set
	handler http.Handler
}

// Paths of the account area.
const (
	pathAccount    = "/account"
	pathIdentities = "/account/identities"
	pathUnlink     = "/account/identities/unlink"
	pathLink       = "/account/identities/link"
	pathSecurity   = "/account/security"
	pathSignOut    = "/account/signout"
	pathResend     = "/account/email/verify"
)

// New builds the account area's handler.
func New(cfg Config) (*Handler, error) {
	var errs []error
	if cfg.Identities == nil || cfg.Credentials == nil || cfg.Auth == nil {
		errs = append(errs, errors.New("account: Identities, Credentials and Auth are required"))
	}
	if cfg.Factors != nil && cfg.UseOnce == nil {
		errs = append(errs, errors.New("account: UseOnce is required with Factors"))
	}
	if cfg.Passkeys != nil && cfg.UseOnce == nil {
		errs = append(errs, errors.New("account: UseOnce is required with Passkeys"))
	}
	if cfg.Consents != nil && cfg.Clients == nil {
		errs = append(errs, errors.New("account: Clients is required with Consents"))
	}
	if _, ok := cfg.Auth.(ConsentRevoker); cfg.Consents != nil && !ok && cfg.Tokens == nil {
		errs = append(errs, errors.New("account: Tokens is required with Consents unless Auth is a ConsentRevoker"))
	}
	if cfg.Preferences != nil && cfg.Consents == nil {
		errs = append(errs, errors.New("account: Consents is required with Preferences"))
	}
	if cfg.Data != nil {
		if err := cfg.Data.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(cfg.CSRFKey) < 32 {
		errs = append(errs, errors.New("account: CSRFKey must be at least 32 bytes"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, log: cfg.Log, pages: cfg.Pages}
	if h.pages == nil {
		h.pages = defaultPages()
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	m := http.NewServeMux()
	m.HandleFunc("GET "+pathAccount, func(w http.ResponseWriter, r *http.Request) {
		to := pathIdentities
		if cfg.Factors != nil {
			to = pathSecurity
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	})
	m.HandleFunc("GET "+pathIdentities, h.identities)
	m.HandleFunc("POST "+pathUnlink, h.unlink)
	m.HandleFunc("POST "+pathLink, h.link)
	m.HandleFunc("POST "+pathSignOut, h.signOut)
	if _, ok := cfg.Auth.(Verifier); ok {
		m.HandleFunc("POST "+pathResend, h.resendVerification)
	}
	if cfg.Factors != nil {
		m.HandleFunc("GET "+pathSecurity, h.security)
		m.HandleFunc("POST "+pathSecurity+"/totp", h.totpStart)
		m.HandleFunc("POST "+pathSecurity+"/totp/confirm", h.totpConfirm)
		m.HandleFunc("POST "+pathSecurity+"/totp/remove", h.totpRemove)
		m.HandleFunc("POST "+pathSecurity+"/recovery", h.recoveryRenew)
	}
	h.passkeyRoutes(m)
	h.dataRoutes(m)
	h.profileRoutes(m)
	h.appsRoutes(m)
	h.sessionsRoutes(m)
	h.activityRoutes(m)
	h.preferencesRoutes(m)
	// Defence in depth beside the CSRF token: browsers' Sec-Fetch-Site and
	// Origin headers refuse cross-origin POSTs.
	h.handler = http.NewCrossOriginProtection().Handler(m)
	if api := h.apiHandler(); api != nil {
		// Bearer tokens, not cookies: outside the forms' protection.
		root := http.NewServeMux()
		root.Handle("/", h.handler)
		root.Handle(pathAPI+"/", api)
		h.handler = root
	}
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.handler.ServeHTTP(w, withPrefsSlot(r))
}

// csrfToken is the CSRF token of the forms of the SSO session sessionID:
// an HMAC of the session's ID, so it needs no storage and changes with
// every sign-in.
func (h *Handler) csrfToken(sessionID string) string {
	mac := hmac.New(sha256.New, h.cfg.CSRFKey)
	mac.Write([]byte("account-csrf\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (h *Handler) csrfOK(r *http.Request, sess *storage.Session) bool {
	return hmac.Equal([]byte(r.PostFormValue("csrf_token")), []byte(h.csrfToken(sess.ID)))
}

// signedIn returns the browser's session and user. Without one it sends
// the browser to sign in, back to returnTo, and returns nils.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request, returnTo string) (*storage.Session, *storage.User) {
	sess, user, err := h.cfg.Auth.SessionUser(r)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		h.cfg.Auth.StartSignIn(w, r, returnTo)
		return nil, nil
	case err != nil:
		h.serverError(w, r, err)
		return nil, nil
	}
	h.notePreferences(r, user)
	return sess, user
}

//go:embed templates/*.html
var templateFS embed.FS

// ParsePages parses the account area's templates with theme (its
// branding and override folder).
func ParsePages(theme page.Theme) (*page.Set, error) {
	return page.Parse(theme, templateFS, "templates/*.html")
}

var defaultPages = sync.OnceValue(func() *page.Set { return page.MustParse(templateFS, "templates/*.html") })

// langField is the field of page data that render sets to the reader's
// language.
const langField = "L"

// render writes the page name with d, a struct (or pointer to one) whose
// field L (a page.Lang) render sets to the signed-in user's preferred
// language, else from the request's Accept-Language.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, d any) {
	d, lang := withLang(d, page.Negotiate(preferredLanguage(r), r))
	d = withNav(d, h.nav(r))
	var buf bytes.Buffer
	if err := h.pages.Execute(&buf, name+".html", d); err != nil {
		h.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	page.SecureHeaders(w.Header())
	w.Header().Set("Content-Language", lang.Tag())
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// withLang returns d with its field L set to l, when it has one that is
// still English (the zero value): a caller that chose a language keeps
// it. It also returns the page's language.
func withLang(d any, l page.Lang) (any, page.Lang) {
	v := reflect.ValueOf(d)
	ptr := v.Kind() == reflect.Pointer
	if ptr {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return d, l
	}
	f := v.FieldByName(langField)
	if !f.IsValid() || f.Type() != reflect.TypeFor[page.Lang]() {
		return d, l
	}
	if !f.IsZero() {
		return d, f.Interface().(page.Lang)
	}
	if !ptr {
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		c.FieldByName(langField).Set(reflect.ValueOf(l))
		return c.Interface(), l
	}
	if f.CanSet() {
		f.Set(reflect.ValueOf(l))
	}
	return d, l
}

// messageData is the message page's.
type messageData struct {
	Title, Message, Back, RequestID string
	L                               page.Lang
}

// fail shows a person what went wrong, with a link back to the page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	h.render(w, r, status, "message", messageData{Title: title, Message: msg, Back: pathIdentities, RequestID: requestID(w, r)})
}

func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, err error) {
	page.ServerError(w, r, h.log, err, "Please try again in a few seconds.", func(status int, title, msg string) {
		h.fail(w, r, status, title, msg)
	})
}

func requestID(w http.ResponseWriter, r *http.Request) string { return page.RequestID(w, r) }
