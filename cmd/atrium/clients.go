package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/atrium-id/atrium/authz"
	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/storage"
)

// clientView is how the CLI shows a client. It never holds the secret
// digest; ClientSecret is set only by create, the one time it is shown.
type clientView struct {
	ClientID                 string   `json:"client_id"`
	ClientSecret             string   `json:"client_secret,omitempty"`
	Name                     string   `json:"name,omitempty"`
	RedirectURIs             []string `json:"redirect_uris"`
	PostLogoutRedirectURIs   []string `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes               []string `json:"grant_types"`
	ResponseTypes            []string `json:"response_types"`
	Scopes                   []string `json:"scopes"`
	Public                   bool     `json:"public"`
	TokenEndpointAuthMethod  string   `json:"token_endpoint_auth_method"`
	IDTokenSignedResponseAlg string   `json:"id_token_signed_response_alg,omitempty"`
	FirstParty               bool     `json:"first_party"`
	// Registration is how the client came to be: "dynamic" when it
	// registered itself over HTTP (RFC 7591), empty otherwise.
	Registration string   `json:"registration,omitempty"`
	Contacts     []string `json:"contacts,omitempty"`
	// Resources are the resources (APIs) it may ask for; AccessTokenFormat
	// is jwt for JWT access tokens.
	Resources         []string `json:"resources,omitempty"`
	AccessTokenFormat string   `json:"access_token_format,omitempty"`
	// SubjectType is pairwise when the client sees pairwise subs of
	// Sector (from SectorIdentifierURI when it registered one).
	SubjectType         string          `json:"subject_type,omitempty"`
	Sector              string          `json:"sector,omitempty"`
	SectorIdentifierURI string          `json:"sector_identifier_uri,omitempty"`
	JWKS                json.RawMessage `json:"jwks,omitempty"`
	// RequestObjectSigningAlg and RequestURIs: how its request objects
	// are signed and where it publishes them.
	RequestObjectSigningAlg string    `json:"request_object_signing_alg,omitempty"`
	RequestURIs             []string  `json:"request_uris,omitempty"`
	CreatedAt               time.Time `json:"created_at"`
	UpdatedAt               time.Time `json:"updated_at"`
}

func viewClient(c *storage.Client) clientView {
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	v := clientView{
		ClientID:                 c.ID,
		Name:                     c.Name,
		RedirectURIs:             nonNil(c.RedirectURIs),
		PostLogoutRedirectURIs:   c.PostLogoutRedirectURIs,
		GrantTypes:               nonNil(c.GrantTypes),
		ResponseTypes:            nonNil(c.ResponseTypes),
		Scopes:                   nonNil(c.Scopes),
		Public:                   c.Public,
		TokenEndpointAuthMethod:  c.TokenEndpointAuthMethod,
		IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg,
		FirstParty:               c.FirstParty,
		Registration:             c.Registration,
		Contacts:                 c.Contacts,
		Resources:                c.Audience,
		AccessTokenFormat:        c.AccessTokenFormat,
		SubjectType:              c.SubjectType,
		Sector:                   c.Sector,
		SectorIdentifierURI:      c.SectorIdentifierURI,
		RequestObjectSigningAlg:  c.RequestObjectSigningAlg,
		RequestURIs:              c.RequestURIs,
		CreatedAt:                c.CreatedAt,
		UpdatedAt:                c.UpdatedAt,
	}
	if json.Valid(c.JWKS) {
		v.JWKS = c.JWKS
	}
	return v
}

// clientSpec is a client as the flags or the config file describe it.
type clientSpec struct {
	id, secret, name string
	redirectURIs     []string
	postLogoutURIs   []string
	grantTypes       []string
	scopes           []string
	public           bool
	firstParty       bool
	authMethod       string
	idTokenAlg       string
	jwks             []byte
	resources        []string
	tokenFormat      string
	subjectType      string
	sector           string
	requestAlg       string
	requestURIs      []string
}

// build validates s and returns the client to store (its digest set) and
// the secret to show: the given one, or a generated one for a confidential
// client without one. Messages name the flags.
func (s clientSpec) build(now time.Time) (*storage.Client, string, error) {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: "+format, append([]any{flag}, args...)...))
	}
	if s.id == "" {
		s.id = randomHex(16)
	} else if strings.ContainsFunc(s.id, func(r rune) bool { return r <= ' ' || r == 0x7f }) || len(s.id) > 255 {
		bad("id", "%q must be 1 to 255 characters without spaces or control characters", s.id)
	}
	if len(s.grantTypes) == 0 {
		s.grantTypes = slices.Clone(config.DefaultGrantTypes)
	}
	if len(s.scopes) == 0 {
		s.scopes = slices.Clone(config.DefaultScopes)
	}
	for _, g := range s.grantTypes {
		if !slices.Contains(config.GrantTypes, g) {
			bad("grant-type", "unknown grant type %q (accepted: %s)", g, strings.Join(config.GrantTypes, ", "))
		}
	}
	switch {
	case s.authMethod == "" && s.public:
		s.authMethod = config.AuthNone
	case s.authMethod == "":
		s.authMethod = config.DefaultAuthMethod
	case !slices.Contains(config.AuthMethods, s.authMethod):
		bad("token-endpoint-auth-method", "unknown method %q (accepted: %s)", s.authMethod, strings.Join(config.AuthMethods, ", "))
	case s.public && s.authMethod != config.AuthNone:
		bad("token-endpoint-auth-method", "a --public client authenticates with none, not %s", s.authMethod)
	case s.authMethod == config.AuthNone:
		s.public = true
	}
	switch {
	case s.public && s.secret != "":
		bad("secret", "a public client has no secret (drop --secret or --public)")
	case s.authMethod == config.AuthPrivateKeyJWT && s.secret != "":
		bad("secret", "a private_key_jwt client has no secret")
	}
	if s.idTokenAlg != "" && !slices.Contains(config.Algorithms, s.idTokenAlg) {
		bad("id-token-alg", "%q is not one of %s", s.idTokenAlg, strings.Join(config.Algorithms, ", "))
	}
	if s.public && slices.Contains(s.grantTypes, config.GrantClientCredentials) {
		bad("grant-type", "a public client cannot use client_credentials")
	}
	if s.public && slices.Contains(s.grantTypes, config.GrantTokenExchange) {
		bad("grant-type", "a public client cannot exchange tokens (%s)", config.GrantTokenExchange)
	}
	switch {
	case s.authMethod == config.AuthPrivateKeyJWT && s.jwks == nil:
		bad("jwks-file", "required for private_key_jwt")
	case s.authMethod != config.AuthPrivateKeyJWT && s.jwks != nil:
		bad("jwks-file", "only a private_key_jwt client has a key set (add --token-endpoint-auth-method private_key_jwt)")
	case s.jwks != nil:
		if err := config.CheckJWKS(s.jwks); err != nil {
			bad("jwks-file", "%v", err)
		} else if err := config.CheckRequestObjectKeys(s.requestAlg, s.jwks); err != nil {
			bad("request-object-signing-alg", "%v", err)
		}
	}
	if slices.Contains(s.grantTypes, config.GrantAuthorizationCode) && len(s.redirectURIs) == 0 {
		bad("redirect-uri", "required for the authorization_code grant")
	}
	for _, u := range s.redirectURIs {
		if err := config.CheckRedirectURI(u); err != nil {
			bad("redirect-uri", "%v", err)
		}
	}
	for _, u := range s.postLogoutURIs {
		if err := config.CheckRedirectURI(u); err != nil {
			bad("post-logout-redirect-uri", "%v", err)
		}
	}
	for _, sc := range s.scopes {
		if err := config.CheckScope(sc); err != nil {
			bad("scope", "%v", err)
		}
	}
	for _, r := range s.resources {
		if err := config.CheckResourceURI(r); err != nil {
			bad("resource", "%v", err)
		}
	}
	if s.tokenFormat != "" && !slices.Contains(config.AccessTokenFormats, s.tokenFormat) {
		bad("access-token-format", "%q is not one of %s", s.tokenFormat, strings.Join(config.AccessTokenFormats, ", "))
	}
	if err := config.CheckRequestObjectAlg(s.requestAlg, s.jwks != nil); err != nil {
		bad("request-object-signing-alg", "%v", err)
	}
	for _, u := range s.requestURIs {
		if err := config.CheckRequestURI(u); err != nil {
			bad("request-uri", "%v", err)
		}
	}
	sector, err := config.ClientSector(s.subjectType, s.sector, s.redirectURIs)
	if err != nil {
		flag := "subject-type"
		if s.subjectType == config.SubjectPairwise {
			flag = "sector"
		}
		bad(flag, "%v", err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, "", err
	}

	c := &storage.Client{
		ID:                       s.id,
		Name:                     s.name,
		RedirectURIs:             s.redirectURIs,
		PostLogoutRedirectURIs:   s.postLogoutURIs,
		GrantTypes:               s.grantTypes,
		ResponseTypes:            []string{"code"},
		Scopes:                   s.scopes,
		Public:                   s.public,
		TokenEndpointAuthMethod:  s.authMethod,
		IDTokenSignedResponseAlg: s.idTokenAlg,
		FirstParty:               s.firstParty,
		JWKS:                     s.jwks,
		Audience:                 s.resources,
		AccessTokenFormat:        s.tokenFormat,
		RequestObjectSigningAlg:  s.requestAlg,
		RequestURIs:              s.requestURIs,
		Sector:                   sector,
		CreatedAt:                now,
		UpdatedAt:                now,
	}
	if s.subjectType == config.SubjectPairwise {
		c.SubjectType = config.SubjectPairwise
	}
	secret := s.secret
	if !s.public && s.authMethod != config.AuthPrivateKeyJWT {
		if secret == "" {
			secret = authz.GenerateSecret()
		}
		c.SecretHash = authz.HashClientSecret(secret)
	}
	return c, secret, nil
}

func (c *cli) clientsCreate(args []string) error {
	var com common
	fs := c.flagSet("clients create", "Registers a client and prints it, with its secret (shown only this once).", &com)
	var (
		s        clientSpec
		redirect = &listFlag{}
		logout   = &listFlag{}
		grants   = &listFlag{split: true}
		scopes   = &listFlag{split: true}
		res      = &listFlag{}
		reqURIs  = &listFlag{}
		jwksFile string
	)
	fs.StringVar(&s.id, "id", "", "client `ID` (default: generated)")
	fs.StringVar(&s.secret, "secret", "", "client `secret` (default: generated and printed once)")
	fs.StringVar(&s.name, "name", "", "display `name` shown on the consent page")
	fs.Var(redirect, "redirect-uri", "redirect `URI` (repeatable)")
	fs.Var(logout, "post-logout-redirect-uri", "post-logout redirect `URI` (repeatable)")
	fs.Var(grants, "grant-type", "grant `type` (repeatable): "+strings.Join(config.GrantTypes, ", ")+" (default authorization_code, refresh_token)")
	fs.Var(scopes, "scope", "allowed `scope` (repeatable; default openid profile email offline_access)")
	fs.BoolVar(&s.public, "public", false, "a public client (native or browser app): no secret, auth method none, PKCE required")
	fs.BoolVar(&s.firstParty, "first-party", false, "one of the operator's own apps: its users are not asked for consent")
	fs.StringVar(&s.authMethod, "token-endpoint-auth-method", "", "`method`: "+strings.Join(config.AuthMethods, ", ")+" (default client_secret_basic)")
	fs.StringVar(&s.idTokenAlg, "id-token-alg", "", "`algorithm` of the client's ID tokens: "+strings.Join(config.Algorithms, ", ")+" (default signing.algorithm; ES256 and EdDSA sign ~25x faster than RS256)")
	fs.Var(res, "resource", "`URI` of a resource (API) the client may ask for with the resource parameter (repeatable)")
	fs.StringVar(&s.tokenFormat, "access-token-format", "", "`format` of the client's access tokens: opaque (default) or jwt (RFC 9068)")
	fs.StringVar(&s.subjectType, "subject-type", "", "`type` of the sub the client sees: public (default, the user's ID) or pairwise (OpenID Connect Core §8)")
	fs.StringVar(&s.sector, "sector", "", "`host` a pairwise client's subs are computed for (default: the one host of its redirect URIs)")
	fs.StringVar(&jwksFile, "jwks-file", "", "JSON Web Key Set `file` of the client's public keys (private_key_jwt)")
	fs.StringVar(&s.requestAlg, "request-object-signing-alg", "", "the one `algorithm` the client's request objects may use: "+strings.Join(config.RequestObjectAlgs, ", ")+" (none: unsigned; default any)")
	fs.Var(reqURIs, "request-uri", "https `URL` where the client publishes request objects it names with request_uri (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	s.redirectURIs, s.postLogoutURIs, s.grantTypes, s.scopes = redirect.values, logout.values, grants.values, scopes.values
	s.resources, s.requestURIs = res.values, reqURIs.values
	if jwksFile != "" {
		b, err := os.ReadFile(jwksFile)
		if err != nil {
			return fmt.Errorf("--jwks-file: %w", err)
		}
		s.jwks = b
	}
	cl, secret, err := s.build(time.Now().UTC())
	if err != nil {
		return err
	}

	_, st, err := c.openStore(&com)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CreateClient(c.ctx, cl); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return fmt.Errorf("--id: client %q already exists", cl.ID)
		}
		return fmt.Errorf("create client: %w", err)
	}
	v := viewClient(cl)
	v.ClientSecret = secret
	return printJSON(c.stdout, v)
}

func (c *cli) clientsList(args []string) error {
	var com common
	fs := c.flagSet("clients list", "Prints every client as a JSON array.", &com)
	if err := parse(fs, args); err != nil {
		return err
	}
	_, st, err := c.openStore(&com)
	if err != nil {
		return err
	}
	defer st.Close()
	out := []clientView{}
	p := storage.Page{Limit: 500}
	for {
		page, next, err := st.ListClients(c.ctx, p)
		if err != nil {
			return fmt.Errorf("list clients: %w", err)
		}
		for _, cl := range page {
			out = append(out, viewClient(cl))
		}
		if next == "" {
			break
		}
		p.After = next
	}
	return printJSON(c.stdout, out)
}

func (c *cli) clientsGet(args []string) error {
	var com common
	fs := c.flagSet("clients get", "Prints one client.", &com)
	id := fs.String("id", "", "client `ID`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return errors.New("clients get: --id is required")
	}
	_, st, err := c.openStore(&com)
	if err != nil {
		return err
	}
	defer st.Close()
	cl, err := st.GetClient(c.ctx, *id)
	if err != nil {
		return clientErr(*id, err)
	}
	return printJSON(c.stdout, viewClient(cl))
}

func (c *cli) clientsDelete(args []string) error {
	var com common
	fs := c.flagSet("clients delete", "Deletes a client.", &com)
	id := fs.String("id", "", "client `ID`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return errors.New("clients delete: --id is required")
	}
	cfg, st, err := c.openStore(&com)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.DeleteClient(c.ctx, *id); err != nil {
		return clientErr(*id, err)
	}
	out := map[string]any{"client_id": *id, "deleted": true}
	if cfg.Redis.URL != "" {
		state, closeState, err := openState(c.ctx, cfg, st)
		if err != nil {
			return fmt.Errorf("client deleted, but revoking its tokens failed: %w", err)
		}
		defer closeState()
		tokens, err := state.RevokeClientTokens(c.ctx, *id)
		if err != nil {
			return fmt.Errorf("client deleted, but revoking its tokens failed: %w", err)
		}
		out["tokens_revoked"] = tokens
	}
	return printJSON(c.stdout, out)
}

func clientErr(id string, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no client %q", id)
	}
	return fmt.Errorf("client %q: %w", id, err)
}

// authzRegistration is the provider's dynamic client registration from
// the registration keys; initial access tokens are kept as digests only.
func authzRegistration(cfg *config.Config) (authz.Registration, error) {
	r := cfg.Registration
	tokens, err := cfg.InitialAccessTokenList()
	if err != nil {
		return authz.Registration{}, err
	}
	hashes := make([][]byte, 0, len(tokens))
	for _, t := range tokens {
		hashes = append(hashes, authz.HashClientSecret(t))
	}
	return authz.Registration{
		Mode:                          r.Mode,
		InitialAccessTokens:           hashes,
		AllowedRedirectHosts:          r.AllowedRedirectHosts,
		AllowedGrantTypes:             r.AllowedGrantTypes,
		AllowedAuthMethods:            r.AllowedAuthMethods,
		AnonymousRefreshTokenLifespan: r.AnonymousRefreshTokenLifespan.D,
		HourlyPerIP:                   r.HourlyPerIP,
		AllowPrivateNetwork:           r.AllowPrivateNetwork,
	}, nil
}

// authzClientIDMetadata is the provider's client ID metadata documents
// from the client_id_metadata_documents key.
func authzClientIDMetadata(cfg *config.Config) authz.ClientIDMetadataDocuments {
	m := cfg.ClientIDMetadataDocuments
	return authz.ClientIDMetadataDocuments{
		Enabled: m.Enabled, AllowPrivateNetwork: m.AllowPrivateNetwork,
		CacheTTL: m.CacheTTL.D, MinCacheTTL: m.MinCacheTTL.D, MaxCacheTTL: m.MaxCacheTTL.D, FailureCacheTTL: m.FailureCacheTTL.D,
		MaxBytes: m.MaxBytes, Timeout: m.Timeout.D,
	}
}

// authzResources are the provider's resources from the resources key.
func authzResources(rs []config.Resource) []authz.Resource {
	out := make([]authz.Resource, 0, len(rs))
	for _, r := range rs {
		out = append(out, authz.Resource{URI: r.URI, Name: r.Name, Scopes: r.Scopes, SelfRegisteredClients: r.SelfRegisteredClients})
	}
	return out
}
