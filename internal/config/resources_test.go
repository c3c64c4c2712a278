package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const resourcesBase = "issuer: https://id.example.com\nmaster_secret: kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\n"

func TestResources(t *testing.T) {
	c, err := loadYAML(t, resourcesBase+`
tokens:
  jwt_access_token_lifespan: 5m
resources:
  - {uri: "https://api.example.com/orders", name: Orders, scopes: [orders.read]}
clients:
  - id: agent
    secret: s3cret-s3cret
    grant_types: [client_credentials]
    resources: ["https://api.example.com/orders"]
    access_token_format: jwt
`)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Resources[0]; r.URI != "https://api.example.com/orders" || r.Name != "Orders" || !slices.Equal(r.Scopes, []string{"orders.read"}) {
		t.Fatalf("resources = %+v", c.Resources)
	}
	if c.Tokens.JWTAccessTokenLifespan.D != 5*time.Minute {
		t.Fatalf("tokens.jwt_access_token_lifespan = %v", c.Tokens.JWTAccessTokenLifespan)
	}
	if cl := c.Clients[0]; !slices.Equal(cl.Resources, []string{"https://api.example.com/orders"}) || cl.AccessTokenFormat != AccessTokenJWT {
		t.Fatalf("client = %+v", cl)
	}
}

func TestResourcesRejectBadInput(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"no uri", "resources:\n  - {name: A}\n", "resources[0].uri: required"},
		{"relative", "resources:\n  - {uri: /api}\n", `resources[0].uri: "/api" is not an absolute http(s) URL`},
		{"plain http", "resources:\n  - {uri: \"http://api.example.com\"}\n", "must use https unless its host is loopback"},
		{"fragment", "resources:\n  - {uri: \"https://api.example.com/#x\"}\n", "must not contain a fragment"},
		{"twice", "resources:\n  - {uri: \"https://a.example.com\"}\n  - {uri: \"https://a.example.com\"}\n", `resources[1].uri: "https://a.example.com" is declared twice`},
		{"bad scope", "resources:\n  - {uri: \"https://a.example.com\", scopes: [\"a b\"]}\n", "resources[0].scopes[0]"},
		{"unknown key", "resources:\n  - {uri: \"https://a.example.com\", audience: x}\n", "resources[0].audience: unknown key"},
		{"client names an unknown resource", "clients:\n  - {id: a, secret: s3cret, grant_types: [client_credentials], resources: [\"https://b.example.com\"]}\n",
			`clients[0].resources[0]: "https://b.example.com" is not one of the resources`},
		{"bad JWT lifespan", "tokens:\n  jwt_access_token_lifespan: soon\n", `tokens.jwt_access_token_lifespan: "soon" is not a duration`},
		{"negative JWT lifespan", "tokens:\n  jwt_access_token_lifespan: -1m\n", "tokens.jwt_access_token_lifespan: must not be negative"},
		{"unknown access token format", "clients:\n  - {id: a, secret: s3cret, grant_types: [client_credentials], access_token_format: paseto}\n",
			`clients[0].access_token_format: "paseto" is not one of opaque, jwt`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, resourcesBase+tc.yaml)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
