package authz

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/atrium-id/atrium/authz/keys"
	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/storage"
)

// Dynamic client registration (RFC 7591, OpenID Connect Dynamic Client
// Registration 1.0) and the management of registered clients (RFC 7592).
//
// POST /register validates the client's metadata and creates the client;
// the answer carries the client's ID and secret and a registration access
// token, which reads (GET), replaces (PUT) and deletes (DELETE) the client
// at /register/{client_id}. Only SHA-256 digests of the secret and of the
// registration access token are kept.

// Registration modes (Registration.Mode).
const (
	RegistrationOff   = "off"
	RegistrationOpen  = "open"
	RegistrationToken = "token"
)

// registrationDynamic is storage.Client.Registration of a client registered
// over HTTP.
const registrationDynamic = "dynamic"

// Registration configures dynamic client registration. Its zero value
// turns it off.
type Registration struct {
	// Mode is off ("" too), open (anyone may register) or token (a
	// registration needs one of InitialAccessTokens).
	Mode string
	// InitialAccessTokens are the SHA-256 digests (HashClientSecret) of
	// the bearer tokens that allow a registration in mode token.
	InitialAccessTokens [][]byte
	// AllowedRedirectHosts limits the hosts of https redirect URIs; empty
	// for any. Loopback redirect URIs of native apps are always allowed.
	AllowedRedirectHosts []string
	// AllowedGrantTypes are the grant types a registered client may use;
	// default authorization_code and refresh_token.
	AllowedGrantTypes []string
	// AllowedAuthMethods are the token endpoint authentication methods a
	// registered client may use; default all of them.
	AllowedAuthMethods []string
	// AnonymousRefreshTokenLifespan caps the refresh tokens of clients
	// registered in mode open; default 24h.
	AnonymousRefreshTokenLifespan time.Duration
	// HourlyPerIP is how many registrations one client address may send
	// per hour in mode open (needs Stores.Counters); default 20, negative
	// for no limit.
	HourlyPerIP int
	// AllowPrivateNetwork lets the provider send what a client registered
	// over HTTP asks for (back-channel logout tokens) to loopback, private
	// and link-local addresses. Off, such a client cannot make the
	// provider reach into the network it runs in; on for development and
	// for apps inside that network.
	AllowPrivateNetwork bool
}

func (r *Registration) setDefaults() {
	if r.Mode == "" {
		r.Mode = RegistrationOff
	}
	if len(r.AllowedGrantTypes) == 0 {
		r.AllowedGrantTypes = slices.Clone(config.DefaultGrantTypes)
	}
	if len(r.AllowedAuthMethods) == 0 {
		r.AllowedAuthMethods = slices.Clone(config.AuthMethods)
	}
	if r.AnonymousRefreshTokenLifespan == 0 {
		r.AnonymousRefreshTokenLifespan = 24 * time.Hour
	}
	if r.HourlyPerIP == 0 {
		r.HourlyPerIP = 20
	}
}

func (r *Registration) validate() error {
	var errs []error
	if !slices.Contains([]string{RegistrationOff, RegistrationOpen, RegistrationToken}, r.Mode) {
		errs = append(errs, fmt.Errorf("registration mode %q is not off, open or token", r.Mode))
	}
	if r.Mode == RegistrationToken && len(r.InitialAccessTokens) == 0 {
		errs = append(errs, errors.New("registration mode token needs initial access tokens"))
	}
	return errors.Join(errs...)
}

// enabled reports whether the registration endpoint is served.
func (r *Registration) enabled() bool {
	return r.Mode == RegistrationOpen || r.Mode == RegistrationToken
}

const (
	pathRegister = "/register"
	// maxRegistrationBody bounds a registration request.
	maxRegistrationBody = 64 << 10
)

// signingAlgs are the algorithms of the JWTs the provider signs for a
// client (ID tokens, userinfo), as discovery advertises them.
var signingAlgs = []string{"RS256", "ES256", "EdDSA"}

func (p *Provider) registrationRoutes(m *http.ServeMux) {
	if !p.cfg.Registration.enabled() {
		return
	}
	m.HandleFunc("POST "+pathRegister, p.register)
	m.HandleFunc("GET "+pathRegister+"/{id}", p.readRegistration)
	m.HandleFunc("PUT "+pathRegister+"/{id}", p.updateRegistration)
	m.HandleFunc("DELETE "+pathRegister+"/{id}", p.deleteRegistration)
}

// clientMetadata is the client metadata of a registration request and
// response. Fields Atrium does not know are dropped when it is decoded.
type clientMetadata struct {
	ClientID                          string          `json:"client_id,omitempty"`
	ClientSecret                      string          `json:"client_secret,omitempty"`
	RedirectURIs                      []string        `json:"redirect_uris,omitempty"`
	ResponseTypes                     []string        `json:"response_types,omitempty"`
	GrantTypes                        []string        `json:"grant_types,omitempty"`
	ApplicationType                   string          `json:"application_type,omitempty"`
	Contacts                          []string        `json:"contacts,omitempty"`
	ClientName                        string          `json:"client_name,omitempty"`
	LogoURI                           string          `json:"logo_uri,omitempty"`
	ClientURI                         string          `json:"client_uri,omitempty"`
	PolicyURI                         string          `json:"policy_uri,omitempty"`
	TOSURI                            string          `json:"tos_uri,omitempty"`
	JWKSURI                           string          `json:"jwks_uri,omitempty"`
	JWKS                              json.RawMessage `json:"jwks,omitempty"`
	SubjectType                       string          `json:"subject_type,omitempty"`
	SectorIdentifierURI               string          `json:"sector_identifier_uri,omitempty"`
	IDTokenSignedResponseAlg          string          `json:"id_token_signed_response_alg,omitempty"`
	UserinfoSignedResponseAlg         string          `json:"userinfo_signed_response_alg,omitempty"`
	RequestObjectSigningAlg           string          `json:"request_object_signing_alg,omitempty"`
	TokenEndpointAuthMethod           string          `json:"token_endpoint_auth_method,omitempty"`
	TokenEndpointAuthSigningAlg       string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	DefaultMaxAge                     *int            `json:"default_max_age,omitempty"`
	RequireAuthTime                   bool            `json:"require_auth_time,omitempty"`
	RequestURIs                       []string        `json:"request_uris,omitempty"`
	PostLogoutRedirectURIs            []string        `json:"post_logout_redirect_uris,omitempty"`
	FrontchannelLogoutURI             string          `json:"frontchannel_logout_uri,omitempty"`
	FrontchannelLogoutSessionRequired bool            `json:"frontchannel_logout_session_required,omitempty"`
	BackchannelLogoutURI              string          `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired  bool            `json:"backchannel_logout_session_required,omitempty"`
	Scope                             string          `json:"scope,omitempty"`
	SoftwareID                        string          `json:"software_id,omitempty"`
	SoftwareVersion                   string          `json:"software_version,omitempty"`
	DPoPBoundAccessTokens             bool            `json:"dpop_bound_access_tokens,omitempty"`

	// Metadata Atrium does not support: refused rather than ignored, as
	// the client would rely on it.
	IDTokenEncryptedResponseAlg  string `json:"id_token_encrypted_response_alg,omitempty"`
	UserinfoEncryptedResponseAlg string `json:"userinfo_encrypted_response_alg,omitempty"`
	RequestObjectEncryptionAlg   string `json:"request_object_encryption_alg,omitempty"`
}

// registrationResponse is clientMetadata plus what the server assigns.
type registrationResponse struct {
	clientMetadata
	ClientIDIssuedAt        int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri"`
}

// registrationError is an RFC 7591 §3.2.2 error.
type registrationError struct {
	code, desc string
}

func (e *registrationError) Error() string { return e.code + ": " + e.desc }

func badMetadata(format string, args ...any) error {
	return &registrationError{"invalid_client_metadata", fmt.Sprintf(format, args...)}
}

func badRedirect(format string, args ...any) error {
	return &registrationError{"invalid_redirect_uri", fmt.Sprintf(format, args...)}
}

func (p *Provider) writeRegistrationError(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Cache-Control", "no-store")
	var re *registrationError
	if errors.As(err, &re) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": re.code, "error_description": re.desc})
		return
	}
	status, code := http.StatusInternalServerError, "server_error"
	if errors.Is(err, storage.ErrUnavailable) {
		status, code = http.StatusServiceUnavailable, "temporarily_unavailable"
	}
	p.log.ErrorContext(r.Context(), "client registration failed", "err", err)
	writeJSON(w, status, map[string]string{"error": code, "error_description": "The client could not be registered right now."})
}

// register serves POST /register.
func (p *Provider) register(w http.ResponseWriter, r *http.Request) {
	if p.cfg.Registration.Mode == RegistrationToken && !p.validInitialToken(r) {
		bearerError(w, http.StatusUnauthorized, "invalid_token", "A valid initial access token is required to register a client.")
		return
	}
	if p.cfg.Registration.Mode == RegistrationOpen {
		if err := p.addrLimited(r, "register", p.cfg.Registration.HourlyPerIP, time.Hour); err != nil {
			if t, ok := throttled(err); ok {
				p.log.WarnContext(r.Context(), "client registration throttled", "scope", t.scope)
				retryAfter(w, t.retry)
				w.Header().Set("Cache-Control", "no-store")
				writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "temporarily_unavailable",
					"error_description": "Too many registrations from this address; try again later."})
				return
			}
			p.writeRegistrationError(w, r, err)
			return
		}
	}
	md, err := readMetadata(w, r)
	if err != nil {
		p.writeRegistrationError(w, r, err)
		return
	}
	c := &storage.Client{ID: randomToken()[:32], Registration: registrationDynamic}
	if err := p.applyMetadata(c, md); err != nil {
		p.writeRegistrationError(w, r, err)
		return
	}
	if err := p.checkSectorDocument(r.Context(), c); err != nil {
		p.writeRegistrationError(w, r, err)
		return
	}
	var secret string
	if needsSecret(c) {
		secret = GenerateSecret()
		c.SecretHash = HashClientSecret(secret)
	}
	token := GenerateSecret()
	c.RegistrationAccessTokenHash = HashClientSecret(token)
	now := p.now().UTC().Truncate(time.Microsecond)
	c.CreatedAt, c.UpdatedAt = now, now
	if err := p.stores.Clients.CreateClient(r.Context(), c); err != nil {
		p.writeRegistrationError(w, r, err)
		return
	}
	p.log.InfoContext(r.Context(), "client registered", "client_id", c.ID, "mode", p.cfg.Registration.Mode)
	p.writeRegistration(w, http.StatusCreated, c, secret, token)
}

// readRegistration serves GET /register/{id}.
func (p *Provider) readRegistration(w http.ResponseWriter, r *http.Request) {
	c, ok := p.registeredClient(w, r)
	if !ok {
		return
	}
	p.writeRegistration(w, http.StatusOK, c, "", "")
}

// updateRegistration serves PUT /register/{id}: the request's metadata
// replaces the client's, with the checks of a registration. The answer
// carries a new registration access token (RFC 7592 §2.2), which replaces
// the one used: a token that leaked stops working once the client updates
// its registration.
func (p *Provider) updateRegistration(w http.ResponseWriter, r *http.Request) {
	c, ok := p.registeredClient(w, r)
	if !ok {
		return
	}
	md, err := readMetadata(w, r)
	if err != nil {
		p.writeRegistrationError(w, r, err)
		return
	}
	switch {
	case md.ClientID != c.ID:
		p.writeRegistrationError(w, r, badMetadata("client_id must be the ID of the client being updated."))
		return
	case md.ClientSecret != "" && (len(c.SecretHash) == 0 || secretHasher{}.Compare(r.Context(), c.SecretHash, []byte(md.ClientSecret)) != nil):
		p.writeRegistrationError(w, r, badMetadata("client_secret does not match the client's secret."))
		return
	}
	next := &storage.Client{ID: c.ID, Registration: c.Registration, RegistrationAccessTokenHash: c.RegistrationAccessTokenHash,
		SecretHash: c.SecretHash, CreatedAt: c.CreatedAt}
	if err := p.applyMetadata(next, md); err != nil {
		p.writeRegistrationError(w, r, err)
		return
	}
	if err := p.checkSectorDocument(r.Context(), next); err != nil {
		p.writeRegistrationError(w, r, err)
		return
	}
	var secret string
	switch {
	case !needsSecret(next):
		next.SecretHash = nil
	case len(next.SecretHash) == 0:
		// Turned from a public or private_key_jwt client into one with a
		// secret: it gets one, returned this once.
		secret = GenerateSecret()
		next.SecretHash = HashClientSecret(secret)
	}
	token := GenerateSecret()
	next.RegistrationAccessTokenHash = HashClientSecret(token)
	next.UpdatedAt = p.now().UTC().Truncate(time.Microsecond)
	if err := p.stores.Clients.UpdateClient(r.Context(), next); err != nil {
		p.writeRegistrationError(w, r, err)
		return
	}
	p.store.cache.drop(c.ID)
	p.writeRegistration(w, http.StatusOK, next, secret, token)
}

// deleteRegistration serves DELETE /register/{id}: the client goes, and
// every token issued to it.
func (p *Provider) deleteRegistration(w http.ResponseWriter, r *http.Request) {
	c, ok := p.registeredClient(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if _, err := p.stores.Tokens.RevokeClientTokens(ctx, c.ID); err != nil {
		p.writeRegistrationError(w, r, err)
		return
	}
	if err := p.stores.Clients.DeleteClient(ctx, c.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		p.writeRegistrationError(w, r, err)
		return
	}
	p.store.cache.drop(c.ID)
	p.log.InfoContext(ctx, "registered client deleted", "client_id", c.ID)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// registeredClient returns the client of /register/{id} when the request
// carries its registration access token. Otherwise it answers 401
// invalid_token, the same whether or not the client exists.
func (p *Provider) registeredClient(w http.ResponseWriter, r *http.Request) (*storage.Client, bool) {
	token := bearerToken(r)
	c, err := p.stores.Clients.GetClient(r.Context(), r.PathValue("id"))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		p.writeRegistrationError(w, r, err)
		return nil, false
	}
	var want []byte
	if err == nil && c.Registration == registrationDynamic {
		want = c.RegistrationAccessTokenHash
	}
	if token == "" || !equalDigest(want, HashClientSecret(token)) {
		bearerError(w, http.StatusUnauthorized, "invalid_token", "The registration access token is invalid.")
		return nil, false
	}
	return c, true
}

// validInitialToken reports whether r carries one of the initial access
// tokens, comparing its digest with every one in constant time.
func (p *Provider) validInitialToken(r *http.Request) bool {
	token := bearerToken(r)
	if token == "" {
		return false
	}
	sum := HashClientSecret(token)
	ok := false
	for _, h := range p.cfg.Registration.InitialAccessTokens {
		if equalDigest(h, sum) {
			ok = true
		}
	}
	return ok
}

// equalDigest compares two SHA-256 digests in constant time; an empty want
// matches nothing.
func equalDigest(want, got []byte) bool {
	return len(want) == len(got) && len(want) > 0 && subtle.ConstantTimeCompare(want, got) == 1
}

// bearerToken is the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// readMetadata decodes a registration request body: JSON, at most
// maxRegistrationBody bytes.
func readMetadata(w http.ResponseWriter, r *http.Request) (*clientMetadata, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, badMetadata("The request body must be JSON (Content-Type: application/json).")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRegistrationBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, badMetadata("The request body is larger than %d KiB.", maxRegistrationBody>>10)
		}
		return nil, badMetadata("The request body could not be read.")
	}
	var md clientMetadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, badMetadata("The request body is not a JSON object of client metadata: %s.", jsonProblem(err))
	}
	if string(md.JWKS) == "null" {
		md.JWKS = nil
	}
	return &md, nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return te.Field + " has the wrong type"
	}
	return "malformed JSON"
}

func needsSecret(c *storage.Client) bool {
	return c.TokenEndpointAuthMethod == config.AuthClientSecretBasic || c.TokenEndpointAuthMethod == config.AuthClientSecretPost
}

// applyMetadata checks md (RFC 7591 §2, OpenID Connect Dynamic Client
// Registration §2, and the operator's policy) and sets the client's
// metadata from it. It changes nothing of c on error.
func (p *Provider) applyMetadata(c *storage.Client, md *clientMetadata) error {
	return p.applyClientMetadata(&p.cfg.Registration, c, md)
}

// applyClientMetadata is applyMetadata under the policy pol (client ID
// metadata documents have their own, cimd.go).
func (p *Provider) applyClientMetadata(pol *Registration, c *storage.Client, md *clientMetadata) error {
	n := *c
	n.ApplicationType = md.ApplicationType
	if n.ApplicationType == "" {
		n.ApplicationType = "web"
	}
	if n.ApplicationType != "web" && n.ApplicationType != "native" {
		return badMetadata("application_type must be web or native.")
	}
	native := n.ApplicationType == "native"

	// Grant and response types.
	n.GrantTypes = md.GrantTypes
	if len(n.GrantTypes) == 0 {
		n.GrantTypes = []string{config.GrantAuthorizationCode}
	}
	for _, g := range n.GrantTypes {
		if !slices.Contains(config.GrantTypes, g) || !slices.Contains(pol.AllowedGrantTypes, g) {
			return badMetadata("The grant type %q is not allowed (allowed: %s).", g, strings.Join(pol.AllowedGrantTypes, ", "))
		}
	}
	if slices.Contains(n.GrantTypes, config.GrantTokenExchange) && !p.cfg.TokenExchange.Enabled {
		return badMetadata("The grant type %q is not enabled.", config.GrantTokenExchange)
	}
	code := slices.Contains(n.GrantTypes, config.GrantAuthorizationCode)
	n.ResponseTypes = md.ResponseTypes
	if len(n.ResponseTypes) == 0 && code {
		n.ResponseTypes = []string{"code"}
	}
	for _, rt := range n.ResponseTypes {
		if rt != "code" {
			return badMetadata("The response type %q is not supported (supported: code).", rt)
		}
	}
	if len(n.ResponseTypes) > 0 != code {
		return badMetadata("The response type code and the grant type authorization_code go together.")
	}
	device := slices.Contains(n.GrantTypes, config.GrantDeviceCode)
	if device && !p.cfg.Device.Enabled {
		return badMetadata("The grant type %q is not enabled.", config.GrantDeviceCode)
	}
	if slices.Contains(n.GrantTypes, config.GrantRefreshToken) && !code && !device {
		return badMetadata("The grant type refresh_token needs authorization_code or %s.", config.GrantDeviceCode)
	}

	// Authentication at the token endpoint.
	n.TokenEndpointAuthMethod = md.TokenEndpointAuthMethod
	if n.TokenEndpointAuthMethod == "" {
		n.TokenEndpointAuthMethod = config.AuthClientSecretBasic
	}
	if !slices.Contains(config.AuthMethods, n.TokenEndpointAuthMethod) || !slices.Contains(pol.AllowedAuthMethods, n.TokenEndpointAuthMethod) {
		return badMetadata("The token endpoint authentication method %q is not allowed (allowed: %s).", n.TokenEndpointAuthMethod, strings.Join(pol.AllowedAuthMethods, ", "))
	}
	if md.TokenEndpointAuthSigningAlg != "" && md.TokenEndpointAuthSigningAlg != "RS256" {
		return badMetadata("token_endpoint_auth_signing_alg must be RS256.")
	}
	n.Public = n.TokenEndpointAuthMethod == config.AuthNone
	if n.Public && slices.Contains(n.GrantTypes, config.GrantClientCredentials) {
		return badMetadata("A public client (token_endpoint_auth_method none) cannot use client_credentials.")
	}
	if n.Public && slices.Contains(n.GrantTypes, config.GrantTokenExchange) {
		return badMetadata("A public client (token_endpoint_auth_method none) cannot exchange tokens.")
	}
	n.JWKS, n.JWKSURI = nil, md.JWKSURI
	switch {
	case len(md.JWKS) > 0 && md.JWKSURI != "":
		return badMetadata("jwks and jwks_uri cannot both be given.")
	case len(md.JWKS) > 0:
		if err := config.CheckJWKS(md.JWKS); err != nil {
			return badMetadata("jwks: %v.", err)
		}
		n.JWKS = []byte(md.JWKS)
	case md.JWKSURI != "":
		if err := checkHTTPSURL(md.JWKSURI); err != nil {
			return badMetadata("jwks_uri: %v.", err)
		}
	case n.TokenEndpointAuthMethod == config.AuthPrivateKeyJWT:
		return badMetadata("A private_key_jwt client needs jwks or jwks_uri.")
	}

	// Redirect URIs.
	if code && len(md.RedirectURIs) == 0 {
		return badRedirect("redirect_uris is required for the authorization_code grant.")
	}
	for _, u := range md.RedirectURIs {
		if err := pol.checkRedirectURI(u, native); err != nil {
			return badRedirect("redirect_uris: %v.", err)
		}
	}
	for _, u := range md.PostLogoutRedirectURIs {
		if err := pol.checkRedirectURI(u, native); err != nil {
			return badMetadata("post_logout_redirect_uris: %v.", err)
		}
	}
	n.RedirectURIs, n.PostLogoutRedirectURIs = md.RedirectURIs, md.PostLogoutRedirectURIs

	// Pages and people.
	for _, f := range []struct{ name, v string }{
		{"logo_uri", md.LogoURI}, {"client_uri", md.ClientURI}, {"policy_uri", md.PolicyURI}, {"tos_uri", md.TOSURI},
	} {
		if f.v == "" {
			continue
		}
		if err := checkHTTPSURL(f.v); err != nil {
			return badMetadata("%s: %v.", f.name, err)
		}
	}
	n.LogoURI, n.ClientURI, n.PolicyURI, n.TOSURI = md.LogoURI, md.ClientURI, md.PolicyURI, md.TOSURI
	for _, e := range md.Contacts {
		if err := config.CheckEmail(e); err != nil {
			return badMetadata("contacts: %v.", err)
		}
	}
	n.Contacts = md.Contacts
	if strings.ContainsAny(md.ClientName, "\r\n") || len(md.ClientName) > 200 {
		return badMetadata("client_name must be one line of at most 200 bytes.")
	}
	n.Name = md.ClientName

	// Tokens and claims.
	if err := applySubjectType(&n, md); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"id_token_signed_response_alg", md.IDTokenSignedResponseAlg},
		{"userinfo_signed_response_alg", md.UserinfoSignedResponseAlg},
	} {
		if f.v != "" && !slices.Contains(signingAlgs, f.v) {
			return badMetadata("%s must be one of %s.", f.name, strings.Join(signingAlgs, ", "))
		}
	}
	n.IDTokenSignedResponseAlg, n.UserinfoSignedResponseAlg = md.IDTokenSignedResponseAlg, md.UserinfoSignedResponseAlg
	if err := config.CheckRequestObjectAlg(md.RequestObjectSigningAlg, n.JWKS != nil || n.JWKSURI != ""); err != nil {
		return badMetadata("request_object_signing_alg: %v.", err)
	}
	n.RequestObjectSigningAlg = md.RequestObjectSigningAlg
	switch {
	case md.IDTokenEncryptedResponseAlg != "" || md.UserinfoEncryptedResponseAlg != "" || md.RequestObjectEncryptionAlg != "":
		return badMetadata("Encrypted ID tokens, userinfo responses and request objects are not supported.")
	}
	n.DPoPBoundAccessTokens = md.DPoPBoundAccessTokens
	for _, u := range md.RequestURIs {
		if err := config.CheckRequestURI(u); err != nil {
			return badMetadata("request_uris: %v.", err)
		}
	}
	n.RequestURIs = md.RequestURIs
	if md.DefaultMaxAge != nil && *md.DefaultMaxAge < 0 {
		return badMetadata("default_max_age must be a non-negative number of seconds.")
	}
	n.DefaultMaxAge = 0
	if md.DefaultMaxAge != nil {
		n.DefaultMaxAge = *md.DefaultMaxAge
	}
	n.RequireAuthTime = md.RequireAuthTime
	n.Scopes = slices.Clone(config.DefaultScopes)
	if md.Scope != "" {
		n.Scopes = strings.Fields(md.Scope)
		for _, s := range n.Scopes {
			if !slices.Contains(p.claims.supported, s) || s == ScopeAccountRead || s == ScopeAccountWrite {
				return badMetadata("The scope %q cannot be registered.", s)
			}
		}
	}

	// Logout.
	for _, f := range []struct{ name, v string }{
		{"frontchannel_logout_uri", md.FrontchannelLogoutURI}, {"backchannel_logout_uri", md.BackchannelLogoutURI},
	} {
		if f.v == "" {
			continue
		}
		if err := checkLogoutURI(f.v); err != nil {
			return badMetadata("%s: %v.", f.name, err)
		}
	}
	n.FrontchannelLogoutURI, n.FrontchannelLogoutSessionRequired = md.FrontchannelLogoutURI, md.FrontchannelLogoutSessionRequired
	n.BackchannelLogoutURI, n.BackchannelLogoutSessionRequired = md.BackchannelLogoutURI, md.BackchannelLogoutSessionRequired

	n.SoftwareID, n.SoftwareVersion = md.SoftwareID, md.SoftwareVersion
	// A registered client is never the operator's own: its users are
	// always asked for consent.
	n.FirstParty = false
	*c = n
	return nil
}

// checkRedirectURI applies the rules of OpenID Connect Dynamic Client
// Registration §2 and RFC 8252 to a redirect URI: https for web clients
// (not on a loopback host); for native clients also http on a loopback
// host and private-use schemes in reverse domain order.
func (pol *Registration) checkRedirectURI(raw string, native bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs():
		return fmt.Errorf("%q is not an absolute URL", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q must not contain a fragment", raw)
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "javascript", "data", "file", "vbscript", "blob", "about":
		return fmt.Errorf("the scheme of %q is not allowed", raw)
	case "https", "http":
		host := u.Hostname()
		switch {
		case host == "" || u.User != nil:
			return fmt.Errorf("%q has no host or has user info", raw)
		case isLoopbackHost(host) && !native:
			return fmt.Errorf("%q is on a loopback host, which only native clients (application_type native) may use", raw)
		case isLoopbackHost(host):
			return nil
		case scheme == "http":
			return fmt.Errorf("%q is not https (http is allowed for loopback hosts of native clients only)", raw)
		case len(pol.AllowedRedirectHosts) > 0 && !slices.Contains(pol.AllowedRedirectHosts, strings.ToLower(host)):
			return fmt.Errorf("the host of %q is not allowed", raw)
		}
		return nil
	}
	switch {
	case !native:
		return fmt.Errorf("%q has a custom scheme, which only native clients (application_type native) may use", raw)
	case !strings.Contains(scheme, "."):
		return fmt.Errorf("the custom scheme of %q is not in reverse domain order (such as com.example.app)", raw)
	}
	return nil
}

// checkHTTPSURL accepts an absolute https URL with a host.
func checkHTTPSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an https URL", raw)
	}
	return nil
}

// checkLogoutURI accepts an https URL, or http on a loopback host, without
// a fragment.
func checkLogoutURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.User != nil || !(u.Scheme == "https" || u.Scheme == "http" && isLoopbackHost(u.Hostname())):
		return fmt.Errorf("%q is not an https URL (http is allowed for loopback hosts only)", raw)
	case strings.ContainsFunc(u.Host, notOriginChar):
		return fmt.Errorf("%q has a host that is not a name or an address", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q must not contain a fragment", raw)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// writeRegistration answers with the client's metadata; secret and token
// are included when they were just issued.
func (p *Provider) writeRegistration(w http.ResponseWriter, status int, c *storage.Client, secret, token string) {
	md := clientMetadata{
		ClientID: c.ID, ClientSecret: secret, RedirectURIs: c.RedirectURIs, ResponseTypes: c.ResponseTypes,
		GrantTypes: c.GrantTypes, ApplicationType: c.ApplicationType, Contacts: c.Contacts, ClientName: c.Name,
		LogoURI: c.LogoURI, ClientURI: c.ClientURI, PolicyURI: c.PolicyURI, TOSURI: c.TOSURI,
		JWKSURI: c.JWKSURI, JWKS: json.RawMessage(c.JWKS), SubjectType: subjectTypeOf(c),
		SectorIdentifierURI:      c.SectorIdentifierURI,
		IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg, UserinfoSignedResponseAlg: c.UserinfoSignedResponseAlg,
		RequestObjectSigningAlg: c.RequestObjectSigningAlg,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, RequireAuthTime: c.RequireAuthTime,
		RequestURIs: c.RequestURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		FrontchannelLogoutURI: c.FrontchannelLogoutURI, FrontchannelLogoutSessionRequired: c.FrontchannelLogoutSessionRequired,
		BackchannelLogoutURI: c.BackchannelLogoutURI, BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
		Scope: strings.Join(c.Scopes, " "), SoftwareID: c.SoftwareID, SoftwareVersion: c.SoftwareVersion,
		DPoPBoundAccessTokens: c.DPoPBoundAccessTokens,
	}
	if c.DefaultMaxAge > 0 {
		md.DefaultMaxAge = &c.DefaultMaxAge
	}
	if c.TokenEndpointAuthMethod == config.AuthPrivateKeyJWT {
		md.TokenEndpointAuthSigningAlg = "RS256"
	}
	resp := registrationResponse{
		clientMetadata:          md,
		ClientIDIssuedAt:        c.CreatedAt.Unix(),
		RegistrationAccessToken: token,
		RegistrationClientURI:   p.url(pathRegister + "/" + url.PathEscape(c.ID)),
	}
	if len(c.SecretHash) > 0 {
		exp := storage.UnixMicro(c.ClientSecretExpiresAt) / 1e6
		resp.ClientSecretExpiresAt = &exp
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, status, resp)
}

// writeSignedUserinfo answers the userinfo request of a client that
// registered userinfo_signed_response_alg with a JWT of the claims, signed
// with that algorithm (OpenID Connect Core §5.3.2).
func (p *Provider) writeSignedUserinfo(w http.ResponseWriter, r *http.Request, cl *client, claims map[string]any) {
	claims["iss"] = p.cfg.Issuer
	claims["aud"] = cl.c.ID
	header := &jwt.Headers{Extra: map[string]any{keys.AlgorithmHeader: cl.c.UserinfoSignedResponseAlg}}
	token, _, err := p.keys.Signer().Generate(r.Context(), jwt.MapClaims(claims), header)
	if err != nil {
		p.log.ErrorContext(r.Context(), "signing a userinfo response failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error", "error_description": "The userinfo response could not be signed."})
		return
	}
	w.Header().Set("Content-Type", "application/jwt")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, token)
}
