package authz

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// Password reset: /forgot-password asks for an address and always gives
// the same answer, sent before anything is looked up (the lookup and the
// mail happen in the background), so neither the page nor its timing
// tells whether an account exists. A known, enabled account gets a mail
// with a /reset-password link valid for an hour and once; the new
// password ends every SSO session of the account and, since the link
// proved the mailbox, marks the address verified.

const resetSentMessage = "If an account exists for that address, we sent a link to choose a new password. " +
	"The link works once, for one hour."

func (p *Provider) forgotPage(w http.ResponseWriter, r *http.Request) {
	ix, err := p.loadInteraction(r)
	if err != nil {
		p.interactionGone(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "forgot", pageData{
		Title: "Reset your password", Interaction: ix.ID, CSRF: ix.CSRF, Email: ix.Form.Get("login_hint"),
		Retry: loginURL(ix.ID), Locales: ix.Form.Get("ui_locales"),
	})
}

func (p *Provider) forgotSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ix, err := p.loadInteraction(r)
	if err != nil {
		p.interactionGone(w, r, err)
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	if !plausibleEmail(email) {
		p.render(w, r, http.StatusBadRequest, "forgot", pageData{
			Title: "Reset your password", Interaction: ix.ID, CSRF: ix.CSRF, Email: email,
			Error: "Enter the email address of your account.", Retry: loginURL(ix.ID),
			Locales: ix.Form.Get("ui_locales"),
		})
		return
	}
	if err := p.addrLimited(r, "reset", p.cfg.ResetsPerIP, mailIPWindow); err != nil {
		if t, ok := throttled(err); ok {
			p.log.WarnContext(ctx, "password reset throttled", "scope", t.scope, "request_id", requestID(w, r))
			p.audit(r, storage.AuditPasswordResetThrottled, "", ix.Form.Get("client_id"), map[string]string{"scope": t.scope})
			p.render(w, r, http.StatusTooManyRequests, "forgot", pageData{
				Title: "Reset your password", Interaction: ix.ID, CSRF: ix.CSRF, Email: email,
				Error: "Too many attempts. " + retryAfter(w, t.retry), Retry: loginURL(ix.ID),
				Locales: ix.Form.Get("ui_locales"),
			})
			return
		}
		p.serverError(w, r, err)
		return
	}
	limited, err := p.mailLimited(ctx, "reset", email)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	// The event names the account, looked up after the answer like the
	// mail, never the address typed.
	ev := p.auditEvent(r, storage.AuditPasswordResetRequested, "", ix.Form.Get("client_id"), nil)
	if limited {
		// Answered like any other request: the limit protects the
		// mailbox and must not reveal anything either.
		p.log.WarnContext(ctx, "password reset rate limited", "request_id", requestID(w, r))
		ev.Type, ev.Detail = storage.AuditPasswordResetThrottled, map[string]string{"scope": "address"}
		p.inBackground(r, "password reset audit", func(ctx context.Context) error {
			ev.UserID = p.accountOf(ctx, email)
			p.record(ctx, ev)
			return nil
		})
	} else {
		p.inBackground(p.inLang(r, ix), "password reset mail", func(ctx context.Context) error {
			ev.UserID = p.accountOf(ctx, email)
			p.record(ctx, ev)
			return p.sendResetMail(ctx, email, ix.Form.Get("ui_locales"))
		})
	}
	p.notice(w, p.inLang(r, ix), http.StatusOK, "Check your email", resetSentMessage, loginURL(ix.ID))
}

// sendResetMail sends a reset link to the account of email, if there is
// an enabled one, in the language of ctx (inLang) unless uiLocales left
// the choice to the account's saved language. The page that answered
// never depends on the account: it is made before this runs.
func (p *Provider) sendResetMail(ctx context.Context, email, uiLocales string) error {
	u, err := p.stores.Users.GetUserByEmail(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		p.log.InfoContext(ctx, "password reset for an unknown address")
		return nil
	}
	if err != nil {
		return err
	}
	if u.Disabled {
		p.log.InfoContext(ctx, "password reset for a disabled account", "user_id", u.ID)
		return nil
	}
	pwAt, err := p.passwordSetAt(ctx, u.ID)
	if err != nil {
		return err
	}
	link, err := p.newLink(ctx, kindPasswordReset, pathResetPassword,
		linkToken{UserID: u.ID, Email: u.Email, PasswordAt: pwAt}, resetLifespan)
	if err != nil {
		return err
	}
	if _, ok := page.FromLocales(uiLocales); !ok {
		if l, ok := page.FromLocales(p.savedLanguage(ctx, u.ID)); ok {
			ctx = page.WithLang(ctx, l)
		}
	}
	if err := p.sendMail(ctx, "reset_password", u.Email, map[string]string{"Link": link}); err != nil {
		return err
	}
	p.log.InfoContext(ctx, "password reset link sent", "user_id", u.ID)
	return nil
}

// passwordSetAt is when the user's password was last set, in Unix
// nanoseconds; 0 when the user has none.
func (p *Provider) passwordSetAt(ctx context.Context, userID string) (int64, error) {
	c, err := p.stores.Credentials.GetCredential(ctx, userID, storage.CredentialPassword)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return c.UpdatedAt.UnixNano(), nil
}

// resetTarget returns the account a reset link is for, or errLinkUnusable
// when the link is expired, used, unknown, or made before the account's
// password or address last changed.
func (p *Provider) resetTarget(ctx context.Context, token string) (*storage.User, string, error) {
	lt, sig, err := p.lookupLink(ctx, kindPasswordReset, token)
	if err != nil {
		return nil, "", err
	}
	u, err := p.activeUser(ctx, lt.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", errLinkUnusable
	}
	if err != nil {
		return nil, "", err
	}
	pwAt, err := p.passwordSetAt(ctx, u.ID)
	if err != nil {
		return nil, "", err
	}
	if !strings.EqualFold(u.Email, lt.Email) || pwAt != lt.PasswordAt {
		return nil, "", errLinkUnusable
	}
	return u, sig, nil
}

func (p *Provider) linkUnusable(w http.ResponseWriter, r *http.Request, what string, err error) {
	if !errors.Is(err, errLinkUnusable) {
		p.serverError(w, r, err)
		return
	}
	p.log.InfoContext(r.Context(), what+" link refused", "request_id", requestID(w, r))
	typ := storage.AuditEmailVerificationFailed
	if what == "password reset" {
		typ = storage.AuditPasswordResetFailed
	}
	p.Audit(r, typ, "", map[string]string{"reason": "link expired, used or unknown"})
	p.notice(w, r, http.StatusBadRequest, "This link has expired or was already used",
		"Links in our emails work once and for a limited time. Request a new one from the sign-in page of your application.", "")
}

func (p *Provider) resetPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	u, sig, err := p.resetTarget(r.Context(), token)
	if err != nil {
		p.linkUnusable(w, r, "password reset", err)
		return
	}
	r = p.inUserLang(r, u.ID)
	p.renderReset(w, r, http.StatusOK, u, token, p.linkCSRF(p.browserBinding(w, r), sig), "")
}

func (p *Provider) renderReset(w http.ResponseWriter, r *http.Request, status int, u *storage.User, token, csrf, problem string) {
	p.render(w, r, status, "reset", pageData{
		Title: "Choose a new password", Email: u.Email, CSRF: csrf, Error: problem,
		Params: []param{{Name: "token", Value: token}},
	})
}

func (p *Provider) resetSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := r.PostFormValue("token")
	u, sig, err := p.resetTarget(ctx, token)
	if err != nil {
		p.linkUnusable(w, r, "password reset", err)
		return
	}
	r = p.inUserLang(r, u.ID)
	if !p.checkLinkCSRF(r, sig) {
		p.log.InfoContext(ctx, "password reset refused", "reason", "csrf token mismatch", "request_id", requestID(w, r))
		p.Audit(r, storage.AuditCSRFFailed, u.ID, map[string]string{"path": r.URL.Path})
		p.notice(w, r, http.StatusForbidden, "This form has expired",
			"Open the link from the email again to choose a new password.", "")
		return
	}
	csrf := r.PostFormValue("csrf_token")
	password := r.PostFormValue("password")
	if password != r.PostFormValue("password_confirm") {
		p.renderReset(w, r, http.StatusBadRequest, u, token, csrf, "The two passwords differ.")
		return
	}
	if err := login.CheckNewPassword(password, u.Email, u.Name); err != nil {
		p.renderReset(w, r, http.StatusBadRequest, u, token, csrf, err.Error()+".")
		return
	}
	if err := p.spendLink(ctx, kindPasswordReset, sig); err != nil {
		p.linkUnusable(w, r, "password reset", err)
		return
	}
	if err := login.SetPassword(ctx, p.stores.Credentials, u.ID, password, p.now(), u.Email, u.Name); err != nil {
		p.serverError(w, r, err)
		return
	}
	// Listed before they end, so their apps are told (back-channel logout).
	ended, err := p.stores.Sessions.ListUserSessions(ctx, u.ID)
	if err != nil {
		p.log.WarnContext(ctx, "listing sessions before a password reset ends them", "user_id", u.ID, "err", err)
	}
	n, err := p.stores.Sessions.DeleteUserSessions(ctx, u.ID)
	if err != nil {
		p.log.ErrorContext(ctx, "ending sessions after a password reset", "user_id", u.ID, "err", err)
	} else {
		_ = p.LogoutSessions(ctx, ended) // failures are logged
	}
	if !u.EmailVerified {
		u.EmailVerified, u.UpdatedAt = true, p.now()
		if err := p.stores.Users.UpdateUser(ctx, u); err != nil {
			p.log.WarnContext(ctx, "marking the email verified after a password reset", "user_id", u.ID, "err", err)
		}
	}
	p.log.InfoContext(ctx, "password reset", "user_id", u.ID, "sessions_ended", n, "request_id", requestID(w, r))
	p.Audit(r, storage.AuditPasswordReset, u.ID, nil)
	// The mailbox is proved: the new password works at once.
	p.loginSucceeded(ctx, u.Email)
	p.notice(w, r, http.StatusOK, "Password changed",
		"Your password has been changed and you have been signed out everywhere. Go back to your application and sign in with the new password.", "")
}

// plausibleEmail is a cheap shape check before an address is used.
func plausibleEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && len(s) <= 254 && !strings.ContainsAny(s, " \t\r\n<>,;")
}
