package authz

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// Provider is the OpenID Provider. It is an http.Handler serving every
// endpoint at the root of the issuer's path.
type Provider struct {
	cfg       Config
	stores    Stores
	keys      KeySet
	log       *slog.Logger
	oauth     fosite.OAuth2Provider
	fosite    *fosite.Fosite // oauth, for client authentication at /par and client key sets
	store     *fositeStore
	discovery []byte
	mux       *http.ServeMux
	// deviceKey keys the remembered-device cookies (mfa.go).
	deviceKey []byte
	// claims are the scopes and the claims each releases (claims.go).
	claims *claimSet
	// logouts sends back-channel logout tokens (backchannel.go).
	logouts *backchannel
	// pairwise keys pairwise subs and fetches sector documents (pairwise.go).
	pairwise *pairwise
	// jwks fetches clients' key sets (jwksfetch.go).
	jwks *jwksFetcher
	// requestURIs fetches request objects by reference (requesturi.go).
	requestURIs *requestURIFetcher
}

// fositeConfig adds what fosite's Config cannot express: client assertions
// may name the token endpoint, the issuer or (RFC 9126 §2) the PAR endpoint
// as their audience.
type fositeConfig struct {
	*fosite.Config
	issuer string
}

func (c *fositeConfig) GetTokenURLs(context.Context) []string {
	return []string{c.TokenURL, c.issuer, c.issuer + pathPAR, c.issuer + pathDeviceAuthorization}
}

// New builds a provider. It validates cfg and returns every problem at once.
func New(cfg Config, st Stores, keys KeySet, log *slog.Logger) (*Provider, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Provider{cfg: cfg, stores: st, keys: keys, log: log, mux: http.NewServeMux()}
	var err error
	if p.claims, err = newClaimSet(cfg.Scopes, cfg.Attributes); err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, cfg.Secret)
	mac.Write([]byte("atrium remembered device"))
	p.deviceKey = mac.Sum(nil)
	p.logouts = newBackchannel()
	p.pairwise = newPairwise(cfg.Secret)
	p.jwks = newJWKSFetcher(!cfg.Registration.AllowPrivateNetwork, cfg.Now)
	p.requestURIs = newRequestURIFetcher()

	fc := &fositeConfig{issuer: cfg.Issuer, Config: &fosite.Config{
		AccessTokenLifespan:            cfg.AccessTokenLifespan,
		RefreshTokenLifespan:           cfg.RefreshTokenLifespan,
		AuthorizeCodeLifespan:          cfg.AuthorizeCodeLifespan,
		IDTokenLifespan:                cfg.IDTokenLifespan,
		IDTokenIssuer:                  cfg.Issuer,
		AccessTokenIssuer:              cfg.Issuer,
		TokenURL:                       p.url(pathToken),
		GlobalSecret:                   cfg.Secret,
		ClientSecretsHasher:            secretHasher{},
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		AllowedPromptValues:            []string{"none", "login", "consent"},
		// state and nonce belong to the client; any non-empty value is accepted.
		MinParameterEntropy: 1,
		RefreshTokenScopes:  []string{"offline_access"},
		ScopeStrategy:       fosite.ExactScopeStrategy,
		// par.go; requiring PAR is checked there, not by fosite.
		PushedAuthorizeRequestURIPrefix: parURIPrefix,
		PushedAuthorizeContextLifespan:  cfg.PAR.Lifespan,
		// Kept with the code: dpop.go checks the exchange's key against it.
		SanitationWhiteList: []string{"dpop_jkt"},
		JWKSFetcherStrategy: p.jwks,
	}}
	store := &fositeStore{clients: st.Clients, tokens: st.Tokens, now: cfg.Now, cache: newClientCache(cfg.ClientCacheTTL, cfg.Now)}
	store.reused = p.revokeReused
	store.parLifespan = cfg.PAR.Lifespan
	store.accessRequest = p.accessTokenRequest
	store.openAudience = selfRegisteredAudience(cfg.Resources)
	if cfg.Registration.Mode == RegistrationOpen {
		store.anonRefresh = cfg.Registration.AnonymousRefreshTokenLifespan
	}
	p.store = store
	p.enableDocumentClients(store)
	strategy := &compose.CommonStrategy{
		CoreStrategy:               p.accessTokenStrategy(compose.NewOAuth2HMACStrategy(fc)),
		OpenIDConnectTokenStrategy: p.idTokenStrategy(&openid.DefaultStrategy{Signer: keys.Signer(), Config: fc}),
		Signer:                     keys.Signer(),
	}
	store.codeSignature = strategy.CoreStrategy.AuthorizeCodeSignature
	p.fosite = fosite.NewOAuth2Provider(store, fc)
	fc.ClientAuthenticationStrategy = assertionErrors(p.fosite.DefaultClientAuthenticationStrategy)
	p.oauth = p.fosite
	for _, factory := range []compose.Factory{
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.PushedAuthorizeHandlerFactory,
	} {
		h := factory(fc, store, strategy)
		if ah, ok := h.(fosite.AuthorizeEndpointHandler); ok {
			fc.AuthorizeEndpointHandlers.Append(ah)
		}
		if th, ok := h.(fosite.TokenEndpointHandler); ok {
			// Not Append: it drops a handler whose type is already listed.
			fc.TokenEndpointHandlers = append(fc.TokenEndpointHandlers, quietTokenHandler{th})
		}
		if ti, ok := h.(fosite.TokenIntrospector); ok {
			fc.TokenIntrospectionHandlers.Append(ti)
		}
		if rh, ok := h.(fosite.RevocationHandler); ok {
			fc.RevocationHandlers.Append(rh)
		}
		if ph, ok := h.(fosite.PushedAuthorizeEndpointHandler); ok {
			fc.PushedAuthorizeEndpointHandlers.Append(ph)
		}
	}
	if cfg.TokenExchange.Enabled {
		fc.TokenEndpointHandlers = append(fc.TokenEndpointHandlers, quietTokenHandler{&tokenExchangeHandler{p: p, strategy: strategy.CoreStrategy}})
	}
	// Off, it answers unsupported_grant_type (device.go).
	fc.TokenEndpointHandlers = append(fc.TokenEndpointHandlers, quietTokenHandler{&deviceGrant{p: p, lifes: fc.Config,
		tokens: strategy.CoreStrategy, idToken: strategy.OpenIDConnectTokenStrategy}})
	doc := p.discoveryDocument()
	maps.Copy(doc, p.logoutMetadata())
	p.deviceMetadata(doc)
	if len(p.cfg.Resources) > 0 {
		doc["protected_resources"] = p.protectedResources()
	}
	if p.discovery, err = json.Marshal(doc); err != nil {
		return nil, err
	}
	p.routes()
	if err := p.resourceRoutes(p.mux); err != nil {
		return nil, err
	}
	return p, nil
}

// Endpoint paths, relative to the issuer.
const (
	pathAuthorize  = "/authorize"
	pathToken      = "/token"
	pathUserinfo   = "/userinfo"
	pathJWKS       = "/jwks"
	pathIntrospect = "/introspect"
	pathRevoke     = "/revoke"
	pathPAR        = "/par"
	pathLogin      = "/login"
	pathConsent    = "/consent"
)

func (p *Provider) url(path string) string { return p.cfg.Issuer + path }

func (p *Provider) routes() {
	m := p.mux
	m.HandleFunc("GET /.well-known/openid-configuration", p.serveDiscovery)
	m.HandleFunc("GET /.well-known/oauth-authorization-server", p.serveDiscovery)
	m.Handle("GET "+pathJWKS, cors(p.keys.JWKSHandler()))
	m.HandleFunc("GET "+pathAuthorize, p.authorize)
	m.HandleFunc("POST "+pathAuthorize, p.authorize)
	m.HandleFunc("POST "+pathToken, p.token)
	m.HandleFunc("GET "+pathUserinfo, p.userinfo)
	m.HandleFunc("POST "+pathUserinfo, p.userinfo)
	m.HandleFunc("POST "+pathIntrospect, p.introspect)
	m.HandleFunc("POST "+pathRevoke, p.revoke)
	m.HandleFunc("POST "+pathPAR, p.par)
	m.HandleFunc("GET "+pathLogin, p.loginPage)
	m.HandleFunc("POST "+pathLogin, p.loginSubmit)
	m.HandleFunc("GET "+pathConsent, p.consentPage)
	m.HandleFunc("POST "+pathConsent, p.consentSubmit)
	p.logoutRoutes(m)
	if p.cfg.Factors != nil {
		m.HandleFunc("GET "+pathMFA, p.mfaPage)
		m.HandleFunc("POST "+pathMFA, p.mfaSubmit)
	}
	p.federationRoutes(m)
	p.selfServiceRoutes(m)
	p.passkeyRoutes(m)
	p.registrationRoutes(m)
	p.deviceRoutes(m)
}

// ServeHTTP implements http.Handler.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

// cors lets browser apps read public documents.
func cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		h.ServeHTTP(w, r)
	})
}

// The built-in scopes, and the claims each releases; a provider adds
// the operator's (claims.go).
var scopeClaims = map[string][]string{
	"openid":         {"sub"},
	"profile":        {"name", "given_name", "family_name", "nickname", "picture", "locale", "zoneinfo", "updated_at"},
	"email":          {"email", "email_verified"},
	"address":        {"address"},
	"phone":          {"phone_number", "phone_number_verified"},
	"offline_access": nil,
	// The account API's (bearer.go).
	ScopeAccountRead:  nil,
	ScopeAccountWrite: nil,
}

var supportedScopes = []string{"openid", "profile", "email", "address", "phone", "offline_access", ScopeAccountRead, ScopeAccountWrite}

func (p *Provider) discoveryDocument() map[string]any {
	authMethods := []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	claims := []string{"iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash"}
	for _, c := range p.claims.claimsSupported() {
		if !slices.Contains(claims, c) {
			claims = append(claims, c)
		}
	}
	doc := map[string]any{
		"issuer":                                                   p.cfg.Issuer,
		"authorization_endpoint":                                   p.url(pathAuthorize),
		"token_endpoint":                                           p.url(pathToken),
		"userinfo_endpoint":                                        p.url(pathUserinfo),
		"jwks_uri":                                                 p.url(pathJWKS),
		"introspection_endpoint":                                   p.url(pathIntrospect),
		"revocation_endpoint":                                      p.url(pathRevoke),
		"scopes_supported":                                         p.claims.supported,
		"response_types_supported":                                 []string{"code"},
		"response_modes_supported":                                 []string{"query", "fragment", "form_post"},
		"grant_types_supported":                                    []string{"authorization_code", "refresh_token", "client_credentials"},
		"subject_types_supported":                                  []string{subjectPublic, subjectPairwise},
		"id_token_signing_alg_values_supported":                    []string{"RS256", "ES256", "EdDSA"},
		"token_endpoint_auth_methods_supported":                    append(authMethods, "none"),
		"token_endpoint_auth_signing_alg_values_supported":         []string{"RS256"},
		"introspection_endpoint_auth_methods_supported":            authMethods,
		"introspection_endpoint_auth_signing_alg_values_supported": []string{"RS256"},
		"revocation_endpoint_auth_methods_supported":               append(authMethods, "none"),
		"revocation_endpoint_auth_signing_alg_values_supported":    []string{"RS256"},
		"code_challenge_methods_supported":                         []string{"S256"},
		"prompt_values_supported":                                  []string{"none", "login", "consent"},
		"claims_supported":                                         claims,
		"acr_values_supported":                                     p.acrValues(),
		"claims_parameter_supported":                               false,
		"request_parameter_supported":                              true,
		"request_object_signing_alg_values_supported":              config.RequestObjectAlgs,
		"request_uri_parameter_supported":                          true,
		"require_request_uri_registration":                         true,
		"pushed_authorization_request_endpoint":                    p.url(pathPAR),
		"require_pushed_authorization_requests":                    p.cfg.PAR.Required,
		"authorization_response_iss_parameter_supported":           true,
		"ui_locales_supported":                                     page.Tags(),
		"userinfo_signing_alg_values_supported":                    signingAlgs,
		"dpop_signing_alg_values_supported":                        dpopAlgNames(),
	}
	if p.cfg.Registration.enabled() {
		doc["registration_endpoint"] = p.url(pathRegister)
	}
	if p.cfg.TokenExchange.Enabled {
		doc["grant_types_supported"] = append(doc["grant_types_supported"].([]string), grantTokenExchange)
	}
	if p.cfg.ClientIDMetadata.Enabled {
		doc["client_id_metadata_document_supported"] = true
	}
	return doc
}

// acrValues are the acr values ID tokens carry and requests may ask for.
func (p *Provider) acrValues() []string {
	if p.cfg.Factors == nil {
		return []string{acrSSO, acrPassword}
	}
	return []string{acrSSO, acrPassword, acrMFA, acrPAPEMFA}
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(p.discovery)
}

// newSession returns the empty session fosite fills from storage.
func newSession() *openid.DefaultSession {
	return &openid.DefaultSession{Claims: &jwt.IDTokenClaims{}, Headers: &jwt.Headers{}}
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	ctx := withClientMemo(r.Context())
	memo := memoOf(ctx)
	memo.exchange, memo.batch = true, true
	// fosite answers invalid_request for a grant no handler knows; RFC 6749
	// §5.2 calls that unsupported_grant_type.
	if r.Method == http.MethodPost && r.ParseForm() == nil {
		if gt := r.PostForm.Get("grant_type"); gt != "" && !supportedGrantTypes[gt] {
			p.writeTokenError(w, r, fosite.ErrUnsupportedGrantType.WithHintf("The grant type %q is not supported.", gt))
			return
		}
	}
	if r.PostForm.Get("grant_type") == grantTokenExchange && !p.cfg.TokenExchange.Enabled {
		p.writeTokenError(w, r, fosite.ErrUnsupportedGrantType.WithHintf("The grant type %q is not enabled.", grantTokenExchange))
		return
	}
	p.setDPoPNonce(w, r)
	proof, derr := p.readDPoP(r, "")
	if derr != nil {
		p.writeTokenError(w, r, tokenDPoPError(derr))
		return
	}
	sess := newSession()
	ar, err := p.oauth.NewAccessRequest(ctx, r, sess)
	if err == nil {
		err = p.bindDPoP(ctx, ar, proof)
	}
	if err != nil {
		err = reused(r, err)
		var rfc *fosite.RFC6749Error
		if !errors.As(err, &rfc) && r.PostForm.Get("client_assertion") != "" {
			// fosite passes a client assertion's claim validation errors
			// (expired, not yet valid) through unwrapped.
			err = fosite.ErrInvalidClient.WithHint("The client assertion is expired or not yet valid.").WithDebug(err.Error())
		}
		p.writeTokenError(w, r, err)
		return
	}
	if ctx, err = p.tokenResources(ctx, ar); err != nil {
		p.writeTokenError(w, r, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		// fosite has checked the scopes and audience against the client's.
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
		for _, a := range ar.GetRequestedAudience() {
			ar.GrantAudience(a)
		}
		// The subject stays empty: the grant is the client's own, listed
		// under no user, and its sub (the client ID) is restored from the
		// token's client (decodeRequest).
	}
	resp, err := p.oauth.NewAccessResponse(ctx, ar)
	if err == nil {
		err = p.store.flush(ctx)
	}
	if err != nil {
		p.writeTokenError(w, r, reused(r, err))
		return
	}
	if memo.bindAccess != "" {
		resp.SetTokenType("DPoP")
	}
	p.oauth.WriteAccessResponse(ctx, w, ar, resp)
}

// newAuthorizeResponse is fosite's NewAuthorizeResponse with the grant
// state it creates (code, PKCE and OpenID state) written in one round trip.
func (p *Provider) newAuthorizeResponse(ctx context.Context, ar fosite.AuthorizeRequester, sess fosite.Session) (fosite.AuthorizeResponder, error) {
	m := memoOf(ctx)
	if m == nil {
		ctx = withClientMemo(ctx)
		m = memoOf(ctx)
	}
	m.batch = true
	resp, err := p.oauth.NewAuthorizeResponse(ctx, ar, sess)
	m.batch = false
	if err == nil {
		err = p.store.flush(ctx)
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// reused turns the errors of a code or refresh token found already spent
// into invalid_grant (fosite would answer server_error or invalid_request
// when the spending happened concurrently). The storage adapter has
// reported the reuse and its grant is being revoked (revokeReused). Other
// failures pass through.
func reused(r *http.Request, err error) error {
	var what string
	switch {
	case errors.Is(err, fosite.ErrInvalidatedAuthorizeCode):
		what = "authorization code"
	case errors.Is(err, fosite.ErrInactiveToken) && r.PostForm.Get("grant_type") == "refresh_token":
		what = "refresh token"
	default:
		return err
	}
	return fosite.ErrInvalidGrant.WithHintf("The %s has already been used; the tokens issued with it are revoked.", what).WithWrap(err)
}

// reuseRevokeDelay is when a grant found reused is revoked a second time.
const reuseRevokeDelay = 2 * time.Second

// revokeReused revokes a grant whose spent code or refresh token was
// presented again (RFC 9700 §4.14.2, RFC 6749 §4.1.2): now unless fosite
// does it, and again after reuseRevokeDelay, once a concurrent request (on
// any node) that spent it first has surely stored what it issued.
func (p *Provider) revokeReused(ctx context.Context, requestID string, now bool) {
	if now {
		p.revokeGrant(ctx, requestID)
	}
	later := context.WithoutCancel(ctx)
	time.AfterFunc(reuseRevokeDelay, func() { p.revokeGrant(later, requestID) })
}

// revokeGrant deletes the access and refresh tokens of a grant.
func (p *Provider) revokeGrant(ctx context.Context, requestID string) {
	for _, kind := range []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken} {
		if _, err := p.stores.Tokens.RevokeTokens(ctx, kind, requestID); err != nil {
			p.log.ErrorContext(ctx, "revoking a reused grant failed", "err", err)
		}
	}
}

// unavailable turns an error of an unreachable store into RFC 6749's
// temporarily_unavailable (503), so clients retry instead of giving up.
func unavailable(err error) error {
	if errors.Is(err, storage.ErrUnavailable) {
		return fosite.ErrTemporarilyUnavailable.WithHint("The service is briefly unavailable; try again shortly.").WithWrap(err).WithDebug(err.Error())
	}
	return err
}

var supportedGrantTypes = map[string]bool{
	// Off unless Config.Device.Enabled (device.go).
	grantDeviceCode: true,

	"authorization_code": true,
	"refresh_token":      true,
	"client_credentials": true,
	// Only when Config.TokenExchange.Enabled (token).
	grantTokenExchange: true,
}

// writeTokenError writes an RFC 6749 §5.2 error.
func (p *Provider) writeTokenError(w http.ResponseWriter, r *http.Request, err error) {
	rfc := fosite.ErrorToRFC6749Error(unavailable(err))
	p.logOAuthError(w, r, rfc)
	p.delayAuthFailure(r, rfc)
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if rfc.CodeField == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="atrium"`)
	}
	w.WriteHeader(rfc.CodeField)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"error":             rfc.ErrorField,
		"error_description": errorDescription(rfc),
	})
}

// errorDescription is the client-facing description, limited to the
// characters RFC 6749 allows in error_description.
func errorDescription(rfc *fosite.RFC6749Error) string {
	d := rfc.DescriptionField
	if rfc.HintField != "" {
		d += " " + rfc.HintField
	}
	return strings.Map(func(c rune) rune {
		switch {
		case c == '"':
			return '\''
		case c == '\\':
			return '/'
		case c < 0x20 || c > 0x7e:
			return -1
		}
		return c
	}, d)
}

// delayAuthFailure holds the answer to a failed client authentication for
// Config.ClientAuthDelay, or until the client goes away. The wait costs a
// timer, not CPU.
func (p *Provider) delayAuthFailure(r *http.Request, rfc *fosite.RFC6749Error) {
	// Introspection reports a failed client authentication as
	// request_unauthorized.
	failed := rfc.ErrorField == fosite.ErrInvalidClient.ErrorField || rfc.ErrorField == fosite.ErrRequestUnauthorized.ErrorField
	if !failed || p.cfg.ClientAuthDelay <= 0 {
		return
	}
	t := time.NewTimer(p.cfg.ClientAuthDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

func (p *Provider) logOAuthError(w http.ResponseWriter, r *http.Request, rfc *fosite.RFC6749Error) {
	level := slog.LevelInfo
	switch {
	case r.Context().Err() != nil:
		// The client went away mid-request: not the server's failure.
		level = slog.LevelDebug
	case rfc.CodeField >= 500:
		level = slog.LevelError
	}
	p.log.Log(r.Context(), level, "oauth error", "path", r.URL.Path, "error", rfc.ErrorField,
		"hint", rfc.HintField, "debug", rfc.DebugField, "request_id", requestID(w, r))
}

func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	ctx := withClientMemo(r.Context())
	ir, err := p.newIntrospectionRequest(ctx, r, newSession())
	if errors.Is(err, storage.ErrUnavailable) {
		// Not "active": false; the token may well be active.
		p.writeTokenError(w, r, err)
		return
	}
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		p.logOAuthError(w, r, rfc)
		p.delayAuthFailure(r, rfc)
		p.oauth.WriteIntrospectionError(ctx, w, err)
		return
	}
	introspectionDPoP(ir)
	p.releaseIntrospected(ir)
	introspectionAct(ir)
	p.oauth.WriteIntrospectionResponse(ctx, w, ir)
}

func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	ctx := withClientMemo(r.Context())
	err := p.oauth.NewRevocationRequest(ctx, r)
	if errors.Is(err, storage.ErrUnavailable) {
		p.writeTokenError(w, r, err)
		return
	}
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		p.logOAuthError(w, r, rfc)
		p.delayAuthFailure(r, rfc)
	}
	p.oauth.WriteRevocationResponse(ctx, w, err)
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	token, scheme := resourceToken(r)
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="atrium"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "No access token was sent."})
		return
	}
	sess := newSession()
	_, ar, err := p.oauth.IntrospectToken(ctx, token, fosite.AccessToken, sess)
	if errors.Is(err, storage.ErrUnavailable) {
		p.writeTokenError(w, r, err)
		return
	}
	if err != nil {
		p.logOAuthError(w, r, fosite.ErrorToRFC6749Error(err))
		bearerError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid, expired or revoked.")
		return
	}
	if derr := p.checkResourceDPoP(r, token, scheme, ar); derr != nil {
		p.writeDPoPChallenge(w, r, derr)
		return
	}
	p.setDPoPNonce(w, r)
	if !ar.GetGrantedScopes().Has("openid") {
		bearerError(w, http.StatusForbidden, "insufficient_scope", "The access token was not granted the openid scope.")
		return
	}
	user, err := p.stores.Users.GetUser(ctx, sess.Subject)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && user.Disabled) {
		bearerError(w, http.StatusUnauthorized, "invalid_token", "The user of this access token no longer exists.")
		return
	}
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	claims := p.userClaims(user, ar.GetGrantedScopes())
	claims["sub"] = p.releasedSubject(ar.GetClient(), user.ID)
	if cl, ok := ar.GetClient().(*client); ok && cl.c.UserinfoSignedResponseAlg != "" {
		p.writeSignedUserinfo(w, r, cl, claims)
		return
	}
	writeJSON(w, http.StatusOK, claims)
}

func bearerError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="atrium", error="`+code+`", error_description="`+desc+`"`)
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// now is the provider's clock.
func (p *Provider) now() time.Time { return p.cfg.Now() }

// quietTokenHandler skips a token endpoint handler that cannot handle the
// request. fosite asks every handler to populate every token response, and
// each one that does not apply answers with an error carrying a captured
// stack trace: a tenth of the CPU of a client_credentials request.
type quietTokenHandler struct{ fosite.TokenEndpointHandler }

func (h quietTokenHandler) PopulateTokenEndpointResponse(ctx context.Context, req fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, req) {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, req, resp)
}
