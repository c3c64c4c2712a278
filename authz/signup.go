package authz

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/storage"
)

// Sign-up: /signup, reached from the sign-in page with its interaction,
// asks for an email address, a password and the profile fields the
// operator configured (Config.SignupFields; by default an optional name). A new
// address gets an account whose email is not yet verified, a mail with a
// /verify-email link (valid 24 hours, once), and is signed in at once: the
// interaction goes on, and the ID token says email_verified false until
// the link is opened.
//
// An address that already has an account is not signed in (that would be
// a takeover) and gets no second account; the page says an account may
// already exist and points to sign-in and password reset, and the owner
// is told by mail. Like Auth0's default ("the user already exists"), this
// tells whoever signs up with an address that it has an account; the
// per-address limit on sign-ups bounds how fast that can be probed. Both
// answers cost one argon2id hash, so timing adds nothing.

const maxNameLength = 200

func (p *Provider) signupPage(w http.ResponseWriter, r *http.Request) {
	ix, err := p.loadInteraction(r)
	if err != nil {
		p.interactionGone(w, r, err)
		return
	}
	p.renderSignup(w, r, http.StatusOK, ix, &storage.User{Email: ix.Form.Get("login_hint")}, "")
}

// renderSignup shows the sign-up form filled with draft, the values typed.
func (p *Provider) renderSignup(w http.ResponseWriter, r *http.Request, status int, ix *interaction, draft *storage.User, problem string) {
	p.render(w, r, status, "signup", pageData{
		Title: "Create your account", Interaction: ix.ID, CSRF: ix.CSRF, Email: draft.Email, Error: problem,
		Fields: p.signupFieldViews(draft), Retry: loginURL(ix.ID), Account: ix.forAccount(),
		Locales: ix.Form.Get("ui_locales"),
	})
}

func (p *Provider) signupSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ix, err := p.loadInteraction(r)
	if err != nil {
		p.interactionGone(w, r, err)
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	draft := &storage.User{Email: email}
	problem := p.readSignupFields(draft, r.PostFormValue)
	switch {
	case !plausibleEmail(email):
		p.renderSignup(w, r, http.StatusBadRequest, ix, draft, "Enter a valid email address.")
		return
	case problem != "":
		p.renderSignup(w, r, http.StatusBadRequest, ix, draft, problem)
		return
	}
	if err := login.CheckNewPassword(password, email, draft.Name, draft.GivenName, draft.FamilyName, draft.Nickname); err != nil {
		p.renderSignup(w, r, http.StatusBadRequest, ix, draft, err.Error()+".")
		return
	}
	if err := p.addrLimited(r, "signup", p.cfg.SignupsPerIP, mailIPWindow); err != nil {
		if t, ok := throttled(err); ok {
			p.log.WarnContext(ctx, "sign-up throttled", "scope", t.scope, "request_id", requestID(w, r))
			p.audit(r, storage.AuditSignupThrottled, "", ix.Form.Get("client_id"), map[string]string{"scope": t.scope})
			p.renderSignup(w, r, http.StatusTooManyRequests, ix, draft, "Too many sign-up attempts. "+retryAfter(w, t.retry))
			return
		}
		p.serverError(w, r, err)
		return
	}
	limited, err := p.mailLimited(ctx, "signup", email)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	if limited {
		p.log.WarnContext(ctx, "sign-up rate limited", "request_id", requestID(w, r))
		p.audit(r, storage.AuditSignupThrottled, "", ix.Form.Get("client_id"), map[string]string{"scope": "address"})
		retryAfter(w, mailWindow)
		p.renderSignup(w, r, http.StatusTooManyRequests, ix, draft,
			"Too many attempts for this address. Please wait an hour and try again.")
		return
	}

	now := p.now()
	user := draft
	user.ID, user.CreatedAt, user.UpdatedAt = newUserID(), now, now
	_, err = p.stores.Users.GetUserByEmail(ctx, email)
	switch {
	case err == nil:
		err = storage.ErrAlreadyExists
	case errors.Is(err, storage.ErrNotFound):
		err = p.stores.Users.CreateUser(ctx, user)
	}
	if errors.Is(err, storage.ErrAlreadyExists) {
		p.signupExists(w, r, ix, email, password)
		return
	}
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	if err := login.SetPassword(ctx, p.stores.Credentials, user.ID, password, now, email, user.Name, user.GivenName, user.FamilyName, user.Nickname); err != nil {
		_ = p.stores.Users.DeleteUser(ctx, user.ID)
		p.serverError(w, r, err)
		return
	}
	p.log.InfoContext(ctx, "user signed up", "user_id", user.ID, "request_id", requestID(w, r))
	p.audit(r, storage.AuditSignup, user.ID, ix.Form.Get("client_id"), map[string]string{"method": "password"})
	p.inBackground(p.inLang(r, ix), "verification mail", func(ctx context.Context) error {
		return p.sendVerification(ctx, user)
	})
	p.firstFactor(w, r, ix, user, []string{amrPassword})
}

// signupExists answers a sign-up for an address that has an account.
func (p *Provider) signupExists(w http.ResponseWriter, r *http.Request, ix *interaction, email, password string) {
	ctx := r.Context()
	// As much work as a new account's password hash.
	if _, err := login.VerifyPasswordContext(ctx, dummyHash, password); err != nil {
		p.serverError(w, r, err)
		return
	}
	p.log.InfoContext(ctx, "sign-up for an existing account", "request_id", requestID(w, r))
	p.audit(r, storage.AuditSignup, p.accountOf(ctx, email), ix.Form.Get("client_id"), map[string]string{"method": "password", "result": "account exists"})
	p.inBackground(p.inLang(r, ix), "sign-up notice mail", func(ctx context.Context) error {
		return p.sendMail(ctx, "signup_exists", email, nil)
	})
	p.renderSignup(w, r, http.StatusConflict, ix, &storage.User{Email: email},
		"We could not create an account with this address. If it is yours, you may already have an account: sign in, or reset your password.")
}

// sendVerification mails u a link that verifies their address.
func (p *Provider) sendVerification(ctx context.Context, u *storage.User) error {
	link, err := p.newLink(ctx, kindEmailVerification, pathVerifyEmail, linkToken{UserID: u.ID, Email: u.Email}, verificationLifespan)
	if err != nil {
		return err
	}
	return p.sendMail(ctx, "verify_email", u.Email, map[string]string{"Name": u.Name, "Link": link})
}

func (p *Provider) verifyEmail(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lt, sig, err := p.lookupLink(ctx, kindEmailVerification, r.URL.Query().Get("token"))
	if err != nil {
		p.linkUnusable(w, r, "email verification", err)
		return
	}
	u, err := p.activeUser(ctx, lt.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		err = errLinkUnusable
	case err == nil && !strings.EqualFold(u.Email, lt.Email):
		err = errLinkUnusable // the address changed since
	}
	if err == nil {
		err = p.spendLink(ctx, kindEmailVerification, sig)
	}
	if err != nil {
		p.linkUnusable(w, r, "email verification", err)
		return
	}
	if !u.EmailVerified {
		u.EmailVerified, u.UpdatedAt = true, p.now()
		if err := p.stores.Users.UpdateUser(ctx, u); err != nil {
			p.serverError(w, r, err)
			return
		}
	}
	p.log.InfoContext(ctx, "email verified", "user_id", u.ID, "request_id", requestID(w, r))
	p.Audit(r, storage.AuditEmailVerified, u.ID, nil)
	p.notice(w, r, http.StatusOK, "Email address confirmed",
		"Thank you: "+u.Email+" is confirmed. You can close this page.", "")
}

// ResendVerification mails the signed-in user a new verification link,
// at most mailsPerWindow an hour per address; limited reports that the
// address is over that.
func (p *Provider) ResendVerification(r *http.Request, u *storage.User) (limited bool, err error) {
	if u.EmailVerified || u.Email == "" {
		return false, nil
	}
	if limited, err = p.mailLimited(r.Context(), "verify", u.Email); err != nil || limited {
		return limited, err
	}
	p.inBackground(p.inLang(r, nil), "verification mail", func(ctx context.Context) error {
		return p.sendVerification(ctx, u)
	})
	return false, nil
}
