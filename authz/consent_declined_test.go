package authz

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// Scopes the user leaves unticked on the consent screen are remembered as
// declined: the app's next request with them signs the user in without
// asking and without granting them.

// newDeclinedEnv is a provider under consent policy version 2031-05 with
// the client "shop", which may ask for the phone number and the postal
// address of the user, who has both.
func newDeclinedEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newTestEnvWith(t, func(c *Config) { c.ConsentPolicyVersion = "2031-05" })
	if err := e.store.CreateClient(t.Context(), &storage.Client{
		ID: "shop", SecretHash: HashClientSecret(testSecret), Name: "Shop", RedirectURIs: []string{testRedirect},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		Scopes: []string{"openid", "email", "phone", "address"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.UpdateUser(t.Context(), &storage.User{ID: e.userID, Email: testEmail, EmailVerified: true,
		PhoneNumber: "+41 44 668 18 00", Address: storage.Address{Locality: "Zürich", Country: "CH"}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// shopConsent is the user's stored consent to the shop.
func (e *testEnv) shopConsent() *storage.Consent {
	e.t.Helper()
	c, err := e.store.GetConsent(e.t.Context(), e.userID, "shop")
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// shopSignIn exchanges the run's code as the shop and returns the token
// response's scopes and the userinfo answer.
func (e *testEnv) shopSignIn(run consentRun, verifier string) ([]string, map[string]any) {
	e.t.Helper()
	if run.location == nil || run.location.Query().Get("code") == "" {
		e.t.Fatalf("no code: the flow ended at %v (status %d): %s", run.location, run.status, run.page)
	}
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {run.location.Query().Get("code")},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "shop", testSecret)
	if status != 200 {
		e.t.Fatalf("token response %d %v", status, tok)
	}
	status, info := e.userinfo(tok["access_token"].(string))
	if status != 200 {
		e.t.Fatalf("userinfo: %d %v", status, info)
	}
	return sorted(strings.Fields(tok["scope"].(string))), info
}

// checkConsent fails t unless the shop's consent grants scopes and
// declines declined under the configured policy version.
func checkConsent(t *testing.T, what string, c *storage.Consent, scopes, declined []string) {
	t.Helper()
	if !slices.Equal(c.Scopes, scopes) || !slices.Equal(c.Declined, declined) || c.PolicyVersion != "2031-05" {
		t.Fatalf("%s: consent grants %q, declines %q under %q; want %q, %q under 2031-05", what, c.Scopes, c.Declined, c.PolicyVersion, scopes, declined)
	}
}

func TestConsentDeclinedRemembered(t *testing.T) {
	e := newDeclinedEnv(t)
	b := e.consentBrowser()
	verifier, challenge := pkcePair()

	// The user leaves phone unticked.
	run := e.consentFlow(b, codeParams("shop", "openid email phone", challenge), allowOnly("email"))
	if run.pages != 1 {
		t.Fatalf("first request: %d consent pages, want 1", run.pages)
	}
	scopes, info := e.shopSignIn(run, verifier)
	if !slices.Equal(scopes, []string{"email", "openid"}) || info["phone_number"] != nil {
		t.Fatalf("after declining phone: token scope %q, userinfo %v; want openid email, no phone_number", scopes, info)
	}
	checkConsent(t, "after declining phone", e.shopConsent(), []string{"email"}, []string{"phone"})
	if l := e.ledger(); len(l) != 1 || !slices.Equal(l[0].Scopes, []string{"openid", "email"}) || l[0].Action != storage.ConsentGranted {
		t.Fatalf("ledger = %+v, want one grant of openid email (phone declined is not granted)", l)
	}

	// The same request again: no screen, and still no phone.
	run = e.consentFlow(b, codeParams("shop", "openid email phone", challenge), stop)
	if run.pages != 0 {
		t.Fatalf("the same request again: %d consent pages, want none", run.pages)
	}
	scopes, info = e.shopSignIn(run, verifier)
	if !slices.Equal(scopes, []string{"email", "openid"}) || info["phone_number"] != nil || info["email"] != testEmail {
		t.Fatalf("the same request again: token scope %q, userinfo %v; want openid email, the email and no phone_number", scopes, info)
	}
	if n := len(e.ledger()); n != 1 {
		t.Errorf("ledger after a sign-in without the screen = %d entries, want 1", n)
	}

	// A new scope asks again: phone unticked and not new, email ticked,
	// address ticked and new. Allow as shown keeps phone declined.
	run = e.consentFlow(b, codeParams("shop", "openid email phone address", challenge), allow)
	if run.pages != 1 {
		t.Fatalf("a new scope: %d consent pages, want 1", run.pages)
	}
	mustContain(t, "consent page for a new scope", run.page,
		`value="email" checked> Your email address</label>`,
		`value="phone"> Your phone number</label>`,
		`value="address" checked> Your postal address <strong class="new">(new)</strong>`)
	scopes, info = e.shopSignIn(run, verifier)
	if !slices.Equal(scopes, []string{"address", "email", "openid"}) || info["phone_number"] != nil || info["address"] == nil {
		t.Fatalf("after allowing address: token scope %q, userinfo %v; want openid email address, no phone_number", scopes, info)
	}
	checkConsent(t, "after allowing address", e.shopConsent(), []string{"email", "address"}, []string{"phone"})

	// prompt=consent shows the screen with phone unticked; ticking it
	// now grants it.
	v := codeParams("shop", "openid email phone", challenge)
	v.Set("prompt", "consent")
	run = e.consentFlow(b, v, allowOnly("email", "phone"))
	if run.pages != 1 {
		t.Fatalf("prompt=consent: %d consent pages, want 1", run.pages)
	}
	mustContain(t, "consent page for prompt=consent", run.page, `value="email" checked>`, `value="phone"> Your phone number</label>`)
	if strings.Contains(run.page, "(new)") {
		t.Errorf("prompt=consent marks a scope new although every one was answered: %s", run.page)
	}
	scopes, info = e.shopSignIn(run, verifier)
	if !slices.Equal(scopes, []string{"email", "openid", "phone"}) || info["phone_number"] == nil {
		t.Fatalf("after ticking phone: token scope %q, userinfo %v; want openid email phone, the phone_number", scopes, info)
	}
	checkConsent(t, "after ticking phone", e.shopConsent(), []string{"address", "email", "phone"}, nil)
}

func TestConsentDeclinedPolicyBump(t *testing.T) {
	e := newDeclinedEnv(t)
	b := e.consentBrowser()
	verifier, challenge := pkcePair()
	e.consentFlow(b, codeParams("shop", "openid email phone", challenge), allowOnly("email"))
	checkConsent(t, "after declining phone", e.shopConsent(), []string{"email"}, []string{"phone"})

	// The operator bumps the policy: the decisions under the old one no
	// longer count, so the user is asked again, with every scope ticked.
	c := e.shopConsent()
	c.PolicyVersion = "2031-04"
	if err := e.store.PutConsent(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	run := e.consentFlow(b, codeParams("shop", "openid email phone", challenge), allow)
	if run.pages != 1 {
		t.Fatalf("after a policy bump: %d consent pages, want 1", run.pages)
	}
	mustContain(t, "consent page after a policy bump", run.page, `value="email" checked>`, `value="phone" checked>`)
	scopes, _ := e.shopSignIn(run, verifier)
	if !slices.Equal(scopes, []string{"email", "openid", "phone"}) {
		t.Fatalf("after allowing under the new policy: token scope %q, want openid email phone", scopes)
	}
	checkConsent(t, "after allowing under the new policy", e.shopConsent(), []string{"email", "phone"}, nil)
}

// A tampered form cannot grant or decline a scope the request did not ask
// for, whether the client may ask for it (address) or not (admin).
func TestConsentDeclinedTamperedForm(t *testing.T) {
	e := newDeclinedEnv(t)
	b := e.consentBrowser()
	verifier, challenge := pkcePair()
	run := e.consentFlow(b, codeParams("shop", "openid email phone", challenge), allowOnly("address", "admin", "phone", ""))
	scopes, info := e.shopSignIn(run, verifier)
	if !slices.Equal(scopes, []string{"openid", "phone"}) || info["address"] != nil || info["email"] != nil {
		t.Fatalf("tampered form: token scope %q, userinfo %v; want openid phone only", scopes, info)
	}
	checkConsent(t, "after a tampered form", e.shopConsent(), []string{"phone"}, []string{"email"})

	// The address, neither granted nor declined, still asks.
	if run := e.consentFlow(b, codeParams("shop", "openid phone address", challenge), stop); run.pages != 1 {
		t.Fatalf("asking for the address after a tampered form: %d consent pages, want 1", run.pages)
	}
}

// exportedConsent is a consent of the data export.
type exportedConsent struct {
	ClientID  string   `json:"client_id"`
	Declined  []string `json:"declined"`
	Resources []string `json:"resources"`
}

// exportedConsents stores c, the consent of the user of newDataEnv, and
// returns the consents their data export lists.
func (e *testEnv) exportedConsents(t *testing.T, c *storage.Consent) []exportedConsent {
	t.Helper()
	c.UserID = e.userID
	if err := e.store.PutConsent(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	e.session(b, time.Now())
	_, page := e.get(b, "/account/data")
	resp := submitForm(t, b, e.srv.URL+"/account/data", page, "/account/export", nil)
	body := readBody(t, resp)
	var doc struct {
		Consents []exportedConsent `json:"consents"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("export: %d %v %.300s", resp.StatusCode, err, body)
	}
	return doc.Consents
}

// The data export lists the scopes the user declined with each consent.
func TestConsentDeclinedExported(t *testing.T) {
	e := newDataEnv(t)
	got := e.exportedConsents(t, &storage.Consent{ClientID: "app", Scopes: []string{"email"}, Declined: []string{"profile", "offline_access"}})
	if len(got) != 1 || got[0].ClientID != "app" || !slices.Equal(got[0].Declined, []string{"profile", "offline_access"}) {
		t.Fatalf("exported consents = %+v, want app declining profile and offline_access", got)
	}
}
