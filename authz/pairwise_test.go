package authz

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/atrium-id/atrium/storage"
)

// pairwiseSub is OpenID Connect Core §8.1's sub, computed here from the
// provider's secret as the brief of pairwise.go states it.
func pairwiseSub(secret []byte, sector, userID string) string {
	k := hmac.New(sha256.New, secret)
	k.Write([]byte("atrium pairwise subject"))
	mac := hmac.New(sha256.New, k.Sum(nil))
	mac.Write([]byte(sector + "\x00" + userID))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// rawUserinfo calls userinfo and returns the status, content type and
// body.
func (e *testEnv) rawUserinfo(accessToken string) (int, string, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+pathUserinfo, nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestPairwiseSubjects: clients of one sector see a user under one sub,
// clients of another sector under another, a public client under the
// user's ID; and each client sees its value everywhere: ID token (code
// and refresh), userinfo (plain and signed), introspection, JWT access
// token, back-channel logout token. An id_token_hint carrying it works at
// the token endpoint (prompt=none) and at logout.
func TestPairwiseSubjects(t *testing.T) {
	e := newLogoutEnv(t)
	bcA := newLogoutRP(t, e.srv.URL+pathJWKS)
	bcB := newLogoutRP(t, e.srv.URL+pathJWKS)
	pairwiseClient := func(sector string, change func(c *storage.Client)) func(c *storage.Client) {
		return func(c *storage.Client) {
			c.SubjectType, c.Sector = subjectPairwise, sector
			c.PostLogoutRedirectURIs = []string{testPostLogout}
			change(c)
		}
	}
	e.addClient("pw-a1", pairwiseClient("a.example", func(c *storage.Client) {
		c.AccessTokenFormat = accessTokenFormatJWT
		c.BackchannelLogoutURI = bcA.srv.URL + "/bcl"
	}))
	e.addClient("pw-a2", pairwiseClient("a.example", func(c *storage.Client) { c.UserinfoSignedResponseAlg = "ES256" }))
	e.addClient("pw-b", pairwiseClient("b.example", func(c *storage.Client) { c.BackchannelLogoutURI = bcB.srv.URL + "/bcl" }))
	subA := pairwiseSub(e.p.cfg.Secret, "a.example", e.userID)
	subB := pairwiseSub(e.p.cfg.Secret, "b.example", e.userID)
	if subA == subB || subA == e.userID {
		t.Fatalf("sector subs %q %q", subA, subB)
	}

	b := e.browser()
	want := map[string]string{"pw-a1": subA, "pw-a2": subA, "pw-b": subB, "app": e.userID}
	grants := map[string]*idGrant{}
	for _, id := range []string{"pw-a1", "pw-a2", "pw-b", "app"} {
		g := e.idGrantIn(b, id)
		grants[id] = g
		w := want[id]
		if got := claimsOf(t, g.idToken)["sub"]; got != w {
			t.Errorf("%s: ID token sub %v, want %s", id, got, w)
		}
		if got := e.introspectAll(t, g.access)["sub"]; got != w {
			t.Errorf("%s: introspection sub %v, want %s", id, got, w)
		}
		status, ctype, body := e.rawUserinfo(g.access)
		var sub any
		if strings.HasPrefix(ctype, "application/jwt") {
			sub = claimsOf(t, body)["sub"]
			if id != "pw-a2" {
				t.Errorf("%s: signed userinfo", id)
			}
		} else {
			var info map[string]any
			_ = json.Unmarshal([]byte(body), &info)
			sub = info["sub"]
		}
		if status != http.StatusOK || sub != w {
			t.Errorf("%s: userinfo %d sub %v, want %s", id, status, sub, w)
		}
		status, tok := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.refresh}}, id, testSecret)
		if status != http.StatusOK || tok["id_token"] == nil {
			t.Fatalf("%s: refresh %d %v", id, status, tok)
		}
		if got := claimsOf(t, tok["id_token"].(string))["sub"]; got != w {
			t.Errorf("%s: refreshed ID token sub %v, want %s", id, got, w)
		}
		g.access, g.refresh = tok["access_token"].(string), tok["refresh_token"].(string)
	}
	if got := claimsOf(t, grants["pw-a1"].access)["sub"]; got != subA {
		t.Errorf("JWT access token sub %v, want %s", got, subA)
	}
	// Stored state keeps the user's ID.
	if s := e.sessionOfBrowser(t, b); s.UserID != e.userID {
		t.Errorf("session user %q", s.UserID)
	}

	// prompt=none with the pairwise ID token as id_token_hint.
	verifier, challenge := pkcePair()
	params := codeParams("pw-a1", "openid email", challenge)
	params.Set("prompt", "none")
	params.Set("id_token_hint", grants["pw-a1"].idToken)
	code := e.signIn(b, params).Query().Get("code")
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "pw-a1", testSecret)
	if status != http.StatusOK || tok["id_token"] == nil || claimsOf(t, tok["id_token"].(string))["sub"] != subA {
		t.Fatalf("prompt=none with a pairwise id_token_hint: %d %v", status, tok)
	}

	// A hint with another sector's sub for pw-a1 does not sign out
	// silently: the person is asked.
	other := e.signedToken(t, e.p.keys.Signer(), jwt.MapClaims{"iss": e.srv.URL, "sub": subB, "aud": []string{"pw-a1"},
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	resp, err := noRedirects(b).Get(e.logoutURL(url.Values{"id_token_hint": {other}, "post_logout_redirect_uri": {testPostLogout}}))
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusOK || !e.signedIn(t, b) {
		t.Fatalf("logout with another sector's sub: %d, want the confirmation page", resp.StatusCode)
	}

	// The client's own hint signs out at once; the logout tokens carry
	// each client's sub.
	resp, err = noRedirects(b).Get(e.logoutURL(url.Values{"id_token_hint": {grants["pw-a1"].idToken}, "post_logout_redirect_uri": {testPostLogout}}))
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != testPostLogout {
		t.Fatalf("logout with a pairwise id_token_hint: %d %q, want a redirect", resp.StatusCode, resp.Header.Get("Location"))
	}
	e.p.logouts.wait()
	for _, c := range []struct {
		rp  *logoutRP
		sub string
	}{{bcA, subA}, {bcB, subB}} {
		_, tokens, _ := c.rp.received()
		if len(tokens) != 1 || tokens[0]["sub"] != c.sub {
			t.Errorf("logout tokens %v, want one with sub %s", tokens, c.sub)
		}
	}
}

// TestPairwiseSectorFallback: a pairwise client without a sector has its
// redirect URIs' one host as sector, or else a sector of its own.
func TestPairwiseSectorFallback(t *testing.T) {
	p := &Provider{pairwise: newPairwise([]byte("k"))}
	one := &storage.Client{ID: "c1", SubjectType: subjectPairwise, RedirectURIs: []string{"https://RP.example/a", "https://rp.example/b"}}
	named := &storage.Client{ID: "c2", SubjectType: subjectPairwise, Sector: "rp.example"}
	two := &storage.Client{ID: "c3", SubjectType: subjectPairwise, RedirectURIs: []string{"https://a.example/cb", "https://b.example/cb"}}
	two2 := &storage.Client{ID: "c4", SubjectType: subjectPairwise, RedirectURIs: []string{"https://a.example/cb", "https://b.example/cb"}}
	if p.subjectFor(one, "u") != p.subjectFor(named, "u") {
		t.Error("the redirect URIs' host is not the sector")
	}
	if p.subjectFor(two, "u") == p.subjectFor(two2, "u") {
		t.Error("two clients without a sector share one")
	}
	if got := p.subjectFor(&storage.Client{ID: "pub"}, "u"); got != "u" {
		t.Errorf("public sub %q", got)
	}
}

// sectorDocs serves sector identifier documents over TLS.
func sectorDocs(t *testing.T, docs map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "/good", http.StatusFound)
			return
		case "/big":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `["https://a.rp.test/cb","`+strings.Repeat("x", sectorMaxBytes)+`"]`)
			return
		}
		doc, ok := docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, doc)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// trustSectorDocs makes e's provider trust srv's certificate.
func (e *testEnv) trustSectorDocs(srv *httptest.Server) {
	tls := srv.Client().Transport.(*http.Transport).TLSClientConfig
	for _, hc := range []*http.Client{e.p.pairwise.client, e.p.pairwise.public} {
		hc.Transport.(*http.Transport).TLSClientConfig = tls.Clone()
	}
}

// TestPairwiseRegistration: subject_type and sector_identifier_uri at
// registration (OpenID Connect Registration §2, §5). Every refusal is
// invalid_client_metadata and stores nothing.
func TestPairwiseRegistration(t *testing.T) {
	redirects := []string{"https://a.rp.test/cb", "https://b.rp.test/cb"}
	docs := sectorDocs(t, map[string]string{
		"/good":    `["https://a.rp.test/cb","https://b.rp.test/cb","https://c.rp.test/cb"]`,
		"/missing": `["https://a.rp.test/cb"]`,
		"/object":  `{"redirect_uris":["https://a.rp.test/cb","https://b.rp.test/cb"]}`,
		"/null":    `null`,
	})
	closed := httptest.NewTLSServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	e := newRegistrationEnv(t, RegistrationOpen, nil, func(r *Registration) { r.AllowPrivateNetwork = true })
	e.trustSectorDocs(docs)
	private := newRegistrationEnv(t, RegistrationOpen, nil, nil)
	private.trustSectorDocs(docs)

	for _, tc := range []struct {
		name string
		env  *testEnv
		md   map[string]any
	}{
		{"sector document missing a redirect URI", e, map[string]any{"subject_type": "pairwise", "sector_identifier_uri": docs.URL + "/missing"}},
		{"http sector URI", e, map[string]any{"subject_type": "pairwise", "sector_identifier_uri": strings.Replace(docs.URL, "https:", "http:", 1) + "/good"}},
		{"unreachable sector URI", e, map[string]any{"subject_type": "pairwise", "sector_identifier_uri": closedURL + "/good"}},
		{"sector document not found", e, map[string]any{"subject_type": "pairwise", "sector_identifier_uri": docs.URL + "/nope"}},
		{"sector URI redirects", e, map[string]any{"subject_type": "pairwise", "sector_identifier_uri": docs.URL + "/moved"}},
		{"oversized sector document", e, map[string]any{"subject_type": "pairwise", "sector_identifier_uri": docs.URL + "/big"}},
		{"sector document not a JSON array", e, map[string]any{"subject_type": "pairwise", "sector_identifier_uri": docs.URL + "/object"}},
		{"sector document null", e, map[string]any{"subject_type": "pairwise", "sector_identifier_uri": docs.URL + "/null"}},
		{"sector document on a private address", private, map[string]any{"subject_type": "pairwise", "sector_identifier_uri": docs.URL + "/good"}},
		{"pairwise with two redirect hosts and no sector URI", e, map[string]any{"subject_type": "pairwise"}},
		{"unknown subject type", e, map[string]any{"subject_type": "secret", "redirect_uris": []string{"https://a.rp.test/cb"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.env.clientIDs()
			if tc.md["redirect_uris"] == nil {
				tc.md["redirect_uris"] = redirects
			}
			status, out := tc.env.registerJSON("", tc.md)
			if status != http.StatusBadRequest || out["error"] != "invalid_client_metadata" {
				t.Fatalf("registration = %d %v, want 400 invalid_client_metadata", status, out)
			}
			if desc, _ := out["error_description"].(string); desc == "" {
				t.Error("no error_description")
			}
			if after := tc.env.clientIDs(); !slices.Equal(before, after) {
				t.Errorf("clients %v after a refused registration, were %v", after, before)
			}
		})
	}

	// A good document: registered, the sector is its host, and the
	// metadata is answered back on registration and on RFC 7592 read.
	status, out := e.registerJSON("", map[string]any{"redirect_uris": redirects, "subject_type": "pairwise",
		"sector_identifier_uri": docs.URL + "/good"})
	if status != http.StatusCreated || out["subject_type"] != "pairwise" || out["sector_identifier_uri"] != docs.URL+"/good" {
		t.Fatalf("registration with a good sector document = %d %v", status, out)
	}
	id := out["client_id"].(string)
	c, err := e.store.GetClient(context.Background(), id)
	if err != nil || c.SubjectType != subjectPairwise || c.Sector != "127.0.0.1" {
		t.Fatalf("stored client %+v %v", c, err)
	}
	status, read, _ := e.call(http.MethodGet, pathRegister+"/"+id, out["registration_access_token"].(string), "", nil)
	if status != http.StatusOK || read["subject_type"] != "pairwise" || read["sector_identifier_uri"] != docs.URL+"/good" {
		t.Errorf("RFC 7592 read = %d %v", status, read)
	}

	// An update whose document no longer lists a redirect URI is refused
	// and changes nothing.
	upd, _ := json.Marshal(map[string]any{"client_id": id, "redirect_uris": redirects, "subject_type": "pairwise",
		"sector_identifier_uri": docs.URL + "/missing"})
	status, uout, _ := e.call(http.MethodPut, pathRegister+"/"+id, out["registration_access_token"].(string), "application/json", upd)
	if status != http.StatusBadRequest || uout["error"] != "invalid_client_metadata" {
		t.Errorf("update with a bad sector document = %d %v", status, uout)
	}
	if after, _ := e.store.GetClient(context.Background(), id); after.SectorIdentifierURI != docs.URL+"/good" {
		t.Errorf("refused update changed the client: %+v", after)
	}

	// Pairwise with one redirect host: that host is the sector; public
	// is answered as public.
	status, out = e.registerJSON("", map[string]any{"redirect_uris": []string{"https://one.rp.test/a", "https://one.rp.test/b"}, "subject_type": "pairwise"})
	if status != http.StatusCreated || out["subject_type"] != "pairwise" {
		t.Fatalf("pairwise with one host = %d %v", status, out)
	}
	if c, _ := e.store.GetClient(context.Background(), out["client_id"].(string)); c.Sector != "one.rp.test" {
		t.Errorf("sector %q, want one.rp.test", c.Sector)
	}
	status, out = e.registerJSON("", map[string]any{"redirect_uris": redirects})
	if status != http.StatusCreated || out["subject_type"] != "public" {
		t.Errorf("public registration = %d %v", status, out)
	}
}
