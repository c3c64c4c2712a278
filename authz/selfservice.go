package authz

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/atrium-id/atrium/internal/mail"
	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// Sign-up (signup.go), email verification and password reset (reset.go)
// reach the person through a link in a mail. The link carries a random
// token (32 bytes); only its SHA-256 digest is stored, as a token of its
// own kind in the session store with a short expiry, and it is spent
// (DeactivateToken) before it changes anything, so each link works once
// even when opened twice at the same moment.
//
//	/login ──► /signup ──► user created (email_verified false) ──► mail ──► signed in, interaction goes on
//	              mail link ──► /verify-email?token= ──► email_verified true
//	/login ──► /forgot-password ──► "if an account exists, we sent a link" (always)
//	              mail link ──► /reset-password?token= ──► new password ──► sessions ended ──► sign in
//
// Pages reached from a mail belong to no interaction; their forms are
// protected by a CSRF token bound to the browser's binding cookie and the
// link.

const (
	kindEmailVerification storage.TokenKind = "email_verification"
	kindPasswordReset     storage.TokenKind = "password_reset"

	verificationLifespan = 24 * time.Hour
	resetLifespan        = time.Hour

	pathSignup         = "/signup"
	pathVerifyEmail    = "/verify-email"
	pathForgotPassword = "/forgot-password"
	pathResetPassword  = "/reset-password"

	// mailWindow and mailsPerWindow bound the mails one address can be
	// sent by sign-up and reset requests, so the pages cannot be used to
	// flood a mailbox.
	mailWindow     = time.Hour
	mailsPerWindow = 5

	// mailTimeout bounds one mail sent in the background.
	mailTimeout = time.Minute
)

func (p *Provider) selfServiceRoutes(m *http.ServeMux) {
	if p.cfg.Mail == nil {
		p.cfg.Mail = mail.Log{Logger: p.log}
	}
	m.HandleFunc("GET "+pathForgotPassword, p.forgotPage)
	m.HandleFunc("POST "+pathForgotPassword, p.forgotSubmit)
	m.HandleFunc("GET "+pathResetPassword, p.resetPage)
	m.HandleFunc("POST "+pathResetPassword, p.resetSubmit)
	m.HandleFunc("GET "+pathSignup, p.signupPage)
	m.HandleFunc("POST "+pathSignup, p.signupSubmit)
	m.HandleFunc("GET "+pathVerifyEmail, p.verifyEmail)
}

// linkToken is what a mailed link's token stands for.
type linkToken struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	// PasswordAt is when the password credential was last set (Unix
	// nanoseconds, 0 for none) when a reset link was made: a link made
	// before the password last changed is refused.
	PasswordAt int64 `json:"password_at,omitempty"`
}

func linkSignature(token string) string { return hex.EncodeToString(digest(token)) }

// newLink stores a single-use token of kind for lt and returns the URL of
// path carrying it.
func (p *Provider) newLink(ctx context.Context, kind storage.TokenKind, path string, lt linkToken, ttl time.Duration) (string, error) {
	data, err := json.Marshal(lt)
	if err != nil {
		return "", err
	}
	tok := randomToken()
	now := p.now()
	if err := p.stores.Tokens.CreateToken(ctx, &storage.Token{
		Kind: kind, Signature: linkSignature(tok), Subject: lt.UserID, Active: true,
		Data: data, CreatedAt: now, ExpiresAt: now.Add(ttl), NoIndex: true,
	}); err != nil {
		return "", err
	}
	return p.url(path) + "?token=" + url.QueryEscape(tok), nil
}

var errLinkUnusable = errors.New("link expired, used or unknown")

// lookupLink returns the still usable link token of kind, without
// spending it.
func (p *Provider) lookupLink(ctx context.Context, kind storage.TokenKind, token string) (*linkToken, string, error) {
	if token == "" || len(token) > 100 {
		return nil, "", errLinkUnusable
	}
	sig := linkSignature(token)
	t, err := p.stores.Tokens.GetToken(ctx, kind, sig)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, "", errLinkUnusable
	case err != nil:
		return nil, "", err
	case !t.Active || !p.now().Before(t.ExpiresAt):
		return nil, "", errLinkUnusable
	}
	var lt linkToken
	if err := json.Unmarshal(t.Data, &lt); err != nil {
		return nil, "", err
	}
	return &lt, sig, nil
}

// spendLink marks a link used; of several concurrent callers exactly one
// succeeds, the others get errLinkUnusable.
func (p *Provider) spendLink(ctx context.Context, kind storage.TokenKind, sig string) error {
	err := p.stores.Tokens.DeactivateToken(ctx, kind, sig)
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		return errLinkUnusable
	}
	return err
}

// linkCSRF is the CSRF token of a form reached from a mailed link: bound
// to the browser (its binding cookie) and to the link.
func (p *Provider) linkCSRF(binding, sig string) string {
	m := hmac.New(sha256.New, p.cfg.Secret)
	fmt.Fprintf(m, "link-csrf\x00%s\x00%s", binding, sig)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// browserBinding returns the browser's binding cookie, setting one if it
// has none.
func (p *Provider) browserBinding(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(cookieBinding); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	b := randomToken()
	p.setCookie(w, cookieBinding, b, 0)
	return b
}

func (p *Provider) checkLinkCSRF(r *http.Request, sig string) bool {
	c, err := r.Cookie(cookieBinding)
	if err != nil || len(c.Value) < 32 {
		return false
	}
	got := r.PostFormValue("csrf_token")
	return subtle.ConstantTimeCompare([]byte(got), []byte(p.linkCSRF(c.Value, sig))) == 1
}

// mailLimited counts a mail-sending request (sign-up, reset) for address
// and reports whether it is over the limit. Unknown addresses count like
// known ones; the key is a digest.
func (p *Provider) mailLimited(ctx context.Context, purpose, address string) (bool, error) {
	if p.stores.Counters == nil {
		return false, nil
	}
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(address))))
	n, err := p.stores.Counters.Hit(ctx, purpose+":"+base64.RawURLEncoding.EncodeToString(sum[:16]), mailWindow)
	return err == nil && n > mailsPerWindow, err
}

// inBackground runs f after the response, with the request's values but
// not its cancellation, bounded by mailTimeout: the answer to the browser
// then takes as long whatever f finds and however slow the mail server.
func (p *Provider) inBackground(r *http.Request, what string, f func(ctx context.Context) error) {
	ctx := context.WithoutCancel(r.Context())
	go func() {
		ctx, cancel := context.WithTimeout(ctx, mailTimeout)
		defer cancel()
		if err := f(ctx); err != nil {
			p.log.ErrorContext(ctx, what+" failed", "err", err)
		}
	}()
}

// sendMail renders the mail template name to the address, in the
// language of ctx (inLang), and sends it.
func (p *Provider) sendMail(ctx context.Context, name, to string, data any) error {
	m, err := mail.RenderLang(name, page.LangFrom(ctx).Tag(), to, data)
	if err != nil {
		return err
	}
	return p.cfg.Mail.Send(ctx, m)
}

// NotifyEmailChanged mails oldEmail, the address u had until now, that
// the account's address changed to u.Email, masked, with the way to act
// if the change was not the owner's, in the language of r (inLang). It
// sends after the answer, at most mailsPerWindow an hour per address.
func (p *Provider) NotifyEmailChanged(r *http.Request, u *storage.User, oldEmail string) {
	if oldEmail == "" || strings.EqualFold(oldEmail, u.Email) {
		return
	}
	if limited, err := p.mailLimited(r.Context(), "email-changed", oldEmail); err != nil || limited {
		p.log.WarnContext(r.Context(), "email change notice not sent", "user_id", u.ID, "limited", limited, "err", err)
		return
	}
	data := map[string]string{"Name": u.Name, "NewEmail": maskEmail(u.Email),
		"Security": p.url(accountPrefix + "/security")}
	p.inBackground(p.inLang(r, nil), "email change notice", func(ctx context.Context) error {
		return p.sendMail(ctx, "email_changed", oldEmail, data)
	})
}

// maskEmail shows enough of an address for its owner to recognise it and
// little for anyone else: "n***@example.com".
func maskEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return "***"
	}
	r, _ := utf8.DecodeRuneInString(addr)
	return string(r) + "***" + addr[at:]
}

// notice shows a page with a message and a way back to the interaction's
// sign-in page when there is one.
func (p *Provider) notice(w http.ResponseWriter, r *http.Request, status int, title, message, back string) {
	p.render(w, r, status, "notice", pageData{Title: title, Message: message, Retry: back})
}

// loginURL is the relative link back to the sign-in page of interaction id.
func loginURL(id string) string {
	if id == "" {
		return ""
	}
	return strings.TrimPrefix(pathLogin, "/") + "?interaction=" + url.QueryEscape(id)
}
