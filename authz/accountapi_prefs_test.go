package authz

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/storage"
)

// The account API's attributes (PATCH /me) and preferences, wired to a
// provider with the operator's attributes and scopes (newClaimsEnv).

// newAccountAPIPrefsEnv is newClaimsEnv serving the account area with
// the API, testAttributes and the preferences of testPurposes, and
// selfClient allowed the account scopes and the operator's.
func newAccountAPIPrefsEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newClaimsEnv(t)
	e.serveAccount(account.Config{Users: e.store, Attributes: testAttributes, Consents: e.store, Clients: e.store,
		Tokens: e.store, Preferences: e.store, Purposes: testPurposes, PolicyVersion: "2031-03"})
	if err := e.store.CreateClient(context.Background(), &storage.Client{ID: selfClient, SecretHash: HashClientSecret(testSecret),
		Name: "Self-service app", RedirectURIs: []string{testRedirect},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		Scopes: []string{"openid", "profile", ScopeAccountRead, ScopeAccountWrite, "loyalty", "motto"}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// wantField checks a 400 invalid_request naming field.
func wantField(t *testing.T, what string, a apiAnswer, field string) {
	t.Helper()
	wantError(t, what, a, http.StatusBadRequest, "invalid_request")
	if a.body["field"] != field || !strings.HasPrefix(a.body["error_description"].(string), field+": ") {
		t.Fatalf("%s: field %v, want %s: %s", what, a.body["field"], field, a.raw)
	}
}

func TestAccountAPIAttributes(t *testing.T) {
	e := newAccountAPIPrefsEnv(t)
	b := e.browser()
	rw := e.tokenIn(b, "openid account.read account.write loyalty motto")
	ro := e.tokenIn(b, "openid account.read")

	// Every configured attribute the user holds, and no other.
	me := e.api("GET", "/me", ro, "")
	want := map[string]any{"loyalty_id": "L-1815", "newsletter": false, "shoe_size": 38.5, "motto": "Poetry"}
	if me.status != 200 || !reflect.DeepEqual(me.body["attributes"], want) {
		t.Fatalf("GET /me attributes: %d %s", me.status, me.raw)
	}

	before := e.user(e.userID)
	wantError(t, "PATCH with account.read", e.api("PATCH", "/me", ro, `{"attributes":{"motto":"Carpe diem"}}`),
		http.StatusForbidden, "insufficient_scope")
	if !reflect.DeepEqual(e.user(e.userID), before) {
		t.Fatal("a read-only token changed the attributes")
	}

	// An edit beside a claim, seen by the next userinfo answer.
	a := e.api("PATCH", "/me", rw, `{"nickname":"Ada","attributes":{"newsletter":true,"shoe_size":"41","motto":"Carpe diem"}}`)
	want = map[string]any{"loyalty_id": "L-1815", "newsletter": true, "shoe_size": 41.0, "motto": "Carpe diem"}
	if a.status != 200 || a.body["nickname"] != "Ada" || !reflect.DeepEqual(a.body["attributes"], want) {
		t.Fatalf("PATCH /me attributes: %d %s", a.status, a.raw)
	}
	stored := map[string]any{"loyalty_id": "L-1815", "newsletter": true, "shoe_size": 41.0, "motto": "Carpe diem", "retired": "gone"}
	if got := e.user(e.userID).Attributes; !reflect.DeepEqual(got, stored) {
		t.Fatalf("stored attributes = %v, want %v", got, stored)
	}
	if status, info := e.userinfoOf(rw); status != 200 || info["newsletter"] != true || info["shoe_size"] != 41.0 ||
		info["motto"] != "Carpe diem" || info["loyalty_id"] != "L-1815" {
		t.Fatalf("userinfo after PATCH: %d %v", status, info)
	}
	// null and "" remove an attribute, false is kept.
	a = e.api("PATCH", "/me", rw, `{"attributes":{"motto":null,"shoe_size":"","newsletter":false}}`)
	stored = map[string]any{"loyalty_id": "L-1815", "newsletter": false, "retired": "gone"}
	if got := e.user(e.userID).Attributes; a.status != 200 || !reflect.DeepEqual(got, stored) {
		t.Fatalf("PATCH removing attributes: %d %s, stored %v", a.status, a.raw, got)
	}
	if _, info := e.userinfoOf(rw); info["motto"] != nil || info["shoe_size"] != nil || info["newsletter"] != false {
		t.Fatalf("userinfo after removing: %v", info)
	}

	// Bad input: 400 naming the field, nothing changed.
	for _, c := range []struct{ name, body, field string }{
		{"unknown attribute", `{"attributes":{"is_admin":true}}`, "attributes.is_admin"},
		{"held but not configured", `{"attributes":{"retired":"back"}}`, "attributes.retired"},
		{"read-only attribute", `{"attributes":{"loyalty_id":"L-9999"}}`, "attributes.loyalty_id"},
		{"not an object", `{"attributes":["motto"]}`, "attributes"},
		{"null", `{"attributes":null}`, "attributes"},
		{"number that is no number", `{"attributes":{"shoe_size":"large"}}`, "attributes.shoe_size"},
		{"number that is not finite", `{"attributes":{"shoe_size":"NaN"}}`, "attributes.shoe_size"},
		{"number as a boolean", `{"attributes":{"shoe_size":true}}`, "attributes.shoe_size"},
		{"boolean as a string", `{"attributes":{"newsletter":"yes"}}`, "attributes.newsletter"},
		{"string as a number", `{"attributes":{"motto":42}}`, "attributes.motto"},
		{"string too long", `{"attributes":{"motto":"` + strings.Repeat("é", 11) + `"}}`, "attributes.motto"},
		{"string with a tab", `{"attributes":{"motto":"Carpe\tdiem"}}`, "attributes.motto"},
		{"a good claim, a bad attribute", `{"name":"Someone Else","attributes":{"shoe_size":"4 2"}}`, "attributes.shoe_size"},
		{"a good attribute, an unknown one", `{"attributes":{"motto":"Fine","zodiac":"Leo"}}`, "attributes.zodiac"},
		{"a good attribute, a bad claim", `{"email":"not-an-address","attributes":{"motto":"Fine"}}`, "email"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.user(e.userID)
			wantField(t, c.name, e.api("PATCH", "/me", rw, c.body), c.field)
			if after := e.user(e.userID); !reflect.DeepEqual(after, before) {
				t.Fatalf("a refused PATCH changed the user:\n%+v\n%+v", before, after)
			}
		})
	}
}

// purposeLedger is the ledger's entries of opt-ins (not of apps).
func (e *testEnv) purposeLedger() []ledgerEntry {
	e.t.Helper()
	var out []ledgerEntry
	for _, l := range entries(e.ledger()) {
		if l.ClientID == "" {
			out = append(out, l)
		}
	}
	return out
}

func TestAccountAPIPreferences(t *testing.T) {
	e := newAccountAPIPrefsEnv(t)
	ctx := context.Background()
	b := e.browser()
	rw := e.tokenIn(b, "openid account.read account.write")
	ro := e.tokenIn(b, "openid account.read")

	// A purpose the operator no longer configures: kept, not shown.
	if err := e.store.PutPreferences(ctx, &storage.Preferences{UserID: e.userID, OptIns: map[string][]string{"retired": {"email"}}}); err != nil {
		t.Fatal(err)
	}
	a := e.api("GET", "/preferences", ro, "")
	if a.status != 200 || a.body["language"] != nil || a.body["currency"] != nil ||
		!reflect.DeepEqual(a.body["opt_ins"], map[string]any{"newsletter": []any{}, "offers": []any{}}) {
		t.Fatalf("GET /preferences: %d %s", a.status, a.raw)
	}
	choices, _ := a.body["choices"].(map[string]any)
	for _, want := range []string{`"id":"de","label":"Deutsch"`, `"id":"CHF","label":"Swiss franc"`, `"id":"sms"`,
		`"id":"newsletter","label":"Newsletter","description":"Our news, once a month."`} {
		if !strings.Contains(a.raw, want) || choices == nil {
			t.Errorf("GET /preferences without %s: %s", want, a.raw)
		}
	}

	before := e.prefs()
	wantError(t, "PATCH with account.read", e.api("PATCH", "/preferences", ro, `{"language":"de"}`), http.StatusForbidden, "insufficient_scope")
	if !reflect.DeepEqual(e.prefs(), before) || len(e.purposeLedger()) != 0 {
		t.Fatal("a read-only token changed the preferences")
	}

	// A save: stored, and a ledger entry per opt-in turned on, as the
	// page writes them.
	a = e.api("PATCH", "/preferences", rw, `{"language":"de","currency":"CHF","opt_ins":{"newsletter":["email","sms"]}}`)
	if a.status != 200 || a.body["language"] != "de" || a.body["currency"] != "CHF" ||
		!reflect.DeepEqual(a.body["opt_ins"], map[string]any{"newsletter": []any{"email", "sms"}, "offers": []any{}}) {
		t.Fatalf("PATCH /preferences: %d %s", a.status, a.raw)
	}
	p := e.prefs()
	if p.Language != "de" || p.Currency != "CHF" || p.UpdatedAt.IsZero() ||
		!reflect.DeepEqual(p.OptIns, map[string][]string{"newsletter": {"email", "sms"}, "retired": {"email"}}) {
		t.Fatalf("stored: %+v", p)
	}
	entry := func(action, purpose, channel string) ledgerEntry {
		return ledgerEntry{purpose, "", action, channel, "2031-03", "127.0.0.1", "Go-http-client/1.1"}
	}
	wantLedger := []ledgerEntry{entry(storage.ConsentGranted, "newsletter", "email"), entry(storage.ConsentGranted, "newsletter", "sms")}
	if got := e.purposeLedger(); !reflect.DeepEqual(got, wantLedger) {
		t.Fatalf("ledger after the first save:\n%+v\nwant\n%+v", got, wantLedger)
	}

	// A merge: a purpose's channels replaced, the others and the
	// language kept.
	a = e.api("PATCH", "/preferences", rw, `{"opt_ins":{"newsletter":["email"],"offers":["sms"]}}`)
	if p = e.prefs(); a.status != 200 || p.Language != "de" || p.Currency != "CHF" ||
		!reflect.DeepEqual(p.OptIns, map[string][]string{"newsletter": {"email"}, "offers": {"sms"}, "retired": {"email"}}) {
		t.Fatalf("merge: %d %s, stored %+v", a.status, a.raw, p)
	}
	wantLedger = append(wantLedger, entry(storage.ConsentRevoked, "newsletter", "sms"), entry(storage.ConsentGranted, "offers", "sms"))
	if got := e.purposeLedger(); !reflect.DeepEqual(got, wantLedger) {
		t.Fatalf("ledger after the merge:\n%+v\nwant\n%+v", got, wantLedger)
	}

	// null: the browser's language, no currency, no newsletter.
	a = e.api("PATCH", "/preferences", rw, `{"language":null,"currency":null,"opt_ins":{"newsletter":null}}`)
	if p = e.prefs(); a.status != 200 || a.body["language"] != nil || p.Language != "" || p.Currency != "" ||
		!reflect.DeepEqual(p.OptIns, map[string][]string{"offers": {"sms"}, "retired": {"email"}}) {
		t.Fatalf("null: %d %s, stored %+v", a.status, a.raw, p)
	}
	wantLedger = append(wantLedger, entry(storage.ConsentRevoked, "newsletter", "email"))
	if got := e.purposeLedger(); !reflect.DeepEqual(got, wantLedger) {
		t.Fatalf("ledger after null:\n%+v\nwant\n%+v", got, wantLedger)
	}
	// The same again: nothing stored, nothing recorded.
	before = e.prefs()
	if a = e.api("PATCH", "/preferences", rw, `{"opt_ins":{"offers":["sms"]}}`); a.status != 200 ||
		!reflect.DeepEqual(e.prefs(), before) || len(e.purposeLedger()) != len(wantLedger) {
		t.Fatalf("a PATCH changing nothing: %d %s", a.status, a.raw)
	}

	// Bad input: 400 naming the field, nothing changed or recorded.
	for _, c := range []struct{ name, body, field string }{
		{"not JSON", `{"language":`, "body"},
		{"not an object", `["de"]`, "body"},
		{"unsupported language", `{"language":"fr"}`, "language"},
		{"language not a string", `{"language":5}`, "language"},
		{"unknown currency", `{"currency":"XYZ"}`, "currency"},
		{"currency in lower case", `{"currency":"eur"}`, "currency"},
		{"opt-ins not an object", `{"opt_ins":["newsletter"]}`, "opt_ins"},
		{"unknown purpose", `{"opt_ins":{"sweepstakes":["email"]}}`, "opt_ins.sweepstakes"},
		{"unconfigured purpose", `{"opt_ins":{"retired":[]}}`, "opt_ins.retired"},
		{"unknown channel", `{"opt_ins":{"newsletter":["fax"]}}`, "opt_ins.newsletter"},
		{"channels not an array", `{"opt_ins":{"newsletter":"email"}}`, "opt_ins.newsletter"},
		{"unknown member", `{"theme":"dark"}`, "theme"},
		{"choices", `{"choices":{}}`, "choices"},
		{"good values, one bad channel", `{"language":"en","currency":"EUR","opt_ins":{"newsletter":["email","fax"]}}`, "opt_ins.newsletter"},
		{"a good opt-in, a bad language", `{"language":"klingon","opt_ins":{"newsletter":["email"]}}`, "language"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, ledger := e.prefs(), e.purposeLedger()
			wantField(t, c.name, e.api("PATCH", "/preferences", rw, c.body), c.field)
			if !reflect.DeepEqual(e.prefs(), before) || !reflect.DeepEqual(e.purposeLedger(), ledger) {
				t.Fatalf("a refused PATCH changed the preferences: %+v -> %+v", before, e.prefs())
			}
		})
	}
	req, _ := http.NewRequest(http.MethodPatch, e.srv.URL+"/account/api/v1/preferences", strings.NewReader("language=de"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+rw)
	wantError(t, "a form body", e.do(req), http.StatusUnsupportedMediaType, "invalid_request")

	// A preflight for the preferences.
	req, _ = http.NewRequest(http.MethodOptions, e.srv.URL+"/account/api/v1/preferences", nil)
	req.Header.Set("Origin", "https://app.example.net")
	req.Header.Set("Access-Control-Request-Method", "PATCH")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if readBody(t, resp); resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PATCH") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestAccountAPIActivityLedger checks that the API's history is the
// Activity page's: opt-in changes and apps let in, from the consent
// ledger, merged by time with the audit events, with the page's cursor.
func TestAccountAPIActivityLedger(t *testing.T) {
	e := newClaimsEnv(t)
	e.serveAccount(account.Config{Users: e.store, Consents: e.store, Clients: e.store, Tokens: e.store, Audit: e.store,
		Preferences: e.store, Purposes: testPurposes, PolicyVersion: "2031-03"})
	if err := e.store.CreateClient(context.Background(), &storage.Client{ID: selfClient, SecretHash: HashClientSecret(testSecret),
		Name: "Self-service app", RedirectURIs: []string{testRedirect},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		Scopes: []string{"openid", ScopeAccountRead, ScopeAccountWrite}}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	rw := e.tokenIn(b, "openid account.read account.write")
	if a := e.api("PATCH", "/preferences", rw, `{"opt_ins":{"newsletter":["email"]}}`); a.status != 200 {
		t.Fatalf("PATCH /preferences: %d %s", a.status, a.raw)
	}
	a := e.api("GET", "/activity", rw, "")
	if a.status != 200 {
		t.Fatalf("GET /activity: %d %s", a.status, a.raw)
	}
	events, _ := a.body["events"].([]any)
	var got []string
	for _, ev := range events {
		m := ev.(map[string]any)
		got = append(got, fmt.Sprintf("%v: %v", m["type"], m["description"]))
	}
	want := []string{
		"opt_in.granted: You subscribed to Newsletter by email",
		"consent.granted: You allowed Self-service app access to your account",
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("GET /activity without %q: %q", w, got)
		}
	}
	if len(got) == 0 || got[0] != want[0] {
		t.Errorf("GET /activity does not start with the newest event %q: %q", want[0], got)
	}
	for _, after := range []string{"<script>", "a.b.c", "x.no-such-entry"} {
		wantField(t, "GET /activity?after="+after, e.api("GET", "/activity?after="+url.QueryEscape(after), rw, ""), "after")
	}
}
