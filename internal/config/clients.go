package config

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// Grant types and token endpoint authentication methods a client may use.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"

	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
	AuthNone              = "none"
)

// Client rules shared by the config file and the clients command.
var (
	GrantTypes        = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode, GrantTokenExchange}
	AuthMethods       = []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthNone}
	DefaultGrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	DefaultScopes     = []string{"openid", "profile", "email", "offline_access"}
	DefaultAuthMethod = AuthClientSecretBasic
)

// CheckRedirectURI accepts an absolute URL without a fragment. Custom
// schemes (com.example.app:/callback) are allowed for native apps; http and
// https URLs need a host.
func CheckRedirectURI(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %w", s, err)
	case !u.IsAbs():
		return fmt.Errorf("%q is not an absolute URL", s)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("%q must not contain a fragment", s)
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host == "":
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

// CheckScope accepts a non-empty scope token without white space or quotes.
func CheckScope(s string) error {
	if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
		return fmt.Errorf("%q is not a scope token", s)
	}
	return nil
}

// CheckJWKS accepts a JSON Web Key Set of public signing keys with at least
// one RSA key: client assertions are verified with RS256.
func CheckJWKS(b []byte) error {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	if len(set.Keys) == 0 {
		return errors.New("the key set has no keys")
	}
	for i, k := range set.Keys {
		switch {
		case !k.Valid():
			return fmt.Errorf("key %d is not valid", i)
		case !k.IsPublic():
			return fmt.Errorf("key %d (kid %q) is a private key: publish only public keys", i, k.KeyID)
		case k.Use == "enc":
			return fmt.Errorf("key %d (kid %q) is for encryption, not signatures", i, k.KeyID)
		}
	}
	if !slices.ContainsFunc(set.Keys, func(k jose.JSONWebKey) bool { _, ok := k.Key.(*rsa.PublicKey); return ok }) {
		return errors.New("no RSA key: client assertions are verified with RS256")
	}
	return nil
}

// CheckEmail accepts a bare address such as ada@example.com.
func CheckEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return fmt.Errorf("%q is not an email address", s)
	}
	return nil
}

func (c *Config) validateClients() []error {
	var errs []error
	seen := map[string]bool{}
	for i, cl := range c.Clients {
		bad := func(key, format string, args ...any) {
			path := fmt.Sprintf("clients[%d].%s", i, key)
			errs = append(errs, fmt.Errorf("%s: "+format, append([]any{c.key(path)}, args...)...))
		}
		switch {
		case cl.ID == "":
			bad("id", "required")
		case seen[cl.ID]:
			bad("id", "%q is declared twice", cl.ID)
		}
		seen[cl.ID] = true
		for j, g := range cl.GrantTypes {
			if !slices.Contains(GrantTypes, g) {
				bad(fmt.Sprintf("grant_types[%d]", j), "unknown grant type %q (accepted: %s)", g, strings.Join(GrantTypes, ", "))
			}
		}
		if cl.IDTokenSignedResponseAlg != "" && !slices.Contains(Algorithms, cl.IDTokenSignedResponseAlg) {
			bad("id_token_signed_response_alg", "%q is not one of %s", cl.IDTokenSignedResponseAlg, strings.Join(Algorithms, ", "))
		}
		if !slices.Contains(AuthMethods, cl.TokenEndpointAuthMethod) {
			bad("token_endpoint_auth_method", "unknown method %q (accepted: %s)", cl.TokenEndpointAuthMethod, strings.Join(AuthMethods, ", "))
		}
		switch {
		case cl.Public && cl.TokenEndpointAuthMethod != AuthNone:
			bad("token_endpoint_auth_method", "a public client authenticates with none, not %s", cl.TokenEndpointAuthMethod)
		case cl.Public && cl.Secret != "":
			bad("secret", "a public client has no secret")
		case cl.TokenEndpointAuthMethod == AuthPrivateKeyJWT && cl.Secret != "":
			bad("secret", "a private_key_jwt client has no secret")
		case (cl.TokenEndpointAuthMethod == AuthClientSecretBasic || cl.TokenEndpointAuthMethod == AuthClientSecretPost) && cl.Secret == "":
			bad("secret", "required for a %s client (or set public: true)", cl.TokenEndpointAuthMethod)
		}
		if cl.Public && slices.Contains(cl.GrantTypes, GrantClientCredentials) {
			bad("grant_types", "a public client cannot use client_credentials")
		}
		switch {
		case cl.TokenEndpointAuthMethod == AuthPrivateKeyJWT && cl.JWKSFile == "":
			bad("jwks_file", "required for private_key_jwt")
		case cl.TokenEndpointAuthMethod != AuthPrivateKeyJWT && cl.JWKSFile != "":
			bad("jwks_file", "only private_key_jwt clients have a key set")
		case cl.JWKSFile != "":
			if b, err := os.ReadFile(cl.JWKSFile); err != nil {
				bad("jwks_file", "%v", err)
			} else if err := CheckJWKS(b); err != nil {
				bad("jwks_file", "%s: %v", cl.JWKSFile, err)
			} else if err := CheckRequestObjectKeys(cl.RequestObjectSigningAlg, b); err != nil {
				bad("request_object_signing_alg", "%s: %v", cl.JWKSFile, err)
			}
		}
		if slices.Contains(cl.GrantTypes, GrantAuthorizationCode) && len(cl.RedirectURIs) == 0 {
			bad("redirect_uris", "required for the authorization_code grant")
		}
		for j, u := range cl.RedirectURIs {
			if err := CheckRedirectURI(u); err != nil {
				bad(fmt.Sprintf("redirect_uris[%d]", j), "%v", err)
			}
		}
		for j, u := range cl.PostLogoutRedirectURIs {
			if err := CheckRedirectURI(u); err != nil {
				bad(fmt.Sprintf("post_logout_redirect_uris[%d]", j), "%v", err)
			}
		}
		for j, s := range cl.Scopes {
			if err := CheckScope(s); err != nil {
				bad(fmt.Sprintf("scopes[%d]", j), "%v", err)
			}
		}
		if err := CheckRequestObjectAlg(cl.RequestObjectSigningAlg, cl.JWKSFile != ""); err != nil {
			bad("request_object_signing_alg", "%v", err)
		}
		for j, u := range cl.RequestURIs {
			if err := CheckRequestURI(u); err != nil {
				bad(fmt.Sprintf("request_uris[%d]", j), "%v", err)
			}
		}
	}
	return errs
}

func (c *Config) validateUsers() []error {
	var errs []error
	seen := map[string]bool{}
	for i, u := range c.Users {
		bad := func(key, format string, args ...any) {
			path := fmt.Sprintf("users[%d].%s", i, key)
			errs = append(errs, fmt.Errorf("%s: "+format, append([]any{c.key(path)}, args...)...))
		}
		email := strings.ToLower(u.Email)
		switch {
		case u.Email == "":
			bad("email", "required")
		case CheckEmail(u.Email) != nil:
			bad("email", "%v", CheckEmail(u.Email))
		case seen[email]:
			bad("email", "%q is declared twice", u.Email)
		}
		seen[email] = true
		if u.Password == "" {
			bad("password", "required")
		}
	}
	return errs
}
