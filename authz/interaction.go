package authz

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/atrium-id/atrium/authz/keys"
	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/storage"
)

// The interaction is the state of one authorization request between
// /authorize and the authorization response. Its states and transitions:
//
//	/authorize ──► validated by fosite ──► [authenticate] ──► [consent] ──► issue
//
//	authenticate: skipped when the browser has an SSO session that satisfies
//	    prompt and max_age; otherwise the interaction is stored and the browser
//	    is sent to /login (or, with idp_hint naming a configured upstream,
//	    straight to that upstream). prompt=none turns this step into
//	    login_required. Signing in with an upstream (federation.go) leaves
//	    and re-enters the interaction:
//
//	        /login ──► /federation/{id}/start ──► upstream ──► /federation/{id}/callback
//	            callback ──► known identity, or new account, or trusted email ──► signed in
//	            callback ──► verified email of an existing account ──► /federation/link
//	                link: that account's password ──► identity linked ──► signed in
//	                link: "Continue with" a provider already linked to that
//	                    account ──► upstream ──► callback as that account's
//	                    identity ──► identity linked ──► signed in
//	                link: cancel ──► /login
//
//	    A failed callback shows an error page linking back to /login; the
//	    interaction stays usable.
//	consent (consent.go, rules in package consent): skipped when the user
//	    has granted the client every requested scope under the current
//	    consent policy version, or the client is first-party, and prompt
//	    does not contain consent; otherwise the browser is sent to
//	    /consent. prompt=none turns this step into consent_required.
//	    Allow grants openid and the scopes left ticked, remembers them and
//	    writes a "granted" ledger entry; Deny ends the interaction with
//	    access_denied.
//	issue: fosite writes the authorization response (with iss, RFC 9207) and
//	    the interaction is deleted.
//
// Account interactions (account.go) are tied to no client: an account
// sign-in runs only the authenticate step, then returns to its path under
// /account; a link intent runs only the upstream sign-in, links the
// identity to the signed-in user and returns.
//
// The stored interaction holds the request parameters, as resolved from a
// request object or a pushed request (par.go); every step re-validates them
// with fosite from storage, never from the browser. Pages
// carry only the interaction ID and a CSRF token, and the interaction is
// bound to the browser that started it by a cookie.
type interaction struct {
	ID          string     `json:"-"`
	Form        url.Values `json:"form"`
	RequestedAt time.Time  `json:"requested_at"`
	CSRF        string     `json:"csrf"`
	Binding     []byte     `json:"binding"` // SHA-256 of the browser binding cookie
	UserID      string     `json:"user_id,omitempty"`
	SessionID   string     `json:"session_id,omitempty"`
	LoggedIn    bool       `json:"logged_in,omitempty"` // authenticated during this interaction
	Consented   bool       `json:"consented,omitempty"`
	// Granted, once the user has answered the consent screen or their
	// remembered consent answers the request, are the scopes granted
	// (consent.go); issue grants only those.
	Granted []string `json:"granted,omitempty"`
	// Upstream is the pending upstream sign-in, between start and callback.
	Upstream *upstreamState `json:"upstream,omitempty"`
	// Link is the upstream identity waiting for the user to prove the
	// existing account it would be linked to.
	Link *pendingLink `json:"link,omitempty"`
	// Return, for an account sign-in (account.go), is the path under
	// /account to return to; such an interaction has no client and no Form.
	Return string `json:"return,omitempty"`
	// LinkTo is the user an upstream sign-in started from the account area
	// links its identity to.
	LinkTo *linkIntent `json:"link_to,omitempty"`
	// MFA is the sign-in waiting for its second factor (mfa.go).
	MFA *pendingMFA `json:"mfa,omitempty"`
	// Passkey is the passkey ceremony the login or MFA page began
	// (passkey.go), spent by the response to it.
	Passkey *login.Ceremony `json:"passkey,omitempty"`
	// Device is the device authorization request (device.go) the
	// interaction answers; it has no redirect URI.
	Device *deviceFlow `json:"device,omitempty"`
}

// forAccount reports whether ix is an account sign-in or link, tied to no
// client.
func (ix *interaction) forAccount() bool { return ix.Return != "" }

const (
	cookieSession = "atrium_session"
	cookieBinding = "atrium_binding"

	// acr values: "0" for a sign-in carried by an SSO session, "1" for a
	// password entered, or an upstream sign-in completed, during this
	// request; "2" (acrMFA, mfa.go) for two factors.
	acrSSO      = "0"
	acrPassword = "1"
)

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("atrium: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func digest(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// sessionKey is the storage ID of the SSO session whose cookie is v, so a
// leaked session table does not yield usable cookies.
func sessionKey(cookie string) string {
	return base64.RawURLEncoding.EncodeToString(digest(cookie))
}

// sid is the public session identifier put in ID tokens.
func sid(sessionID string) string {
	return base64.RawURLEncoding.EncodeToString(digest("sid:" + sessionID))[:22]
}

func (p *Provider) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", HttpOnly: true,
		Secure: p.cfg.SecureCookies, SameSite: http.SameSiteLaxMode,
		MaxAge: int(maxAge / time.Second),
	})
}

func prompts(form url.Values) []string { return strings.Fields(form.Get("prompt")) }

// authorize serves the authorization endpoint.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	ar, err := p.newAuthorizeRequest(r.Context(), r, fromBrowser)
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	ix := &interaction{Form: cloneForm(ar.GetRequestForm()), RequestedAt: p.now()}
	p.proceed(w, r, ar, ix)
}

// newAuthorizeRequest validates an authorization request with fosite, once
// its request object or request_uri is resolved (par.go; from says how),
// and then the checks fosite leaves to the provider.
func (p *Provider) newAuthorizeRequest(ctx context.Context, r *http.Request, from authorizeFrom) (fosite.AuthorizeRequester, error) {
	if err := r.ParseForm(); err != nil {
		return nil, fosite.ErrInvalidRequest.WithHint("The request could not be parsed.")
	}
	// Resolved here, not by fosite.
	reqObj, reqURI := r.Form.Get("request"), r.Form.Get("request_uri")
	r.Form.Del("request")
	r.Form.Del("request_uri")
	resolveErr := p.resolveRequest(ctx, r, from, reqObj, reqURI)
	ar, err := p.oauth.NewAuthorizeRequest(ctx, r)
	if resolveErr != nil {
		// Redirected when the parameters around it name a redirect URI
		// of the client.
		return ar, resolveErr
	}
	if err != nil {
		return ar, err
	}
	if err := p.authorizeResources(ar); err != nil {
		return ar, err
	}
	pr := prompts(ar.GetRequestForm())
	if slices.Contains(pr, "none") && len(pr) > 1 {
		return ar, fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other prompt values.")
	}
	if ma := ar.GetRequestForm().Get("max_age"); ma != "" {
		if n, err := strconv.Atoi(ma); err != nil || n < 0 {
			return ar, fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer.")
		}
	} else if cl, ok := ar.GetClient().(*client); ok && cl.c.DefaultMaxAge > 0 {
		// The client's registered default_max_age stands in for the
		// max_age the request did not send.
		ar.GetRequestForm().Set("max_age", strconv.Itoa(cl.c.DefaultMaxAge))
	}
	// Fail PKCE problems before the user signs in rather than after.
	challenge, method := ar.GetRequestForm().Get("code_challenge"), ar.GetRequestForm().Get("code_challenge_method")
	switch {
	case challenge == "" && ar.GetClient().IsPublic():
		return ar, fosite.ErrInvalidRequest.WithHint("Public clients must use PKCE (code_challenge with code_challenge_method=S256).")
	case challenge == "" && isDocumentClient(ar.GetClient()):
		return ar, fosite.ErrInvalidRequest.WithHint("Clients identified by a metadata document must use PKCE (code_challenge with code_challenge_method=S256).")
	case challenge != "" && method != "S256":
		return ar, fosite.ErrInvalidRequest.WithHint("code_challenge_method must be S256.")
	}
	return ar, nil
}

// resume re-validates the authorization request stored in ix.
func (p *Provider) resume(ctx context.Context, ix *interaction) (fosite.AuthorizeRequester, error) {
	if ix.Device != nil {
		return p.deviceRequest(ctx, ix)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url(pathAuthorize)+"?"+ix.Form.Encode(), nil)
	if err != nil {
		return nil, err
	}
	return p.newAuthorizeRequest(ctx, r, fromInteraction)
}

func cloneForm(f url.Values) url.Values {
	c := make(url.Values, len(f))
	for k, v := range f {
		c[k] = slices.Clone(v)
	}
	return c
}

// proceed runs the interaction from where ix stands: authenticate, consent,
// issue.
func (p *Provider) proceed(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, ix *interaction) {
	ctx := r.Context()
	pr := prompts(ix.Form)
	promptNone := slices.Contains(pr, "none")

	var sess *storage.Session
	var user *storage.User
	if ix.LoggedIn {
		var err error
		if sess, err = p.stores.Sessions.GetSession(ctx, ix.SessionID); err == nil {
			user, err = p.activeUser(ctx, sess.UserID)
		}
		if err != nil {
			p.writeAuthorizeError(w, r, ar, fosite.ErrLoginRequired.WithHint("The sign-in session ended before the request completed."))
			return
		}
	} else {
		sess, user = p.currentSession(r)
		if sess == nil || slices.Contains(pr, "login") || p.maxAgeExceeded(ix.Form, sess) {
			if promptNone {
				p.writeAuthorizeError(w, r, ar, fosite.ErrLoginRequired.WithHint("The user is not signed in."))
				return
			}
			if c := p.hintedConnector(ix.Form); c != nil {
				p.bindInteraction(w, r, ix)
				p.startUpstream(w, r, ix, c, false)
				return
			}
			p.startStep(w, r, ar, ix, pathLogin)
			return
		}
		if mfaRequested(ix) && sess.ACR != acrMFA && p.cfg.Factors != nil {
			if promptNone {
				p.writeAuthorizeError(w, r, ar, fosite.ErrInteractionRequired.WithHint("The request asks for a second factor."))
				return
			}
			p.stepUp(w, r, ar, ix, user, sess)
			return
		}
	}

	if !ix.Consented {
		granted, err := p.hasConsent(ctx, ix, user.ID, ar)
		if err != nil {
			p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
		if !granted || slices.Contains(pr, "consent") {
			if promptNone {
				p.writeAuthorizeError(w, r, ar, fosite.ErrConsentRequired.WithHint("The user has not consented to this request."))
				return
			}
			ix.UserID, ix.SessionID = user.ID, sess.ID
			p.startStep(w, r, ar, ix, pathConsent)
			return
		}
	}
	p.issue(w, r, ar, ix, user, sess)
}

// currentSession returns the browser's SSO session and its user, or nils.
func (p *Provider) currentSession(r *http.Request) (*storage.Session, *storage.User) {
	sess, user, err := p.SessionUser(r)
	if err != nil {
		return nil, nil
	}
	return sess, user
}

func (p *Provider) activeUser(ctx context.Context, id string) (*storage.User, error) {
	u, err := p.stores.Users.GetUser(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, storage.ErrNotFound
	}
	return u, nil
}

func (p *Provider) maxAgeExceeded(form url.Values, sess *storage.Session) bool {
	v := form.Get("max_age")
	if v == "" {
		return false
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return true
	}
	return p.now().Sub(sess.AuthTime) > time.Duration(n)*time.Second
}

// startStep stores ix and sends the browser to a page of the interaction.
func (p *Provider) startStep(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, ix *interaction, page string) {
	p.bindInteraction(w, r, ix)
	if err := p.saveInteraction(r.Context(), ix); err != nil {
		p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
		return
	}
	// Relative, so the browser stays on the host name it used (the
	// upstream callback is two levels down).
	up := strings.Repeat("../", max(strings.Count(r.URL.Path, "/")-1, 0))
	http.Redirect(w, r, up+strings.TrimPrefix(page, "/")+"?interaction="+url.QueryEscape(ix.ID), http.StatusSeeOther)
}

// bindInteraction gives a new interaction its ID and CSRF token and binds
// it to the browser's binding cookie (set now if the browser has none).
func (p *Provider) bindInteraction(w http.ResponseWriter, r *http.Request, ix *interaction) {
	if ix.ID != "" {
		return
	}
	ix.ID = randomToken()
	ix.CSRF = randomToken()
	binding := ""
	if c, err := r.Cookie(cookieBinding); err == nil && len(c.Value) >= 32 {
		binding = c.Value
	} else {
		binding = randomToken()
		p.setCookie(w, cookieBinding, binding, 0)
	}
	ix.Binding = digest(binding)
}

func (p *Provider) saveInteraction(ctx context.Context, ix *interaction) error {
	data, err := json.Marshal(ix)
	if err != nil {
		return err
	}
	return p.stores.Sessions.PutInteraction(ctx, &storage.Interaction{
		ID: ix.ID, Data: data, ExpiresAt: ix.RequestedAt.Add(p.cfg.InteractionLifespan),
	})
}

// loadInteraction returns the interaction named by the request, after
// checking it belongs to this browser (and, for POSTs, the CSRF token).
func (p *Provider) loadInteraction(r *http.Request) (*interaction, error) {
	ix, err := p.boundInteraction(r, r.FormValue("interaction"))
	if err != nil {
		return nil, err
	}
	if r.Method == http.MethodPost && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf_token")), []byte(ix.CSRF)) != 1 {
		return nil, errCSRF
	}
	return ix, nil
}

// boundInteraction returns the interaction id after checking it belongs to
// this browser.
func (p *Provider) boundInteraction(r *http.Request, id string) (*interaction, error) {
	if id == "" {
		return nil, errors.New("no interaction")
	}
	rec, err := p.stores.Sessions.GetInteraction(r.Context(), id)
	if err != nil {
		return nil, err
	}
	ix := &interaction{}
	if err := json.Unmarshal(rec.Data, ix); err != nil {
		return nil, err
	}
	ix.ID = rec.ID
	c, err := r.Cookie(cookieBinding)
	if err != nil || subtle.ConstantTimeCompare(digest(c.Value), ix.Binding) != 1 {
		return nil, errors.New("interaction belongs to another browser")
	}
	return ix, nil
}

// interactionGone is shown when a page's interaction cannot be used.
func (p *Provider) interactionGone(w http.ResponseWriter, r *http.Request, err error) {
	p.log.InfoContext(r.Context(), "interaction rejected", "reason", err.Error(), "request_id", requestID(w, r))
	if errors.Is(err, errCSRF) {
		p.Audit(r, storage.AuditCSRFFailed, "", map[string]string{"path": r.URL.Path})
	}
	p.errorPage(w, r, http.StatusBadRequest, "This sign-in link has expired or is not valid",
		"Go back to the application and start signing in again.")
}

func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	ix, err := p.loadInteraction(r)
	if err != nil {
		p.interactionGone(w, r, err)
		return
	}
	p.renderLogin(w, r, ix, http.StatusOK, ix.Form.Get("login_hint"), "")
}

func (p *Provider) renderLogin(w http.ResponseWriter, r *http.Request, ix *interaction, status int, email, problem string) {
	cl, _ := p.stores.Clients.GetClient(r.Context(), ix.Form.Get("client_id"))
	p.render(w, r, status, "login", pageData{
		Title: "Sign in", Interaction: ix.ID, CSRF: ix.CSRF, Email: email, Error: problem, Client: cl,
		Locales:   ix.Form.Get("ui_locales"),
		Providers: p.providerButtons(), Account: ix.forAccount(), Passkey: p.passkeySignIn(r, ix),
	})
}

// dummyHash is verified against when the email is unknown, so a failed
// sign-in takes as long whether or not the account exists.
var dummyHash = func() string {
	h, err := login.HashPassword("atrium-no-such-user-password")
	if err != nil {
		panic(err)
	}
	return h
}()

func (p *Provider) loginSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ix, err := p.loadInteraction(r)
	if err != nil {
		p.interactionGone(w, r, err)
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	counted, err := p.loginThrottle(r, email)
	if t, ok := throttled(err); ok {
		p.loginThrottled(w, r, ix, email, t)
		return
	} else if err != nil {
		p.serverError(w, r, err)
		return
	}
	user, err := p.checkPassword(ctx, email, password)
	if err != nil && !errors.Is(err, errBadCredentials) {
		p.serverError(w, r, err)
		return
	}
	if err != nil {
		p.log.InfoContext(ctx, "sign-in failed", "reason", err.Error(), "request_id", requestID(w, r))
		p.passwordFailed(r, ix, email, counted, err)
		p.renderLogin(w, r, ix, http.StatusUnauthorized, email, "Incorrect email or password.")
		return
	}
	p.passwordSucceeded(r, ix, email, user)
	p.firstFactor(w, r, ix, user, []string{amrPassword})
}

// signedIn starts a new SSO session for user, who has just authenticated
// with the methods amr (RFC 8176 values), and continues the interaction.
func (p *Provider) signedIn(w http.ResponseWriter, r *http.Request, ix *interaction, user *storage.User, amr []string) {
	ctx := r.Context()
	var ar fosite.AuthorizeRequester
	if !ix.forAccount() {
		var err error
		if ar, err = p.resume(ctx, ix); err != nil {
			p.writeAuthorizeError(w, r, ar, err)
			return
		}
	}
	now := p.now()
	cookie := randomToken()
	acr := acrPassword
	if slices.Contains(amr, amrMFA) {
		acr = acrMFA
	}
	sess := &storage.Session{
		ID: sessionKey(cookie), UserID: user.ID, AuthTime: now, AMR: amr, ACR: acr,
		CreatedAt: now, ExpiresAt: now.Add(p.cfg.SessionLifespan),
	}
	if err := p.stores.Sessions.PutSession(ctx, sess); err != nil {
		p.serverError(w, r, err)
		return
	}
	// A new session ID at every sign-in: no fixation.
	if old, err := r.Cookie(cookieSession); err == nil {
		_ = p.stores.Sessions.DeleteSession(ctx, sessionKey(old.Value))
	}
	p.setCookie(w, cookieSession, cookie, 0)
	if ix.forAccount() {
		p.accountSignedIn(w, r, ix)
		return
	}
	ix.UserID, ix.SessionID, ix.LoggedIn = user.ID, sess.ID, true
	ix.Upstream, ix.Link, ix.MFA = nil, nil, nil
	p.proceed(w, r, ar, ix)
}

var errBadCredentials = errors.New("bad credentials")

// checkPassword returns the user whose email and password match. Every
// failure costs one argon2id verification.
func (p *Provider) checkPassword(ctx context.Context, email, password string) (*storage.User, error) {
	user, err := p.stores.Users.GetUserByEmail(ctx, email)
	if err != nil {
		if _, verr := login.VerifyPasswordContext(ctx, dummyHash, password); verr != nil {
			return nil, verr
		}
		if errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("unknown email: %w", errBadCredentials)
		}
		return nil, err
	}
	hash := dummyHash
	cred, err := p.stores.Credentials.GetCredential(ctx, user.ID, storage.CredentialPassword)
	if err == nil {
		hash = string(cred.Secret)
	}
	ok, upgrade, verr := login.VerifyPasswordUpgrade(ctx, hash, password)
	switch {
	case verr != nil:
		return nil, verr
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("no password credential: %w", errBadCredentials)
	case !ok:
		return nil, fmt.Errorf("wrong password: %w", errBadCredentials)
	case user.Disabled:
		return nil, fmt.Errorf("account disabled: %w", errBadCredentials)
	}
	// A hash made with older parameters is replaced now that the password
	// is known; failing to is logged, and the sign-in goes on.
	if upgrade {
		if err := login.Rehash(ctx, p.stores.Credentials, cred, password, p.now()); err != nil {
			p.log.WarnContext(ctx, "password hash upgrade failed", "user_id", user.ID, "err", err)
		}
	}
	return user, nil
}

func cmpErr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}

// issue grants the request and writes the authorization response.
func (p *Provider) issue(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, ix *interaction, user *storage.User, sess *storage.Session) {
	ctx := r.Context()
	for _, s := range ar.GetRequestedScopes() {
		if !ix.Consented || slices.Contains(ix.Granted, s) {
			ar.GrantScope(s)
		}
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}
	acr := issuedACR(ix, sess)
	extra := p.userClaims(user, ar.GetGrantedScopes())
	extra["sid"] = sid(sess.ID)
	os := &openid.DefaultSession{
		Subject: user.ID,
		Claims: &jwt.IDTokenClaims{
			// As the client sees it: fosite compares an id_token_hint
			// with it (pairwise.go). The stored state keeps user.ID.
			Subject:                             p.releasedSubject(ar.GetClient(), user.ID),
			AuthTime:                            sess.AuthTime,
			RequestedAt:                         ix.RequestedAt,
			AuthenticationContextClassReference: acr,
			AuthenticationMethodsReferences:     sess.AMR,
			Extra:                               extra,
		},
		Headers: &jwt.Headers{},
	}
	if cl, ok := ar.GetClient().(*client); ok && cl.c.IDTokenSignedResponseAlg != "" {
		// The ID tokens of this grant, now and at every refresh.
		os.Headers.Extra = map[string]any{keys.AlgorithmHeader: cl.c.IDTokenSignedResponseAlg}
	}
	if err := p.joinSession(ctx, sess, ar.GetClient().GetID()); errors.Is(err, storage.ErrNotFound) {
		p.writeAuthorizeError(w, r, ar, fosite.ErrLoginRequired.WithHint("The sign-in session ended before the request completed."))
		return
	} else if err != nil {
		p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err).WithDebug(err.Error()))
		return
	}
	if ix.Device != nil {
		p.approveDevice(w, r, ar, ix, os)
		return
	}
	resp, err := p.newAuthorizeResponse(ctx, ar, os)
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	if ix.ID != "" {
		_ = p.stores.Sessions.DeleteInteraction(ctx, ix.ID)
	}
	resp.AddParameter("iss", p.cfg.Issuer)
	p.oauth.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// issuedACR is the acr of an ID token: the acr_values the request asked
// for when the session meets it (the value as the app sent it), else
// the session's when it authenticated during this request, else acrSSO.
func issuedACR(ix *interaction, sess *storage.Session) string {
	if sess.ACR == acrMFA {
		for _, v := range strings.Fields(ix.Form.Get("acr_values")) {
			if v == acrMFA || v == acrPAPEMFA {
				return v
			}
		}
	}
	if ix.LoggedIn && ix.SessionID == sess.ID && sess.AuthTime.After(ix.RequestedAt) {
		return sess.ACR
	}
	return acrSSO
}

// writeAuthorizeError answers an authorization request with an error: by
// redirect (with state and iss) when the redirect URI is known good, on an
// HTML page otherwise.
func (p *Provider) writeAuthorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	if errors.Is(err, storage.ErrUnavailable) {
		// The person can retry from this page; bouncing them back to the
		// app with temporarily_unavailable would only make them start over.
		p.serverError(w, r, err)
		return
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	p.logOAuthError(w, r, rfc)
	if ar == nil || !ar.IsRedirectURIValid() {
		p.authorizeErrorPage(w, r, rfc)
		return
	}
	values := url.Values{"error": {rfc.ErrorField}, "iss": {p.cfg.Issuer}}
	if d := errorDescription(rfc); d != "" {
		values.Set("error_description", d)
	}
	if st := ar.GetState(); st != "" {
		values.Set("state", st)
	}
	to := *ar.GetRedirectURI()
	to.Fragment = ""
	w.Header().Set("Cache-Control", "no-store")
	switch ar.GetResponseMode() {
	case fosite.ResponseModeFormPost:
		w.Header().Set("Content-Type", "text/html;charset=UTF-8")
		fosite.WriteAuthorizeFormPostResponse(to.String(), values, fosite.DefaultFormPostTemplate, w)
		return
	case fosite.ResponseModeFragment:
		w.Header().Set("Location", to.String()+"#"+values.Encode())
	default:
		q := to.Query()
		for k, v := range values {
			q[k] = v
		}
		to.RawQuery = q.Encode()
		w.Header().Set("Location", to.String())
	}
	w.WriteHeader(http.StatusSeeOther)
}
