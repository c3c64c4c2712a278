package authz

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ory/fosite"

	"github.com/atrium-id/atrium/consent"
	"github.com/atrium-id/atrium/storage"
)

// Scope is an operator-defined scope: its description is the consent
// screen's, and it releases Claims, standard claims and attributes.
type Scope struct {
	Name        string
	Description string
	Claims      []string
}

// claimSet is a provider's scopes: the built-in ones (scopeClaims,
// supportedScopes) and the operator's (Config.Scopes), each with the
// claims it releases, and the operator's attributes.
type claimSet struct {
	scopes       map[string][]string
	supported    []string
	descriptions map[string]string
	attributes   map[string]storage.AttributeDef
}

// standardClaims reads the standard claims Atrium holds of a user; each
// returns false when the user has no value.
var standardClaims = map[string]func(u *storage.User) (any, bool){
	"name":           str(func(u *storage.User) string { return u.Name }),
	"given_name":     str(func(u *storage.User) string { return u.GivenName }),
	"family_name":    str(func(u *storage.User) string { return u.FamilyName }),
	"nickname":       str(func(u *storage.User) string { return u.Nickname }),
	"picture":        str(func(u *storage.User) string { return u.Picture }),
	"locale":         str(func(u *storage.User) string { return u.Locale }),
	"zoneinfo":       str(func(u *storage.User) string { return u.Zoneinfo }),
	"email":          str(func(u *storage.User) string { return u.Email }),
	"phone_number":   str(func(u *storage.User) string { return u.PhoneNumber }),
	"email_verified": func(u *storage.User) (any, bool) { return u.EmailVerified, u.Email != "" },
	"phone_number_verified": func(u *storage.User) (any, bool) {
		return u.PhoneNumberVerified, u.PhoneNumber != ""
	},
	"address":    func(u *storage.User) (any, bool) { return u.Address, u.Address != (storage.Address{}) },
	"updated_at": func(u *storage.User) (any, bool) { return u.UpdatedAt.Unix(), !u.UpdatedAt.IsZero() },
}

func str(get func(*storage.User) string) func(*storage.User) (any, bool) {
	return func(u *storage.User) (any, bool) { v := get(u); return v, v != "" }
}

// newClaimSet builds the scopes of a provider: the built-in ones plus
// scopes, whose claims are standard claims or attributes.
func newClaimSet(scopes []Scope, attrs []storage.AttributeDef) (*claimSet, error) {
	cs := &claimSet{scopes: map[string][]string{}, supported: slices.Clone(supportedScopes),
		descriptions: map[string]string{}, attributes: map[string]storage.AttributeDef{}}
	for s, claims := range scopeClaims {
		cs.scopes[s] = claims
	}
	var errs []error
	for _, a := range attrs {
		if _, ok := standardClaims[a.Name]; ok || a.Name == "sub" {
			errs = append(errs, fmt.Errorf("attribute %q: a standard claim's name", a.Name))
		}
		cs.attributes[a.Name] = a
	}
	for _, s := range scopes {
		if _, ok := cs.scopes[s.Name]; ok {
			errs = append(errs, fmt.Errorf("scope %q: defined twice or built in", s.Name))
			continue
		}
		for _, c := range s.Claims {
			if _, ok := standardClaims[c]; !ok && cs.attributes[c].Name == "" {
				errs = append(errs, fmt.Errorf("scope %q: unknown claim %q", s.Name, c))
			}
		}
		cs.scopes[s.Name] = slices.Clone(s.Claims)
		cs.supported = append(cs.supported, s.Name)
		cs.descriptions[s.Name] = s.Description
	}
	return cs, errors.Join(errs...)
}

// claimsSupported are every claim the scopes release, once each.
func (cs *claimSet) claimsSupported() []string {
	var out []string
	for _, s := range cs.supported {
		for _, c := range cs.scopes[s] {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// describe is the consent screen's plain words for scope: the operator's
// description of their scope, else the built-in one.
func (cs *claimSet) describe(scope string) string {
	if d, ok := cs.descriptions[scope]; ok {
		return d
	}
	return consent.Describe(scope)
}

// userClaims returns the claims the granted scopes release about u: each
// standard claim the user has a value of, and each attribute the user
// holds a value of its type of.
func (p *Provider) userClaims(u *storage.User, scopes fosite.Arguments) map[string]any {
	c := map[string]any{}
	for _, s := range scopes {
		for _, name := range p.claims.scopes[s] {
			if get, ok := standardClaims[name]; ok {
				if v, ok := get(u); ok {
					c[name] = v
				}
				continue
			}
			if a, ok := p.claims.attributes[name]; ok {
				if v, ok := a.Value(u); ok {
					c[name] = v
				}
			}
		}
	}
	return c
}
