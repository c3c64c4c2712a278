package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRegistrationUnset(t *testing.T) {
	c, err := loadYAML(t, "issuer: https://id.example.com\n")
	if err != nil {
		t.Fatal(err)
	}
	// The provider applies the defaults (authz.Registration).
	if r := c.Registration; r.Mode != "" || r.AllowedGrantTypes != nil || r.AnonymousRefreshTokenLifespan.D != 0 {
		t.Errorf("registration without keys = %+v, want the zero value", r)
	}
}

func TestRegistrationConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("# comment\nfile-token-0123456789abcdef\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadYAML(t, `
registration:
  mode: token
  initial_access_tokens: [inline-token-0123456789abcdef]
  initial_access_tokens_file: `+file+`
  allowed_redirect_hosts: [app.example.com]
  allowed_grant_types: [authorization_code]
  allowed_auth_methods: [private_key_jwt]
  anonymous_refresh_token_lifespan: 2h
`)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := c.InitialAccessTokenList()
	if err != nil || !slices.Equal(tokens, []string{"inline-token-0123456789abcdef", "file-token-0123456789abcdef"}) {
		t.Errorf("InitialAccessTokenList() = %q, %v", tokens, err)
	}
	if c.Registration.AnonymousRefreshTokenLifespan.D != 2*time.Hour || !slices.Equal(c.Registration.AllowedAuthMethods, []string{"private_key_jwt"}) {
		t.Errorf("registration = %+v", c.Registration)
	}
}

func TestBadRegistrationConfigs(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown mode", "mode: public", `registration.mode: "public" is not one of off, open, token`},
		{"token without tokens", "mode: token", "registration.initial_access_tokens: required in mode token"},
		{"tokens in mode open", "mode: open\n  initial_access_tokens: [abcdefghijklmnopqrstuvwxyz]", "only mode token uses initial access tokens"},
		{"short token", "mode: token\n  initial_access_tokens: [short]", "registration.initial_access_tokens: a token is shorter than 20 characters"},
		{"missing token file", "mode: token\n  initial_access_tokens_file: /does/not/exist", "registration.initial_access_tokens_file: open /does/not/exist"},
		{"unknown grant type", "allowed_grant_types: [password]", `registration.allowed_grant_types[0]: unknown grant type "password"`},
		{"unknown auth method", "allowed_auth_methods: [client_secret_jwt]", `registration.allowed_auth_methods[0]: unknown method "client_secret_jwt"`},
		{"host with a path", "allowed_redirect_hosts: [app.example.com/cb]", `registration.allowed_redirect_hosts[0]: "app.example.com/cb" is not a host name`},
		{"bad lifespan", "anonymous_refresh_token_lifespan: soon", `registration.anonymous_refresh_token_lifespan: "soon" is not a duration`},
		{"negative lifespan", "anonymous_refresh_token_lifespan: -1h", "registration.anonymous_refresh_token_lifespan: must be positive"},
		{"unknown key", "moed: open", "registration.moed: unknown key"},
		{"negative hourly limit", "hourly_per_ip: -2", "registration.hourly_per_ip: must be -1 (no limit), 0 (the default, 20) or positive, got -2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, "registration:\n  "+tc.doc+"\n")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\ndoes not contain %q", err, tc.want)
			}
		})
	}
}
