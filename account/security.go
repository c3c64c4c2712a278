package account

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// The "Two-step verification" page: set up or turn off an authenticator
// app (TOTP) and make a new set of recovery codes. Changing a factor needs
// a recent sign-in (RecentSignIn): a stolen session alone cannot turn two
// steps off or add an attacker's app.
//
//	GET  /account/security                 status and buttons
//	POST /account/security/totp            offer a new secret (QR and key)
//	POST /account/security/totp/confirm    check a code of it; store it with new recovery codes; show them once
//	POST /account/security/totp/remove     turn the app off
//	POST /account/security/recovery        replace the recovery codes; show them once
//	POST /account/signout                  end the SSO session

// RecentSignIn is how recent a sign-in must be to change sign-in factors.
const RecentSignIn = 15 * time.Minute

// securityData is the security page's.
type securityData struct {
	Title    string
	User     *storage.User
	CSRF     string
	TOTP     bool
	TOTPAt   time.Time
	Passkeys int
	Recovery int
	// Enrol is a secret offered and Sealed its form field.
	Enrol  *login.TOTPEnrolment
	Sealed string
	// Codes are recovery codes just made, shown once.
	Codes  []string
	Notice string
	Error  string
	// Unverified offers a new verification link.
	Unverified bool
	// PasskeysOn links to the Passkeys page.
	PasskeysOn bool
	L          page.Lang
}

// recentlySignedIn reports whether the session's sign-in is recent enough
// to change sign-in factors; if not, it sends the browser to sign in
// again and back to returnTo.
func (h *Handler) recentlySignedIn(w http.ResponseWriter, r *http.Request, sess *storage.Session, returnTo string) bool {
	if time.Since(sess.AuthTime) <= RecentSignIn {
		return true
	}
	h.cfg.Auth.StartSignIn(w, r, returnTo)
	return false
}

// securityPost is a POST of the security page: a session, a good CSRF
// token and a recent sign-in.
func (h *Handler) securityPost(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User) {
	sess, user := h.postSession(w, r)
	if sess == nil || !h.recentlySignedIn(w, r, sess, pathSecurity) {
		return nil, nil
	}
	return sess, user
}

func (h *Handler) security(w http.ResponseWriter, r *http.Request) {
	sess, user := h.signedIn(w, r, pathSecurity)
	if sess == nil {
		return
	}
	notice := ""
	if r.URL.Query().Get("removed") == "totp" {
		notice = "The authenticator app is turned off."
	}
	h.renderSecurity(w, r, http.StatusOK, sess, user, securityData{Notice: notice})
}

func (h *Handler) renderSecurity(w http.ResponseWriter, r *http.Request, status int, sess *storage.Session, user *storage.User, d securityData) {
	creds, err := h.cfg.Credentials.ListCredentials(r.Context(), user.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	for _, c := range creds {
		switch c.Type {
		case storage.CredentialTOTP:
			d.TOTP, d.TOTPAt = true, c.CreatedAt.UTC()
		case storage.CredentialPasskey:
			d.Passkeys++
		case storage.CredentialRecoveryCodes:
			d.Recovery = login.RemainingRecoveryCodes(c)
		}
	}
	if d.Title == "" {
		d.Title = "Two-step verification"
	}
	d.User, d.CSRF, d.PasskeysOn = user, h.csrfToken(sess.ID), h.cfg.Passkeys != nil
	_, canResend := h.cfg.Auth.(Verifier)
	d.Unverified = canResend && !user.EmailVerified && user.Email != ""
	h.render(w, r, status, "security", d)
}

// pendingContext binds an offered secret to the SSO session it was
// offered in.
func pendingContext(sess *storage.Session) string { return "account:" + sess.ID }

func (h *Handler) totpStart(w http.ResponseWriter, r *http.Request) {
	sess, user := h.securityPost(w, r)
	if sess == nil {
		return
	}
	enrol, err := h.cfg.Factors.NewTOTP(accountName(user))
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	sealed, err := h.cfg.Factors.SealPending(user.ID, pendingContext(sess), enrol.Secret)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.renderSecurity(w, r, http.StatusOK, sess, user, securityData{Title: "Set up an authenticator app", Enrol: enrol, Sealed: sealed})
}

func accountName(u *storage.User) string {
	if u.Email != "" {
		return u.Email
	}
	return u.ID
}

func (h *Handler) totpConfirm(w http.ResponseWriter, r *http.Request) {
	sess, user := h.securityPost(w, r)
	if sess == nil {
		return
	}
	ctx := r.Context()
	sealed := r.PostFormValue("pending")
	enrol, err := h.cfg.Factors.OpenPending(user.ID, pendingContext(sess), sealed, accountName(user))
	if err != nil {
		h.audit(r, storage.AuditMFAFailed, user.ID, map[string]string{"reason": "bad pending secret"})
		h.renderSecurity(w, r, http.StatusBadRequest, sess, user, securityData{
			Error: "The setup expired. Start again."})
		return
	}
	now := time.Now()
	cred, err := h.cfg.Factors.ConfirmTOTP(ctx, user.ID, enrol.Secret, r.PostFormValue("code"), now, h.cfg.UseOnce)
	if errors.Is(err, login.ErrWrongCode) || errors.Is(err, login.ErrReplayedCode) {
		h.audit(r, storage.AuditMFAFailed, user.ID, map[string]string{"reason": "wrong setup code"})
		h.renderSecurity(w, r, http.StatusUnauthorized, sess, user, securityData{
			Title: "Set up an authenticator app", Enrol: enrol, Sealed: sealed,
			Error: "That code is not right. Enter the code your authenticator app shows now."})
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	codes, err := h.withRecoveryCodes(ctx, user.ID, now, cred)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.audit(r, storage.AuditMFAEnrolled, user.ID, map[string]string{"method": "totp"})
	h.renderSecurity(w, r, http.StatusOK, sess, user, securityData{
		Title: "Save your recovery codes", Codes: codes,
		Notice: "Two-step verification is on. From now on you are asked for a code from your app when you sign in."})
}

func (h *Handler) totpRemove(w http.ResponseWriter, r *http.Request) {
	sess, user := h.securityPost(w, r)
	if sess == nil {
		return
	}
	ctx := r.Context()
	err := h.cfg.Credentials.DeleteCredential(ctx, user.ID, storage.CredentialTOTP)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(w, r, err)
		return
	}
	if err == nil {
		h.audit(r, storage.AuditMFARemoved, user.ID, map[string]string{"method": "totp"})
	}
	if err := h.dropOrphanRecoveryCodes(ctx, user.ID); err != nil {
		h.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, pathSecurity+"?removed=totp", http.StatusSeeOther)
}

func (h *Handler) recoveryRenew(w http.ResponseWriter, r *http.Request) {
	sess, user := h.securityPost(w, r)
	if sess == nil {
		return
	}
	ctx := r.Context()
	creds, err := h.cfg.Credentials.ListCredentials(ctx, user.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if !slices.ContainsFunc(creds, login.IsSecondFactor) {
		h.renderSecurity(w, r, http.StatusConflict, sess, user, securityData{
			Error: "Set up an authenticator app or a passkey first: recovery codes stand in for one."})
		return
	}
	codes, err := h.withRecoveryCodes(ctx, user.ID, time.Now())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.audit(r, storage.AuditMFAEnrolled, user.ID, map[string]string{"method": "recovery_codes"})
	h.renderSecurity(w, r, http.StatusOK, sess, user, securityData{
		Title: "Save your recovery codes", Codes: codes,
		Notice: "Your new recovery codes replace the old ones, which no longer work."})
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	sess, user := h.postSession(w, r)
	if sess == nil {
		return
	}
	if err := h.cfg.Auth.SignOut(w, r); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.audit(r, storage.AuditSignedOut, user.ID, nil)
	h.render(w, r, http.StatusOK, "message", messageData{
		Title: "You are signed out", Message: "You are signed out of your account on this device.", Back: pathAccount})
}

func (h *Handler) resendVerification(w http.ResponseWriter, r *http.Request) {
	sess, user := h.postSession(w, r)
	if sess == nil {
		return
	}
	limited, err := h.cfg.Auth.(Verifier).ResendVerification(inPageLang(r), user)
	switch {
	case err != nil:
		h.serverError(w, r, err)
	case limited:
		w.Header().Set("Retry-After", "3600")
		h.renderSecurity(w, r, http.StatusTooManyRequests, sess, user, securityData{
			Error: "We have sent several links to this address already. Please wait an hour and try again."})
	default:
		h.renderSecurity(w, r, http.StatusOK, sess, user, securityData{
			Notice: "We sent a new link to your email address. It is valid for 24 hours."})
	}
}

// inPageLang returns r carrying the language of the account pages (the
// signed-in user's saved choice, else the browser's), for a mail the
// Authenticator sends on the user's behalf to be in it too.
func inPageLang(r *http.Request) *http.Request {
	return r.WithContext(page.WithLang(r.Context(), page.Negotiate(preferredLanguage(r), r)))
}

// withRecoveryCodes stores creds and a new set of recovery codes, which
// replaces any earlier set, and returns the codes to show once.
func (h *Handler) withRecoveryCodes(ctx context.Context, userID string, now time.Time, creds ...*storage.Credential) ([]string, error) {
	codes, rec, err := h.cfg.Factors.NewRecoveryCodes(userID, now)
	if err != nil {
		return nil, err
	}
	for _, c := range append(creds, rec) {
		if err := h.cfg.Credentials.PutCredential(ctx, c); err != nil {
			return nil, err
		}
	}
	return codes, nil
}

// dropOrphanRecoveryCodes deletes the user's recovery codes when no
// second factor is left: they stand in for one, and alone they would be a
// second password.
func (h *Handler) dropOrphanRecoveryCodes(ctx context.Context, userID string) error {
	creds, err := h.cfg.Credentials.ListCredentials(ctx, userID)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(creds, login.IsSecondFactor) {
		return nil
	}
	err = h.cfg.Credentials.DeleteCredential(ctx, userID, storage.CredentialRecoveryCodes)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return err
}
