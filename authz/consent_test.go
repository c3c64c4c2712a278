package authz

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/atrium-id/atrium/storage"
)

// consentBrowser is e.browser sending testUserAgent (audit_test.go).
func (e *testEnv) consentBrowser() *http.Client {
	b := e.browser()
	b.Transport = uaTransport{http.DefaultTransport}
	return b
}

// consentRun is one authorization request driven through the pages.
type consentRun struct {
	location *url.URL // the redirect to the client, if reached
	pages    int      // consent pages seen
	page     string   // the last consent page
	pageURL  string
	status   int // the status of the last page shown
}

// consentFlow runs an authorization request: the password on the login
// page; on a consent page, answer gives the fields to submit over the
// page's own (nil to stop there).
func (e *testEnv) consentFlow(b *http.Client, params url.Values, answer func(page string) url.Values) consentRun {
	t := e.t
	t.Helper()
	resp, err := b.Get(e.authorizeURL(params))
	if err != nil {
		t.Fatal(err)
	}
	var run consentRun
	for range 6 {
		if resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound {
			run.location, _ = resp.Location()
			resp.Body.Close()
			return run
		}
		page := readBody(t, resp)
		run.status = resp.StatusCode
		pageURL := resp.Request.URL.String()
		switch {
		case strings.Contains(page, `name="password"`):
			resp = submitForm(t, b, pageURL, page, "login", url.Values{"email": {testEmail}, "password": {testPassword}})
		case strings.Contains(page, `value="allow"`):
			run.pages++
			run.page, run.pageURL = page, pageURL
			fields := answer(page)
			if fields == nil {
				return run
			}
			resp = submitForm(t, b, pageURL, page, "consent", fields)
		default:
			t.Fatalf("unexpected page (status %d): %s", resp.StatusCode, page)
		}
	}
	t.Fatal("no end to the flow")
	return run
}

func allow(string) url.Values { return url.Values{"action": {"allow"}} }

// allowOnly ticks only scopes.
func allowOnly(scopes ...string) func(string) url.Values {
	return func(string) url.Values { return url.Values{"action": {"allow"}, "scope": scopes} }
}

func stop(string) url.Values { return nil }

// tokens exchanges the run's code at the token endpoint.
func (e *testEnv) tokens(run consentRun, verifier string) map[string]any {
	e.t.Helper()
	if run.location == nil || run.location.Query().Get("code") == "" {
		e.t.Fatalf("no code: the flow ended at %v (status %d): %s", run.location, run.status, run.page)
	}
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {run.location.Query().Get("code")},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "app", testSecret)
	if status != 200 {
		e.t.Fatalf("token response %d %v", status, tok)
	}
	return tok
}

func (e *testEnv) userinfo(accessToken string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+pathUserinfo, nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var info map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&info)
	return resp.StatusCode, info
}

func (e *testEnv) ledger() []*storage.ConsentEvent {
	e.t.Helper()
	l, err := e.store.ListConsentEvents(e.t.Context(), e.userID)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func (e *testEnv) storedScopes() []string {
	e.t.Helper()
	c, err := e.store.GetConsent(e.t.Context(), e.userID, "app")
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return c.Scopes
}

func TestConsentRememberedAndAskedAgain(t *testing.T) {
	e := newTestEnvWith(t, func(c *Config) { c.ConsentPolicyVersion = "2031-02" })
	b := e.consentBrowser()
	_, challenge := pkcePair()

	run := e.consentFlow(b, codeParams("app", "openid email", challenge), allow)
	if run.pages != 1 || run.location == nil {
		t.Fatalf("first request: %d consent pages, redirect %v; want one page, then the client", run.pages, run.location)
	}
	mustContain(t, "consent page", run.page, `<strong>App</strong>`, `value="email" checked`, `Shares: email, email_verified`)
	if strings.Contains(run.page, "(new)") {
		t.Errorf("the first consent page marks scopes new: %s", run.page)
	}

	// Remembered: the same scopes, or fewer, need no consent page.
	for _, scope := range []string{"openid email", "openid"} {
		if run := e.consentFlow(b, codeParams("app", scope, challenge), stop); run.pages != 0 || run.location.Query().Get("code") == "" {
			t.Fatalf("%q after consenting: %d consent pages, redirect %v; want a code at once", scope, run.pages, run.location)
		}
	}

	// A scope not granted before asks again, listing it.
	run = e.consentFlow(b, codeParams("app", "openid email profile", challenge), allow)
	if run.pages != 1 {
		t.Fatalf("a new scope: %d consent pages, want 1", run.pages)
	}
	mustContain(t, "consent page for a new scope", run.page,
		`value="profile" checked> Your name and profile details <strong class="new">(new)</strong>`,
		`value="email" checked> Your email address</label>`)
	if got := e.storedScopes(); !slices.Equal(got, []string{"email", "profile"}) {
		t.Fatalf("stored consent after the new scope = %q, want email and profile", got)
	}

	// prompt=consent asks although everything is granted.
	v := codeParams("app", "openid email", challenge)
	v.Set("prompt", "consent")
	if run := e.consentFlow(b, v, allow); run.pages != 1 || run.location == nil {
		t.Fatalf("prompt=consent: %d consent pages, want 1", run.pages)
	}

	// A consent given under another policy version does not count.
	c, err := e.store.GetConsent(t.Context(), e.userID, "app")
	if err != nil {
		t.Fatal(err)
	}
	if c.PolicyVersion != "2031-02" {
		t.Fatalf("stored consent's policy version = %q, want the configured 2031-02", c.PolicyVersion)
	}
	c.PolicyVersion = "2031-01"
	if err := e.store.PutConsent(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if run := e.consentFlow(b, codeParams("app", "openid email", challenge), allow); run.pages != 1 {
		t.Fatalf("after a policy bump: %d consent pages, want 1", run.pages)
	}
	if c, _ := e.store.GetConsent(t.Context(), e.userID, "app"); c.PolicyVersion != "2031-02" || !slices.Equal(c.Scopes, []string{"email"}) {
		t.Fatalf("consent after answering under the new policy = %+v, want email under 2031-02", c)
	}
	if run := e.consentFlow(b, codeParams("app", "openid email", challenge), stop); run.pages != 0 {
		t.Fatalf("after consenting under the new policy: %d consent pages, want none", run.pages)
	}
	if n := len(e.ledger()); n != 4 {
		t.Fatalf("ledger has %d entries, want 4 (one per Allow)", n)
	}
}

func TestConsentPartialGrant(t *testing.T) {
	e := newTestEnv(t)
	b := e.consentBrowser()
	verifier, challenge := pkcePair()
	if err := e.store.UpdateUser(t.Context(), &storage.User{ID: e.userID, Email: testEmail, EmailVerified: true, Name: "Ada Lovelace"}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		ticked      []string
		wantScopes  []string // the token's scope
		wantClaims  []string // in the ID token and userinfo
		absent      []string
		wantRefresh bool
	}{
		{"email and offline access left out", []string{"profile"}, []string{"openid", "profile"}, []string{"name"}, []string{"email"}, false},
		{"profile left out", []string{"email", "offline_access"}, []string{"openid", "email", "offline_access"}, []string{"email"}, []string{"name"}, true},
		{"everything left out", nil, []string{"openid"}, nil, []string{"name", "email"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := codeParams("app", "openid profile email offline_access", challenge)
			v.Set("prompt", "consent")
			run := e.consentFlow(b, v, allowOnly(tc.ticked...))
			tok := e.tokens(run, verifier)
			if got := strings.Fields(tok["scope"].(string)); !slices.Equal(sorted(got), sorted(tc.wantScopes)) {
				t.Errorf("token scope = %q, want %q", got, tc.wantScopes)
			}
			if _, ok := tok["refresh_token"]; ok != tc.wantRefresh {
				t.Errorf("refresh token issued: %v, want %v", ok, tc.wantRefresh)
			}
			id := jwtClaims(t, tok["id_token"].(string))
			status, info := e.userinfo(tok["access_token"].(string))
			if status != 200 {
				t.Fatalf("userinfo: %d %v", status, info)
			}
			for what, claims := range map[string]map[string]any{"ID token": id, "userinfo": info} {
				for _, c := range tc.wantClaims {
					if claims[c] == nil {
						t.Errorf("%s lacks %s: %v", what, c, claims)
					}
				}
				for _, c := range tc.absent {
					if claims[c] != nil {
						t.Errorf("%s has %s, whose scope was left out: %v", what, c, claims)
					}
				}
			}
			var remembered []string
			for _, s := range tc.wantScopes {
				if s != "openid" {
					remembered = append(remembered, s)
				}
			}
			if got := e.storedScopes(); !slices.Equal(got, remembered) {
				t.Errorf("stored consent = %q, want %q", got, remembered)
			}
			l := e.ledger()
			if last := l[len(l)-1]; !slices.Equal(last.Scopes, tc.wantScopes) {
				t.Errorf("ledger entry scopes = %q, want %q", last.Scopes, tc.wantScopes)
			}
		})
	}
	// A scope left out is remembered as declined: asking for it again
	// does not ask again, nor grant it (consent_declined_test.go).
	run := e.consentFlow(b, codeParams("app", "openid profile", challenge), stop)
	if run.pages != 0 {
		t.Fatalf("asking again for a scope left out: %d consent pages, want none", run.pages)
	}
	if got := strings.Fields(e.tokens(run, verifier)["scope"].(string)); !slices.Equal(got, []string{"openid"}) {
		t.Fatalf("token scope after asking again for a scope left out = %q, want openid", got)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestConsentFirstPartySkipsScreen(t *testing.T) {
	e := newTestEnv(t)
	if err := e.store.CreateClient(t.Context(), &storage.Client{
		ID: "own", SecretHash: HashClientSecret(testSecret), Name: "Own app", RedirectURIs: []string{testRedirect},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		Scopes: []string{"openid", "email"}, FirstParty: true,
	}); err != nil {
		t.Fatal(err)
	}
	b := e.consentBrowser()
	_, challenge := pkcePair()
	run := e.consentFlow(b, codeParams("own", "openid email", challenge), stop)
	if run.pages != 0 || run.location == nil || run.location.Query().Get("code") == "" {
		t.Fatalf("first-party client: %d consent pages, redirect %v; want a code without consent", run.pages, run.location)
	}
	// An app that is not first-party still asks the same signed-in user.
	if run := e.consentFlow(b, codeParams("app", "openid email", challenge), stop); run.pages != 1 {
		t.Fatalf("third-party client: %d consent pages, want 1", run.pages)
	}
	// prompt=consent is honoured for a first-party client too.
	v := codeParams("own", "openid email", challenge)
	v.Set("prompt", "consent")
	if run := e.consentFlow(b, v, stop); run.pages != 1 {
		t.Fatalf("first-party client with prompt=consent: %d consent pages, want 1", run.pages)
	}
}

func TestConsentTamperedForm(t *testing.T) {
	tests := []struct {
		name string
		// post submits the consent form of page (at pageURL) its own way.
		post       func(t *testing.T, e *testEnv, b *http.Client, pageURL, page string) *http.Response
		wantStatus int
		wantText   string
	}{
		{"another browser's interaction", func(t *testing.T, e *testEnv, _ *http.Client, pageURL, page string) *http.Response {
			jar, _ := cookiejar.New(nil)
			other := &http.Client{Jar: jar}
			return submitForm(t, other, pageURL, page, "consent", url.Values{"action": {"allow"}})
		}, http.StatusBadRequest, "This sign-in link has expired or is not valid"},
		{"missing CSRF token", func(t *testing.T, e *testEnv, b *http.Client, pageURL, page string) *http.Response {
			form := url.Values{}
			for _, m := range hiddenRe.FindAllStringSubmatch(page, -1) {
				if m[1] != "csrf_token" {
					form.Set(m[1], m[2])
				}
			}
			form.Set("action", "allow")
			resp, err := b.PostForm(e.srv.URL+pathConsent, form)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}, http.StatusBadRequest, "This sign-in link has expired or is not valid"},
		{"wrong CSRF token", func(t *testing.T, e *testEnv, b *http.Client, pageURL, page string) *http.Response {
			return submitForm(t, b, pageURL, page, "consent", url.Values{"action": {"allow"}, "csrf_token": {"forged"}})
		}, http.StatusBadRequest, "This sign-in link has expired or is not valid"},
		{"neither allow nor deny", func(t *testing.T, e *testEnv, b *http.Client, pageURL, page string) *http.Response {
			return submitForm(t, b, pageURL, page, "consent", url.Values{"action": {"grant-everything"}})
		}, http.StatusBadRequest, "Choose Allow or Deny."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			b := e.consentBrowser()
			_, challenge := pkcePair()
			run := e.consentFlow(b, codeParams("app", "openid email", challenge), stop)
			if run.pages != 1 {
				t.Fatalf("want the consent page, got %d pages", run.pages)
			}
			resp := tc.post(t, e, b, run.pageURL, run.page)
			body := readBody(t, resp)
			if resp.StatusCode != tc.wantStatus || !strings.Contains(body, tc.wantText) {
				t.Fatalf("got %d, want %d with %q: %s", resp.StatusCode, tc.wantStatus, tc.wantText, body)
			}
			if got := e.storedScopes(); got != nil {
				t.Errorf("consent stored after a rejected form: %q", got)
			}
			if l := e.ledger(); len(l) != 0 {
				t.Errorf("ledger written after a rejected form: %+v", l[0])
			}
		})
	}

	t.Run("a scope the app never asked for", func(t *testing.T) {
		e := newTestEnv(t)
		b := e.consentBrowser()
		verifier, challenge := pkcePair()
		// "api" and "profile" are scopes the client may ask for, but this
		// request did not; "admin" is none of its scopes.
		run := e.consentFlow(b, codeParams("app", "openid email", challenge), allowOnly("email", "api", "profile", "admin"))
		tok := e.tokens(run, verifier)
		if got := strings.Fields(tok["scope"].(string)); !slices.Equal(sorted(got), []string{"email", "openid"}) {
			t.Errorf("token scope = %q, want openid email", got)
		}
		if got := e.storedScopes(); !slices.Equal(got, []string{"email"}) {
			t.Errorf("stored consent = %q, want email only", got)
		}
		if l := e.ledger(); len(l) != 1 || !slices.Equal(l[0].Scopes, []string{"openid", "email"}) {
			t.Errorf("ledger = %+v, want one entry granting openid email", l)
		}
	})

	t.Run("deny", func(t *testing.T) {
		e := newTestEnv(t)
		b := e.consentBrowser()
		_, challenge := pkcePair()
		run := e.consentFlow(b, codeParams("app", "openid email", challenge), func(string) url.Values { return url.Values{"action": {"deny"}} })
		if run.location == nil || run.location.Query().Get("error") != "access_denied" {
			t.Fatalf("deny: redirect %v, want access_denied", run.location)
		}
		if e.storedScopes() != nil || len(e.ledger()) != 0 {
			t.Errorf("deny stored a consent or a ledger entry")
		}
	})
}

func TestConsentLedgerAndRevoke(t *testing.T) {
	e := newTestEnvWith(t, func(c *Config) { c.ConsentPolicyVersion = "v7" })
	b := e.consentBrowser()
	verifier, challenge := pkcePair()
	tok := e.tokens(e.consentFlow(b, codeParams("app", "openid email offline_access", challenge), allow), verifier)

	l := e.ledger()
	if len(l) != 1 {
		t.Fatalf("ledger after Allow = %d entries, want 1", len(l))
	}
	want := storage.ConsentEvent{UserID: e.userID, ClientID: "app", Action: storage.ConsentGranted,
		Scopes: []string{"openid", "email", "offline_access"}, PolicyVersion: "v7", IP: "127.0.0.1", UserAgent: testUserAgent}
	got := *l[0]
	got.ID, got.At = "", got.At.UTC()
	if got.At.IsZero() || got.UserID != want.UserID || got.ClientID != want.ClientID || got.Action != want.Action ||
		!slices.Equal(got.Scopes, want.Scopes) || got.PolicyVersion != want.PolicyVersion || got.IP != want.IP ||
		got.UserAgent != want.UserAgent || got.Purpose != "" {
		t.Fatalf("ledger entry = %+v, want %+v", got, want)
	}

	// Revoking the app: consent gone, tokens dead, a "revoked" entry.
	r := httptest.NewRequest(http.MethodPost, "/account/apps/app/revoke", nil)
	r.RemoteAddr = "192.0.2.44:5555"
	r.Header.Set("User-Agent", "Revoker/2")
	if err := e.p.RevokeConsent(r, e.userID, "app"); err != nil {
		t.Fatalf("RevokeConsent: %v", err)
	}
	if e.storedScopes() != nil {
		t.Errorf("consent kept after RevokeConsent")
	}
	if e.introspect(t, tok["access_token"].(string)) {
		t.Errorf("access token still active after RevokeConsent")
	}
	if status, _ := e.userinfo(tok["access_token"].(string)); status != http.StatusUnauthorized {
		t.Errorf("userinfo after RevokeConsent: %d, want 401", status)
	}
	if status, resp := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, "app", testSecret); status != 400 {
		t.Errorf("refresh after RevokeConsent: %d %v, want 400", status, resp)
	}
	l = e.ledger()
	if len(l) != 2 || l[1].Action != storage.ConsentRevoked || l[1].ClientID != "app" || l[1].IP != "192.0.2.44" ||
		l[1].UserAgent != "Revoker/2" || l[1].PolicyVersion != "v7" || !slices.Equal(l[1].Scopes, []string{"email", "offline_access"}) {
		t.Fatalf("ledger after RevokeConsent = %+v, want the grant then a revocation", l)
	}
	// Nothing left to revoke: ErrNotFound, nothing written.
	if err := e.p.RevokeConsent(r, e.userID, "app"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second RevokeConsent = %v, want ErrNotFound", err)
	}
	if n := len(e.ledger()); n != 2 {
		t.Errorf("ledger after a second RevokeConsent = %d entries, want 2", n)
	}
	// The app must ask again.
	if run := e.consentFlow(b, codeParams("app", "openid email", challenge), stop); run.pages != 1 {
		t.Errorf("after revocation: %d consent pages, want 1", run.pages)
	}
}
