package authz

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// Logout (OpenID Connect RP-Initiated Logout 1.0, with the front- and
// back-channel notifications of backchannel.go and frontchannelFrames).
//
//	GET or POST /logout ──► parameters checked ──► refused: error page, nothing ends
//	    no session in this browser ──► signed out already
//	    id_token_hint of this session's user (and sid) ──► end the session
//	    otherwise ──► "Sign out of <app>?" ──► POST /logout/confirm ──► end the session
//	end the session ──► session deleted, its tokens revoked (EndSession),
//	    cookie cleared, logout tokens sent ──► front-channel iframes, then
//	    post_logout_redirect_uri with state, or the "signed out" page
//
// A bare GET never signs out without a confirmation: only an ID token of
// the session proves the request comes from an app of that session. An
// id_token_hint of another user, or of another session of this user,
// asks the person too and ends only this browser's session, never the
// one the hint names. post_logout_redirect_uri must be one of the
// client's registered ones, character for character; the client is the
// hint's (azp, else its one aud) or client_id, which must agree.
// Ending the session revokes every token issued under it, offline
// refresh tokens included, as ending a session in the account area does.
const (
	pathLogout        = "/logout"
	pathLogoutConfirm = "/logout/confirm"
)

func (p *Provider) logoutRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+pathLogout, p.logout)
	m.HandleFunc("POST "+pathLogout, p.logout)
	m.HandleFunc("POST "+pathLogoutConfirm, p.logoutConfirm)
}

// logoutMetadata are the discovery entries of logout.
func (p *Provider) logoutMetadata() map[string]any {
	return map[string]any{
		"end_session_endpoint":                  p.url(pathLogout),
		"frontchannel_logout_supported":         true,
		"frontchannel_logout_session_supported": true,
		"backchannel_logout_supported":          true,
		"backchannel_logout_session_supported":  true,
	}
}

// logoutRequest is a checked logout request.
type logoutRequest struct {
	form url.Values // the parameters as sent, for the confirmation form
	// client is the app asking, nil when not known.
	client *storage.Client
	// redirect is the checked post_logout_redirect_uri, "" for none.
	redirect string
	// sub and sid are the verified id_token_hint's, "" without one.
	sub, sid string
}

// logoutParams are the parameters a logout request may carry.
var logoutParams = []string{"id_token_hint", "logout_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales"}

// logoutProblem is why a logout request is refused: a sentence for the
// person and the detail for the app's developer.
type logoutProblem struct {
	Message string
	Detail  string
}

var (
	badHint = &logoutProblem{Message: "The application's sign-out request is not valid.",
		Detail: "invalid_request: id_token_hint is not an ID token issued by this provider."}
	hintClientMismatch = &logoutProblem{Message: "The application's sign-out request is not valid.",
		Detail: "invalid_request: client_id is not the client of id_token_hint."}
	unknownLogoutClient = &logoutProblem{Message: "The application is not known here.",
		Detail: "invalid_client: the client of this sign-out request is not registered."}
	redirectWithoutClient = &logoutProblem{Message: "The application's sign-out request does not say which application it is from, so it cannot send you back.",
		Detail: "invalid_request: post_logout_redirect_uri needs id_token_hint or client_id."}
	unregisteredRedirect = &logoutProblem{Message: "The application asked to send you to an address it has not registered here, so you were not signed out.",
		Detail: "invalid_request: post_logout_redirect_uri is not one of the client's registered post_logout_redirect_uris."}
)

// parseLogout checks the logout parameters in form. A refused request
// gets a logoutProblem; err is a store's failure.
func (p *Provider) parseLogout(ctx context.Context, form url.Values) (_ *logoutRequest, _ *logoutProblem, err error) {
	lr := &logoutRequest{form: url.Values{}}
	for _, k := range logoutParams {
		if v := form.Get(k); v != "" {
			lr.form.Set(k, v)
		}
	}
	clientID := form.Get("client_id")
	if hint := form.Get("id_token_hint"); hint != "" {
		claims, err := p.verifyHint(ctx, hint)
		if err != nil {
			p.log.InfoContext(ctx, "logout refused", "reason", "id_token_hint", "err", err)
			return nil, badHint, nil
		}
		lr.sub, _ = claims["sub"].(string)
		lr.sid, _ = claims["sid"].(string)
		aud := audience(claims["aud"])
		azp, _ := claims["azp"].(string)
		switch {
		case clientID != "" && (azp != "" && clientID != azp || !slices.Contains(aud, clientID)):
			return nil, hintClientMismatch, nil
		case clientID != "":
		case azp != "":
			clientID = azp
		case len(aud) == 1:
			clientID = aud[0]
		}
	}
	if clientID != "" {
		c, err := p.stores.Clients.GetClient(ctx, clientID)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			if form.Get("client_id") != "" || form.Get("post_logout_redirect_uri") != "" {
				return nil, unknownLogoutClient, nil
			}
		case err != nil:
			return nil, nil, err
		default:
			lr.client = c
		}
	}
	if to := form.Get("post_logout_redirect_uri"); to != "" {
		switch {
		case lr.client == nil:
			return nil, redirectWithoutClient, nil
		case !slices.Contains(lr.client.PostLogoutRedirectURIs, to):
			return nil, unregisteredRedirect, nil
		}
		lr.redirect = to
	}
	return lr, nil, nil
}

// audience is the aud claim v as a list.
func audience(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, a := range v {
			if s, ok := a.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// verifyHint returns the claims of an ID token this provider signed;
// one expired is accepted (RP-Initiated Logout §2).
func (p *Provider) verifyHint(ctx context.Context, hint string) (jwt.MapClaims, error) {
	tok, err := p.keys.Signer().Decode(ctx, hint)
	var ve *jwt.ValidationError
	if err != nil && !(errors.As(err, &ve) && ve.Errors == jwt.ValidationErrorExpired) {
		return nil, err
	}
	if tok == nil {
		return nil, errors.New("no token")
	}
	if typ, _ := tok.Header["typ"].(string); typ != "" && !strings.EqualFold(typ, "JWT") {
		return nil, errors.New("not an ID token: typ " + typ)
	}
	if iss, _ := tok.Claims["iss"].(string); iss != p.cfg.Issuer {
		return nil, errors.New("another issuer")
	}
	if sub, _ := tok.Claims["sub"].(string); sub == "" {
		return nil, errors.New("no sub")
	}
	return tok.Claims, nil
}

// silent reports whether the request may end sess without asking: its
// hint is an ID token of sess (same user, and same session when the hint
// names one), and logout_hint, if any, names that user. sub is the user's
// sub as the request's client sees it (pairwise.go).
func (lr *logoutRequest) silent(sess *storage.Session, user *storage.User, sub string) bool {
	if lr.sub == "" || lr.sub != sub || lr.sid != "" && lr.sid != sid(sess.ID) {
		return false
	}
	h := lr.form.Get("logout_hint")
	return h == "" || h == sub || h == user.ID || strings.EqualFold(h, user.Email)
}

// logoutRefused shows why a logout request is refused; nothing ends.
func (p *Provider) logoutRefused(w http.ResponseWriter, r *http.Request, form url.Values, lp *logoutProblem) {
	p.render(w, r, http.StatusBadRequest, "error", pageData{Title: "The application sent an invalid sign-out request",
		Message: lp.Message, Detail: lp.Detail, Locales: form.Get("ui_locales"), RequestID: requestID(w, r)})
}

// readLogout returns the checked logout request of r, from its query
// and body or (posted) from its body only; nil when it has answered r.
func (p *Provider) readLogout(w http.ResponseWriter, r *http.Request, posted bool) *logoutRequest {
	if err := r.ParseForm(); err != nil {
		p.logoutRefused(w, r, nil, &logoutProblem{Message: "The application's sign-out request is not valid.", Detail: "invalid_request"})
		return nil
	}
	form := r.Form
	if posted {
		form = r.PostForm
	}
	lr, lp, err := p.parseLogout(r.Context(), form)
	switch {
	case err != nil:
		p.serverError(w, r, err)
		return nil
	case lp != nil:
		p.logoutRefused(w, r, form, lp)
		return nil
	}
	return lr
}

// logout serves the end_session_endpoint.
func (p *Provider) logout(w http.ResponseWriter, r *http.Request) {
	lr := p.readLogout(w, r, false)
	if lr == nil {
		return
	}
	sess, user := p.currentSession(r)
	switch {
	case sess == nil:
		p.clearSessionCookie(w)
		p.signedOut(w, r, lr, nil)
	case lr.silent(sess, user, p.subjectFor(lr.client, sess.UserID)):
		p.endBrowserSession(w, r, lr, sess)
	default:
		p.render(w, r, http.StatusOK, "logout", pageData{Title: "Sign out?", Client: lr.client,
			CSRF: p.logoutCSRF(sess), Params: formParams(lr.form), Action: strings.TrimPrefix(pathLogoutConfirm, "/"),
			Locales: lr.form.Get("ui_locales"), UserID: sess.UserID})
	}
}

// logoutConfirm ends the session the person confirmed signing out of.
func (p *Provider) logoutConfirm(w http.ResponseWriter, r *http.Request) {
	lr := p.readLogout(w, r, true)
	if lr == nil {
		return
	}
	sess, _ := p.currentSession(r)
	if sess == nil {
		p.clearSessionCookie(w)
		p.signedOut(w, r, lr, nil)
		return
	}
	if !hmac.Equal([]byte(r.PostForm.Get("csrf_token")), []byte(p.logoutCSRF(sess))) {
		p.log.InfoContext(r.Context(), "logout refused", "reason", "CSRF token", "request_id", requestID(w, r))
		p.Audit(r, storage.AuditCSRFFailed, "", map[string]string{"path": r.URL.Path})
		p.render(w, r, http.StatusForbidden, "error", pageData{Title: "This sign-out link has expired or is not valid",
			Message: "You are still signed in. Go back to the application and sign out again.",
			Locales: lr.form.Get("ui_locales"), RequestID: requestID(w, r)})
		return
	}
	p.endBrowserSession(w, r, lr, sess)
}

// logoutCSRF is the CSRF token of the confirmation form of sess.
func (p *Provider) logoutCSRF(sess *storage.Session) string {
	mac := hmac.New(sha256.New, p.cfg.Secret)
	mac.Write([]byte("atrium logout\x00" + sess.ID))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func formParams(form url.Values) []param {
	var out []param
	for _, k := range logoutParams {
		if v := form.Get(k); v != "" {
			out = append(out, param{Name: k, Value: v})
		}
	}
	return out
}

// endBrowserSession ends the browser's session sess: deleted, its tokens
// revoked, its cookie cleared, its apps told.
func (p *Provider) endBrowserSession(w http.ResponseWriter, r *http.Request, lr *logoutRequest, sess *storage.Session) {
	ctx := r.Context()
	delivered, err := p.endSession(ctx, sess)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	p.clearSessionCookie(w)
	clientID := ""
	if lr.client != nil {
		clientID = lr.client.ID
	}
	p.audit(r, storage.AuditSignedOut, sess.UserID, clientID, map[string]string{"via": "end_session_endpoint"})
	frames := p.frontchannelFrames(ctx, sess)
	// The app the browser returns to should find its session ended.
	t := time.NewTimer(logoutWait)
	select {
	case <-delivered:
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	p.signedOut(w, r, lr, frames)
}

// signedOut answers a logout once the session is ended (or there was
// none): to post_logout_redirect_uri with state, or the "signed out"
// page. With front-channel frames the page loads them first, and then
// leads on to post_logout_redirect_uri.
func (p *Provider) signedOut(w http.ResponseWriter, r *http.Request, lr *logoutRequest, frames []param) {
	to := ""
	if lr.redirect != "" {
		u, err := url.Parse(lr.redirect)
		if err != nil { // registered, so parsed before; checked again
			p.serverError(w, r, err)
			return
		}
		if st := lr.form.Get("state"); st != "" {
			q := u.Query()
			q.Set("state", st)
			u.RawQuery = q.Encode()
		}
		to = u.String()
	}
	if to != "" && len(frames) == 0 {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	if len(frames) > 0 {
		w = frameWriter{ResponseWriter: w, csp: page.CSP + "; frame-src " + strings.Join(frameOrigins(frames), " ")}
	}
	p.render(w, r, http.StatusOK, "logout_done", pageData{Title: "You are signed out", Client: lr.client,
		Params: frames, Action: to, Locales: lr.form.Get("ui_locales")})
}

// clearSessionCookie removes the SSO session cookie from the browser.
func (p *Provider) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieSession, Value: "", Path: "/", HttpOnly: true,
		Secure: p.cfg.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: -1,
	})
}

// frontchannelFrames are the front-channel logout URIs of the clients of
// the ended session s, with iss and sid for those that ask for them: the
// "signed out" page loads each in an iframe (Front-Channel Logout 1.0).
// Name is the app's name.
func (p *Provider) frontchannelFrames(ctx context.Context, s *storage.Session) []param {
	var out []param
	for _, c := range p.sessionClients(ctx, s) {
		u, err := url.Parse(c.FrontchannelLogoutURI)
		if c.FrontchannelLogoutURI == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		if c.FrontchannelLogoutSessionRequired {
			q := u.Query()
			q.Set("iss", p.cfg.Issuer)
			q.Set("sid", sid(s.ID))
			u.RawQuery = q.Encode()
		}
		name := c.Name
		if name == "" {
			name = c.ID
		}
		out = append(out, param{Name: name, Value: u.String()})
	}
	return out
}

// frameOrigins are the origins the frames load from, for the page's
// frame-src.
func frameOrigins(frames []param) []string {
	var out []string
	for _, f := range frames {
		u, err := url.Parse(f.Value)
		if err != nil {
			continue
		}
		// The origin goes into a header: a host with anything but the
		// characters of names, addresses and ports (url.Parse lets ';'
		// through) could add a directive.
		if !(u.Scheme == "https" || u.Scheme == "http") || u.Host == "" || strings.ContainsFunc(u.Host, notOriginChar) {
			continue
		}
		if o := u.Scheme + "://" + u.Host; !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// notOriginChar reports whether c cannot be part of a host and port.
func notOriginChar(c rune) bool {
	return !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune(".-:[]", c))
}

// frameWriter replaces the Content-Security-Policy of the page it writes:
// the "signed out" page may frame the apps' front-channel logout URIs,
// no other page anything.
type frameWriter struct {
	http.ResponseWriter
	csp string
}

func (w frameWriter) WriteHeader(status int) {
	w.Header().Set("Content-Security-Policy", w.csp)
	w.ResponseWriter.WriteHeader(status)
}

// joinSession records that clientID takes part in sess, so it hears when
// sess ends: one write the first time per client and session, none after,
// never bringing back a session ended meanwhile.
func (p *Provider) joinSession(ctx context.Context, sess *storage.Session, clientID string) error {
	if slices.Contains(sess.Clients, clientID) {
		return nil
	}
	return p.stores.Sessions.AddSessionClient(ctx, sess.ID, clientID)
}
