package authz

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/storage"
)

// The MFA step sits between the first factor and the SSO session:
//
//	first factor (password, upstream, passkey) ──► firstFactor
//	    ──► no second factor needed ──► signedIn
//	    ──► second factor needed ──► /login/mfa
//	            TOTP code, recovery code, or passkey ──► secondFactor ──► signedIn
//	            no factor set up yet (policy requires one): set up TOTP,
//	                see the recovery codes once ──► secondFactor ──► signedIn
//
// A second factor is needed when the first did not already prove two
// (amr "mfa", a passkey that verified its user) and either the app asks
// for it with acr_values (acrMFA or acrPAPEMFA), or the operator requires
// it (Config.MFARequired), or the user has set one up. A remembered device
// (Config.RememberDevice) stands in for the second factor unless the app
// asked for it.
//
// Step-up: an SSO session of one factor meeting a request that asks for
// two goes to /login/mfa for the second factor only; success starts a new
// session with both.

// pendingMFA is a sign-in whose first factor passed, waiting for a second.
type pendingMFA struct {
	UserID string   `json:"user_id"`
	AMR    []string `json:"amr"` // of the first factor
	// Enrol: the user has no second factor and must set one up now.
	Enrol bool `json:"enrol,omitempty"`
	// Enrolled: set up during this sign-in; the recovery codes have been
	// shown and the step ends when the person continues.
	Enrolled bool `json:"enrolled,omitempty"`
}

// acr values of multi-factor sign-ins: "2", in the sequence of acrSSO and
// acrPassword, and the OpenID PAPE multi-factor policy, which Auth0 and
// others' clients send.
const (
	acrMFA     = "2"
	acrPAPEMFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"

	amrMFA = "mfa"
	amrOTP = "otp"

	cookieDevice = "atrium_device"
	// stepUpSetupAge is how recent a session's sign-in must be for its
	// user to set up a second factor in a step-up without signing in
	// again (the account area's rule).
	stepUpSetupAge = 15 * time.Minute
	pathMFA        = "/login/mfa"
)

// mfaRequested reports whether the authorization request asks for a
// multi-factor sign-in: acr_values lists a multi-factor value and no
// value one factor meets (the list is the app's preferences, any of which
// will do: "1 2" is met by a password).
func mfaRequested(ix *interaction) bool {
	mfa := false
	for _, v := range strings.Fields(ix.Form.Get("acr_values")) {
		switch v {
		case acrMFA, acrPAPEMFA:
			mfa = true
		case acrSSO, acrPassword:
			return false
		}
	}
	return mfa
}

// secondFactors are the user's credentials that serve as a second factor.
func (p *Provider) secondFactors(ctx context.Context, userID string) ([]*storage.Credential, error) {
	creds, err := p.stores.Credentials.ListCredentials(ctx, userID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(creds, func(c *storage.Credential) bool { return !login.IsSecondFactor(c) }), nil
}

// firstFactor continues after a first factor (password, upstream,
// passkey) proved user: it asks for a second factor when one is needed,
// and otherwise starts the SSO session.
func (p *Provider) firstFactor(w http.ResponseWriter, r *http.Request, ix *interaction, user *storage.User, amr []string) {
	if slices.Contains(amr, amrMFA) || p.cfg.Factors == nil {
		p.signedIn(w, r, ix, user, amr)
		return
	}
	factors, err := p.secondFactors(r.Context(), user.ID)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	requested := !ix.forAccount() && mfaRequested(ix)
	if len(factors) == 0 && !requested && !p.cfg.MFARequired {
		p.signedIn(w, r, ix, user, amr)
		return
	}
	if !requested && len(factors) > 0 && p.rememberedDevice(r, user.ID, factors) {
		p.signedIn(w, r, ix, user, amr)
		return
	}
	ix.MFA = &pendingMFA{UserID: user.ID, AMR: amr, Enrol: len(factors) == 0}
	p.toMFA(w, r, ix)
}

// stepUp sends a signed-in user whose session has one factor to the
// second factor the request asks for.
//
// A user with no second factor sets one up during the step, which must
// not be left to whoever holds a session cookie: a session older than
// stepUpSetupAge signs in again first.
func (p *Provider) stepUp(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, ix *interaction, user *storage.User, sess *storage.Session) {
	factors, err := p.secondFactors(r.Context(), user.ID)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	if len(factors) == 0 && p.now().Sub(sess.AuthTime) > stepUpSetupAge {
		p.startStep(w, r, ar, ix, pathLogin)
		return
	}
	ix.MFA = &pendingMFA{UserID: user.ID, AMR: sess.AMR, Enrol: len(factors) == 0}
	p.toMFA(w, r, ix)
}

func (p *Provider) toMFA(w http.ResponseWriter, r *http.Request, ix *interaction) {
	p.bindInteraction(w, r, ix)
	if err := p.saveInteraction(r.Context(), ix); err != nil {
		p.serverError(w, r, err)
		return
	}
	up := strings.Repeat("../", max(strings.Count(r.URL.Path, "/")-1, 0))
	http.Redirect(w, r, up+strings.TrimPrefix(pathMFA, "/")+"?interaction="+ix.ID, http.StatusSeeOther)
}

// secondFactor completes the MFA step of ix with the second factor
// method (an RFC 8176 amr value) and starts the SSO session.
func (p *Provider) secondFactor(w http.ResponseWriter, r *http.Request, ix *interaction, user *storage.User, method string) {
	amr := slices.Clone(ix.MFA.AMR)
	for _, m := range []string{method, amrMFA} {
		if m != "" && !slices.Contains(amr, m) {
			amr = append(amr, m)
		}
	}
	_ = p.factorSucceeded(r.Context(), user.ID)
	p.Audit(r, storage.AuditMFASucceeded, user.ID, map[string]string{"method": method})
	if r.PostFormValue("remember") == "1" && rememberOffer(p, ix) > 0 {
		if factors, err := p.secondFactors(r.Context(), user.ID); err == nil && len(factors) > 0 {
			p.rememberDevice(w, user.ID, factors)
		}
	}
	ix.MFA = nil
	p.signedIn(w, r, ix, user, amr)
}

// mfaUser loads the interaction of an MFA page and its pending user.
func (p *Provider) mfaUser(w http.ResponseWriter, r *http.Request) (*interaction, *storage.User, bool) {
	ix, err := p.loadInteraction(r)
	if err != nil || ix.MFA == nil {
		p.interactionGone(w, r, cmpErr(err, "no second factor pending"))
		return nil, nil, false
	}
	user, err := p.activeUser(r.Context(), ix.MFA.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		p.interactionGone(w, r, errors.New("user gone during sign-in"))
		return nil, nil, false
	}
	if err != nil {
		p.serverError(w, r, err)
		return nil, nil, false
	}
	return ix, user, true
}

// mfaView is what the MFA page shows.
type mfaView struct {
	TOTP     bool // the user has an authenticator app
	Recovery int  // unused recovery codes
	Remember int  // days "remember this device" lasts, 0 when not offered
	// Enrolment: the secret offered, sealed for the form, and shown.
	Enrol  *login.TOTPEnrolment
	Sealed string
	// Codes: the recovery codes just made, shown once.
	Codes []string
}

func (p *Provider) mfaPage(w http.ResponseWriter, r *http.Request) {
	ix, user, ok := p.mfaUser(w, r)
	if !ok {
		return
	}
	p.renderMFA(w, r, ix, user, http.StatusOK, "", nil)
}

// renderMFA shows the second-factor page: the code form, or the setup of
// an authenticator app when the user has no factor (offering a new secret
// unless enrol carries the one being confirmed).
func (p *Provider) renderMFA(w http.ResponseWriter, r *http.Request, ix *interaction, user *storage.User, status int, problem string, enrol *mfaView) {
	ctx := r.Context()
	v := mfaView{}
	if enrol != nil {
		v = *enrol
	}
	creds, err := p.stores.Credentials.ListCredentials(ctx, user.ID)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	for _, c := range creds {
		switch c.Type {
		case storage.CredentialTOTP:
			v.TOTP = true
		case storage.CredentialRecoveryCodes:
			v.Recovery = login.RemainingRecoveryCodes(c)
		}
	}
	v.Remember = rememberOffer(p, ix)
	if ix.MFA.Enrol && !ix.MFA.Enrolled && v.Enrol == nil {
		if v.Enrol, err = p.cfg.Factors.NewTOTP(user.Email); err != nil {
			p.serverError(w, r, err)
			return
		}
		if v.Sealed, err = p.cfg.Factors.SealPending(user.ID, ix.ID, v.Enrol.Secret); err != nil {
			p.serverError(w, r, err)
			return
		}
	}
	title := "Two-step verification"
	if ix.MFA.Enrol {
		title = "Set up two-step verification"
	}
	p.render(w, r, status, "mfa", pageData{
		Title: title, Interaction: ix.ID, CSRF: ix.CSRF, Error: problem, MFA: &v,
		Locales: ix.Form.Get("ui_locales"), UserID: user.ID,
		Passkey: p.passkeyMFA(r, ix, user),
	})
}

func (p *Provider) mfaSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ix, user, ok := p.mfaUser(w, r)
	if !ok {
		return
	}
	switch {
	case ix.MFA.Enrolled:
		// The recovery codes were shown; the person continues.
		p.secondFactor(w, r, ix, user, amrOTP)
		return
	case ix.MFA.Enrol:
		p.mfaEnrol(w, r, ix, user)
		return
	}
	if retry, err := p.factorLimited(ctx, user.ID); err != nil {
		p.serverError(w, r, err)
		return
	} else if retry > 0 {
		p.Audit(r, storage.AuditMFAThrottled, user.ID, nil)
		p.renderMFA(w, r, ix, user, http.StatusTooManyRequests, "Too many attempts. "+retryAfter(w, retry), nil)
		return
	}
	code := strings.TrimSpace(r.PostFormValue("code"))
	method, err := p.checkSecondFactor(ctx, user.ID, code)
	switch {
	case errors.Is(err, login.ErrWrongCode), errors.Is(err, login.ErrReplayedCode):
		_ = p.factorFailed(ctx, user.ID)
		reason := "wrong code"
		if errors.Is(err, login.ErrReplayedCode) {
			reason = "replayed code"
		}
		p.Audit(r, storage.AuditMFAFailed, user.ID, map[string]string{"reason": reason})
		msg := "That code is not right. Check your authenticator app and try again."
		if errors.Is(err, login.ErrReplayedCode) {
			msg = "That code has been used already. Wait for the next code in your authenticator app."
		}
		p.renderMFA(w, r, ix, user, http.StatusUnauthorized, msg, nil)
		return
	case err != nil:
		p.serverError(w, r, err)
		return
	}
	if method == "" {
		p.Audit(r, storage.AuditRecoveryCodeUsed, user.ID, nil)
	}
	p.secondFactor(w, r, ix, user, method)
}

// checkSecondFactor checks a TOTP or recovery code and returns its amr
// method: "otp" for TOTP, "" for a recovery code (RFC 8176 has no value
// for it; amr still says "mfa").
func (p *Provider) checkSecondFactor(ctx context.Context, userID, code string) (string, error) {
	now := p.now()
	if login.LooksLikeRecoveryCode(code) {
		cred, err := p.stores.Credentials.GetCredential(ctx, userID, storage.CredentialRecoveryCodes)
		if errors.Is(err, storage.ErrNotFound) {
			return "", login.ErrWrongCode
		}
		if err != nil {
			return "", err
		}
		next, err := p.cfg.Factors.UseRecoveryCode(ctx, cred, code, now, p.stores.Tokens.UseOnce)
		if err != nil {
			return "", err
		}
		return "", p.stores.Credentials.PutCredential(ctx, next)
	}
	cred, err := p.stores.Credentials.GetCredential(ctx, userID, storage.CredentialTOTP)
	if errors.Is(err, storage.ErrNotFound) {
		return "", login.ErrWrongCode
	}
	if err != nil {
		return "", err
	}
	return amrOTP, p.cfg.Factors.VerifyTOTP(ctx, cred, code, now, p.stores.Tokens.UseOnce)
}

// mfaEnrol confirms the authenticator app set up during sign-in, stores
// it with a new set of recovery codes, and shows the codes.
func (p *Provider) mfaEnrol(w http.ResponseWriter, r *http.Request, ix *interaction, user *storage.User) {
	ctx := r.Context()
	sealed := r.PostFormValue("pending")
	enrol, err := p.cfg.Factors.OpenPending(user.ID, ix.ID, sealed, user.Email)
	if err != nil {
		p.Audit(r, storage.AuditMFAFailed, user.ID, map[string]string{"reason": "bad pending secret"})
		p.renderMFA(w, r, ix, user, http.StatusBadRequest, "The setup expired. Scan the new code below.", nil)
		return
	}
	if retry, err := p.factorLimited(ctx, user.ID); err != nil {
		p.serverError(w, r, err)
		return
	} else if retry > 0 {
		p.Audit(r, storage.AuditMFAThrottled, user.ID, nil)
		p.renderMFA(w, r, ix, user, http.StatusTooManyRequests, "Too many attempts. "+retryAfter(w, retry), &mfaView{Enrol: enrol, Sealed: sealed})
		return
	}
	now := p.now()
	cred, err := p.cfg.Factors.ConfirmTOTP(ctx, user.ID, enrol.Secret, r.PostFormValue("code"), now, p.stores.Tokens.UseOnce)
	if errors.Is(err, login.ErrWrongCode) || errors.Is(err, login.ErrReplayedCode) {
		_ = p.factorFailed(ctx, user.ID)
		p.Audit(r, storage.AuditMFAFailed, user.ID, map[string]string{"reason": "wrong setup code"})
		p.renderMFA(w, r, ix, user, http.StatusUnauthorized,
			"That code is not right. Enter the code your authenticator app shows now.", &mfaView{Enrol: enrol, Sealed: sealed})
		return
	}
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	codes, rec, err := p.cfg.Factors.NewRecoveryCodes(user.ID, now)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	if err := p.stores.Credentials.PutCredential(ctx, cred); err != nil {
		p.serverError(w, r, err)
		return
	}
	if err := p.stores.Credentials.PutCredential(ctx, rec); err != nil {
		p.serverError(w, r, err)
		return
	}
	p.Audit(r, storage.AuditMFAEnrolled, user.ID, map[string]string{"method": "totp", "during": "sign-in"})
	ix.MFA.Enrolled = true
	if err := p.saveInteraction(ctx, ix); err != nil {
		p.serverError(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "mfa", pageData{
		Title: "Save your recovery codes", Interaction: ix.ID, CSRF: ix.CSRF,
		MFA:     &mfaView{Codes: codes, Remember: rememberOffer(p, ix)},
		Locales: ix.Form.Get("ui_locales"), UserID: user.ID,
	})
}

// rememberOffer is how many days "remember this device" would last, 0
// when it is not offered (an app asking for two factors gets them).
func rememberOffer(p *Provider, ix *interaction) int {
	if p.cfg.RememberDevice > 0 && !mfaRequested(ix) {
		return max(1, int(p.cfg.RememberDevice.Hours()/24))
	}
	return 0
}

// The remembered-device cookie says that this browser passed a second
// factor of the user until an expiry, for the user's second factors as
// they were then: setting up or removing one forgets every device. It is
// an HMAC, not a stored record: userID | expiry | MAC(userID, expiry,
// factors).

func (p *Provider) deviceMAC(userID string, exp int64, factors []*storage.Credential) []byte {
	m := hmac.New(sha256.New, p.deviceKey)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(exp))
	m.Write([]byte(userID))
	m.Write([]byte{0})
	m.Write(b[:])
	ids := make([]string, 0, len(factors))
	for _, c := range factors {
		ids = append(ids, c.Type+"\x00"+c.ID+"\x00"+strconv.FormatInt(c.CreatedAt.UnixMicro(), 10))
	}
	slices.Sort(ids)
	for _, id := range ids {
		m.Write([]byte{0})
		m.Write([]byte(id))
	}
	return m.Sum(nil)
}

func (p *Provider) rememberDevice(w http.ResponseWriter, userID string, factors []*storage.Credential) {
	exp := p.now().Add(p.cfg.RememberDevice).Unix()
	v := base64.RawURLEncoding.EncodeToString([]byte(userID)) + "." + strconv.FormatInt(exp, 10) + "." +
		base64.RawURLEncoding.EncodeToString(p.deviceMAC(userID, exp, factors))
	p.setCookie(w, cookieDevice, v, p.cfg.RememberDevice)
}

func (p *Provider) rememberedDevice(r *http.Request, userID string, factors []*storage.Credential) bool {
	if p.cfg.RememberDevice <= 0 {
		return false
	}
	c, err := r.Cookie(cookieDevice)
	if err != nil {
		return false
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 {
		return false
	}
	uid, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	exp, err2 := strconv.ParseInt(parts[1], 10, 64)
	mac, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || string(uid) != userID || p.now().Unix() >= exp {
		return false
	}
	return hmac.Equal(mac, p.deviceMAC(userID, exp, factors))
}
