package authz

import (
	"encoding/json"
	"fmt"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/atrium-id/atrium/storage"
)

// client presents a storage.Client to fosite. fosite's interfaces still use
// go-jose v3 for client key sets, so this file and jwksfetch.go import it.
type client struct {
	c    *storage.Client
	jwks *josev3.JSONWebKeySet
	// refreshCap, when positive, caps the lifespan of the client's
	// refresh tokens (anonymously registered clients, register.go).
	refreshCap time.Duration
	// audience are the resources it may ask for: its own list, and for a
	// self-registered client those open to such clients (resource.go).
	audience []string
}

var (
	_ fosite.Client              = (*client)(nil)
	_ fosite.OpenIDConnectClient = (*client)(nil)
	_ fosite.ResponseModeClient  = (*client)(nil)

	_ fosite.ClientWithCustomTokenLifespans = (*client)(nil)
)

func newClient(c *storage.Client) (*client, error) {
	cl := &client{c: c, audience: c.Audience}
	if len(c.JWKS) > 0 {
		var set josev3.JSONWebKeySet
		if err := json.Unmarshal(c.JWKS, &set); err != nil {
			return nil, fmt.Errorf("client %q: stored JWKS: %w", c.ID, err)
		}
		cl.jwks = &set
	}
	return cl, nil
}

func (c *client) GetID() string             { return c.c.ID }
func (c *client) GetHashedSecret() []byte   { return c.c.SecretHash }
func (c *client) GetRedirectURIs() []string { return c.c.RedirectURIs }
func (c *client) GetGrantTypes() fosite.Arguments {
	if len(c.c.GrantTypes) == 0 {
		return fosite.Arguments{"authorization_code"}
	}
	return c.c.GrantTypes
}
func (c *client) GetResponseTypes() fosite.Arguments {
	if len(c.c.ResponseTypes) == 0 {
		return fosite.Arguments{"code"}
	}
	return c.c.ResponseTypes
}
func (c *client) GetScopes() fosite.Arguments   { return c.c.Scopes }
func (c *client) IsPublic() bool                { return c.c.Public }
func (c *client) GetAudience() fosite.Arguments { return c.audience }

func (c *client) GetRequestURIs() []string                 { return nil }
func (c *client) GetJSONWebKeys() *josev3.JSONWebKeySet    { return c.jwks }
func (c *client) GetJSONWebKeysURI() string                { return c.c.JWKSURI }
func (c *client) GetRequestObjectSigningAlgorithm() string { return c.c.RequestObjectSigningAlg }

// GetTokenEndpointAuthSigningAlgorithm is the alg private_key_jwt assertions must use.
func (c *client) GetTokenEndpointAuthSigningAlgorithm() string { return "RS256" }

func (c *client) GetTokenEndpointAuthMethod() string {
	switch {
	case c.c.TokenEndpointAuthMethod != "":
		return c.c.TokenEndpointAuthMethod
	case c.c.Public:
		return "none"
	default:
		return "client_secret_basic"
	}
}

// GetResponseModes lists the response modes every client may use.
func (c *client) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery, fosite.ResponseModeFragment, fosite.ResponseModeFormPost}
}

// GetEffectiveLifespan applies refreshCap to refresh tokens.
func (c *client) GetEffectiveLifespan(_ fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	if tt == fosite.RefreshToken && c.refreshCap > 0 && c.refreshCap < fallback {
		return c.refreshCap
	}
	return fallback
}
