package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const exchangeBase = resourcesBase + `resources:
  - {uri: "https://api.example.com/orders", name: orders}
`

func TestTokenExchangeConfig(t *testing.T) {
	c, err := loadYAML(t, exchangeBase+`
token_exchange:
  enabled: true
clients:
  - id: orders-api
    secret: s3cret-s3cret
    grant_types: [client_credentials, "urn:ietf:params:oauth:grant-type:token-exchange"]
    token_exchange:
      subject_clients: [shop]
      subject_resources: ["https://api.example.com/orders"]
`)
	if err != nil {
		t.Fatal(err)
	}
	if !c.TokenExchange.Enabled {
		t.Fatal("token_exchange.enabled not read")
	}
	te := c.Clients[0].TokenExchange
	if te == nil || !slices.Equal(te.SubjectClients, []string{"shop"}) || !slices.Equal(te.SubjectResources, []string{"https://api.example.com/orders"}) {
		t.Fatalf("clients[0].token_exchange = %+v", te)
	}
	path := filepath.Join(t.TempDir(), "atrium.yaml")
	if err := os.WriteFile(path, []byte(exchangeBase), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = load(t, path, envOf(map[string]string{"ATRIUM_TOKEN_EXCHANGE_ENABLED": "true"}))
	if err != nil || !c.TokenExchange.Enabled {
		t.Fatalf("from the environment: %v %+v", err, c.TokenExchange)
	}
}

func TestTokenExchangeConfigRejectsBadInput(t *testing.T) {
	const grant = `"urn:ietf:params:oauth:grant-type:token-exchange"`
	for _, tc := range []struct{ name, yaml, want string }{
		{"grant while disabled", "clients:\n  - {id: a, secret: s3cret, grant_types: [" + grant + "]}\n",
			"clients[0].grant_types: urn:ietf:params:oauth:grant-type:token-exchange needs token_exchange.enabled"},
		{"public client", "token_exchange: {enabled: true}\nclients:\n  - {id: a, public: true, token_endpoint_auth_method: none, grant_types: [" + grant + "]}\n",
			"clients[0].grant_types: a public client cannot use urn:ietf:params:oauth:grant-type:token-exchange"},
		{"settings without the grant", "token_exchange: {enabled: true}\nclients:\n  - {id: a, secret: s3cret, grant_types: [client_credentials], token_exchange: {subject_clients: [b]}}\n",
			"clients[0].token_exchange: needs urn:ietf:params:oauth:grant-type:token-exchange in the client's grant_types"},
		{"unknown resource", "token_exchange: {enabled: true}\nclients:\n  - {id: a, secret: s3cret, grant_types: [" + grant + "], token_exchange: {subject_resources: [\"https://b.example.com\"]}}\n",
			`clients[0].token_exchange.subject_resources[0]: "https://b.example.com" is not one of resources[]`},
		{"empty client", "token_exchange: {enabled: true}\nclients:\n  - {id: a, secret: s3cret, grant_types: [" + grant + "], token_exchange: {subject_clients: [\"\"]}}\n",
			"clients[0].token_exchange.subject_clients[0]: empty client ID"},
		{"unknown key", "token_exchange: {enabled: true, lifespan: 1m}\n", "lifespan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, exchangeBase+tc.yaml)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
