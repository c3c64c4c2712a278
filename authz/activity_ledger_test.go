package authz

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// The Activity page shows, beside the audit log, the consent ledger's
// apps let in and opt-ins turned on or off.

// activityItem matches an event of the Activity page: its sentence and
// the address it came from.
var activityItem = regexp.MustCompile(`<li><strong>([^<]*)</strong><br>\n<span class="muted">[^<]*? · (?:from|von) ([0-9a-f.:]+)`)

// activityItems returns the events of an Activity page as "sentence @ address".
func activityItems(page string) []string {
	var out []string
	for _, m := range activityItem.FindAllStringSubmatch(page, -1) {
		out = append(out, unescapeHTML(m[1])+" @ "+m[2])
	}
	return out
}

func TestAccountActivityConsents(t *testing.T) {
	e := newPreferencesEnv(t)
	b := e.browser()
	e.session(b, time.Now())

	// Opt-ins turned on, then one off; an app let in; the app removed.
	for _, optIns := range [][]string{{"newsletter:email", "offers:sms"}, {"offers:sms"}} {
		if resp, body := postPreferences(t, e, b, url.Values{"optin": optIns}, "203.0.113.9"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("save %q: %d %s", optIns, resp.StatusCode, body)
		}
	}
	_, challenge := pkcePair()
	if run := e.consentFlow(b, codeParams("app", "openid email", challenge), allow); run.location == nil {
		t.Fatalf("the consent flow did not return to the app")
	}
	_, apps := e.get(b, "/account/apps")
	if resp := submitForm(t, noRedirects(b), e.srv.URL+"/account/apps", apps, "/account/apps/remove", url.Values{"client_id": {"app"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("removing the app: %d %s", resp.StatusCode, readBody(t, resp))
	}

	resp, page := e.get(b, "/account/activity")
	if resp.StatusCode != 200 {
		t.Fatalf("activity: %d %s", resp.StatusCode, page)
	}
	var sentences []string
	for _, it := range activityItems(page) {
		sentences = append(sentences, it[:strings.Index(it, " @ ")])
	}
	want := []string{
		"An app's access was removed",
		"You allowed App access to your account",
		"You unsubscribed from Newsletter by email",
	}
	if len(sentences) != 5 || !slices.Equal(sentences[:3], want) ||
		!slices.Contains(sentences[3:], "You subscribed to Newsletter by email") || !slices.Contains(sentences[3:], "You subscribed to Special offers by text message") {
		t.Fatalf("activity, newest first = %q, want %q then the two subscriptions", sentences, want)
	}
	mustContain(t, "activity", page, "from 203.0.113.9")

	// In German, with the purposes' labels as configured.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/account/activity", nil)
	req.Header.Set("Accept-Language", "de")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "German activity", readBody(t, resp), "Sie haben App Zugriff auf Ihr Konto gegeben",
		"Sie haben Newsletter per E-Mail abbestellt", "Sie haben Newsletter per E-Mail abonniert", "Sie haben Special offers per SMS abonniert")
}

func TestAccountActivityMergedPages(t *testing.T) {
	e := newPreferencesEnv(t)
	ctx := t.Context()
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	// 20 audit events a minute apart, and 11 ledger entries in between
	// (each 30 seconds after an audit event): 31 events over two pages.
	// Each has its own address, so the test can tell them apart.
	var want []string // newest first
	for i := range 20 {
		ip := fmt.Sprintf("198.51.100.%d", i)
		if err := e.store.AppendAudit(ctx, &storage.AuditEvent{Time: base.Add(time.Duration(i) * time.Minute), Type: storage.AuditLoginSucceeded,
			UserID: e.userID, IP: ip}); err != nil {
			t.Fatal(err)
		}
		want = append(want, "You signed in @ "+ip)
		if i%2 == 1 || i == 18 {
			continue
		}
		ip = fmt.Sprintf("203.0.113.%d", i)
		ev := &storage.ConsentEvent{UserID: e.userID, Purpose: "newsletter", Scopes: []string{storage.ChannelSMS}, Action: storage.ConsentGranted,
			At: base.Add(time.Duration(i)*time.Minute + 30*time.Second), IP: ip}
		sentence := "You subscribed to Newsletter by text message @ "
		if i == 10 {
			ev.Purpose, ev.Scopes, sentence = "", []string{"openid"}, "You allowed App access to your account @ "
			ev.ClientID = "app"
		}
		if err := e.store.AppendConsentEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		want = append(want, sentence+ip)
	}
	// Left out: an app's access removed (the audit log has it), another
	// user's entries.
	for _, ev := range []*storage.ConsentEvent{
		{UserID: e.userID, ClientID: "app", Action: storage.ConsentRevoked, At: base.Add(time.Hour), IP: "192.0.2.1"},
		{UserID: "user-grace", Purpose: "offers", Scopes: []string{"email"}, Action: storage.ConsentGranted, At: base, IP: "192.0.2.2"},
	} {
		if err := e.store.AppendConsentEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	slices.Reverse(want)

	b := e.browser()
	e.session(b, time.Now())
	_, page := e.get(b, "/account/activity")
	first := activityItems(page)
	next := regexp.MustCompile(`href="/account/activity\?after=([^"]+)" rel="next"`).FindStringSubmatch(page)
	if next == nil {
		t.Fatalf("no link to older events: %s", page)
	}
	resp, older := e.get(b, "/account/activity?after="+next[1])
	if resp.StatusCode != 200 || strings.Contains(older, `rel="next"`) {
		t.Fatalf("second page: %d %s", resp.StatusCode, older)
	}
	if got := append(first, activityItems(older)...); len(first) != 25 || !slices.Equal(got, want) {
		t.Fatalf("the two pages (%d + %d events) =\n%s\nwant, newest first,\n%s", len(first), len(got)-len(first),
			strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A page link naming a ledger entry that is not the user's: the
	// newest events and a message.
	for _, after := range []string{strings.Split(next[1], ".")[0] + ".nope", "x.y.z"} {
		resp, page = e.get(b, "/account/activity?after="+after)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "That page of your activity does not exist.") ||
			!slices.Equal(activityItems(page), want[:25]) {
			t.Errorf("after=%s: %d %q", after, resp.StatusCode, activityItems(page))
		}
	}
}
