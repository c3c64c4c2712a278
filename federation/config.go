package federation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Provider types: the two generic connectors and the presets.
const (
	TypeOIDC      = "oidc"
	TypeOAuth2    = "oauth2"
	TypeGoogle    = "google"
	TypeMicrosoft = "microsoft"
	TypeApple     = "apple"
	TypeGitHub    = "github"
	TypeGitLab    = "gitlab"
	TypeFacebook  = "facebook"
	TypeLinkedIn  = "linkedin"
)

// Types lists the provider types New accepts, generic first.
var Types = []string{TypeOIDC, TypeOAuth2, TypeGoogle, TypeMicrosoft, TypeApple, TypeGitHub, TypeGitLab, TypeFacebook, TypeLinkedIn}

// UpdateProfile values.
const (
	UpdateProfileEveryLogin = "every_login"
	UpdateProfileOnce       = "once"
)

// TokenAuthMethod values: how the client authenticates at the upstream's
// token endpoint.
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
)

// Profile fields that ClaimMapping may map.
var profileFields = []string{"subject", "email", "email_verified", "name", "given_name", "family_name", "nickname", "picture", "locale"}

// Config is one upstream provider, as written in Atrium's configuration.
// Presets fill in endpoints, scopes and claim mappings; every endpoint can
// still be overridden (self-hosted GitLab, tests).
type Config struct {
	// ID names the provider in URLs and linked identities: lower-case
	// letters, digits, '-' and '_'. It must not change once users linked.
	ID   string `yaml:"id" json:"id"`
	Type string `yaml:"type" json:"type"`
	// Label is the button text; default "Continue with <name>".
	Label string `yaml:"label" json:"label,omitempty"`
	Logo  string `yaml:"logo" json:"logo,omitempty"`

	ClientID     string `yaml:"client_id" json:"client_id"`
	ClientSecret string `yaml:"client_secret" json:"client_secret,omitempty"`

	// Issuer is the OpenID Connect issuer, where discovery starts.
	Issuer string `yaml:"issuer" json:"issuer,omitempty"`
	// AuthURL, TokenURL and UserinfoURL are required for "oauth2" and
	// override the discovered or preset endpoints otherwise.
	AuthURL     string `yaml:"auth_url" json:"auth_url,omitempty"`
	TokenURL    string `yaml:"token_url" json:"token_url,omitempty"`
	UserinfoURL string `yaml:"userinfo_url" json:"userinfo_url,omitempty"`
	// APIBaseURL is the REST API root of GitHub (https://api.github.com)
	// or Facebook's Graph API (https://graph.facebook.com/v19.0).
	APIBaseURL string `yaml:"api_base_url" json:"api_base_url,omitempty"`

	// Scopes replace the preset's default scopes. OpenID Connect types
	// always request "openid".
	Scopes []string `yaml:"scopes" json:"scopes,omitempty"`
	// ClaimMapping maps a profile field (subject, email, email_verified,
	// name, given_name, family_name, nickname, picture, locale) to a path in
	// the upstream claims: dot-separated keys, numbers index arrays
	// ("emails.0.value", "profile.name").
	ClaimMapping map[string]string `yaml:"claim_mapping" json:"claim_mapping,omitempty"`
	// TokenAuthMethod (oidc, oauth2) is how the client secret goes to the
	// token endpoint: "client_secret_basic" (HTTP Basic) or
	// "client_secret_post" (form body). By default, basic for oauth2; for
	// oidc, basic unless discovery lists only client_secret_post. Presets
	// use what their upstream requires. One style, never a retry with the
	// other: a timing-out token endpoint costs one timeout.
	TokenAuthMethod string `yaml:"token_auth_method" json:"token_auth_method,omitempty"`
	// DisablePKCE stops sending code_challenge, for upstreams that reject it.
	DisablePKCE bool `yaml:"disable_pkce" json:"disable_pkce,omitempty"`

	// RequireVerifiedEmail fails sign-ins without a verified email
	// (ErrMissingEmail).
	RequireVerifiedEmail bool `yaml:"require_verified_email" json:"require_verified_email,omitempty"`
	// TrustEmail marks the provider's verified emails as good enough to link
	// to an existing account automatically. Carried for the caller.
	TrustEmail bool `yaml:"trust_email" json:"trust_email,omitempty"`
	// UpdateProfile is "every_login" (default) or "once". Carried for the caller.
	UpdateProfile string `yaml:"update_profile" json:"update_profile,omitempty"`
	// StoreTokens asks the caller to keep Identity.Token. Carried for the caller.
	StoreTokens bool `yaml:"store_tokens" json:"store_tokens,omitempty"`

	// HostedDomain (google) restricts sign-in to one Google Workspace
	// domain: sent as hd and checked against the ID token's hd claim.
	HostedDomain string `yaml:"hosted_domain" json:"hosted_domain,omitempty"`
	// Tenant (microsoft) is "common" (default), "organizations",
	// "consumers" or a tenant ID or domain.
	Tenant string `yaml:"tenant" json:"tenant,omitempty"`
	// TeamID, KeyID and PrivateKey (apple) sign the client secret JWT;
	// PrivateKey is the PEM PKCS#8 P-256 key downloaded from Apple.
	TeamID     string `yaml:"team_id" json:"team_id,omitempty"`
	KeyID      string `yaml:"key_id" json:"key_id,omitempty"`
	PrivateKey string `yaml:"private_key" json:"private_key,omitempty"`
}

var (
	idPattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	tenantPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,127}$`)
)

// Validate checks the whole configuration and reports every problem at once,
// each naming its key.
func (c *Config) Validate() error {
	var errs []error
	name := c.ID
	if name == "" {
		name = "(no id)"
	}
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("federation provider %q: %s: "+format, append([]any{name, key}, args...)...))
	}
	only := func(key, value, typ string) {
		if value != "" && c.Type != typ {
			bad(key, "only applies to type %q", typ)
		}
	}
	absURL := func(key, v string, required bool) {
		if v == "" {
			if required {
				bad(key, "must not be empty for type %q", c.Type)
			}
			return
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			bad(key, "%q is not an absolute http(s) URL", v)
		} else if u.User != nil || u.Fragment != "" {
			bad(key, "%q must not have user info or a fragment", v)
		}
	}

	if !idPattern.MatchString(c.ID) {
		bad("id", "%q must be 1 to 64 lower-case letters, digits, '-' or '_'", c.ID)
	}
	if !slices.Contains(Types, c.Type) {
		bad("type", "%q is not one of %s", c.Type, strings.Join(Types, ", "))
	}
	if c.ClientID == "" {
		bad("client_id", "must not be empty")
	}
	switch {
	case c.Type == TypeApple && c.ClientSecret != "":
		bad("client_secret", "must be empty for type apple: the secret is signed with private_key")
	case c.Type != TypeApple && c.ClientSecret == "":
		bad("client_secret", "must not be empty")
	}
	absURL("issuer", c.Issuer, c.Type == TypeOIDC)
	absURL("auth_url", c.AuthURL, c.Type == TypeOAuth2)
	absURL("token_url", c.TokenURL, c.Type == TypeOAuth2)
	absURL("userinfo_url", c.UserinfoURL, c.Type == TypeOAuth2)
	absURL("api_base_url", c.APIBaseURL, false)
	absURL("logo", c.Logo, false)
	if c.APIBaseURL != "" && c.Type != TypeGitHub && c.Type != TypeFacebook {
		bad("api_base_url", "only applies to types github and facebook")
	}
	for i, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\n") {
			bad(fmt.Sprintf("scopes[%d]", i), "%q must be one non-empty scope without spaces", s)
		}
	}
	for _, field := range slices.Sorted(maps.Keys(c.ClaimMapping)) {
		if !slices.Contains(profileFields, field) {
			bad("claim_mapping", "%q is not one of %s", field, strings.Join(profileFields, ", "))
		} else if c.ClaimMapping[field] == "" {
			bad("claim_mapping."+field, "must not be empty")
		}
	}
	switch c.UpdateProfile {
	case "", UpdateProfileEveryLogin, UpdateProfileOnce:
	default:
		bad("update_profile", "%q is not %q or %q", c.UpdateProfile, UpdateProfileEveryLogin, UpdateProfileOnce)
	}
	switch c.TokenAuthMethod {
	case "", AuthClientSecretBasic, AuthClientSecretPost:
		if c.TokenAuthMethod != "" && c.Type != TypeOIDC && c.Type != TypeOAuth2 {
			bad("token_auth_method", "only applies to types %q and %q", TypeOIDC, TypeOAuth2)
		}
	default:
		bad("token_auth_method", "%q is not %q or %q", c.TokenAuthMethod, AuthClientSecretBasic, AuthClientSecretPost)
	}
	only("hosted_domain", c.HostedDomain, TypeGoogle)
	only("tenant", c.Tenant, TypeMicrosoft)
	if c.Tenant != "" && !tenantPattern.MatchString(c.Tenant) {
		bad("tenant", "%q is not a tenant name, ID or domain", c.Tenant)
	}
	only("team_id", c.TeamID, TypeApple)
	only("key_id", c.KeyID, TypeApple)
	only("private_key", c.PrivateKey, TypeApple)
	if c.Type == TypeApple {
		if c.TeamID == "" {
			bad("team_id", "must not be empty for type apple")
		}
		if c.KeyID == "" {
			bad("key_id", "must not be empty for type apple")
		}
		if c.PrivateKey == "" {
			bad("private_key", "must not be empty for type apple")
		} else if _, err := parseAppleKey(c.PrivateKey); err != nil {
			bad("private_key", "%v", err)
		}
	}
	return errors.Join(errs...)
}

// parseAppleKey reads the PEM PKCS#8 P-256 key Apple issues for Sign in
// with Apple. Errors never quote the key.
func parseAppleKey(s string) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return nil, errors.New("is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("is not a PKCS#8 private key")
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("is not an EC P-256 key")
	}
	return ec, nil
}
