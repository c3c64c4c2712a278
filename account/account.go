package account

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"

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
	// CSRFKey (at least 32 bytes) keys the CSRF tokens of the forms.
	CSRFKey []byte
	Log     *slog.Logger
}

// Handler serves /account and the paths under it.
type Handler struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
}

// Paths of the account area.
const (
	pathAccount    = "/account"
	pathIdentities = "/account/identities"
	pathUnlink     = "/account/identities/unlink"
	pathLink       = "/account/identities/link"
)

// New builds the account area's handler.
func New(cfg Config) (*Handler, error) {
	var errs []error
	if cfg.Identities == nil || cfg.Credentials == nil || cfg.Auth == nil {
		errs = append(errs, errors.New("account: Identities, Credentials and Auth are required"))
	}
	if len(cfg.CSRFKey) < 32 {
		errs = append(errs, errors.New("account: CSRFKey must be at least 32 bytes"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, log: cfg.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	m := http.NewServeMux()
	m.HandleFunc("GET "+pathAccount, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, pathIdentities, http.StatusSeeOther)
	})
	m.HandleFunc("GET "+pathIdentities, h.identities)
	m.HandleFunc("POST "+pathUnlink, h.unlink)
	m.HandleFunc("POST "+pathLink, h.link)
	// Defence in depth beside the CSRF token: browsers' Sec-Fetch-Site and
	// Origin headers refuse cross-origin POSTs.
	h.handler = http.NewCrossOriginProtection().Handler(m)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(w, r) }

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
	return sess, user
}

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(page.Templates().ParseFS(templateFS, "templates/*.html"))

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, d any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name+".html", d); err != nil {
		h.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	page.SecureHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// messageData is the message page's.
type messageData struct {
	Title, Message, Back, RequestID string
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
