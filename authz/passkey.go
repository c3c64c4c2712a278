package authz

import (
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/storage"
)

// Passkeys in the interaction (login/passkey.go runs the ceremonies; the
// account area registers them). With Config.Passkeys set:
//
//	/login         the page begins a discoverable sign-in: its Ceremony is
//	               kept in the interaction (ix.Passkey), its options go in
//	               a form the script (/assets/passkey.js) shows only where
//	               the browser has WebAuthn.
//	POST /login-passkey       the authenticator's response: the ceremony is
//	               taken out of the interaction and spent (UseOnce), the
//	               response verified, the passkey's counter and last use
//	               stored ──► firstFactor with amr hwk, plus user and mfa
//	               when the authenticator verified the person.
//	/login/mfa     when the pending user has passkeys, a sign-in with one
//	               of theirs only.
//	POST /login/mfa-passkey   the response ──► secondFactor "hwk".
//
// A refused response shows the page again with a message and a new
// ceremony, changes no passkey, and is audited. The POST paths sit beside
// the pages they answer so the relative links of the page shown again
// still resolve.

const (
	pathPasskeyScript = "/assets/passkey.js"
	pathLoginPasskey  = "/login-passkey"
	pathMFAPasskey    = "/login/mfa-passkey"

	// amrHWK: proof of possession of a hardware-secured key (RFC 8176);
	// amrUser: the authenticator verified the person (PIN, biometrics).
	amrHWK  = "hwk"
	amrUser = "user"
)

//go:embed passkey.js
var passkeyScript []byte

// passkeyView is a passkey form of a page: the ceremony's options (JSON),
// the form's target and the script with its CSP nonce, both relative to
// the page.
type passkeyView struct {
	Options string
	Action  string
	Script  string
	Nonce   string
}

func (p *Provider) passkeyRoutes(m *http.ServeMux) {
	if p.cfg.Passkeys == nil {
		return
	}
	m.HandleFunc("GET "+pathPasskeyScript, servePasskeyScript)
	m.HandleFunc("POST "+pathLoginPasskey, p.loginPasskey)
	m.HandleFunc("POST "+pathMFAPasskey, p.mfaPasskey)
}

func servePasskeyScript(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(passkeyScript)
}

// relative is the path target (absolute, from the issuer's root) as seen
// from the request's page.
func relative(r *http.Request, target string) string {
	return strings.Repeat("../", max(strings.Count(r.URL.Path, "/")-1, 0)) + strings.TrimPrefix(target, "/")
}

func newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// passkeySignIn begins a discoverable sign-in for the login page of ix
// and keeps its ceremony in ix; nil when passkeys are off or it failed
// (the page then offers the other ways).
func (p *Provider) passkeySignIn(r *http.Request, ix *interaction) *passkeyView {
	if p.cfg.Passkeys == nil {
		return nil
	}
	opts, c, err := p.cfg.Passkeys.BeginSignIn()
	if err == nil {
		ix.Passkey = c
		err = p.saveInteraction(r.Context(), ix)
	}
	if err != nil {
		p.log.WarnContext(r.Context(), "passkey sign-in not offered", "err", err)
		return nil
	}
	return &passkeyView{Options: string(opts), Action: relative(r, pathLoginPasskey), Script: relative(r, pathPasskeyScript), Nonce: newNonce()}
}

// passkeyMFA begins a sign-in with one of user's passkeys for the MFA
// page of ix; nil when the user has none.
func (p *Provider) passkeyMFA(r *http.Request, ix *interaction, user *storage.User) *passkeyView {
	if p.cfg.Passkeys == nil || ix.MFA == nil {
		return nil
	}
	pu, err := p.passkeyUser(r, user)
	if err != nil || len(pu.Passkeys) == 0 {
		if err != nil {
			p.log.WarnContext(r.Context(), "passkey second factor not offered", "err", err)
		}
		return nil
	}
	// After a passkey that only checked presence, the second step needs
	// one that verifies the person.
	opts, c, err := p.cfg.Passkeys.BeginSecondFactor(pu, slices.Contains(ix.MFA.AMR, amrHWK))
	if err == nil {
		ix.Passkey = c
		err = p.saveInteraction(r.Context(), ix)
	}
	if err != nil {
		p.log.WarnContext(r.Context(), "passkey second factor not offered", "err", err)
		return nil
	}
	return &passkeyView{Options: string(opts), Action: relative(r, pathMFAPasskey), Script: relative(r, pathPasskeyScript), Nonce: newNonce()}
}

func (p *Provider) passkeyUser(r *http.Request, user *storage.User) (*login.PasskeyUser, error) {
	pks, err := login.ListPasskeys(r.Context(), p.stores.Credentials, user.ID)
	if err != nil {
		return nil, err
	}
	return &login.PasskeyUser{ID: user.ID, Name: user.Email, DisplayName: user.Name, Passkeys: pks}, nil
}

// takeCeremony removes the passkey ceremony from ix, stores ix, and
// spends the ceremony: a response is verified against it once, even when
// two arrive together.
func (p *Provider) takeCeremony(r *http.Request, ix *interaction) (*login.Ceremony, error) {
	c := ix.Passkey
	if c == nil {
		return nil, login.ErrPasskeyExpired
	}
	ix.Passkey = nil
	if err := p.saveInteraction(r.Context(), ix); err != nil {
		return nil, err
	}
	err := p.stores.Tokens.UseOnce(r.Context(), "passkey:"+c.ID, c.Expires)
	if errors.Is(err, storage.ErrAlreadyExists) {
		return nil, login.ErrPasskeyExpired
	}
	return c, err
}

// passkeyProblem is the page's message for a refused passkey response,
// or "" when err is not one (a server error).
func passkeyProblem(err error) string {
	switch {
	case errors.Is(err, login.ErrPasskeyExpired):
		return "The passkey request expired or was already used. Please try again."
	case errors.Is(err, login.ErrPasskeyOrigin):
		return "The passkey answered a request from another website. Nothing was signed in."
	case errors.Is(err, login.ErrPasskeyUnknown):
		return "This passkey is not registered for this account. Try another passkey or sign in another way."
	case errors.Is(err, login.ErrPasskeyCloned):
		return "This passkey was refused: its signature counter went backwards, a sign that it may have been copied. Sign in another way and check your passkeys in your account."
	case errors.Is(err, login.ErrPasskeyInvalid):
		return "The passkey could not be verified. Please try again or sign in another way."
	}
	return ""
}

// passkeyFailed audits a refused passkey response; reason is for the log
// and audit trail, never shown.
func (p *Provider) passkeyFailed(w http.ResponseWriter, r *http.Request, userID, step string, err error) {
	reason := err.Error()
	if len(reason) > 200 {
		reason = reason[:200]
	}
	p.log.InfoContext(r.Context(), "passkey refused", "step", step, "reason", reason, "user_id", userID, "request_id", requestID(w, r))
	p.Audit(r, storage.AuditPasskeyFailed, userID, map[string]string{"step": step, "reason": reason})
}

// loginPasskey verifies a discoverable sign-in's response.
func (p *Provider) loginPasskey(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ix, err := p.loadInteraction(r)
	if err != nil {
		p.interactionGone(w, r, err)
		return
	}
	c, err := p.takeCeremony(r, ix)
	var as *login.Assertion
	if err == nil {
		as, err = p.cfg.Passkeys.FinishSignIn(c, []byte(r.PostFormValue("credential")), func(userHandle string) (*login.PasskeyUser, error) {
			u, err := p.activeUser(ctx, userHandle)
			if err != nil {
				return nil, err
			}
			return p.passkeyUser(r, u)
		})
	}
	if msg := passkeyProblem(err); msg != "" {
		p.passkeyFailed(w, r, "", "signin", err)
		p.renderLogin(w, r, ix, http.StatusUnauthorized, "", msg)
		return
	} else if err != nil {
		p.serverError(w, r, err)
		return
	}
	user, err := p.activeUser(ctx, as.UserID)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	if err := p.storeUsedPasskey(r, as); err != nil {
		p.serverError(w, r, err)
		return
	}
	p.audit(r, storage.AuditLoginSucceeded, user.ID, ix.Form.Get("client_id"), map[string]string{
		"method": "passkey", "user_verified": strconv.FormatBool(as.UserVerified)})
	amr := []string{amrHWK}
	if as.UserVerified {
		// A passkey with user verification is two factors in one: the
		// device, and the PIN or biometrics that unlock it.
		amr = append(amr, amrUser, amrMFA)
	}
	p.firstFactor(w, r, ix, user, amr)
}

// mfaPasskey verifies the response of a second factor sign-in.
func (p *Provider) mfaPasskey(w http.ResponseWriter, r *http.Request) {
	ix, user, ok := p.mfaUser(w, r)
	if !ok {
		return
	}
	c, err := p.takeCeremony(r, ix)
	var as *login.Assertion
	if err == nil {
		var pu *login.PasskeyUser
		if pu, err = p.passkeyUser(r, user); err == nil {
			as, err = p.cfg.Passkeys.FinishSecondFactor(c, pu, []byte(r.PostFormValue("credential")))
		}
	}
	if msg := passkeyProblem(err); msg != "" {
		p.passkeyFailed(w, r, user.ID, "mfa", err)
		p.renderMFA(w, r, ix, user, http.StatusUnauthorized, msg, nil)
		return
	} else if err != nil {
		p.serverError(w, r, err)
		return
	}
	if err := p.storeUsedPasskey(r, as); err != nil {
		p.serverError(w, r, err)
		return
	}
	p.secondFactor(w, r, ix, user, amrHWK)
}

// storeUsedPasskey keeps the passkey's new counter and last use.
func (p *Provider) storeUsedPasskey(r *http.Request, as *login.Assertion) error {
	cred, err := as.Passkey.Credential(as.UserID, p.now())
	if err != nil {
		return err
	}
	return p.stores.Credentials.PutCredential(r.Context(), cred)
}
