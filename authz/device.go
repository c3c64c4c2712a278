package authz

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"

	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/storage"
)

// The device authorization grant (RFC 8628), for devices that cannot show
// a browser or take typing: a TV, a console, a command-line tool.
//
//	device ──► POST /device_authorization ──► device_code, user_code, verification_uri
//	device ──► polls POST /token (grant_type device_code) every interval:
//	    authorization_pending, slow_down (too fast), expired_token,
//	    access_denied, or the tokens, once
//	user ──► /device (types the user code, or follows verification_uri_complete)
//	    ──► the normal interaction (sign-in, MFA, consent) ──► Allow or Deny
//
// /device_authorization authenticates the client as the token endpoint
// does and checks its grant types, scopes and resources (RFC 8707). The
// state lives in the TokenStore, nothing else: the device code's request
// (storage.KindDeviceCode, keyed by an HMAC of the device code), the user
// code pointing at it (storage.KindUserCode, keyed by an HMAC of the
// normalised user code), and the user's answer (storage.KindDeviceAnswer,
// keyed like the device code). A user code is spent when the user
// answers (DeactivateToken: one answer wins), and the answer is created
// once (CreateToken). The token endpoint spends an approval before it
// issues (DeactivateToken again), so concurrent polls get the tokens once.
//
// The page asks for the code even when it comes in the link, and the
// consent screen is always shown, naming the app and the code: the user
// compares it with the device's (RFC 8628 §5.4, remote phishing). Codes
// typed are counted per client address (Config.Device.AttemptsPerIP).
//
// The interaction carries the device request in interaction.Device; resume
// builds its authorization request (no redirect URI: errors are pages),
// and issue writes the approval instead of an authorization response.

// Device configures the device authorization grant.
type Device struct {
	// Enabled serves the endpoints and accepts the grant; default false.
	Enabled bool
	// Lifespan is how long a device code and its user code can be used;
	// default 10 minutes.
	Lifespan time.Duration
	// Interval is the minimum time between two polls of one device code;
	// default 5 seconds.
	Interval time.Duration
	// AttemptsPerIP is how many user codes one client address may enter
	// per 15 minutes (needs Stores.Counters); default 20, negative for no
	// limit.
	AttemptsPerIP int
}

func (d *Device) setDefaults() {
	if d.Lifespan == 0 {
		d.Lifespan = config.DefaultDeviceLifespan
	}
	if d.Interval == 0 {
		d.Interval = config.DefaultDeviceInterval
	}
	if d.AttemptsPerIP == 0 {
		d.AttemptsPerIP = 20
	}
}

const (
	grantDeviceCode         = config.GrantDeviceCode
	pathDeviceAuthorization = "/device_authorization"
	pathDevice              = "/device"

	// userCodeAlphabet is RFC 8628 §6.1's: no vowels (no words), no
	// look-alike characters.
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLength   = 8
	// deviceGrace is how long an expired device code is kept, so a poll
	// gets expired_token rather than invalid_grant.
	deviceGrace = time.Hour
	// deviceAttemptWindow is the window of Device.AttemptsPerIP.
	deviceAttemptWindow = 15 * time.Minute
	// slowDownStep is what RFC 8628 §3.5 asks a device told slow_down to
	// add to its interval.
	slowDownStep = 5 * time.Second
)

// The RFC 8628 §3.5 errors fosite does not define.
var (
	errAuthorizationPending = &fosite.RFC6749Error{ErrorField: "authorization_pending", CodeField: http.StatusBadRequest,
		DescriptionField: "The authorization request is still pending."}
	errSlowDown = &fosite.RFC6749Error{ErrorField: "slow_down", CodeField: http.StatusBadRequest,
		DescriptionField: "The authorization request is still pending and polling should slow down."}
	errExpiredToken = &fosite.RFC6749Error{ErrorField: "expired_token", CodeField: http.StatusBadRequest,
		DescriptionField: "The device_code has expired."}
	// fosite's access_denied is 403, for the authorization endpoint; at
	// the token endpoint it is 400 (RFC 6749 §5.2).
	errDeviceDenied = &fosite.RFC6749Error{ErrorField: "access_denied", CodeField: http.StatusBadRequest,
		DescriptionField: "The user denied the request."}
)

// deviceRecord is the stored request of a device code, and of its user
// code with Device set.
type deviceRecord struct {
	Scopes   []string `json:"s,omitempty"`
	Audience []string `json:"a,omitempty"`
	Expires  int64    `json:"e"`           // µs
	Device   string   `json:"d,omitempty"` // a user code's device code signature
}

// deviceFlow is the device request an interaction is for.
type deviceFlow struct {
	RequestID string    `json:"request_id"`
	UserSig   string    `json:"user_sig"`
	DeviceSig string    `json:"device_sig"`
	UserCode  string    `json:"user_code"` // as shown: XXXX-XXXX
	Audience  []string  `json:"audience,omitempty"`
	Expires   time.Time `json:"expires"`
}

// deviceView is the device part of the device and consent pages.
type deviceView struct {
	UserCode string
}

// deviceMetadata adds the grant to the discovery document when it is on.
func (p *Provider) deviceMetadata(doc map[string]any) {
	if !p.cfg.Device.Enabled {
		return
	}
	doc["device_authorization_endpoint"] = p.url(pathDeviceAuthorization)
	if g, ok := doc["grant_types_supported"].([]string); ok {
		doc["grant_types_supported"] = append(g[:len(g):len(g)], grantDeviceCode)
	}
}

func (p *Provider) deviceRoutes(m *http.ServeMux) {
	if !p.cfg.Device.Enabled {
		return
	}
	m.HandleFunc("POST "+pathDeviceAuthorization, p.deviceAuthorization)
	m.HandleFunc("GET "+pathDevice, p.devicePage)
	m.HandleFunc("POST "+pathDevice, p.deviceSubmit)
}

// deviceSig is the storage key of a device or user code (purpose says
// which): an HMAC, so a leaked store holds no usable code.
func (p *Provider) deviceSig(purpose, code string) string {
	m := hmac.New(sha256.New, p.cfg.Secret)
	m.Write([]byte("atrium " + purpose + "\x00" + code))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func newUserCode() string {
	out := make([]byte, 0, userCodeLength)
	var b [16]byte
	for len(out) < userCodeLength {
		if _, err := rand.Read(b[:]); err != nil {
			panic("atrium: no randomness: " + err.Error())
		}
		for _, c := range b {
			// 240 is the largest multiple of 20 a byte holds: no bias.
			if c < 240 && len(out) < userCodeLength {
				out = append(out, userCodeAlphabet[c%20])
			}
		}
	}
	return string(out)
}

// formatUserCode shows a normalised user code as XXXX-XXXX.
func formatUserCode(c string) string { return c[:4] + "-" + c[4:] }

// normalUserCode returns the user code s names, upper-cased without
// dashes and spaces, and whether it can be one.
func normalUserCode(s string) (string, bool) {
	if len(s) > 4*userCodeLength {
		return "", false
	}
	c := strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			return -1
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
	if len(c) != userCodeLength || strings.IndexFunc(c, func(r rune) bool { return !strings.ContainsRune(userCodeAlphabet, r) }) >= 0 {
		return "", false
	}
	return c, true
}

// deviceAuthorization serves the device authorization endpoint (RFC 8628
// §3.1-3.2).
func (p *Provider) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	ctx := withClientMemo(r.Context())
	cl, ok := p.formClient(ctx, w, r)
	if !ok {
		return
	}
	if !cl.GetGrantTypes().Has(grantDeviceCode) {
		p.writeTokenError(w, r, fosite.ErrUnauthorizedClient.WithHint("This client may not use the device authorization grant."))
		return
	}
	scopes := fosite.RemoveEmpty(strings.Split(r.PostForm.Get("scope"), " "))
	for _, s := range scopes {
		if !fosite.ExactScopeStrategy(cl.GetScopes(), s) {
			p.writeTokenError(w, r, fosite.ErrInvalidScope.WithHintf("The client may not ask for the scope %q.", s))
			return
		}
	}
	aud, err := requestedResources(r.PostForm, cl.GetAudience())
	if err != nil {
		p.writeTokenError(w, r, err)
		return
	}
	now := p.now()
	exp := now.Add(p.cfg.Device.Lifespan)
	requestID := randomToken()
	var deviceCode, userCode string
	for range 3 {
		deviceCode, userCode = randomToken(), newUserCode()
		rec := deviceRecord{Scopes: scopes, Audience: aud, Expires: storage.UnixMicro(exp)}
		deviceData, err := json.Marshal(rec)
		if err != nil {
			p.writeTokenError(w, r, err)
			return
		}
		deviceSig := p.deviceSig("device code", deviceCode)
		rec.Device = deviceSig
		userData, err := json.Marshal(rec)
		if err != nil {
			p.writeTokenError(w, r, err)
			return
		}
		err = p.stores.Tokens.WriteTokens(ctx, []*storage.Token{
			{Kind: storage.KindUserCode, Signature: p.deviceSig("user code", userCode), RequestID: requestID,
				ClientID: cl.GetID(), Active: true, Data: userData, CreatedAt: now, ExpiresAt: exp, NoIndex: true},
			{Kind: storage.KindDeviceCode, Signature: deviceSig, RequestID: requestID,
				ClientID: cl.GetID(), Active: true, Data: deviceData, CreatedAt: now, ExpiresAt: exp.Add(deviceGrace), NoIndex: true},
		}, nil)
		if errors.Is(err, storage.ErrAlreadyExists) {
			continue // a user code in use: draw another
		}
		if err != nil {
			p.writeTokenError(w, r, err)
			return
		}
		shown := formatUserCode(userCode)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		writeJSON(w, http.StatusOK, map[string]any{
			"device_code":               deviceCode,
			"user_code":                 shown,
			"verification_uri":          p.url(pathDevice),
			"verification_uri_complete": p.url(pathDevice) + "?user_code=" + url.QueryEscape(shown),
			"expires_in":                int64(p.cfg.Device.Lifespan / time.Second),
			"interval":                  int64(p.cfg.Device.Interval / time.Second),
		})
		return
	}
	p.writeTokenError(w, r, fosite.ErrServerError.WithDebug("no free user code in three draws"))
}

// deviceCSRF is the CSRF token of the device page's form, bound to the
// browser's binding cookie.
func (p *Provider) deviceCSRF(binding string) string {
	m := hmac.New(sha256.New, p.cfg.Secret)
	m.Write([]byte("atrium device csrf\x00" + binding))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (p *Provider) renderDevice(w http.ResponseWriter, r *http.Request, status int, binding, code, problem string) {
	p.render(w, r, status, "device", pageData{
		Title: "Connect a device", CSRF: p.deviceCSRF(binding), Error: problem, Device: &deviceView{UserCode: code},
	})
}

// devicePage asks for the user code; verification_uri_complete fills it in.
func (p *Provider) devicePage(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("user_code")
	if c, ok := normalUserCode(code); ok {
		code = formatUserCode(c)
	} else {
		code = ""
	}
	p.renderDevice(w, r, http.StatusOK, p.browserBinding(w, r), code, "")
}

const msgBadUserCode = "This code is not valid or has expired. Check the code on your device and enter it again."

// deviceSubmit takes the user code and starts the interaction of its
// device request.
func (p *Provider) deviceSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_ = r.ParseForm()
	typed := r.PostFormValue("user_code")
	if len(typed) > 64 {
		typed = ""
	}
	c, err := r.Cookie(cookieBinding)
	if err != nil || len(c.Value) < 32 || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf_token")), []byte(p.deviceCSRF(c.Value))) != 1 {
		p.log.InfoContext(ctx, "device code refused", "reason", "csrf token mismatch", "request_id", requestID(w, r))
		p.Audit(r, storage.AuditCSRFFailed, "", map[string]string{"path": r.URL.Path})
		p.renderDevice(w, r, http.StatusForbidden, p.browserBinding(w, r), typed, "This form has expired. Enter the code again.")
		return
	}
	binding := c.Value
	if err := p.addrLimited(r, "device", p.cfg.Device.AttemptsPerIP, deviceAttemptWindow); err != nil {
		if _, ok := throttled(err); ok {
			p.renderDevice(w, r, http.StatusTooManyRequests, binding, typed, "Too many codes were tried from your network. Wait a few minutes and try again.")
			return
		}
		p.serverError(w, r, err)
		return
	}
	code, ok := normalUserCode(typed)
	if !ok {
		p.renderDevice(w, r, http.StatusBadRequest, binding, typed, msgBadUserCode)
		return
	}
	userSig := p.deviceSig("user code", code)
	t, err := p.stores.Tokens.GetToken(ctx, storage.KindUserCode, userSig)
	if errors.Is(err, storage.ErrNotFound) {
		p.renderDevice(w, r, http.StatusBadRequest, binding, typed, msgBadUserCode)
		return
	}
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	var rec deviceRecord
	if err := json.Unmarshal(t.Data, &rec); err != nil && t.Active {
		p.serverError(w, r, fmt.Errorf("decode user code: %w", err))
		return
	}
	switch exp := storage.FromUnixMicro(rec.Expires); {
	case !t.Active:
		p.renderDevice(w, r, http.StatusBadRequest, binding, typed, "This code has already been used. Start again on your device.")
		return
	case !p.now().Before(exp):
		p.renderDevice(w, r, http.StatusBadRequest, binding, typed, msgBadUserCode)
		return
	}
	ix := &interaction{
		Form: url.Values{"client_id": {t.ClientID}, "scope": {strings.Join(rec.Scopes, " ")}, "prompt": {"consent"}},
		// The request is the user's from now; the device's began earlier.
		RequestedAt: p.now(),
		Device: &deviceFlow{RequestID: t.RequestID, UserSig: userSig, DeviceSig: rec.Device,
			UserCode: formatUserCode(code), Audience: rec.Audience, Expires: storage.FromUnixMicro(rec.Expires)},
	}
	ar, err := p.deviceRequest(ctx, ix)
	if err != nil {
		p.writeAuthorizeError(w, r, nil, err)
		return
	}
	p.proceed(w, r, ar, ix)
}

// deviceRequest is the authorization request of a device interaction, as
// the interaction's steps see it. It has no redirect URI: its errors are
// pages.
func (p *Provider) deviceRequest(ctx context.Context, ix *interaction) (fosite.AuthorizeRequester, error) {
	fc, err := p.store.GetClient(ctx, ix.Form.Get("client_id"))
	if errors.Is(err, fosite.ErrNotFound) {
		return nil, fosite.ErrInvalidClient.WithHint("The client of this device no longer exists.")
	}
	if err != nil {
		return nil, err
	}
	if !fc.GetGrantTypes().Has(grantDeviceCode) {
		return nil, fosite.ErrUnauthorizedClient.WithHint("This client may not use the device authorization grant.")
	}
	ar := fosite.NewAuthorizeRequest()
	ar.ID, ar.Client, ar.Form, ar.RequestedAt = ix.Device.RequestID, fc, cloneForm(ix.Form), ix.RequestedAt
	ar.SetRequestedScopes(fosite.RemoveEmpty(strings.Split(ix.Form.Get("scope"), " ")))
	ar.SetRequestedAudience(ix.Device.Audience)
	return ar, nil
}

// spendUserCode marks the interaction's user code answered; of
// concurrent answers exactly one succeeds. It shows the page of a code
// that cannot be answered and reports false.
func (p *Provider) spendUserCode(w http.ResponseWriter, r *http.Request, ix *interaction) bool {
	ctx := r.Context()
	if !p.now().Before(ix.Device.Expires) {
		_ = p.stores.Sessions.DeleteInteraction(ctx, ix.ID)
		p.notice(w, r, http.StatusBadRequest, "This code has expired", "Start again on your device to get a new code.", "")
		return false
	}
	err := p.stores.Tokens.DeactivateToken(ctx, storage.KindUserCode, ix.Device.UserSig)
	switch {
	case errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound):
		_ = p.stores.Sessions.DeleteInteraction(ctx, ix.ID)
		p.notice(w, r, http.StatusConflict, "This code has already been used", "Start again on your device to get a new code.", "")
		return false
	case err != nil:
		p.serverError(w, r, err)
		return false
	}
	return true
}

// approveDevice ends a device interaction the user allowed: the grant
// (ar with its granted scopes and audience, and sess, the session of the
// tokens) is stored as the device code's answer for the token endpoint to
// issue from.
func (p *Provider) approveDevice(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, ix *interaction, sess *openid.DefaultSession) {
	ctx := r.Context()
	if !p.spendUserCode(w, r, ix) {
		return
	}
	ar.SetSession(sess)
	// Stored as a code is: with the ID token claims.
	data, err := encodeRequest(storage.KindAuthorizeCode, ar)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	sid, _ := sess.Claims.Extra["sid"].(string)
	err = p.stores.Tokens.CreateToken(ctx, &storage.Token{
		Kind: storage.KindDeviceAnswer, Signature: ix.Device.DeviceSig, RequestID: ix.Device.RequestID,
		ClientID: ar.GetClient().GetID(), Subject: sess.Subject, SessionID: sid, Active: true, Data: data,
		CreatedAt: p.now(), ExpiresAt: ix.Device.Expires.Add(deviceGrace),
	})
	if err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
		p.serverError(w, r, err)
		return
	}
	_ = p.stores.Sessions.DeleteInteraction(ctx, ix.ID)
	if err != nil {
		p.notice(w, r, http.StatusConflict, "This code has already been used", "Start again on your device to get a new code.", "")
		return
	}
	p.notice(w, r, http.StatusOK, "Your device is connected", "You can close this page and continue on your device.", "")
}

// denyDevice ends a device interaction the user denied: the device gets
// access_denied.
func (p *Provider) denyDevice(w http.ResponseWriter, r *http.Request, ix *interaction) {
	ctx := r.Context()
	if !p.spendUserCode(w, r, ix) {
		return
	}
	err := p.stores.Tokens.CreateToken(ctx, &storage.Token{
		Kind: storage.KindDeviceAnswer, Signature: ix.Device.DeviceSig, RequestID: ix.Device.RequestID,
		ClientID: ix.Form.Get("client_id"), Active: true, CreatedAt: p.now(),
		ExpiresAt: ix.Device.Expires.Add(deviceGrace), NoIndex: true,
	})
	if err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
		p.serverError(w, r, err)
		return
	}
	_ = p.stores.Sessions.DeleteInteraction(ctx, ix.ID)
	p.notice(w, r, http.StatusOK, "Access denied", "The device was not given access. You can close this page.", "")
}

// consentDevice is the device part of the consent screen of ix.
func consentDevice(ix *interaction) *deviceView {
	if ix.Device == nil {
		return nil
	}
	return &deviceView{UserCode: ix.Device.UserCode}
}

// deviceGrant is the token endpoint's handler of the device_code grant.
type deviceGrant struct {
	p       *Provider
	lifes   *fosite.Config
	tokens  oauth2.CoreStrategy
	idToken openid.OpenIDConnectTokenStrategy
	hash    openid.IDTokenHandleHelper
}

var _ fosite.TokenEndpointHandler = (*deviceGrant)(nil)

// CanSkipClientAuth lets the grant, when off, be answered
// unsupported_grant_type whoever asks.
func (h *deviceGrant) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return !h.p.cfg.Device.Enabled
}

func (h *deviceGrant) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne(grantDeviceCode)
}

// HandleTokenEndpointRequest answers a poll (RFC 8628 §3.4-3.5) and, once
// the user approved, loads the grant into r.
func (h *deviceGrant) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	p := h.p
	if !p.cfg.Device.Enabled {
		return fosite.ErrUnsupportedGrantType.WithHintf("The grant type %q is not supported.", grantDeviceCode)
	}
	cl := r.GetClient()
	if !cl.GetGrantTypes().Has(grantDeviceCode) {
		return fosite.ErrUnauthorizedClient.WithHint("This client may not use the device authorization grant.")
	}
	code := r.GetRequestForm().Get("device_code")
	if code == "" {
		return fosite.ErrInvalidRequest.WithHint("device_code is required.")
	}
	sig := p.deviceSig("device code", code)
	t, err := p.stores.Tokens.GetToken(ctx, storage.KindDeviceCode, sig)
	if errors.Is(err, storage.ErrNotFound) {
		return fosite.ErrInvalidGrant.WithHint("The device_code is unknown.")
	}
	if err != nil {
		return err
	}
	if t.ClientID != cl.GetID() {
		return fosite.ErrInvalidGrant.WithHint("The device_code was issued to another client.")
	}
	if c, ok := cl.(*client); ok && t.CreatedAt.Before(c.c.CreatedAt) {
		return fosite.ErrInvalidGrant.WithHint("The device_code is unknown.")
	}
	var rec deviceRecord
	if err := json.Unmarshal(t.Data, &rec); err != nil {
		return fmt.Errorf("decode device code: %w", err)
	}
	if !p.now().Before(storage.FromUnixMicro(rec.Expires)) {
		return errExpiredToken.WithHint("Start again to get a new code.")
	}
	if p.stores.Counters != nil {
		n, err := p.stores.Counters.Hit(ctx, "device-poll:"+sig, p.cfg.Device.Interval)
		if err != nil {
			return err
		}
		if n > 1 {
			return errSlowDown.WithHintf("Poll at most every %d seconds; add %d seconds to the interval.",
				p.cfg.Device.Interval/time.Second, slowDownStep/time.Second)
		}
	}
	a, err := p.stores.Tokens.GetToken(ctx, storage.KindDeviceAnswer, sig)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return errAuthorizationPending.WithHint("The user has not answered yet.")
	case err != nil:
		return err
	case !a.Active:
		return fosite.ErrInvalidGrant.WithHint("The device_code has already been used.")
	case a.Subject == "":
		return errDeviceDenied
	}
	req, err := decodeRequest(a, cl, r.GetSession())
	if err != nil {
		return err
	}
	r.SetID(a.RequestID)
	r.SetRequestedScopes(req.GetRequestedScopes())
	r.SetRequestedAudience(req.GetRequestedAudience())
	for _, s := range req.GetGrantedScopes() {
		r.GrantScope(s)
	}
	for _, s := range req.GetGrantedAudience() {
		r.GrantAudience(s)
	}
	now := time.Now().UTC()
	gt := fosite.GrantType(grantDeviceCode)
	r.GetSession().SetExpiresAt(fosite.AccessToken, now.Add(fosite.GetEffectiveLifespan(cl, gt, fosite.AccessToken, h.lifes.AccessTokenLifespan)).Round(time.Second))
	if rt := fosite.GetEffectiveLifespan(cl, gt, fosite.RefreshToken, h.lifes.RefreshTokenLifespan); rt > -1 {
		r.GetSession().SetExpiresAt(fosite.RefreshToken, now.Add(rt).Round(time.Second))
	}
	return nil
}

// PopulateTokenEndpointResponse spends the approval and issues the access
// token, a refresh token with offline_access and an ID token with openid.
func (h *deviceGrant) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	p := h.p
	sig := p.deviceSig("device code", r.GetRequestForm().Get("device_code"))
	err := p.stores.Tokens.DeactivateToken(ctx, storage.KindDeviceAnswer, sig)
	switch {
	case errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound):
		// A concurrent poll was first.
		return fosite.ErrInvalidGrant.WithHint("The device_code has already been used.")
	case err != nil:
		return err
	}
	access, accessSig, err := h.tokens.GenerateAccessToken(ctx, r)
	if err != nil {
		return err
	}
	var refresh, refreshSig string
	if r.GetGrantedScopes().Has("offline_access") && r.GetClient().GetGrantTypes().Has("refresh_token") {
		if refresh, refreshSig, err = h.tokens.GenerateRefreshToken(ctx, r); err != nil {
			return err
		}
	}
	if err := p.store.CreateAccessTokenSession(ctx, accessSig, r.Sanitize(nil)); err != nil {
		return err
	}
	if refreshSig != "" {
		if err := p.store.CreateRefreshTokenSession(ctx, refreshSig, accessSig, r.Sanitize(nil)); err != nil {
			return err
		}
	}
	resp.SetAccessToken(access)
	resp.SetTokenType("bearer")
	resp.SetExpiresIn(time.Until(r.GetSession().GetExpiresAt(fosite.AccessToken)))
	resp.SetScopes(r.GetGrantedScopes())
	if refresh != "" {
		resp.SetExtra("refresh_token", refresh)
	}
	if !r.GetGrantedScopes().Has("openid") {
		return nil
	}
	sess, ok := r.GetSession().(openid.Session)
	if !ok {
		return fosite.ErrServerError.WithDebug("the session of a device grant is not an OpenID session")
	}
	sess.IDTokenClaims().AccessTokenHash = h.hash.GetAccessTokenHash(ctx, r, resp)
	lifespan := fosite.GetEffectiveLifespan(r.GetClient(), fosite.GrantType(grantDeviceCode), fosite.IDToken, h.lifes.IDTokenLifespan)
	idt, err := h.idToken.GenerateIDToken(ctx, lifespan, r)
	if err != nil {
		return err
	}
	resp.SetExtra("id_token", idt)
	return nil
}
