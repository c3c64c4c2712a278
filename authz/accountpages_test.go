package authz

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/internal/mail"
	"github.com/atrium-id/atrium/internal/redistest"
	"github.com/atrium-id/atrium/storage"
	redisstore "github.com/atrium-id/atrium/storage/redis"
)

// The account area's Profile, Connected apps, Sessions and Activity pages,
// wired to a real provider as serve wires them.

// The provider removes an app's access for the Connected apps page.
var _ account.ConsentRevoker = (*Provider)(nil)

// newAccountPagesEnv is a provider with audit events and mail, serving
// the account area with every page; sessions and grant state live in
// state when given, else in the SQLite store.
func newAccountPagesEnv(t *testing.T, state ...storage.StateStore) (*testEnv, mailbox) {
	t.Helper()
	box := make(mailbox, 20)
	e := newTestEnvWith(t, func(c *Config) {
		c.Factors = testFactors(t)
		c.Mail = box
	}, state...)
	e.p.stores.Audit = e.store
	e.p.stores.Counters = e.store
	ss, ok := e.p.stores.Tokens.(storage.StateStore)
	if !ok {
		t.Fatal("the token store is no state store")
	}
	e.serveAccount(account.Config{Factors: e.p.cfg.Factors, UseOnce: ss.UseOnce,
		Users: e.store, Sessions: ss, Consents: e.store, Clients: e.store, Tokens: ss, Audit: e.store})
	return e, box
}

var profileInputRe = regexp.MustCompile(`<input id="f-[a-z_]+" name="([a-z_]+)" type="[a-z]+" value="([^"]*)"`)

// postProfile submits the profile page with its values, changed by fields.
func postProfile(t *testing.T, e *testEnv, b *http.Client, fields url.Values) (*http.Response, string) {
	t.Helper()
	_, page := e.get(b, "/account/profile")
	form := url.Values{}
	for _, m := range profileInputRe.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], unescapeHTML(m[2]))
	}
	if len(form) < 10 {
		t.Fatalf("profile page without its fields: %s", page)
	}
	for k, v := range fields {
		form[k] = v
	}
	resp := submitForm(t, noRedirects(b), e.srv.URL+"/account/profile", page, "/account/profile", form)
	return resp, readBody(t, resp)
}

func (e *testEnv) user(id string) storage.User {
	e.t.Helper()
	u, err := e.store.GetUser(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return *u
}

// userinfoOf asks the userinfo endpoint with the access token.
func (e *testEnv) userinfoOf(token string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+pathUserinfo, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var info map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&info)
	return resp.StatusCode, info
}

func TestAccountProfile(t *testing.T) {
	e, box := newAccountPagesEnv(t)
	tok := e.grant(t, "app", "openid profile email")
	access := tok["access_token"].(string)
	b := e.browser()
	e.session(b, time.Now())

	_, page := e.get(b, "/account/profile")
	mustContain(t, "profile page", page, "Ada Lovelace", testEmail, `name="given_name"`, `name="zoneinfo"`, `aria-current="page"`)

	resp, body := postProfile(t, e, b, url.Values{"name": {"Ada King"}, "given_name": {"Ada"}, "locale": {"en-gb"},
		"zoneinfo": {"Europe/London"}, "picture": {"https://example.com/ada.png"}, "phone_number": {"+44 20 7946 0958"},
		"locality": {"London"}, "country": {"United Kingdom"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/profile?saved=1" {
		t.Fatalf("save: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	u := e.user(e.userID)
	if u.Name != "Ada King" || u.GivenName != "Ada" || u.Locale != "en-GB" || u.Zoneinfo != "Europe/London" ||
		u.Picture != "https://example.com/ada.png" || u.PhoneNumber != "+44 20 7946 0958" || u.Address.Locality != "London" ||
		u.Email != testEmail || !u.EmailVerified {
		t.Fatalf("stored: %+v", u)
	}
	_, page = e.get(b, "/account/profile?saved=1")
	mustContain(t, "profile page after a save", page, "Your profile is saved.", "Ada King", "Europe/London")

	// The edit shows in the next userinfo answer.
	status, info := e.userinfoOf(access)
	if status != 200 || info["name"] != "Ada King" || info["locale"] != "en-GB" || info["zoneinfo"] != "Europe/London" ||
		info["picture"] != "https://example.com/ada.png" || info["given_name"] != "Ada" {
		t.Fatalf("userinfo after the edit: %d %v", status, info)
	}

	for _, tc := range []struct {
		name   string
		fields url.Values
		want   string
	}{
		{"bad email", url.Values{"email": {"not-an-address"}}, "Enter a valid email address"},
		{"email with a space", url.Values{"email": {"ada @example.com"}}, "Enter a valid email address"},
		{"no email", url.Values{"email": {""}}, "Enter your email address"},
		{"bad phone", url.Values{"phone_number": {"call me maybe"}}, "Enter a phone number in digits"},
		{"phone too short", url.Values{"phone_number": {"+1 2"}}, "Enter a phone number in digits"},
		{"bad locale", url.Values{"locale": {"english please"}}, "Enter a language tag"},
		{"bad zone", url.Values{"zoneinfo": {"Mars/Olympus_Mons"}}, "Enter a time zone name"},
		{"zone path", url.Values{"zoneinfo": {"../../etc/passwd"}}, "Enter a time zone name"},
		{"zone Local", url.Values{"zoneinfo": {"Local"}}, "Enter a time zone name"},
		{"http picture", url.Values{"picture": {"http://example.com/a.png"}}, "starts with https://"},
		{"script picture", url.Values{"picture": {"javascript:alert(1)"}}, "starts with https://"},
		{"long name", url.Values{"name": {strings.Repeat("é", 201)}}, "Use at most 200 characters."},
		{"long street", url.Values{"street_address": {strings.Repeat("a", 201)}}, "Use at most 200 characters."},
		{"control character", url.Values{"nickname": {"Ada\x07"}}, "such as tabs or line breaks"},
		{"line break", url.Values{"family_name": {"King\nLovelace"}}, "such as tabs or line breaks"},
		{"invalid UTF-8", url.Values{"region": {"\xff\xfe"}}, "such as tabs or line breaks"},
		{"one good, one bad", url.Values{"name": {"Someone Else"}, "locale": {"!!"}}, "Enter a language tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.user(e.userID)
			resp, body := postProfile(t, e, b, tc.fields)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			mustContain(t, "refused profile", body, "Nothing was saved.", tc.want, `aria-invalid="true"`)
			if after := e.user(e.userID); !reflect.DeepEqual(after, before) {
				t.Errorf("a refused save changed the user:\n%+v\n%+v", before, after)
			}
		})
	}

	// Without the form's CSRF token: refused, nothing changed.
	before := e.user(e.userID)
	resp, err := noRedirects(b).PostForm(e.srv.URL+"/account/profile", url.Values{"name": {"Mallory"}, "email": {testEmail}})
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "This form has expired") {
		t.Fatalf("no CSRF token: %d %s", resp.StatusCode, body)
	}
	if after := e.user(e.userID); !reflect.DeepEqual(after, before) {
		t.Errorf("a form without CSRF token changed the user: %+v", after)
	}

	// A new email address needs a recent sign-in; other fields do not.
	old := e.browser()
	e.session(old, time.Now().Add(-time.Hour))
	resp, body = postProfile(t, e, old, url.Values{"email": {"ada@new.example"}, "nickname": {"Countess"}})
	if loc, _ := resp.Location(); resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != pathLogin {
		t.Fatalf("email change after an old sign-in: %d %v %s", resp.StatusCode, loc, body)
	}
	if after := e.user(e.userID); !reflect.DeepEqual(after, before) {
		t.Errorf("an email change without a recent sign-in changed the user: %+v", after)
	}
	if resp, body := postProfile(t, e, old, url.Values{"nickname": {"Countess"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("nickname after an old sign-in: %d %s", resp.StatusCode, body)
	}
	if u := e.user(e.userID); u.Nickname != "Countess" {
		t.Errorf("nickname not saved: %+v", u)
	}

	// Another account's address: refused as sign-up refuses it.
	if err := e.store.CreateUser(context.Background(), &storage.User{ID: "user-grace", Email: "grace@example.com", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	before = e.user(e.userID)
	resp, body = postProfile(t, e, b, url.Values{"email": {"Grace@Example.com"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "This email address cannot be used.") || strings.Contains(body, "grace") && !strings.Contains(body, `value="Grace@Example.com"`) {
		t.Fatalf("another account's address: %d %s", resp.StatusCode, body)
	}
	if after := e.user(e.userID); !reflect.DeepEqual(after, before) {
		t.Errorf("a taken address changed the user: %+v", after)
	}

	// A new address: stored unconfirmed, a link mailed to it, released
	// as such by userinfo.
	resp, body = postProfile(t, e, b, url.Values{"email": {"Ada@New.example"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/profile?saved=email" {
		t.Fatalf("email change: %d %s", resp.StatusCode, body)
	}
	if u := e.user(e.userID); u.Email != "ada@new.example" || u.EmailVerified {
		t.Fatalf("after the email change: %+v", u)
	}
	var msg *mail.Message
	for msg == nil || msg.To == testEmail {
		// The old address hears of the change too (lang_pref_test.go).
		select {
		case msg = <-box:
		case <-time.After(5 * time.Second):
			t.Fatal("no verification mail")
		}
	}
	link := mailLinkRe.FindString(msg.Text)
	if msg.To != "ada@new.example" || link == "" {
		t.Fatalf("verification mail: %+v", msg)
	}
	if _, info := e.userinfoOf(access); info["email"] != "ada@new.example" || info["email_verified"] != false {
		t.Fatalf("userinfo after the email change: %v", info)
	}
	if resp, body := e.get(e.browser(), strings.TrimPrefix(link, e.srv.URL)); resp.StatusCode != 200 {
		t.Fatalf("verification link: %d %s", resp.StatusCode, body)
	}
	if u := e.user(e.userID); !u.EmailVerified {
		t.Error("the link did not confirm the new address")
	}
	_, page = e.get(b, "/account/activity")
	mustContain(t, "activity", page, "Your email address was changed", "Your profile was changed")
}

// sessionHandles returns the sessions page's handles, this browser's first.
var sessionHandleRe = regexp.MustCompile(`name="session" value="([^"]+)"`)

// accountStateBackends runs fn with the account pages' env on the SQL
// state store and on Redis.
func accountStateBackends(t *testing.T, fn func(t *testing.T, e *testEnv)) {
	t.Run("sql", func(t *testing.T) {
		e, _ := newAccountPagesEnv(t)
		fn(t, e)
	})
	t.Run("redis", func(t *testing.T) {
		rs, err := redisstore.Open(context.Background(), redistest.URL(t), redisstore.WithPrefix("account-test:"+randomToken()[:12]+":"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		e, _ := newAccountPagesEnv(t, rs)
		fn(t, e)
	})
}

func TestAccountSessions(t *testing.T) { accountStateBackends(t, testAccountSessions) }

func testAccountSessions(t *testing.T, e *testEnv) {
	ctx := context.Background()
	b1, b2, b3 := e.browser(), e.browser(), e.browser()
	id1 := e.sessionOf(b1, e.userID, time.Now())
	id2 := e.sessionOf(b2, e.userID, time.Now().Add(-time.Hour))
	id3 := e.sessionOf(b3, e.userID, time.Now().Add(-2*time.Hour))
	grace := e.browser()
	if err := e.store.CreateUser(ctx, &storage.User{ID: "user-grace", Email: "grace@example.com", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	graceID := e.sessionOf(grace, "user-grace", time.Now())

	_, page := e.get(b1, "/account/sessions")
	handles := sessionHandleRe.FindAllStringSubmatch(page, -1)
	if len(handles) != 3 || strings.Count(page, "This browser") != 1 || !strings.Contains(page, "Password") {
		t.Fatalf("sessions page: %s", page)
	}
	for _, id := range []string{id1, id2, id3} {
		if strings.Contains(page, id) {
			t.Fatal("the page shows a session ID")
		}
	}
	_, gracePage := e.get(grace, "/account/sessions")
	graceHandle := sessionHandleRe.FindStringSubmatch(gracePage)[1]
	live := func(id string) bool {
		_, err := e.p.stores.Sessions.GetSession(ctx, id)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	check := func(what string, want map[string]bool) {
		t.Helper()
		for id, w := range want {
			if live(id) != w {
				t.Errorf("%s: session %s live %v, want %v", what, id[:6], !w, w)
			}
		}
	}
	all := map[string]bool{id1: true, id2: true, id3: true, graceID: true}

	// Another user's handle, a made-up one, no CSRF token: nothing ends.
	for _, h := range []string{graceHandle, "bm90LWEtaGFuZGxl"} {
		resp := submitForm(t, b1, e.srv.URL+"/account/sessions", page, "/account/sessions/end", url.Values{"session": {h}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "That session has ended already.") {
			t.Fatalf("foreign handle: %d %s", resp.StatusCode, body)
		}
	}
	for _, action := range []string{"/account/sessions/end", "/account/sessions/others", "/account/sessions/all"} {
		resp, err := b1.PostForm(e.srv.URL+action, url.Values{"session": {handles[1][1]}})
		if err != nil {
			t.Fatal(err)
		}
		if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s without CSRF token: %d", action, resp.StatusCode)
		}
	}
	check("refused requests", all)

	// Sign out the second (signed in an hour ago).
	resp := submitForm(t, b1, e.srv.URL+"/account/sessions", page, "/account/sessions/end", url.Values{"session": {handles[1][1]}})
	if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "Signed out.") {
		t.Fatalf("sign out one: %d %s", resp.StatusCode, body)
	}
	all[id2] = false
	check("one signed out", all)

	_, page = e.get(b1, "/account/sessions")
	resp = submitForm(t, b1, e.srv.URL+"/account/sessions", page, "/account/sessions/others", nil)
	readBody(t, resp)
	all[id3] = false
	check("everywhere else", all)

	_, page = e.get(b1, "/account/sessions")
	resp = submitForm(t, b1, e.srv.URL+"/account/sessions", page, "/account/sessions/all", nil)
	if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "You are signed out everywhere") {
		t.Fatalf("everywhere: %d %s", resp.StatusCode, body)
	}
	all[id1] = false
	check("everywhere", all)
	if resp, _ := noRedirects(b1).Get(e.srv.URL + "/account/sessions"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("still signed in after signing out everywhere: %d", resp.StatusCode)
	}
}

// sessionOf gives the browser an SSO session of userID, signed in at
// authTime, in the provider's session store.
func (e *testEnv) sessionOf(b *http.Client, userID string, authTime time.Time) string {
	e.t.Helper()
	cookie := randomToken()
	if err := e.p.stores.Sessions.PutSession(context.Background(), &storage.Session{ID: sessionKey(cookie), UserID: userID,
		AuthTime: authTime, AMR: []string{"pwd"}, CreatedAt: authTime, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		e.t.Fatal(err)
	}
	u, _ := url.Parse(e.srv.URL)
	b.Jar.SetCookies(u, []*http.Cookie{{Name: cookieSession, Value: cookie, Path: "/"}})
	return sessionKey(cookie)
}

func TestAccountApps(t *testing.T) { accountStateBackends(t, testAccountApps) }

func testAccountApps(t *testing.T, e *testEnv) {
	ctx := context.Background()
	tok := e.grant(t, "app", "openid profile offline_access")
	access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
	// A token of another client for the same user, and another user's
	// consent to another client: both stay.
	now := time.Now()
	other := &storage.Token{Kind: storage.KindAccessToken, Signature: "other-client", RequestID: "req-other", ClientID: "spa",
		Subject: e.userID, Active: true, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := e.p.stores.Tokens.CreateToken(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateUser(ctx, &storage.User{ID: "user-grace", Email: "grace@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutConsent(ctx, &storage.Consent{UserID: "user-grace", ClientID: "spa", Scopes: []string{"openid"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}

	b := e.browser()
	e.sessionOf(b, e.userID, time.Now())
	pageURL := e.srv.URL + "/account/apps"
	_, page := e.get(b, "/account/apps")
	mustContain(t, "apps page", page, "<strong>App</strong>", "Your name and profile details", "Stay signed in to the app when you are away", `value="app"`)
	if strings.Contains(page, `value="spa"`) {
		t.Fatal("another user's app listed")
	}

	stillWorks := func(what string) {
		t.Helper()
		if !e.introspect(t, access) {
			t.Fatalf("%s: the access token stopped working", what)
		}
		if _, err := e.store.GetConsent(ctx, e.userID, "app"); err != nil {
			t.Fatalf("%s: consent gone: %v", what, err)
		}
	}
	resp, err := b.PostForm(e.srv.URL+"/account/apps/remove", url.Values{"client_id": {"app"}})
	if err != nil {
		t.Fatal(err)
	}
	if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("no CSRF token: %d", resp.StatusCode)
	}
	stillWorks("no CSRF token")
	for _, id := range []string{"spa", "nope", ""} {
		resp := submitForm(t, b, pageURL, page, "/account/apps/remove", url.Values{"client_id": {id}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "That app has no access to your account.") {
			t.Fatalf("client %q: %d %s", id, resp.StatusCode, body)
		}
	}
	stillWorks("other clients")
	if _, err := e.store.GetConsent(ctx, "user-grace", "spa"); err != nil {
		t.Fatalf("another user's consent: %v", err)
	}

	resp = submitForm(t, b, pageURL, page, "/account/apps/remove", url.Values{"client_id": {"app"}})
	if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "The app no longer has access") || !strings.Contains(body, "No app has access to your account.") {
		t.Fatalf("remove: %d %s", resp.StatusCode, body)
	}
	if e.introspect(t, access) {
		t.Error("the access token is still active")
	}
	if status, _ := e.userinfoOf(access); status != http.StatusUnauthorized {
		t.Errorf("userinfo with the revoked token: %d, want 401", status)
	}
	if status, body := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, "app", testSecret); status != http.StatusBadRequest {
		t.Errorf("refresh with the revoked token: %d %v", status, body)
	}
	if _, err := e.store.GetConsent(ctx, e.userID, "app"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("consent after removal: %v", err)
	}
	if _, err := e.p.stores.Tokens.GetToken(ctx, storage.KindAccessToken, "other-client"); err != nil {
		t.Errorf("another client's token: %v", err)
	}
	_, page = e.get(b, "/account/activity")
	mustContain(t, "activity", page, "An app&#39;s access was removed")
}

func TestAccountActivity(t *testing.T) {
	e, _ := newAccountPagesEnv(t)
	ctx := context.Background()
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	base := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	for i := range 30 {
		typ := storage.AuditLoginFailed
		if i == 29 {
			typ = storage.AuditPasskeyRegistered
		}
		if err := e.store.AppendAudit(ctx, &storage.AuditEvent{Time: base.Add(time.Duration(i) * time.Minute), Type: typ,
			UserID: e.userID, IP: "198.51.100.7", UserAgent: firefox}); err != nil {
			t.Fatal(err)
		}
	}
	for i, ev := range []storage.AuditEvent{
		{Type: storage.AuditSignup, Detail: map[string]string{"method": "password", "result": "account exists"}},
		{Type: storage.AuditMFAEnrolled, Detail: map[string]string{"method": "recovery_codes"}},
		{Type: "something.new"},
	} {
		ev.Time, ev.UserID = base.Add(-time.Duration(i+1)*time.Hour), e.userID
		if err := e.store.AppendAudit(ctx, &ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.AppendAudit(ctx, &storage.AuditEvent{Time: base, Type: storage.AuditPasswordReset, UserID: "user-grace",
		IP: "203.0.113.99", UserAgent: "curl/8.0"}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	e.session(b, time.Now())
	resp, page := e.get(b, "/account/activity")
	if resp.StatusCode != 200 {
		t.Fatalf("activity: %d %s", resp.StatusCode, page)
	}
	mustContain(t, "activity", page, "A passkey was added", "2 November 2026 at 09:59 UTC", "from 198.51.100.7", "Firefox on Linux", `rel="next"`)
	if strings.Index(page, "A passkey was added") > strings.Index(page, "A sign-in failed") {
		t.Error("not newest first")
	}
	if n := strings.Count(page, "A sign-in failed"); n != 24 {
		t.Errorf("first page: %d failed sign-ins, want 24", n)
	}
	if strings.Contains(page, "203.0.113.99") || strings.Contains(page, "Your password was reset") {
		t.Fatal("another user's event shown")
	}
	next := regexp.MustCompile(`href="/account/activity\?after=([^"]+)" rel="next"`).FindStringSubmatch(page)
	if next == nil {
		t.Fatalf("no link to older events: %s", page)
	}
	_, older := e.get(b, "/account/activity?after="+next[1])
	if n := strings.Count(older, "A sign-in failed"); n != 5 || strings.Contains(older, `rel="next"`) || !strings.Contains(older, "Newest") {
		t.Errorf("second page: %d failed sign-ins: %s", n, older)
	}
	mustContain(t, "second page", older, "Someone tried to sign up again with your email address", "New recovery codes were made", "Other account activity")
	resp, page = e.get(b, "/account/activity?after=%3Cscript%3E")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "That page of your activity does not exist.") || !strings.Contains(page, "A passkey was added") {
		t.Errorf("bad page link: %d %s", resp.StatusCode, page)
	}
}

func TestAccountNavigation(t *testing.T) {
	e, _ := newAccountPagesEnv(t)
	b := e.browser()
	e.session(b, time.Now())
	for _, path := range []string{"/account/security", "/account/identities", "/account/profile", "/account/apps", "/account/sessions", "/account/activity"} {
		resp, page := e.get(b, path)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, page)
		}
		for _, link := range []string{"/account/profile", "/account/security", "/account/identities", "/account/apps", "/account/sessions", "/account/activity"} {
			want := `<a href="` + link + `">`
			if link == path {
				want = `<a href="` + link + `" aria-current="page">`
			}
			if !strings.Contains(page, want) {
				t.Errorf("%s: navigation lacks %s", path, want)
			}
		}
		if strings.Contains(page, `href="/account/passkeys"`) {
			t.Errorf("%s: a link to the passkeys page, which is off", path)
		}
	}
}
