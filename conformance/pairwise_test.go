package conformance

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Pairwise subject identifiers (OpenID Connect Core §8.1) and the
// sector_identifier_uri of OpenID Connect Registration §5. The suite's
// server trusts httptest's certificate and may fetch from loopback
// (allow_private_network), so a sector identifier document is served by
// an httptest TLS server.

// sectorDoc serves uris as a sector identifier document and returns its
// URL.
func sectorDoc(t *testing.T, uris []string) string {
	t.Helper()
	b, _ := json.Marshal(uris)
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	t.Cleanup(ts.Close)
	return ts.URL + "/sector.json"
}

// registerSector registers a confidential web client with redirects, as
// pairwise with the sector identifier document at sectorURI.
func registerSector(t *testing.T, name string, redirects []string, sectorURI string) (*apiResponse, *rp) {
	t.Helper()
	r := register(t, map[string]any{"redirect_uris": redirects, "grant_types": []string{grantCode, grantRefresh},
		"subject_type": "pairwise", "sector_identifier_uri": sectorURI, "scope": "openid profile email offline_access"})
	return r, &rp{Name: name, ID: r.str("client_id"), Secret: r.str("client_secret"), RedirectURI: redirects[0],
		RedirectURIs: redirects, AuthMethod: authBasic, GrantTypes: []string{grantCode, grantRefresh},
		Scopes: []string{"openid", "profile", "email", "offline_access"}}
}

// TestOIDCCRegistrationSectorURI mirrors oidcc-registration-sector-uri: a
// client whose sector identifier document lists its redirect URIs is
// registered, and signs users in under pairwise subs: the same for
// another client of the sector, not the user's ID a public client sees,
// and the same in the ID token, userinfo and introspection.
func TestOIDCCRegistrationSectorURI(t *testing.T) {
	t.Parallel()
	redirects := []string{"https://a.sector.rp.test/callback", "https://b.sector.rp.test/callback"}
	doc := sectorDoc(t, append(redirects, "https://c.sector.rp.test/callback"))
	r, c := registerSector(t, "sector", redirects, doc)
	if r.Status != http.StatusCreated || r.str("subject_type") != "pairwise" || r.str("sector_identifier_uri") != doc {
		t.Fatalf("registration = %s, want 201 with subject_type pairwise and the sector_identifier_uri", r)
	}
	r2, c2 := registerSector(t, "sector-two", redirects[:1], doc)
	if r2.Status != http.StatusCreated {
		t.Fatalf("second client of the sector: %s", r2)
	}
	public := registerRP(t, "sector-public", map[string]any{})

	u, err := srv.createUser("pairwise-" + randomString(3))
	if err != nil {
		t.Fatal(err)
	}
	anon := *u
	anon.Sub = "" // signIn then does not expect the user's ID
	b := newBrowser(t)
	l := b.signIn(c, &anon, request{scopes: []string{"openid", "email"}})
	sub := l.idToken.Subject
	if sub == "" || sub == u.Sub {
		t.Fatalf("pairwise sub %q, want one that is not the user's ID %q", sub, u.Sub)
	}
	if got := userinfo(t, "get", l.token.AccessToken).str("sub"); got != sub {
		t.Errorf("userinfo sub %q, want the ID token's %q", got, sub)
	}
	if got := c.introspect(t, l.token.AccessToken).str("sub"); got != sub {
		t.Errorf("introspection sub %q, want the ID token's %q", got, sub)
	}
	if got := b.signIn(c2, &anon, request{scopes: []string{"openid"}}).idToken.Subject; got != sub {
		t.Errorf("another client of the sector sees sub %q, want %q", got, sub)
	}
	b.signIn(public, u, request{scopes: []string{"openid"}}) // checks sub is the user's ID
}

// TestOIDCCRegistrationSectorBad mirrors oidcc-registration-sector-bad: a
// sector identifier document that does not list a redirect URI makes the
// registration fail with invalid_client_metadata.
func TestOIDCCRegistrationSectorBad(t *testing.T) {
	t.Parallel()
	redirects := []string{"https://a.sectorbad.rp.test/callback", "https://b.sectorbad.rp.test/callback"}
	doc := sectorDoc(t, redirects[:1])
	r, _ := registerSector(t, "sector-bad", redirects, doc)
	if r.Status != http.StatusBadRequest || r.str("error") != "invalid_client_metadata" || r.str("error_description") == "" {
		t.Fatalf("registration = %s, want 400 invalid_client_metadata with a description", r)
	}
}
