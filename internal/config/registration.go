package config

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
)

// Registration modes: off (no registration endpoint), open (anyone may
// register a client) and token (registration needs an initial access
// token).
const (
	RegistrationOff   = "off"
	RegistrationOpen  = "open"
	RegistrationToken = "token"
)

// RegistrationModes are the accepted registration.mode values.
var RegistrationModes = []string{RegistrationOff, RegistrationOpen, RegistrationToken}

// minInitialAccessToken is the shortest initial access token accepted: it
// is a bearer secret.
const minInitialAccessToken = 20

// Registration is dynamic client registration (RFC 7591, OpenID Connect
// Dynamic Client Registration) and its policy.
type Registration struct {
	// Mode is off ("", the default), open or token. The other keys'
	// defaults are applied by the provider (authz.Registration).
	Mode string `yaml:"mode"`
	// InitialAccessTokens are the bearer tokens a registration must carry
	// in mode token; InitialAccessTokensFile names a file with one per
	// line instead.
	InitialAccessTokens     []string `yaml:"initial_access_tokens"`
	InitialAccessTokensFile string   `yaml:"initial_access_tokens_file"`
	// AllowedRedirectHosts limits the hosts of redirect URIs; empty for
	// any host.
	AllowedRedirectHosts []string `yaml:"allowed_redirect_hosts"`
	// AllowedGrantTypes and AllowedAuthMethods are what a registered
	// client may ask for; by default authorization_code and refresh_token,
	// and every token endpoint authentication method.
	AllowedGrantTypes  []string `yaml:"allowed_grant_types"`
	AllowedAuthMethods []string `yaml:"allowed_auth_methods"`
	// AnonymousRefreshTokenLifespan caps the refresh tokens of clients
	// registered in mode open (without an initial access token); default
	// 24h.
	AnonymousRefreshTokenLifespan Duration `yaml:"anonymous_refresh_token_lifespan"`
	// HourlyPerIP is how many registrations one client address may send
	// per hour in mode open; 0 for the default (20), -1 for no limit.
	HourlyPerIP int `yaml:"hourly_per_ip"`
	// AllowPrivateNetwork lets registered clients' back-channel logout
	// URIs reach loopback, private and link-local addresses.
	AllowPrivateNetwork bool `yaml:"allow_private_network"`
}

// InitialAccessTokenList returns the initial access tokens of mode token:
// registration.initial_access_tokens and the lines of
// registration.initial_access_tokens_file (blank lines and lines starting
// with # skipped).
func (c *Config) InitialAccessTokenList() ([]string, error) {
	tokens := slices.Clone(c.Registration.InitialAccessTokens)
	if f := c.Registration.InitialAccessTokensFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.key("registration.initial_access_tokens_file"), err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
				tokens = append(tokens, line)
			}
		}
	}
	return tokens, nil
}

func (c *Config) validateRegistration() []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{c.key(path)}, args...)...))
	}
	r := c.Registration
	if r.Mode != "" && !slices.Contains(RegistrationModes, r.Mode) {
		bad("registration.mode", "%q is not one of %s", r.Mode, strings.Join(RegistrationModes, ", "))
	}
	tokens, err := c.InitialAccessTokenList()
	switch {
	case err != nil:
		errs = append(errs, err)
	case r.Mode == RegistrationToken && len(tokens) == 0:
		bad("registration.initial_access_tokens", "required in mode token (or registration.initial_access_tokens_file)")
	case r.Mode != RegistrationToken && len(tokens) > 0:
		bad("registration.initial_access_tokens", "only mode token uses initial access tokens")
	}
	for _, t := range tokens {
		if len(t) < minInitialAccessToken {
			bad("registration.initial_access_tokens", "a token is shorter than %d characters (generate one with `openssl rand -base64 32`)", minInitialAccessToken)
			break
		}
	}
	for i, h := range r.AllowedRedirectHosts {
		if h == "" || strings.ContainsAny(h, "/:@ ") && net.ParseIP(strings.Trim(h, "[]")) == nil {
			bad(fmt.Sprintf("registration.allowed_redirect_hosts[%d]", i), "%q is not a host name", h)
		}
	}
	for i, g := range r.AllowedGrantTypes {
		if !slices.Contains(GrantTypes, g) {
			bad(fmt.Sprintf("registration.allowed_grant_types[%d]", i), "unknown grant type %q (accepted: %s)", g, strings.Join(GrantTypes, ", "))
		}
	}
	for i, m := range r.AllowedAuthMethods {
		if !slices.Contains(AuthMethods, m) {
			bad(fmt.Sprintf("registration.allowed_auth_methods[%d]", i), "unknown method %q (accepted: %s)", m, strings.Join(AuthMethods, ", "))
		}
	}
	if r.HourlyPerIP < -1 {
		bad("registration.hourly_per_ip", "must be -1 (no limit), 0 (the default, 20) or positive, got %d", r.HourlyPerIP)
	}
	switch d := r.AnonymousRefreshTokenLifespan; {
	case d.raw == "":
	case d.bad:
		bad("registration.anonymous_refresh_token_lifespan", "%q is not a duration (use Go syntax such as 90s, 15m, 1h, 720h)", d.raw)
	case d.D <= 0:
		bad("registration.anonymous_refresh_token_lifespan", "must be positive, got %s", d.D)
	}
	return errs
}
