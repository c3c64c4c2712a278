package config

import (
	"fmt"
	"slices"
)

// GrantTokenExchange is OAuth 2.0 Token Exchange (RFC 8693).
const GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

// TokenExchange configures token exchange (RFC 8693): confidential clients
// trade a user's access token for one of their own, narrower.
type TokenExchange struct {
	// Enabled serves the grant (for clients that list it in their
	// grant_types) and advertises it; default false.
	Enabled bool `yaml:"enabled"`
}

// ClientTokenExchange widens whose tokens one client may exchange: by
// default only those issued to it or naming it in their audience.
type ClientTokenExchange struct {
	// SubjectClients are the clients whose users' tokens it may
	// exchange; "*" for any.
	SubjectClients []string `yaml:"subject_clients"`
	// SubjectResources are resources (URIs of resources[]): it may
	// exchange tokens issued for one of them, as the API receiving them.
	SubjectResources []string `yaml:"subject_resources"`
}

func (c *Config) validateTokenExchange() []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{c.key(path)}, args...)...))
	}
	for i, cl := range c.Clients {
		if !slices.Contains(cl.GrantTypes, GrantTokenExchange) {
			if cl.TokenExchange != nil {
				bad(fmt.Sprintf("clients[%d].token_exchange", i), "needs %s in the client's grant_types", GrantTokenExchange)
			}
			continue
		}
		if !c.TokenExchange.Enabled {
			bad(fmt.Sprintf("clients[%d].grant_types", i), "%s needs token_exchange.enabled", GrantTokenExchange)
		}
		if cl.Public {
			bad(fmt.Sprintf("clients[%d].grant_types", i), "a public client cannot use %s", GrantTokenExchange)
		}
		if cl.TokenExchange == nil {
			continue
		}
		for j, s := range cl.TokenExchange.SubjectClients {
			if s == "" {
				bad(fmt.Sprintf("clients[%d].token_exchange.subject_clients[%d]", i, j), "empty client ID")
			}
		}
		for j, r := range cl.TokenExchange.SubjectResources {
			if !slices.ContainsFunc(c.Resources, func(res Resource) bool { return res.URI == r }) {
				bad(fmt.Sprintf("clients[%d].token_exchange.subject_resources[%d]", i, j), "%q is not one of resources[]", r)
			}
		}
	}
	return errs
}
