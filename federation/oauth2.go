package federation

import (
	"context"
	"net/http"

	"golang.org/x/oauth2"
)

// oauth2Connector is the generic OAuth 2.0 connector: a code exchange, then
// a profile fetched with the access token and mapped with ClaimMapping.
// Presets replace profile (GitHub's two calls) and adjust (email rules).
type oauth2Connector struct {
	base
	oc oauth2.Config
	// profile fetches the upstream profile; by default the JSON at userinfo.
	profile  func(ctx context.Context, client *http.Client, tok *oauth2.Token) (claims, error)
	userinfo string
	adjust   func(id *Identity, c claims)
}

var _ Connector = (*oauth2Connector)(nil)

func newOAuth2(b base, ep oauth2.Endpoint, userinfo string, defaultScopes []string) *oauth2Connector {
	c := &oauth2Connector{
		base: b,
		oc: oauth2.Config{
			ClientID:     b.cfg.ClientID,
			ClientSecret: b.cfg.ClientSecret,
			Endpoint:     ep,
			Scopes:       b.scopes(defaultScopes),
		},
		userinfo: userinfo,
	}
	c.profile = c.fetchUserinfo
	return c
}

func (c *oauth2Connector) fetchUserinfo(ctx context.Context, client *http.Client, tok *oauth2.Token) (claims, error) {
	return fetchClaims(ctx, client, c.userinfo, tok.AccessToken)
}

func fetchClaims(ctx context.Context, client *http.Client, rawURL, accessToken string) (claims, error) {
	body, err := getJSON(ctx, client, rawURL, accessToken)
	if err != nil {
		return nil, err
	}
	cl, err := parseClaims(body)
	if err != nil {
		return nil, newError(ErrInvalidResponse, "userinfo", err)
	}
	return cl, nil
}

func (c *oauth2Connector) config(redirectURI string) *oauth2.Config {
	oc := c.oc
	oc.RedirectURL = redirectURI
	return &oc
}

func (c *oauth2Connector) AuthCodeURL(ctx context.Context, req AuthRequest) (string, error) {
	if err := c.checkRequest(req); err != nil {
		return "", err
	}
	return c.config(req.RedirectURI).AuthCodeURL(req.State, c.authOptions(req)...), nil
}

func (c *oauth2Connector) Exchange(ctx context.Context, cb Callback) (*Identity, error) {
	code, err := c.code(cb)
	if err != nil {
		return nil, err
	}
	tok, err := c.config(cb.RedirectURI).Exchange(clientContext(ctx, c.client), code, c.exchangeOptions(cb)...)
	if err != nil {
		return nil, transportError("token endpoint", err)
	}
	cl, err := c.profile(ctx, c.client, tok)
	if err != nil {
		return nil, err
	}
	id := cl.identity(c.cfg.ID, c.mapping)
	if c.adjust != nil {
		c.adjust(id, cl)
	}
	return c.finish(id, cl, tok)
}
