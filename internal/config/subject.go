package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Subject types of a client (OpenID Connect Core §8): public clients see
// the user's ID as sub, pairwise clients a value of their sector.
const (
	SubjectPublic   = "public"
	SubjectPairwise = "pairwise"
)

// ClientSector checks a client's subject type ("" for public) and sector
// and returns the sector its pairwise subs are computed for: sector when
// given (a host name), else the one host of redirectURIs; "" for a public
// client.
func ClientSector(subjectType, sector string, redirectURIs []string) (string, error) {
	switch subjectType {
	case "", SubjectPublic:
		if sector != "" {
			return "", errors.New("a sector is for pairwise clients only")
		}
		return "", nil
	case SubjectPairwise:
	default:
		return "", fmt.Errorf("subject type %q is not %s or %s", subjectType, SubjectPublic, SubjectPairwise)
	}
	if sector != "" {
		if strings.ContainsFunc(sector, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-')
		}) {
			return "", fmt.Errorf("sector %q is not a host name", sector)
		}
		return strings.ToLower(sector), nil
	}
	host := ""
	for _, raw := range redirectURIs {
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" {
			return "", fmt.Errorf("the redirect URI %q has no host: name a sector", raw)
		}
		h := strings.ToLower(u.Hostname())
		if host != "" && h != host {
			return "", errors.New("the redirect URIs are on more than one host: name a sector")
		}
		host = h
	}
	if host == "" {
		return "", errors.New("a pairwise client without redirect URIs needs a sector")
	}
	return host, nil
}

// validateSubjects checks the subject type and sector of every client.
func (c *Config) validateSubjects() []error {
	var errs []error
	for i, cl := range c.Clients {
		if _, err := ClientSector(cl.SubjectType, cl.Sector, cl.RedirectURIs); err != nil {
			key := "subject_type"
			if cl.SubjectType == SubjectPairwise {
				key = "sector"
			}
			errs = append(errs, fmt.Errorf("%s: %v", c.key(fmt.Sprintf("clients[%d].%s", i, key)), err))
		}
	}
	return errs
}
