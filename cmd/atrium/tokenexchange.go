package main

import (
	"github.com/atrium-id/atrium/authz"
	"github.com/atrium-id/atrium/internal/config"
)

// authzTokenExchange is the provider's token exchange settings: the
// switch, and whose tokens each configured client may exchange.
func authzTokenExchange(cfg *config.Config) authz.TokenExchange {
	te := authz.TokenExchange{Enabled: cfg.TokenExchange.Enabled}
	for _, c := range cfg.Clients {
		if c.TokenExchange == nil {
			continue
		}
		if te.Clients == nil {
			te.Clients = map[string]authz.TokenExchangeClient{}
		}
		te.Clients[c.ID] = authz.TokenExchangeClient{
			SubjectClients:   c.TokenExchange.SubjectClients,
			SubjectResources: c.TokenExchange.SubjectResources,
		}
	}
	return te
}
