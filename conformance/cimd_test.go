package conformance

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestClientIDMetadataDocument: with client_id_metadata_documents on, a
// client whose client_id is the https URL of its metadata document signs a
// user in with no registration, and a document that does not name its own
// URL is refused (an error page at /authorize, invalid_client at the token
// endpoint). The binary trusts the document server's certificate through
// SSL_CERT_FILE and may fetch from loopback (allow_private_network).
func TestClientIDMetadataDocument(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	hits := map[string]int{}
	docs := map[string][]byte{}
	ds := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		b, ok := docs[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(b)
	}))
	t.Cleanup(ds.Close)
	fetches := func(path string) int {
		mu.Lock()
		defer mu.Unlock()
		return hits[path]
	}
	c := &rp{Name: "cimd", ID: ds.URL + "/client.json", RedirectURI: "https://cimd.rp.test/callback", Public: true,
		AuthMethod: authNone, GrantTypes: []string{grantCode, grantRefresh}, Scopes: []string{"openid", "email", "offline_access"}}
	c.RedirectURIs = []string{c.RedirectURI}
	serve := func(path string, doc map[string]any) {
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		docs[path] = b
		mu.Unlock()
	}
	serve("/client.json", map[string]any{"client_id": c.ID, "client_name": "Conformance CIMD", "redirect_uris": c.RedirectURIs,
		"grant_types": c.GrantTypes, "token_endpoint_auth_method": "none", "scope": "openid email offline_access"})
	bad := &rp{Name: "cimd-bad", ID: ds.URL + "/mismatch.json", RedirectURI: c.RedirectURI, RedirectURIs: c.RedirectURIs,
		Public: true, AuthMethod: authNone}
	serve("/mismatch.json", map[string]any{"client_id": c.ID, "redirect_uris": c.RedirectURIs, "token_endpoint_auth_method": "none"})

	roots := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ds.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	d := newDeployment(t,
		"SSL_CERT_FILE="+roots,
		"ATRIUM_CLIENT_ID_METADATA_DOCUMENTS_ENABLED=true",
		"ATRIUM_CLIENT_ID_METADATA_DOCUMENTS_ALLOW_PRIVATE_NETWORK=true",
	)
	u := d.user(t, "cimd")
	n := d.node(t, "cimd")
	if n.discovery["client_id_metadata_document_supported"] != true {
		t.Errorf("discovery client_id_metadata_document_supported = %v, want true", n.discovery["client_id_metadata_document_supported"])
	}
	if srv.discovery["client_id_metadata_document_supported"] != nil {
		t.Error("the suite's server, with documents off, advertises client_id_metadata_document_supported")
	}

	b := nodeBrowser(t, n)
	z := b.authorizeAt(n, c, c.Scopes, nil, actor{user: u})
	code := z.codeFrom(t, n)
	if z.Consents != 1 {
		t.Errorf("%d consent forms submitted, want 1: a document client is never first-party", z.Consents)
	}
	r := c.tokenAt(t, n, z.codeForm(c, code))
	if r.Status != http.StatusOK || r.str("access_token") == "" || r.str("refresh_token") == "" {
		t.Fatalf("code exchange: %s", r)
	}
	refresh := c.tokenAt(t, n, url.Values{"grant_type": {grantRefresh}, "refresh_token": {r.str("refresh_token")}})
	if refresh.Status != http.StatusOK || refresh.str("access_token") == "" {
		t.Fatalf("refresh: %s", refresh)
	}
	if rv := c.post(t, n.endpoint(t, "revocation_endpoint"), url.Values{"token": {refresh.str("refresh_token")}}); rv.Status != http.StatusOK {
		t.Errorf("revocation: %s", rv)
	}
	if again := c.tokenAt(t, n, url.Values{"grant_type": {grantRefresh}, "refresh_token": {refresh.str("refresh_token")}}); again.Status != http.StatusBadRequest {
		t.Errorf("refresh with a revoked token: %s, want 400", again)
	}

	// The consent page names the host the client ID is on besides the
	// name the document claims.
	q := url.Values{"client_id": {c.ID}, "redirect_uri": {c.RedirectURI}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"s"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
		"prompt": {"consent"}}
	p := b.get(n.endpoint(t, "authorization_endpoint") + "?" + q.Encode())
	host := strings.TrimPrefix(ds.URL, "https://")
	if !strings.Contains(p.Text, "Conformance CIMD") || !strings.Contains(p.Text, host) {
		t.Errorf("consent page does not show the app's name and host %s: %s", host, p.Text)
	}
	if got := fetches("/client.json"); got != 1 {
		t.Errorf("the document was fetched %d times, want once (cached)", got)
	}

	// A document naming another URL is refused: a page, never a redirect
	// to its redirect URI, and invalid_client at the token endpoint.
	q.Set("client_id", bad.ID)
	p = b.get(n.endpoint(t, "authorization_endpoint") + "?" + q.Encode())
	if p.Status != http.StatusBadRequest || p.Redirect != nil || !strings.Contains(p.Text, "invalid_client") {
		t.Errorf("authorize with a mismatched document: %d redirect %v: %s", p.Status, p.Redirect, p.Text)
	}
	if r := bad.tokenAt(t, n, url.Values{"grant_type": {grantCode}, "code": {"x"}, "redirect_uri": {c.RedirectURI}, "code_verifier": {"v"}}); r.Status != http.StatusUnauthorized || r.str("error") != "invalid_client" {
		t.Errorf("token with a mismatched document: %s, want 401 invalid_client", r)
	}

	// Nothing was stored: the clients list does not name either URL.
	var list json.RawMessage
	if err := d.atrium(&list, "clients", "list"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(list), ds.URL) {
		t.Errorf("clients list names a document client: %s", list)
	}
}
