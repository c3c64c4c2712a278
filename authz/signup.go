package authz

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/storage"
)

// Sign-up: /signup, reached from the sign-in page with its interaction,
// asks for an email address, a password and, optionally, a name. A new
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
	p.renderSignup(w, r, http.StatusOK, ix, ix.Form.Get("login_hint"), "", "")
}

func (p *Provider) renderSignup(w http.ResponseWriter, r *http.Request, status int, ix *interaction, email, name, problem string) {
	p.render(w, r, status, "signup", pageData{
		Title: "Create your account", Interaction: ix.ID, CSRF: ix.CSRF, Email: email, Error: problem,
		Params: []param{{Name: "name", Value: name}}, Retry: loginURL(ix.ID), Account: ix.forAccount(),
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
	name := strings.TrimSpace(r.PostFormValue("name"))
	password := r.PostFormValue("password")
	switch {
	case !plausibleEmail(email):
		p.renderSignup(w, r, http.StatusBadRequest, ix, email, name, "Enter a valid email address.")
		return
	case utf8.RuneCountInString(name) > maxNameLength || !utf8.ValidString(name):
		p.renderSignup(w, r, http.StatusBadRequest, ix, email, "", "That name is too long.")
		return
	}
	if err := login.CheckNewPassword(password, email, name); err != nil {
		p.renderSignup(w, r, http.StatusBadRequest, ix, email, name, err.Error()+".")
		return
	}
	limited, err := p.mailLimited(ctx, "signup", email)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	if limited {
		p.log.WarnContext(ctx, "sign-up rate limited", "request_id", requestID(w, r))
		p.renderSignup(w, r, http.StatusTooManyRequests, ix, email, name,
			"Too many attempts for this address. Please wait an hour and try again.")
		return
	}

	now := p.now()
	user := &storage.User{ID: newUserID(), Email: email, Name: name, CreatedAt: now, UpdatedAt: now}
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
	if err := login.SetPassword(ctx, p.stores.Credentials, user.ID, password, now, email, name); err != nil {
		_ = p.stores.Users.DeleteUser(ctx, user.ID)
		p.serverError(w, r, err)
		return
	}
	p.log.InfoContext(ctx, "user signed up", "user_id", user.ID, "request_id", requestID(w, r))
	p.inBackground(r, "verification mail", func(ctx context.Context) error {
		return p.sendVerification(ctx, user)
	})
	p.signedIn(w, r, ix, user, []string{"pwd"})
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
	p.inBackground(r, "sign-up notice mail", func(ctx context.Context) error {
		return p.sendMail(ctx, "signup_exists", email, nil)
	})
	p.renderSignup(w, r, http.StatusConflict, ix, email, "",
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
	p.notice(w, r, http.StatusOK, "Email address confirmed",
		"Thank you: "+u.Email+" is confirmed. You can close this page.", "")
}
