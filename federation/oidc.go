package federation

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// discoveryRetry is how long a failed discovery is remembered before the
// next use of the connector tries again.
const discoveryRetry = 5 * time.Second

// oidcConnector is the generic OpenID Connect connector; presets set its
// hooks. Discovery is lazy: New never calls the upstream, so a provider that
// is down at boot does not stop Atrium, and its connector answers
// ErrUnavailable until discovery succeeds.
type oidcConnector struct {
	base
	issuer        string
	defaultScopes []string
	authParams    url.Values
	authStyle     oauth2.AuthStyle
	// discoverAuthStyle sends the secret in the form body when discovery
	// lists client_secret_post but not client_secret_basic.
	discoverAuthStyle bool
	noUserinfo        bool

	// lenientDiscovery accepts a discovery document whose issuer differs
	// from the discovery URL (Microsoft's multi-tenant {tenantid}, LinkedIn).
	lenientDiscovery bool
	// checkIssuer, if set, replaces go-oidc's exact issuer check of the ID
	// token; it gets the token's iss, its claims and the discovered issuer.
	checkIssuer func(iss string, c claims, discovered string) error
	// check runs on the verified ID token's claims (Google's hd).
	check func(c claims) error
	// secret returns the client secret for the token request (Apple's JWT).
	secret func(now time.Time) (string, error)
	// callback merges callback parameters into the claims (Apple's user).
	callback func(p url.Values, c claims)
	// adjust edits the mapped identity (Apple's name).
	adjust func(id *Identity, c claims)

	mu      sync.Mutex
	disc    *discovery
	lastErr error
	retryAt time.Time
}

type discovery struct {
	endpoint    oauth2.Endpoint
	userinfoURL string
	issuer      string // as the discovery document declares it
	verifier    *oidc.IDTokenVerifier
}

var _ Connector = (*oidcConnector)(nil)

func newOIDC(b base, issuer string) *oidcConnector {
	return &oidcConnector{
		base:          b,
		issuer:        issuer,
		defaultScopes: []string{oidc.ScopeOpenID, "profile", "email"},
		authParams:    url.Values{},
		authStyle:     oauth2.AuthStyleInHeader,
	}
}

func (c *oidcConnector) discover(ctx context.Context) (*discovery, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.disc != nil {
		return c.disc, nil
	}
	if c.lastErr != nil && c.now().Before(c.retryAt) {
		return nil, c.lastErr
	}
	d, err := c.doDiscover(ctx)
	if err != nil {
		c.lastErr, c.retryAt = err, c.now().Add(discoveryRetry)
		return nil, err
	}
	c.disc, c.lastErr = d, nil
	return d, nil
}

func (c *oidcConnector) doDiscover(ctx context.Context) (*discovery, error) {
	dctx := clientContext(ctx, c.client)
	if c.lenientDiscovery {
		dctx = oidc.InsecureIssuerURLContext(dctx, c.issuer)
	}
	p, err := oidc.NewProvider(dctx, c.issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		switch {
		case errors.As(err, &mismatch):
			return nil, newError(ErrConfig, "discovery", err)
		case unreachable(err):
			return nil, newError(ErrUnavailable, "discovery at "+c.issuer, err)
		}
		// A non-200 or unreadable document: go-oidc's text quotes the body.
		return nil, errorf(ErrUnavailable, "discovery at %s: no usable document", c.issuer)
	}
	var meta struct {
		Issuer      string   `json:"issuer"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, newError(ErrUnavailable, "discovery", err)
	}
	ep := p.Endpoint()
	if c.cfg.AuthURL != "" {
		ep.AuthURL = c.cfg.AuthURL
	}
	if c.cfg.TokenURL != "" {
		ep.TokenURL = c.cfg.TokenURL
	}
	ep.AuthStyle = c.authStyle
	if c.discoverAuthStyle && !slices.Contains(meta.AuthMethods, AuthClientSecretBasic) && slices.Contains(meta.AuthMethods, AuthClientSecretPost) {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	if ep.AuthURL == "" || ep.TokenURL == "" {
		return nil, errorf(ErrConfig, "discovery at %s: no authorization or token endpoint", c.issuer)
	}
	userinfo := p.UserInfoEndpoint()
	if c.cfg.UserinfoURL != "" {
		userinfo = c.cfg.UserinfoURL
	}
	// The verifier's key set is fetched with the provider's client, i.e. ours.
	v := p.Verifier(&oidc.Config{
		ClientID:        c.cfg.ClientID,
		SkipIssuerCheck: c.checkIssuer != nil,
		Now:             c.now,
	})
	return &discovery{endpoint: ep, userinfoURL: userinfo, issuer: meta.Issuer, verifier: v}, nil
}

func (c *oidcConnector) oauth2Config(d *discovery, redirectURI, secret string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: secret,
		Endpoint:     d.endpoint,
		RedirectURL:  redirectURI,
		Scopes:       withOpenID(c.scopes(c.defaultScopes)),
	}
}

func withOpenID(scopes []string) []string {
	for _, s := range scopes {
		if s == oidc.ScopeOpenID {
			return scopes
		}
	}
	return append([]string{oidc.ScopeOpenID}, scopes...)
}

func (c *oidcConnector) AuthCodeURL(ctx context.Context, req AuthRequest) (string, error) {
	if err := c.checkRequest(req); err != nil {
		return "", err
	}
	d, err := c.discover(ctx)
	if err != nil {
		return "", err
	}
	opts := c.authOptions(req)
	if req.Nonce != "" {
		opts = append(opts, oidc.Nonce(req.Nonce))
	}
	for k := range c.authParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, c.authParams.Get(k)))
	}
	return c.oauth2Config(d, req.RedirectURI, "").AuthCodeURL(req.State, opts...), nil
}

func (c *oidcConnector) Exchange(ctx context.Context, cb Callback) (*Identity, error) {
	code, err := c.code(cb)
	if err != nil {
		return nil, err
	}
	d, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	secret := c.cfg.ClientSecret
	if c.secret != nil {
		if secret, err = c.secret(c.now()); err != nil {
			return nil, newError(ErrConfig, "client secret", err)
		}
	}
	hctx := clientContext(ctx, c.client)
	tok, err := c.oauth2Config(d, cb.RedirectURI, secret).Exchange(hctx, code, c.exchangeOptions(cb)...)
	if err != nil {
		return nil, transportError("token endpoint", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errorf(ErrInvalidResponse, "token response without id_token")
	}
	idt, err := d.verifier.Verify(hctx, raw)
	if err != nil {
		if unreachable(err) {
			return nil, newError(ErrUnavailable, "id_token keys", err)
		}
		return nil, newError(ErrInvalidResponse, "id_token", err)
	}
	if idt.Nonce != cb.Nonce {
		return nil, errorf(ErrInvalidResponse, "id_token nonce does not match the request's")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, errorf(ErrInvalidResponse, "id_token at_hash does not match the access token")
		}
	}
	var rawClaims json.RawMessage
	if err := idt.Claims(&rawClaims); err != nil {
		return nil, newError(ErrInvalidResponse, "id_token claims", err)
	}
	cl, err := parseClaims(rawClaims)
	if err != nil {
		return nil, newError(ErrInvalidResponse, "id_token claims", err)
	}
	if c.checkIssuer != nil {
		if err := c.checkIssuer(idt.Issuer, cl, d.issuer); err != nil {
			return nil, newError(ErrInvalidResponse, "id_token issuer", err)
		}
	}
	if c.check != nil {
		if err := c.check(cl); err != nil {
			return nil, err
		}
	}
	if c.callback != nil {
		c.callback(cb.Params, cl)
	}
	if err := c.fillFromUserinfo(ctx, d, tok, cl); err != nil {
		return nil, err
	}
	id := cl.identity(c.cfg.ID, c.mapping)
	if c.adjust != nil {
		c.adjust(id, cl)
	}
	return c.finish(id, cl, tok)
}

// fillFromUserinfo adds the userinfo claims the ID token lacks, when it
// lacks an email or a name and the upstream has a userinfo endpoint.
func (c *oidcConnector) fillFromUserinfo(ctx context.Context, d *discovery, tok *oauth2.Token, cl claims) error {
	if c.noUserinfo || d.userinfoURL == "" {
		return nil
	}
	if cl.str(c.mapping["email"]) != "" && cl.str(c.mapping["name"]) != "" {
		return nil
	}
	body, err := getJSON(ctx, c.client, d.userinfoURL, tok.AccessToken)
	if err != nil {
		return err
	}
	ui, err := parseClaims(body)
	if err != nil {
		return newError(ErrInvalidResponse, "userinfo", err)
	}
	// OpenID Connect Core 5.3.2: the userinfo sub must be the ID token's.
	if sub := ui.str("sub"); sub != cl.str("sub") {
		return errorf(ErrInvalidResponse, "userinfo is about another subject")
	}
	cl.fill(ui)
	return nil
}
