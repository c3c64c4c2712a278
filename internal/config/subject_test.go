package config

import (
	"strings"
	"testing"
)

func TestClientSector(t *testing.T) {
	two := []string{"https://a.example/cb", "https://b.example/cb"}
	for _, tc := range []struct {
		name, subjectType, sector string
		redirects                 []string
		want, err                 string
	}{
		{"public", "", "", two, "", ""},
		{"public named", "public", "", two, "", ""},
		{"pairwise one host", "pairwise", "", []string{"https://RP.example/a", "https://rp.example:8443/b"}, "rp.example", ""},
		{"pairwise named sector", "pairwise", "Sector.example", two, "sector.example", ""},
		{"pairwise two hosts", "pairwise", "", two, "", "more than one host"},
		{"pairwise custom scheme", "pairwise", "", []string{"com.example.app:/cb"}, "", "has no host"},
		{"pairwise no redirect", "pairwise", "", nil, "", "needs a sector"},
		{"sector not a host", "pairwise", "https://rp.example/", nil, "", "not a host name"},
		{"sector of a public client", "", "rp.example", nil, "", "pairwise clients only"},
		{"unknown type", "secret", "", two, "", `subject type "secret"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ClientSector(tc.subjectType, tc.sector, tc.redirects)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			case got != tc.want:
				t.Errorf("sector %q, want %q", got, tc.want)
			}
		})
	}
}

func TestValidateSubjects(t *testing.T) {
	c := &Config{Clients: []Client{
		{ID: "a", Secret: "s", TokenEndpointAuthMethod: AuthClientSecretBasic, SubjectType: "pairwise",
			RedirectURIs: []string{"https://a.example/cb", "https://b.example/cb"}},
		{ID: "b", Secret: "s", TokenEndpointAuthMethod: AuthClientSecretBasic, SubjectType: "sometimes",
			RedirectURIs: []string{"https://a.example/cb"}},
		{ID: "c", Secret: "s", TokenEndpointAuthMethod: AuthClientSecretBasic, SubjectType: "pairwise", Sector: "a.example",
			RedirectURIs: []string{"https://a.example/cb", "https://b.example/cb"}},
	}}
	errs := c.validateSubjects()
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "clients[0].sector: the redirect URIs are on more than one host") ||
		!strings.Contains(errs[1].Error(), `clients[1].subject_type: subject type "sometimes"`) {
		t.Errorf("errors %v", errs)
	}
}
