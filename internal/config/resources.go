package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Resource is one of the operator's APIs (an OAuth protected resource).
// Clients name the resources they may ask for (clients[].resources); a
// resource indicator (RFC 8707) then narrows an access token's audience
// to it, and Atrium publishes its protected-resource metadata (RFC 9728)
// when it is on the issuer's origin.
type Resource struct {
	// URI is the resource identifier, the aud of its access tokens: an
	// https URL (http on a loopback host) without a fragment.
	URI string `yaml:"uri"`
	// Name is the human-readable resource_name of its metadata.
	Name string `yaml:"name"`
	// Scopes are the scopes the API understands (scopes_supported).
	Scopes []string `yaml:"scopes"`
	// SelfRegisteredClients lets the clients that registered themselves
	// (dynamic client registration) or are identified by a client ID
	// metadata document ask for the resource, as the clients that list
	// it may: an API open to any app its users approve, such as an MCP
	// server.
	SelfRegisteredClients bool `yaml:"self_registered_clients"`
}

// Access token formats (clients[].access_token_format).
const (
	AccessTokenOpaque = "opaque"
	AccessTokenJWT    = "jwt"
)

// AccessTokenFormats are the accepted access token formats; empty means
// opaque.
var AccessTokenFormats = []string{AccessTokenOpaque, AccessTokenJWT}

// CheckResourceURI accepts a resource identifier: an absolute https URL
// (or http on a loopback host) without a fragment.
func CheckResourceURI(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %w", s, err)
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Errorf("%q must use https unless its host is loopback", s)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("%q must not contain a fragment", s)
	case u.User != nil:
		return fmt.Errorf("%q must not contain user info", s)
	}
	return nil
}

func (c *Config) validateResources() []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{c.key(path)}, args...)...))
	}
	seen := map[string]bool{}
	for i, r := range c.Resources {
		switch err := CheckResourceURI(r.URI); {
		case r.URI == "":
			bad(fmt.Sprintf("resources[%d].uri", i), "required")
		case err != nil:
			bad(fmt.Sprintf("resources[%d].uri", i), "%v", err)
		case seen[r.URI]:
			bad(fmt.Sprintf("resources[%d].uri", i), "%q is declared twice", r.URI)
		}
		seen[r.URI] = true
		for j, s := range r.Scopes {
			if err := CheckScope(s); err != nil {
				bad(fmt.Sprintf("resources[%d].scopes[%d]", i, j), "%v", err)
			}
		}
	}
	if l := c.Tokens.JWTAccessTokenLifespan; l.bad {
		bad("tokens.jwt_access_token_lifespan", "%q is not a duration (use Go syntax such as 90s, 15m, 1h)", l.raw)
	} else if l.D < 0 {
		bad("tokens.jwt_access_token_lifespan", "must not be negative, got %s", l.D)
	}
	for i, cl := range c.Clients {
		for j, r := range cl.Resources {
			if !seen[r] {
				bad(fmt.Sprintf("clients[%d].resources[%d]", i, j), "%q is not one of the resources", r)
			}
		}
		if cl.AccessTokenFormat != "" && !slices.Contains(AccessTokenFormats, cl.AccessTokenFormat) {
			bad(fmt.Sprintf("clients[%d].access_token_format", i), "%q is not one of %s", cl.AccessTokenFormat, strings.Join(AccessTokenFormats, ", "))
		}
	}
	return errs
}
