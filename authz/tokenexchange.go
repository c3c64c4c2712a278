package authz

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/storage"
)

// OAuth 2.0 Token Exchange (RFC 8693), internal to internal: a
// confidential client trades an Atrium access token (the subject token,
// a user's) for a new access token of its own, for the same user, with
// fewer scopes and the audience (resources) it names. With an actor token
// (an access token of the party acting) the new token says who acts for
// the user: act {sub, client_id} (§4.1), the subject token's own act
// nested inside it.
//
// The new token is never trusted for more than the subject token proves:
//   - its scopes are within the subject token's and the client's (more is
//     invalid_scope); without scope, all of those but offline_access;
//   - its audience is the resources (resource, RFC 8707) and logical
//     audience names (audience: a configured resource's URI or name) the
//     client may ask for (its resources), else invalid_target; without
//     either, the subject token's resources the client may ask for;
//   - it expires no later than the subject token (and the actor token),
//     and it stops working as soon as either is revoked or replaced: it
//     keeps their signatures (formOrigin), checked whenever it is used;
//   - it carries the subject token's user and SSO session (sid), so
//     ending the session or deleting the user revokes it too;
//   - the user must still exist and not be disabled;
//   - no refresh token and no ID token are issued: the client exchanges
//     again when it needs a new token;
//   - a DPoP-bound subject or actor token is exchanged only with a DPoP
//     proof of its key, which the new token is then bound to.
//
// A client may exchange tokens issued to itself or whose audience names
// it; TokenExchange.Clients lets the operator allow it more (tokens
// issued to other clients, or addressed to a resource the client is the
// API of). Every refusal of a subject or actor token is invalid_request
// (RFC 8693 §2.2.2), and nothing is stored.

// TokenExchange configures token exchange (RFC 8693).
type TokenExchange struct {
	// Enabled serves the grant and advertises it.
	Enabled bool
	// Clients widens, by requesting client ID, whose tokens a client may
	// exchange.
	Clients map[string]TokenExchangeClient
}

// TokenExchangeClient is whose tokens one client may exchange besides
// those issued to it or addressed to it.
type TokenExchangeClient struct {
	// SubjectClients are the clients whose tokens it may exchange; "*"
	// for any.
	SubjectClients []string
	// SubjectResources are resources (URIs): it may exchange tokens
	// issued for one of them, as the API receiving them.
	SubjectResources []string
}

// Token type identifiers (RFC 8693 §3).
const (
	tokenTypeAccessToken  = "urn:ietf:params:oauth:token-type:access_token"
	tokenTypeRefreshToken = "urn:ietf:params:oauth:token-type:refresh_token"
	tokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
	tokenTypeJWT          = "urn:ietf:params:oauth:token-type:jwt"
)

const grantTokenExchange = config.GrantTokenExchange

// maxExchangeDepth bounds how many exchanges a token may descend from:
// each is checked whenever the token is used.
const maxExchangeDepth = 4

// Keys of an exchange request's form that a client cannot send (the
// handler drops them first): formAct and formOrigin are stored with the
// token (storedRequest.Act, Origin), the others carry what the request's
// validation found on to the response.
const (
	formAct        = "\x00act"
	formOrigin     = "\x00origin"
	formSubjectJKT = "\x00subject.jkt"
	formActorJKT   = "\x00actor.jkt"
	formIssuedType = "\x00issued_token_type"
)

var exchangeFormKeys = []string{formAct, formOrigin, formSubjectJKT, formActorJKT, formIssuedType, formJKT, formRefreshJKT}

// tokenExchangeHandler is the token endpoint handler of the grant.
type tokenExchangeHandler struct {
	p        *Provider
	strategy oauth2.CoreStrategy
}

var _ fosite.TokenEndpointHandler = (*tokenExchangeHandler)(nil)

func (h *tokenExchangeHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

func (h *tokenExchangeHandler) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(grantTokenExchange)
}

// exchangeError is RFC 8693's answer to a bad subject or actor token.
func exchangeError(format string, args ...any) *fosite.RFC6749Error {
	return fosite.ErrInvalidRequest.WithHintf(format, args...)
}

// presented is a subject or actor token, read and checked.
type presented struct {
	req *fosite.Request
	t   *storage.Token
	exp time.Time
}

func (x *presented) subject() string {
	if x.t.Subject != "" {
		return x.t.Subject
	}
	return x.t.ClientID // a client_credentials token: the client's own
}

func (x *presented) origin() []string {
	return strings.Fields(x.req.Form.Get(formOrigin))
}

// readToken reads and validates an access token presented as param.
// Only access tokens are looked up: a refresh token or a code is unknown
// as one, and spending nothing, reading one reports no reuse.
func (h *tokenExchangeHandler) readToken(ctx context.Context, param, token, typ string) (*presented, error) {
	switch typ {
	case "":
		return nil, exchangeError("%s_type is required.", param)
	case tokenTypeAccessToken:
	case tokenTypeJWT:
		if !isJWT(token) {
			return nil, exchangeError("The %s is not a JWT.", param)
		}
	case tokenTypeRefreshToken, tokenTypeIDToken:
		return nil, exchangeError("The %s_type %q is not supported: only access tokens (%s) are exchanged.", param, typ, tokenTypeAccessToken)
	default:
		return nil, exchangeError("The %s_type %q is not supported (supported: %s, %s).", param, typ, tokenTypeAccessToken, tokenTypeJWT)
	}
	sig := h.strategy.AccessTokenSignature(ctx, token)
	if sig == "" {
		return nil, exchangeError("The %s is not an active access token of this server.", param)
	}
	req, t, err := h.p.store.get(ctx, storage.KindAccessToken, sig, newSession())
	if errors.Is(err, fosite.ErrNotFound) {
		return nil, exchangeError("The %s is not an active access token of this server.", param)
	}
	if err != nil {
		return nil, err
	}
	if err := h.strategy.ValidateAccessToken(ctx, req, token); err != nil {
		if errors.Is(err, storage.ErrUnavailable) {
			return nil, err
		}
		return nil, exchangeError("The %s is not an active access token of this server.", param).WithWrap(err).WithDebug(err.Error())
	}
	exp := req.GetSession().GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		exp = t.ExpiresAt
	}
	if !t.Active || !h.p.now().Before(exp) {
		return nil, exchangeError("The %s has expired.", param)
	}
	return &presented{req: req, t: t, exp: exp}, nil
}

// mayPresent reports whether client may exchange x: issued to it, addressed
// to it, or allowed by the operator.
func (h *tokenExchangeHandler) mayPresent(clientID string, x *presented) bool {
	aud := x.req.GetGrantedAudience()
	if x.t.ClientID == clientID || slices.Contains(aud, clientID) {
		return true
	}
	allow, ok := h.p.cfg.TokenExchange.Clients[clientID]
	if !ok {
		return false
	}
	if slices.Contains(allow.SubjectClients, "*") || slices.Contains(allow.SubjectClients, x.t.ClientID) {
		return true
	}
	return slices.ContainsFunc(allow.SubjectResources, func(a string) bool { return slices.Contains(aud, a) })
}

func (h *tokenExchangeHandler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	p := h.p
	form := ar.GetRequestForm()
	for _, k := range exchangeFormKeys {
		form.Del(k)
	}
	cl := ar.GetClient()
	if cl.IsPublic() {
		return fosite.ErrUnauthorizedClient.WithHint("A public client cannot exchange tokens.")
	}
	if !cl.GetGrantTypes().Has(grantTokenExchange) {
		return fosite.ErrUnauthorizedClient.WithHintf("The client is not allowed to use the grant type %q.", grantTokenExchange)
	}

	// Parameters first: a malformed request is refused before any token
	// is read.
	subjectToken, actorToken := form.Get("subject_token"), form.Get("actor_token")
	switch {
	case subjectToken == "":
		return exchangeError("subject_token is required.")
	case form.Get("subject_token_type") == "":
		return exchangeError("subject_token_type is required.")
	case actorToken != "" && form.Get("actor_token_type") == "":
		return exchangeError("actor_token_type is required with actor_token.")
	case actorToken == "" && form.Get("actor_token_type") != "":
		return exchangeError("actor_token_type is only sent with actor_token.")
	}
	issuedType := tokenTypeAccessToken
	switch rt := form.Get("requested_token_type"); rt {
	case "", tokenTypeAccessToken:
	case tokenTypeJWT:
		if !isJWTClient(cl) {
			return exchangeError("The requested_token_type %q is issued only to clients with JWT access tokens.", rt)
		}
		issuedType = tokenTypeJWT
	default:
		return exchangeError("The requested_token_type %q is not supported (supported: %s, and %s for clients with JWT access tokens).", rt, tokenTypeAccessToken, tokenTypeJWT)
	}

	subj, err := h.readToken(ctx, "subject_token", subjectToken, form.Get("subject_token_type"))
	if err != nil {
		return err
	}
	if subj.t.Subject == "" {
		return exchangeError("The subject_token was issued to a client for itself (client_credentials), not for a user.")
	}
	if !h.mayPresent(cl.GetID(), subj) {
		return exchangeError("This client may not exchange tokens issued to the client %q.", subj.t.ClientID)
	}
	origin := append(subj.origin(), subj.t.Signature)
	exp := subj.exp
	act := map[string]any{}
	if a := subj.req.Form.Get(formAct); a != "" {
		if err := json.Unmarshal([]byte(a), &act); err != nil {
			return err
		}
	}
	if actorToken != "" {
		actor, err := h.readToken(ctx, "actor_token", actorToken, form.Get("actor_token_type"))
		if err != nil {
			return err
		}
		if !h.mayPresent(cl.GetID(), actor) {
			return exchangeError("This client may not present tokens issued to the client %q as actor_token.", actor.t.ClientID)
		}
		next := map[string]any{"sub": actor.subject()}
		if actor.t.Subject != "" {
			// A user acting: named as this client sees users, like the
			// token's own sub (pairwise.go).
			next["sub"] = p.releasedSubject(cl, actor.t.Subject)
			next["client_id"] = actor.t.ClientID
		}
		if len(act) > 0 {
			next["act"] = act // the prior actors (RFC 8693 §4.1)
		}
		act = next
		for _, o := range append(actor.origin(), actor.t.Signature) {
			if !slices.Contains(origin, o) {
				origin = append(origin, o)
			}
		}
		if actor.exp.Before(exp) {
			exp = actor.exp
		}
		form.Set(formActorJKT, actor.req.Form.Get(formJKT))
	}
	if len(origin) > maxExchangeDepth {
		return exchangeError("The subject_token descends from too many exchanges (at most %d).", maxExchangeDepth)
	}

	// Scopes: within the subject token's and the client's.
	allowed := slices.DeleteFunc(slices.Clone(subj.req.GetGrantedScopes()), func(s string) bool { return !cl.GetScopes().Has(s) })
	requested := ar.GetRequestedScopes()
	for _, s := range requested {
		if !slices.Contains(allowed, s) {
			return fosite.ErrInvalidScope.WithHintf("The scope %q is beyond the subject_token's scopes or this client's.", s)
		}
	}
	if len(requested) == 0 {
		requested = allowed
	}
	granted := slices.DeleteFunc(slices.Clone(requested), func(s string) bool { return s == "offline_access" })

	// Audience: resources and audience names the client may ask for.
	aud, err := p.exchangeAudience(ar, subj)
	if err != nil {
		return err
	}

	user, err := p.stores.Users.GetUser(ctx, subj.t.Subject)
	switch {
	case errors.Is(err, storage.ErrNotFound) || (err == nil && user.Disabled):
		return exchangeError("The user of the subject_token no longer exists or is disabled.")
	case err != nil:
		return err
	}

	lifespan := fosite.GetEffectiveLifespan(cl, fosite.GrantType(grantTokenExchange), fosite.AccessToken, p.cfg.AccessTokenLifespan)
	if limit := p.now().UTC().Add(lifespan); limit.Before(exp) {
		exp = limit
	}

	ar.SetRequestedScopes(granted)
	for _, s := range granted {
		ar.GrantScope(s)
	}
	ar.SetRequestedAudience(aud)
	for _, a := range aud {
		ar.GrantAudience(a)
	}
	ds, ok := ar.GetSession().(*openid.DefaultSession)
	if !ok {
		return fmt.Errorf("authz: token exchange needs an OpenID session, not %T", ar.GetSession())
	}
	ds.Subject, ds.Username = subj.t.Subject, subj.req.GetSession().GetUsername()
	if ds.Claims == nil {
		ds.Claims = &jwt.IDTokenClaims{}
	}
	ds.Claims.Subject = subj.t.Subject
	if subj.t.SessionID != "" {
		// Listed under the SSO session: ending it revokes this token.
		ds.Claims.Extra = map[string]any{"sid": subj.t.SessionID}
	}
	ds.SetExpiresAt(fosite.AccessToken, exp)

	if len(act) > 0 {
		b, err := json.Marshal(act)
		if err != nil {
			return err
		}
		form.Set(formAct, string(b))
	}
	form.Set(formOrigin, strings.Join(origin, " "))
	form.Set(formSubjectJKT, subj.req.Form.Get(formJKT))
	form.Set(formIssuedType, issuedType)
	return nil
}

// exchangeAudience is the audience of the token an exchange issues: the
// resources and audience names asked for, each one the client may ask
// for; without any, the subject token's that the client may ask for.
func (p *Provider) exchangeAudience(ar fosite.AccessRequester, subj *presented) ([]string, error) {
	form := ar.GetRequestForm()
	mine := ar.GetClient().GetAudience()
	aud, err := requestedResources(form, mine)
	if err != nil {
		return nil, err
	}
	for _, name := range form["audience"] {
		uri := ""
		for _, r := range p.cfg.Resources {
			if name != "" && (r.URI == name || r.Name == name) {
				uri = r.URI
				break
			}
		}
		switch {
		case uri == "":
			return nil, errInvalidTarget.WithHintf("The audience %q is not a resource of this server.", name)
		case !slices.Contains(mine, uri):
			return nil, errInvalidTarget.WithHintf("The audience %q is not one this client may ask for.", name)
		}
		aud = union(aud, []string{uri})
	}
	if len(form["resource"])+len(form["audience"]) == 0 {
		for _, a := range subj.req.GetGrantedAudience() {
			if slices.Contains(mine, a) {
				aud = append(aud, a)
			}
		}
	}
	return aud, nil
}

// exchangeActKey carries an exchanged token's act claim to the JWT
// access token strategy (jwtaccess.go).
type exchangeActKey struct{}

func (h *tokenExchangeHandler) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	form := ar.GetRequestForm()
	var bound string // the key the new token is bound to (dpop.go)
	if m := memoOf(ctx); m != nil {
		bound = m.bindAccess
	}
	for param, k := range map[string]string{"subject_token": formSubjectJKT, "actor_token": formActorJKT} {
		if jkt := form.Get(k); jkt != "" && subtle.ConstantTimeCompare([]byte(jkt), []byte(bound)) != 1 {
			return exchangeError("The %s is bound to a DPoP key: send a DPoP proof made with it.", param)
		}
	}
	// Stored with only what is the server's: the act claim and the tokens
	// it descends from.
	stored := ar.Sanitize(nil)
	sf := stored.GetRequestForm()
	for _, k := range []string{formAct, formOrigin} {
		if v := form.Get(k); v != "" {
			sf.Set(k, v)
		}
	}
	gctx := ctx
	if a := form.Get(formAct); a != "" {
		var act map[string]any
		if err := json.Unmarshal([]byte(a), &act); err != nil {
			return err
		}
		gctx = context.WithValue(ctx, exchangeActKey{}, act)
	}
	token, sig, err := h.strategy.GenerateAccessToken(gctx, ar)
	if err != nil {
		return err
	}
	if err := h.p.store.CreateAccessTokenSession(ctx, sig, stored); err != nil {
		return err
	}
	resp.SetAccessToken(token)
	resp.SetTokenType("bearer")
	resp.SetExpiresIn(ar.GetSession().GetExpiresAt(fosite.AccessToken).Sub(h.p.now()).Round(time.Second))
	resp.SetScopes(ar.GetGrantedScopes())
	resp.SetExtra("issued_token_type", form.Get(formIssuedType))
	return nil
}

// checkOrigin refuses an exchanged access token once a token it was
// exchanged from is gone: expired, revoked, or replaced by a refresh.
// Other tokens have no origin and cost nothing.
func (p *Provider) checkOrigin(ctx context.Context, r fosite.Requester) error {
	origin := r.GetRequestForm().Get(formOrigin)
	if origin == "" {
		return nil
	}
	for _, sig := range strings.Fields(origin) {
		t, err := p.stores.Tokens.GetToken(ctx, storage.KindAccessToken, sig)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && (!t.Active || !p.now().Before(t.ExpiresAt))) {
			return fosite.ErrInactiveToken.WithHint("The token this one was exchanged for is no longer active.")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// introspectionAct adds an exchanged token's act claim to its
// introspection answer (RFC 8693 §4.1).
func introspectionAct(ir fosite.IntrospectionResponder) {
	resp, ok := ir.(*fosite.IntrospectionResponse)
	if !ok || !resp.Active || resp.AccessRequester == nil {
		return
	}
	a := resp.AccessRequester.GetRequestForm().Get(formAct)
	if a == "" {
		return
	}
	var act map[string]any
	if json.Unmarshal([]byte(a), &act) != nil {
		return
	}
	if s, ok := resp.AccessRequester.GetSession().(extraClaimsSession); ok {
		s.extra["act"] = act
		return
	}
	resp.AccessRequester.SetSession(extraClaimsSession{Session: resp.AccessRequester.GetSession(), extra: map[string]any{"act": act}})
}
