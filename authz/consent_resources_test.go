package authz

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/storage"
)

// The consent screen names the resources (APIs) an app asks to use on the
// user's behalf, and the remembered consent keeps them: a request naming a
// resource the user has not let the app reach asks again.

// Consent screen lines of the resources of newResourceConsentEnv.
const (
	ordersLine  = `<li>Use Orders API on your behalf<br><span class="muted">https://orders.example.com/v1</span></li>`
	billingLine = `<li>Use Billing on your behalf<br><span class="muted">https://billing.example.com</span></li>`
	billingNew  = `<li>Use Billing on your behalf <strong class="new">(new)</strong><br><span class="muted">https://billing.example.com</span></li>`
	reportsNew  = `<li>Use https://reports.example.com/api on your behalf <strong class="new">(new)</strong></li>`
)

// newResourceConsentEnv is a provider under consent policy version 2031-05
// with the resources Orders API and Billing, and the reports API
// configured without a name; "agent", which is not first-party, and "own",
// which is, may ask for all three.
func newResourceConsentEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newTestEnvWith(t, func(c *Config) {
		c.ConsentPolicyVersion = "2031-05"
		c.Resources = []Resource{{URI: apiOrders, Name: "Orders API"}, {URI: apiBilling, Name: "Billing"}, {URI: apiReports}}
	})
	for _, c := range []*storage.Client{
		{ID: "agent", Name: "Agent"},
		{ID: "own", Name: "Own app", FirstParty: true},
	} {
		c.SecretHash, c.RedirectURIs = HashClientSecret(testSecret), []string{testRedirect}
		c.GrantTypes, c.ResponseTypes = []string{"authorization_code"}, []string{"code"}
		c.Scopes, c.Audience = []string{"openid", "email"}, []string{apiOrders, apiBilling, apiReports}
		if err := e.store.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// resourceParams is an authorization request of clientID for openid and
// email naming resources.
func resourceParams(clientID, challenge string, resources ...string) url.Values {
	v := codeParams(clientID, "openid email", challenge)
	if len(resources) > 0 {
		v["resource"] = resources
	}
	return v
}

// storedResources are the resources the user's consent to clientID lets it
// reach, nil without a consent.
func (e *testEnv) storedResources(clientID string) []string {
	e.t.Helper()
	c, err := e.store.GetConsent(e.t.Context(), e.userID, clientID)
	if err != nil {
		return nil
	}
	return c.Resources
}

// agentAudience exchanges the run's code as the agent and returns the
// access token's audience as introspection reports it.
func (e *testEnv) agentAudience(t *testing.T, run consentRun, verifier string) []string {
	t.Helper()
	if run.location == nil || run.location.Query().Get("code") == "" {
		t.Fatalf("no code: the flow ended at %v (status %d): %s", run.location, run.status, run.page)
	}
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {run.location.Query().Get("code")},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "agent", testSecret)
	if status != 200 {
		t.Fatalf("token response %d %v", status, tok)
	}
	return audOf(e.introspectAs(t, "agent", tok["access_token"].(string))["aud"])
}

func TestConsentResourcesRemembered(t *testing.T) {
	e := newResourceConsentEnv(t)
	b := e.consentBrowser()
	verifier, challenge := pkcePair()

	// The first request names the Orders API: the screen says so, by
	// name with the URI, and marks nothing new.
	run := e.consentFlow(b, resourceParams("agent", challenge, apiOrders), allow)
	if run.pages != 1 {
		t.Fatalf("first request: %d consent pages, want 1", run.pages)
	}
	mustContain(t, "consent page naming a resource", run.page, ordersLine, `value="email" checked> Your email address</label>`)
	if strings.Contains(run.page, "(new)") || strings.Contains(run.page, "Billing") {
		t.Errorf("first consent page marks something new or names a resource not requested: %s", run.page)
	}
	if aud := e.agentAudience(t, run, verifier); !slices.Equal(aud, []string{apiOrders}) {
		t.Fatalf("access token audience after allowing %s = %q", apiOrders, aud)
	}
	if got := e.storedResources("agent"); !slices.Equal(got, []string{apiOrders}) {
		t.Fatalf("consent reaches %q after allowing the Orders API, want it alone", got)
	}

	// The same request again goes through without the screen.
	if run := e.consentFlow(b, resourceParams("agent", challenge, apiOrders), stop); run.pages != 0 || run.location == nil {
		t.Fatalf("the same request again: %d consent pages, redirect %v; want none, then the client", run.pages, run.location)
	}

	// Another resource asks again, marked new; the granted scope is not.
	run = e.consentFlow(b, resourceParams("agent", challenge, apiBilling), allow)
	if run.pages != 1 {
		t.Fatalf("another resource: %d consent pages, want 1", run.pages)
	}
	mustContain(t, "consent page for a new resource", run.page, billingNew, `value="email" checked> Your email address</label>`)
	if strings.Contains(run.page, "Orders API") || strings.Count(run.page, "(new)") != 1 {
		t.Errorf("consent page for a new resource names the Orders API or marks more than Billing new: %s", run.page)
	}
	if aud := e.agentAudience(t, run, verifier); !slices.Equal(aud, []string{apiBilling}) {
		t.Fatalf("access token audience after allowing %s = %q", apiBilling, aud)
	}
	if got := e.storedResources("agent"); !slices.Equal(got, []string{apiOrders, apiBilling}) {
		t.Fatalf("consent reaches %q after allowing Billing, want the Orders API and Billing", got)
	}

	// Both, and none, go through.
	for _, res := range [][]string{{apiBilling, apiOrders}, nil} {
		if run := e.consentFlow(b, resourceParams("agent", challenge, res...), stop); run.pages != 0 || run.location == nil {
			t.Fatalf("request naming %q: %d consent pages, redirect %v; want none, then the client", res, run.pages, run.location)
		}
	}

	// prompt=consent shows every resource requested, none new.
	v := resourceParams("agent", challenge, apiOrders, apiBilling)
	v.Set("prompt", "consent")
	run = e.consentFlow(b, v, stop)
	if run.pages != 1 {
		t.Fatalf("prompt=consent: %d consent pages, want 1", run.pages)
	}
	mustContain(t, "consent page for prompt=consent", run.page, ordersLine, billingLine)
	if strings.Contains(run.page, "(new)") {
		t.Errorf("prompt=consent marks a resource new although each was allowed: %s", run.page)
	}

	// A resource without a configured name is named by its URI; with
	// prompt=none it cannot be asked about.
	v = resourceParams("agent", challenge, apiReports)
	v.Set("prompt", "none")
	if run := e.consentFlow(b, v, stop); run.location == nil || run.location.Query().Get("error") != "consent_required" {
		t.Fatalf("prompt=none naming a new resource: redirect %v after %d pages, want consent_required", run.location, run.pages)
	}
	run = e.consentFlow(b, resourceParams("agent", challenge, apiReports), allow)
	if run.pages != 1 {
		t.Fatalf("a resource without a name: %d consent pages, want 1", run.pages)
	}
	mustContain(t, "consent page for a resource without a name", run.page, reportsNew)
	if got := e.storedResources("agent"); !slices.Equal(got, []string{apiOrders, apiBilling, apiReports}) {
		t.Fatalf("consent reaches %q after allowing the reports API, want all three", got)
	}
}

// The resources a consent lets the app reach are the request's: a form
// naming others changes nothing.
func TestConsentResourcesTamperedForm(t *testing.T) {
	e := newResourceConsentEnv(t)
	b := e.consentBrowser()
	verifier, challenge := pkcePair()
	run := e.consentFlow(b, resourceParams("agent", challenge, apiOrders), func(string) url.Values {
		return url.Values{"action": {"allow"}, "scope": {"email"}, "resource": {apiBilling, apiReports}, "audience": {apiBilling}}
	})
	if aud := e.agentAudience(t, run, verifier); !slices.Equal(aud, []string{apiOrders}) {
		t.Fatalf("access token audience after a form naming other resources = %q, want the Orders API alone", aud)
	}
	if got := e.storedResources("agent"); !slices.Equal(got, []string{apiOrders}) {
		t.Fatalf("consent reaches %q after a form naming other resources, want the Orders API alone", got)
	}
	if run := e.consentFlow(b, resourceParams("agent", challenge, apiBilling), stop); run.pages != 1 {
		t.Fatalf("asking for Billing after a form named it: %d consent pages, want 1", run.pages)
	}
}

// A first-party client is not asked about resources, unless the request
// has prompt=consent.
func TestConsentResourcesFirstParty(t *testing.T) {
	e := newResourceConsentEnv(t)
	b := e.consentBrowser()
	_, challenge := pkcePair()
	if run := e.consentFlow(b, resourceParams("own", challenge, apiOrders, apiBilling), stop); run.pages != 0 || run.location == nil || run.location.Query().Get("code") == "" {
		t.Fatalf("first-party client naming resources: %d consent pages, redirect %v; want a code without consent", run.pages, run.location)
	}
	v := resourceParams("own", challenge, apiOrders, apiBilling)
	v.Set("prompt", "consent")
	run := e.consentFlow(b, v, stop)
	if run.pages != 1 {
		t.Fatalf("first-party client with prompt=consent: %d consent pages, want 1", run.pages)
	}
	mustContain(t, "first-party consent page", run.page, ordersLine, billingLine)
}

// The data export lists the resources each consent lets its app reach.
func TestConsentResourcesExported(t *testing.T) {
	e := newDataEnv(t)
	got := e.exportedConsents(t, &storage.Consent{ClientID: "app", Scopes: []string{"email"}, Resources: []string{apiOrders, apiBilling}})
	if len(got) != 1 || got[0].ClientID != "app" || !slices.Equal(got[0].Resources, []string{apiOrders, apiBilling}) {
		t.Fatalf("exported consents = %+v, want app reaching the Orders API and Billing", got)
	}
}

// The Connected apps page says which APIs each app may use on the user's
// behalf, by the name the consent screen gave them; the account API lists
// their URIs.
func TestConsentResourcesConnectedApps(t *testing.T) {
	e := newResourceConsentEnv(t)
	e.serveAccount(account.Config{Consents: e.store, Clients: e.store, Tokens: e.p.stores.Tokens.(storage.StateStore),
		ResourceName: e.p.ResourceName})
	b := e.consentBrowser()
	_, challenge := pkcePair()
	if run := e.consentFlow(b, resourceParams("agent", challenge, apiOrders, apiReports), allow); run.pages != 1 {
		t.Fatalf("allowing two resources: %d consent pages, want 1", run.pages)
	}
	_, page := e.get(b, "/account/apps")
	mustContain(t, "apps page", page, "<strong>Agent</strong>", "<li>Use Orders API on your behalf</li>",
		"<li>Use https://reports.example.com/api on your behalf</li>")
	if strings.Contains(page, "Billing") {
		t.Errorf("apps page names a resource the app may not use: %s", page)
	}
}

func TestAccountAPIAppResources(t *testing.T) {
	e := newAccountAPIEnv(t)
	b := e.browser()
	ro := e.tokenIn(b, "openid "+ScopeAccountRead)
	c, err := e.store.GetConsent(t.Context(), e.userID, selfClient)
	if err != nil {
		t.Fatal(err)
	}
	if a := e.api("GET", "/apps", ro, ""); a.status != 200 || !strings.Contains(a.raw, `"resources":[]`) {
		t.Fatalf("GET /apps of an app reaching no resource: %d %s", a.status, a.raw)
	}
	c.Resources = []string{apiOrders, apiBilling}
	if err := e.store.PutConsent(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	a := e.api("GET", "/apps", ro, "")
	apps, _ := a.body["apps"].([]any)
	if a.status != 200 || len(apps) != 1 {
		t.Fatalf("GET /apps: %d %s", a.status, a.raw)
	}
	if got := apps[0].(map[string]any)["resources"]; !reflect.DeepEqual(got, []any{apiOrders, apiBilling}) {
		t.Fatalf("GET /apps resources = %v, want the Orders API and Billing", got)
	}
}

// The consent ledger records the resources each answer allowed, and those
// a revoked consent let the app use.
func TestConsentResourcesLedger(t *testing.T) {
	e := newResourceConsentEnv(t)
	b := e.consentBrowser()
	_, challenge := pkcePair()
	if run := e.consentFlow(b, resourceParams("agent", challenge, apiOrders, apiOrders), allow); strings.Count(run.page, "Use Orders API") != 1 {
		t.Errorf("a resource named twice is listed %d times: %s", strings.Count(run.page, "Use Orders API"), run.page)
	}
	e.consentFlow(b, resourceParams("agent", challenge, apiOrders, apiBilling), allow)
	if err := e.p.RevokeConsent(httptest.NewRequest(http.MethodPost, "/account/apps/remove", nil), e.userID, "agent"); err != nil {
		t.Fatalf("RevokeConsent: %v", err)
	}
	l := e.ledger()
	want := []struct {
		action    string
		resources []string
	}{
		{storage.ConsentGranted, []string{apiOrders}},
		{storage.ConsentGranted, []string{apiOrders, apiBilling}},
		{storage.ConsentRevoked, []string{apiOrders, apiBilling}},
	}
	if len(l) != len(want) {
		t.Fatalf("ledger = %d entries, want %d", len(l), len(want))
	}
	for i, w := range want {
		if l[i].ClientID != "agent" || l[i].Action != w.action || !slices.Equal(l[i].Resources, w.resources) {
			t.Errorf("ledger entry %d = %s %s %q, want agent %s %q", i, l[i].ClientID, l[i].Action, l[i].Resources, w.action, w.resources)
		}
	}
}
