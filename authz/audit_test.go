package authz

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// uaTransport sends every request with a fixed User-Agent.
type uaTransport struct{ next http.RoundTripper }

const testUserAgent = "AuditTest/1.0 (+https://rp.example)"

func (u uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", testUserAgent)
	return u.next.RoundTrip(r)
}

// waitEvents waits for the audit events recorded after the response (the
// password reset's) until want holds.
func waitEvents(t *testing.T, s storage.AuditStore, want func([]*storage.AuditEvent) bool) []*storage.AuditEvent {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		events := auditEvents(t, s, "")
		if want(events) || time.Now().After(deadline) {
			return events
		}
	}
}

// TestAuditEvents: each sign-in, sign-up, reset and refused input leaves
// an event with the account when one is known, the client address and
// user agent, and nothing typed: no password, no address of an unknown
// account, no token.
func TestAuditEvents(t *testing.T) {
	throttleBackends(t, nil, func(t *testing.T, e *throttleEnv) {
		const (
			ghost      = "ghost-7f3a@example.com"
			wrongPass  = "Tr0ub4dor&3-not-it"
			ghostPass  = "hunter2-ghost-secret"
			newbie     = "newbie@example.com"
			newbiePass = "a long passphrase for newbie"
			badToken   = "bogus-link-token-0123456789"
		)
		b := e.browser()
		b.Transport = uaTransport{next: b.Transport}
		if got := e.login(t, b, testEmail, wrongPass); got.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %+v", got)
		}
		if got := e.login(t, b, ghost, ghostPass); got.Status != http.StatusUnauthorized {
			t.Fatalf("unknown account: %+v", got)
		}
		// A form whose CSRF token does not match is refused.
		page, pageURL := e.loginForm(t, b)
		forged := hiddenRe.ReplaceAllStringFunc(page, func(m string) string {
			if strings.Contains(m, `name="csrf_token"`) {
				return `<input type="hidden" name="csrf_token" value="forged">`
			}
			return m
		})
		resp := submitForm(t, b, pageURL, forged, "login", url.Values{"email": {testEmail}, "password": {testPassword}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("forged CSRF token: %d, want 400: %s", resp.StatusCode, body)
		}
		// Mailed links that are not (or no longer) valid.
		for _, path := range []string{pathResetPassword, pathVerifyEmail} {
			resp, err := b.Get(e.srv.URL + path + "?token=" + badToken)
			if err != nil {
				t.Fatal(err)
			}
			if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("%s with a bad token: %d, want 400: %s", path, resp.StatusCode, body)
			}
		}
		// Reset requests for an unknown and a known address.
		page, pageURL = e.loginForm(t, b)
		forgot, forgotURL := follow(t, b, pageURL, page, "forgot-password?")
		for _, addr := range []string{ghost, testEmail} {
			resp := submitForm(t, b, forgotURL, forgot, "forgot-password", url.Values{"email": {addr}})
			if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
				t.Fatalf("reset request: %d: %s", resp.StatusCode, body)
			}
		}
		// A sign-up, then a sign-in with the right password.
		page, pageURL = e.loginForm(t, b)
		signup, signupURL := follow(t, b, pageURL, page, "signup?")
		resp = submitForm(t, b, signupURL, signup, "signup", url.Values{"email": {newbie}, "password": {newbiePass}})
		readBody(t, resp)
		newUser, err := e.store.GetUserByEmail(t.Context(), newbie)
		if err != nil {
			t.Fatalf("the sign-up made no account: %v", err)
		}
		b2 := e.browser()
		b2.Transport = uaTransport{next: b2.Transport}
		page, pageURL = e.loginForm(t, b2)
		readBody(t, submitForm(t, b2, pageURL, page, "login", url.Values{"email": {testEmail}, "password": {testPassword}}))

		events := waitEvents(t, e.store, func(es []*storage.AuditEvent) bool {
			return countEvents(es, storage.AuditPasswordResetRequested, "") == 2
		})
		type key struct{ Type, UserID, Reason string }
		var got []key
		for _, ev := range slices.Backward(events) {
			got = append(got, key{ev.Type, ev.UserID, ev.Detail["reason"]})
		}
		// The two reset events are recorded after their answers, in
		// either order; the rest in the order of the requests.
		want := []key{
			{storage.AuditLoginFailed, e.userID, "wrong password"},
			{storage.AuditLoginFailed, "", "unknown email"},
			{storage.AuditCSRFFailed, "", ""},
			{storage.AuditPasswordResetFailed, "", "link expired, used or unknown"},
			{storage.AuditEmailVerificationFailed, "", "link expired, used or unknown"},
			{storage.AuditPasswordResetRequested, "", ""},
			{storage.AuditPasswordResetRequested, e.userID, ""},
			{storage.AuditSignup, newUser.ID, ""},
			{storage.AuditLoginSucceeded, e.userID, ""},
		}
		sortResets := func(ks []key) {
			for i := 0; i+1 < len(ks); i++ {
				if ks[i].Type == storage.AuditPasswordResetRequested && ks[i+1].Type == storage.AuditPasswordResetRequested && ks[i].UserID > ks[i+1].UserID {
					ks[i], ks[i+1] = ks[i+1], ks[i]
				}
			}
		}
		sortResets(got)
		if !slices.Equal(got, want) {
			t.Errorf("audit events (oldest first):\n\tgot  %+v\n\twant %+v", got, want)
		}
		for _, ev := range events {
			if ev.IP != "127.0.0.1" || ev.UserAgent != testUserAgent || ev.ID == "" || ev.Time.IsZero() {
				t.Errorf("event %s: IP %q, user agent %q, ID %q, time %s; want 127.0.0.1, %q, an ID and a time",
					ev.Type, ev.IP, ev.UserAgent, ev.ID, ev.Time, testUserAgent)
			}
			if ev.Type != storage.AuditCSRFFailed && ev.Type != storage.AuditPasswordResetFailed && ev.Type != storage.AuditEmailVerificationFailed && ev.ClientID != "app" {
				t.Errorf("event %s: client %q, want app", ev.Type, ev.ClientID)
			}
			all := ev.Type + " " + ev.UserID + " " + ev.ClientID + " " + ev.UserAgent
			for k, v := range ev.Detail {
				all += " " + k + "=" + v
			}
			for _, secret := range []string{ghost, "ghost-7f3a", wrongPass, ghostPass, testPassword, newbiePass, badToken, "forged"} {
				if strings.Contains(strings.ToLower(all), strings.ToLower(secret)) {
					t.Errorf("event %s holds %q: %s", ev.Type, secret, all)
				}
			}
		}

		// One account's events, newest first.
		mine := auditEvents(t, e.store, e.userID)
		var types []string
		for _, ev := range mine {
			types = append(types, ev.Type)
		}
		if want := []string{storage.AuditLoginSucceeded, storage.AuditPasswordResetRequested, storage.AuditLoginFailed}; !slices.Equal(types, want) {
			t.Errorf("ListAudit(%s) = %v, want %v", e.userID, types, want)
		}
	})
}

// TestAuditWithoutStore: without an audit store events are only logged,
// and the requests that make them work as before.
func TestAuditWithoutStore(t *testing.T) {
	e := newTestEnv(t)
	if e.p.stores.Audit != nil {
		t.Fatal("test provider has an audit store")
	}
	b := e.browser()
	_, challenge := pkcePair()
	if loc := e.signIn(b, codeParams("app", "openid", challenge)); loc.Query().Get("code") == "" {
		t.Errorf("sign-in without an audit store ended at %s, want a code", loc)
	}
}
