package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Attribute is an operator-defined user attribute: a claim of the user's
// beyond the standard OpenID Connect ones, released by the scopes that
// list it and shown on the account area's profile page.
type Attribute struct {
	// Name is the claim's name: lower-case letters, digits and '_'.
	Name string `yaml:"name"`
	// Label names it on the profile page.
	Label string `yaml:"label"`
	// Type is string (the default), boolean or number.
	Type string `yaml:"type"`
	// Editable lets the user change it on the profile page.
	Editable bool `yaml:"editable"`
	// MaxLength is the most characters a string holds; default 200.
	MaxLength int `yaml:"max_length"`
}

// Scope is an operator-defined scope: what an app may ask for, described
// on the consent screen, releasing Claims (standard claims and
// attributes) in the ID token and at userinfo.
type Scope struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Claims      []string `yaml:"claims"`
}

// Attribute types.
var AttributeTypes = []string{"string", "boolean", "number"}

// Limits of attributes and scopes.
const (
	DefaultAttributeMaxLength = 200
	MaxAttributeMaxLength     = 10000
	maxAttributeName          = 64
	maxLabel                  = 100
	maxScopeName              = 100
	maxScopeDescription       = 200
)

// ReleasableClaims are the standard claims Atrium holds of a user, which
// operator-defined scopes may release.
var ReleasableClaims = []string{
	"name", "given_name", "family_name", "nickname", "picture", "locale", "zoneinfo", "updated_at",
	"email", "email_verified", "address", "phone_number", "phone_number_verified",
}

// reservedClaims are the standard OpenID Connect claims and the
// registered claims of JWTs and ID tokens: no attribute takes their name.
var reservedClaims = []string{
	// OpenID Connect Core 1.0, 5.1.
	"sub", "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile",
	"picture", "website", "email", "email_verified", "gender", "birthdate", "zoneinfo", "locale",
	"phone_number", "phone_number_verified", "address", "updated_at",
	// RFC 7519 and the ID token.
	"iss", "aud", "exp", "nbf", "iat", "jti", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash",
	"s_hash", "sid", "cnf", "scope", "client_id", "typ", "events", "_claim_names", "_claim_sources",
}

// BuiltinScopes are the scopes Atrium defines itself; no operator scope
// takes their name.
var BuiltinScopes = []string{"openid", "profile", "email", "address", "phone", "offline_access", "account.read", "account.write"}

var attributeNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// plainText reports whether s is at most max characters of text without
// control characters, and not blank.
func plainText(s string, max int) bool {
	return strings.TrimSpace(s) != "" && utf8.ValidString(s) && utf8.RuneCountInString(s) <= max &&
		strings.IndexFunc(s, unicode.IsControl) < 0
}

// setClaimDefaults fills the attributes' type and max_length.
func (c *Config) setClaimDefaults() {
	for i := range c.Attributes {
		a := &c.Attributes[i]
		if a.Type == "" {
			a.Type = "string"
		}
		if a.Type == "string" && a.MaxLength == 0 {
			a.MaxLength = DefaultAttributeMaxLength
		}
	}
}

// listKey names path, an entry of the list key list, with the variable
// that set the list if any.
func (c *Config) listKey(list, path string) string {
	if env, ok := c.from[list]; ok {
		return path + " (from " + env + ")"
	}
	return path
}

func (c *Config) validateClaims() []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		list, _, _ := strings.Cut(path, "[")
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{c.listKey(list, path)}, args...)...))
	}
	attrs := map[string]bool{}
	for i, a := range c.Attributes {
		key := func(k string) string { return fmt.Sprintf("attributes[%d].%s", i, k) }
		switch {
		case a.Name == "":
			bad(key("name"), "required")
		case len(a.Name) > maxAttributeName || !attributeNameRe.MatchString(a.Name):
			bad(key("name"), "%q must be at most %d lower-case letters, digits or '_', starting with a letter", a.Name, maxAttributeName)
		case slices.Contains(reservedClaims, a.Name):
			bad(key("name"), "%q is a standard or registered claim; choose another name", a.Name)
		case attrs[a.Name]:
			bad(key("name"), "%q is declared twice", a.Name)
		}
		attrs[a.Name] = true
		if !plainText(a.Label, maxLabel) {
			bad(key("label"), "required, at most %d characters, without control characters", maxLabel)
		}
		switch {
		case !slices.Contains(AttributeTypes, a.Type):
			bad(key("type"), "%q is not one of %s", a.Type, strings.Join(AttributeTypes, ", "))
		case a.Type != "string" && a.MaxLength != 0:
			bad(key("max_length"), "only string attributes have a length")
		case a.Type == "string" && (a.MaxLength < 1 || a.MaxLength > MaxAttributeMaxLength):
			bad(key("max_length"), "must be between 1 and %d, got %d", MaxAttributeMaxLength, a.MaxLength)
		}
	}
	scopes := map[string]bool{}
	for i, s := range c.Scopes {
		key := func(k string) string { return fmt.Sprintf("scopes[%d].%s", i, k) }
		switch {
		case s.Name == "":
			bad(key("name"), "required")
		case CheckScope(s.Name) != nil || len(s.Name) > maxScopeName || strings.IndexFunc(s.Name, unicode.IsControl) >= 0:
			bad(key("name"), "%q must be a scope token of at most %d characters, without spaces or quotes", s.Name, maxScopeName)
		case slices.Contains(BuiltinScopes, s.Name):
			bad(key("name"), "%q is a built-in scope; choose another name", s.Name)
		case scopes[s.Name]:
			bad(key("name"), "%q is declared twice", s.Name)
		}
		scopes[s.Name] = true
		if !plainText(s.Description, maxScopeDescription) {
			bad(key("description"), "required, at most %d characters, without control characters: the consent screen shows it", maxScopeDescription)
		}
		for j, cl := range s.Claims {
			switch {
			case !slices.Contains(ReleasableClaims, cl) && !attrs[cl]:
				bad(fmt.Sprintf("scopes[%d].claims[%d]", i, j), "%q is neither an attribute nor one of the standard claims %s", cl, strings.Join(ReleasableClaims, ", "))
			case slices.Contains(s.Claims[:j], cl):
				bad(fmt.Sprintf("scopes[%d].claims[%d]", i, j), "%q is listed twice", cl)
			}
		}
	}
	return errs
}
