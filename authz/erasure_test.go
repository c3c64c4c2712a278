package authz

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/internal/redistest"
	"github.com/atrium-id/atrium/storage"
	redisstore "github.com/atrium-id/atrium/storage/redis"
)

// dataEnv is the provider with the account area's export and deletion,
// wired as serve wires them, its state in state.
type dataEnv struct {
	*testEnv
	state storage.StateStore
	data  *account.DataStores
}

func newDataEnv(t *testing.T, state ...storage.StateStore) *dataEnv {
	t.Helper()
	e := newTestEnvWith(t, func(c *Config) { c.Factors = testFactors(t) }, state...)
	var ss storage.StateStore = e.store
	if len(state) > 0 {
		ss = state[0]
	}
	e.p.stores.Audit = e.store
	e.p.stores.Identities = e.store
	d := &account.DataStores{Consents: e.store, Sessions: ss, Tokens: ss, Audit: e.store, Eraser: e.store}
	e.serveAccount(account.Config{Factors: e.p.cfg.Factors, UseOnce: ss.UseOnce, Data: d, Audit: e.store,
		Preferences: e.store, Consents: e.store, Clients: e.store, Purposes: testPurposes})
	return &dataEnv{testEnv: e, state: ss, data: d}
}

// Records the seeded user holds that must not leak into an export.
const (
	sealedUpstreamTokens = "sealed-upstream-tokens-7c1e"
	passkeyName          = "Work laptop"
)

// seed gives the test user a record of every kind: a session and tokens
// from a real sign-in with consent, an authenticator app and recovery
// codes, a passkey, a linked identity with kept upstream tokens, a
// consent ledger entry and audit events. It returns the browser signed in.
func (e *dataEnv) seed() *http.Client {
	t := e.t
	t.Helper()
	ctx := context.Background()
	b := e.browser()
	verifier, challenge := pkcePair()
	loc := e.signIn(b, codeParams("app", "openid email offline_access", challenge))
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "app", testSecret)
	if status != 200 || tok["refresh_token"] == nil {
		t.Fatalf("token response %d %v", status, tok)
	}
	e.enrolTOTP()
	pk := &login.Passkey{ID: "cred-" + randomToken()[:10], Name: passkeyName, PublicKey: []byte{1, 2, 3}, CreatedAt: time.Now()}
	cred, err := pk.Credential(e.userID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		e.store.PutCredential(ctx, cred),
		e.store.CreateIdentity(ctx, &storage.Identity{ID: "ident-" + e.userID, UserID: e.userID, Provider: "github", Subject: "gh-4711",
			Email: testEmail, Claims: []byte(`{"login":"ada","email":"` + testEmail + `"}`), Tokens: []byte(sealedUpstreamTokens)}),
		e.store.AppendConsentEvent(ctx, &storage.ConsentEvent{UserID: e.userID, Purpose: "newsletter", Action: storage.ConsentGranted,
			IP: "198.51.100.4", UserAgent: "Test browser"}),
		e.store.PutPreferences(ctx, &storage.Preferences{UserID: e.userID, Language: "en", Currency: "CHF",
			OptIns: map[string][]string{"newsletter": {storage.ChannelEmail}}}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// userRows counts the rows of each SQL table whose user_id is the user.
func (e *dataEnv) userRows(userID string) map[string]int {
	e.t.Helper()
	mentions, err := e.store.FindText(context.Background(), userID)
	if err != nil {
		e.t.Fatal(err)
	}
	rows := map[string]int{}
	for _, m := range mentions {
		if (m.Column == "user_id" || m.Table == "users" && m.Column == "id") && m.Value == userID {
			rows[m.Table]++
		}
	}
	return rows
}

// exportSections names the export's section of each SQL table with a
// user_id column. A table missing here has no place in the export: add
// it to account.Export and here.
var exportSections = map[string]string{
	"users":          "profile",
	"identities":     "identities",
	"credentials":    "credentials",
	"consents":       "consents",
	"consent_events": "consent_history",
	"sessions":       "sessions",
	"audit_events":   "activity",
	"preferences":    "preferences",
}

func TestAccountExport(t *testing.T) {
	e := newDataEnv(t)
	b := e.seed()
	ctx := context.Background()
	tables, err := e.store.UserTables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows := e.userRows(e.userID)
	u, err := e.store.GetUser(ctx, e.userID)
	if err != nil {
		t.Fatal(err)
	}
	u.Attributes = map[string]any{"loyalty_tier": "gold"}
	if err := e.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}

	if _, other := e.get(b, "/account/identities"); !strings.Contains(other, `href="/account/data"`) {
		t.Errorf("the account navigation does not link to /account/data: %s", other)
	}
	_, page := e.get(b, "/account/data")
	resp := submitForm(t, b, e.srv.URL+"/account/data", page, "/account/export", nil)
	body := readBody(t, resp)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("export: %d %q %q: %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"), body)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("export is not a JSON object: %v", err)
	}

	// Every table with a user_id column has a section holding each of
	// the user's rows.
	for _, table := range append([]string{"users"}, tables...) {
		section, ok := exportSections[table]
		if !ok {
			t.Errorf("table %s has user_id but no section in the export", table)
			continue
		}
		raw, ok := doc[section]
		if !ok {
			t.Errorf("export has no section %q (table %s)", section, table)
			continue
		}
		if table == "users" {
			var p struct {
				ID, Email  string
				Attributes map[string]any
			}
			if err := json.Unmarshal(raw, &p); err != nil || p.ID != e.userID || p.Email != testEmail || p.Attributes["loyalty_tier"] != "gold" {
				t.Errorf("export profile %s (%v), want the user %s %s", raw, err, e.userID, testEmail)
			}
			continue
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			t.Errorf("export section %q is not a list: %v", section, err)
			continue
		}
		if len(items) != rows[table] || rows[table] == 0 {
			t.Errorf("export section %q has %d entries, the table %s %d rows of the user (want equal, not 0)", section, len(items), table, rows[table])
		}
	}

	// The download is in the account's activity.
	if _, activity := e.get(b, "/account/activity"); !strings.Contains(activity, "You downloaded your data") {
		t.Errorf("the activity page does not show the download: %s", activity)
	}

	// Secrets are described, never exported.
	creds, _ := e.store.ListCredentials(ctx, e.userID)
	for _, c := range creds {
		if c.Type != storage.CredentialPasskey && strings.Contains(body, string(c.Secret)) {
			t.Errorf("the export holds the %s secret", c.Type)
		}
	}
	for _, want := range []string{`"type": "totp"`, `"type": "recovery_codes"`, `"type": "password"`, `"name": "` + passkeyName + `"`,
		`"upstream_tokens_kept": true`, `"purpose": "newsletter"`, `"currency": "CHF"`, `"newsletter": [
          "email"
        ]`} {
		if !strings.Contains(body, want) {
			t.Errorf("the export lacks %s", want)
		}
	}
	for _, leak := range []string{sealedUpstreamTokens, "public_key", "secret"} {
		if strings.Contains(body, leak) {
			t.Errorf("the export holds %q", leak)
		}
	}
}

func TestAccountExportRefusals(t *testing.T) {
	e := newDataEnv(t)
	pageURL := e.srv.URL + "/account/data"

	// Without a session: sign in first.
	resp, err := noRedirects(e.browser()).Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := resp.Location(); resp.StatusCode != http.StatusSeeOther || loc == nil || !strings.HasSuffix(loc.Path, pathLogin) {
		t.Fatalf("no session: %d %v", resp.StatusCode, loc)
	}

	// Without the CSRF token.
	b := e.browser()
	e.session(b, time.Now())
	_, page := e.get(b, "/account/data")
	resp = submitForm(t, b, pageURL, strings.ReplaceAll(page, `name="csrf_token"`, `name="x"`), "/account/export", nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, testEmail) {
		t.Fatalf("missing CSRF token: %d %s", resp.StatusCode, body)
	}

	// A sign-in older than RecentSignIn signs in again first.
	old := e.browser()
	e.session(old, time.Now().Add(-account.RecentSignIn-time.Minute))
	_, page = e.get(old, "/account/data")
	resp = submitForm(t, noRedirects(old), pageURL, page, "/account/export", nil)
	resp.Body.Close()
	if loc, _ := resp.Location(); resp.StatusCode != http.StatusSeeOther || loc == nil || !strings.HasSuffix(loc.Path, pathLogin) {
		t.Fatalf("old sign-in: %d %v", resp.StatusCode, loc)
	}
}

func TestAccountDelete(t *testing.T) {
	t.Run("sql", func(t *testing.T) { testAccountDelete(t, newDataEnv(t), nil, "") })
	t.Run("redis", func(t *testing.T) {
		prefix := "erase-test:" + randomToken()[:12] + ":"
		rs, err := redisstore.Open(context.Background(), redistest.URL(t), redisstore.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		testAccountDelete(t, newDataEnv(t, rs), rs.Client(), prefix)
	})
}

// testAccountDelete deletes the seeded test user through the account
// area, after the refusals, and checks nothing names them afterwards: no
// SQL value and, with rdb, no Redis key or value under prefix.
func testAccountDelete(t *testing.T, e *dataEnv, rdb goredis.UniversalClient, prefix string) {
	ctx := context.Background()
	b := e.seed()
	// Another user, who keeps everything.
	const bobID, bobEmail = "user-bob", "bob@example.com"
	if err := e.store.CreateUser(ctx, &storage.User{ID: bobID, Email: bobEmail}); err != nil {
		t.Fatal(err)
	}
	bobSession := &storage.Session{ID: "bob-session", UserID: bobID, AuthTime: time.Now(), CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := e.state.PutSession(ctx, bobSession); err != nil {
		t.Fatal(err)
	}
	pageURL := e.srv.URL + "/account/delete"
	stillThere := func(what string) {
		t.Helper()
		if _, err := e.store.GetUser(ctx, e.userID); err != nil {
			t.Fatalf("%s deleted the user: %v", what, err)
		}
		if msgs, _, _ := e.store.ListOutbox(ctx, false, storage.Page{}); len(msgs) != 0 {
			t.Fatalf("%s wrote %d outbox messages", what, len(msgs))
		}
	}

	_, page := e.get(b, "/account/delete")
	if !strings.Contains(page, "Delete your account") || !strings.Contains(page, "<strong>"+testEmail+"</strong>") {
		t.Fatalf("delete page: %s", page)
	}

	// Bad input changes nothing.
	for _, typed := range []string{"", "someone@example.com", "DELETE"} {
		resp := submitForm(t, b, pageURL, page, "/account/delete", url.Values{"confirm": {typed}})
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "type your email address exactly as shown") {
			t.Fatalf("confirmation %q: %d %s", typed, resp.StatusCode, body)
		}
		stillThere("confirmation " + typed)
	}
	resp := submitForm(t, b, pageURL, strings.ReplaceAll(page, `name="csrf_token"`, `name="x"`), "/account/delete", url.Values{"confirm": {testEmail}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "This form has expired") {
		t.Fatalf("missing CSRF token: %d %s", resp.StatusCode, body)
	}
	stillThere("a form without CSRF token")
	old := e.browser()
	e.session(old, time.Now().Add(-account.RecentSignIn-time.Minute))
	_, oldPage := e.get(old, "/account/delete")
	resp = submitForm(t, noRedirects(old), pageURL, oldPage, "/account/delete", url.Values{"confirm": {testEmail}})
	resp.Body.Close()
	if loc, _ := resp.Location(); resp.StatusCode != http.StatusSeeOther || loc == nil || !strings.HasSuffix(loc.Path, pathLogin) {
		t.Fatalf("old sign-in: %d %v", resp.StatusCode, loc)
	}
	stillThere("an old sign-in")

	// The address typed (in any case) deletes the account.
	resp = submitForm(t, b, pageURL, page, "/account/delete", url.Values{"confirm": {" " + strings.ToUpper(testEmail) + " "}})
	body := readBody(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(body, "Your account is deleted") {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	u, _ := url.Parse(e.srv.URL)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == cookieSession {
			t.Error("session cookie left after deleting the account")
		}
	}
	resp, err := noRedirects(b).Get(e.srv.URL + "/account/data")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := resp.Location(); resp.StatusCode != http.StatusSeeOther || loc == nil || !strings.HasSuffix(loc.Path, pathLogin) {
		t.Fatalf("account page after deletion: %d %v, want sent to sign in", resp.StatusCode, loc)
	}

	// Nothing in SQL names the user but the outbox message.
	for _, text := range []string{e.userID, testEmail} {
		mentions, err := e.store.FindText(ctx, text)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mentions {
			if m.Table == "outbox" && m.Column == "payload" && text == e.userID {
				continue
			}
			t.Errorf("after deletion %s.%s names the user: %.200q", m.Table, m.Column, m.Value)
		}
	}
	// Nor in Redis.
	if rdb != nil {
		checkRedisForgets(t, rdb, prefix, e.userID, testEmail)
	}

	// One tombstone, one outbox message.
	events, _, err := e.store.ListAudit(ctx, "", storage.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	tombs := 0
	for _, ev := range events {
		if ev.Type == storage.AuditUserDeleted {
			tombs++
			if ev.UserID == e.userID || ev.IP != "" || ev.UserAgent != "" || len(ev.Detail) != 0 {
				t.Errorf("tombstone %+v names someone", ev)
			}
		}
	}
	msgs, _, err := e.store.ListOutbox(ctx, false, storage.Page{})
	if err != nil || tombs != 1 || len(msgs) != 1 || msgs[0].Topic != storage.TopicUserDeleted || !strings.Contains(string(msgs[0].Payload), `"user_id":"`+e.userID+`"`) {
		t.Fatalf("%d tombstones, outbox %v (%v); want 1 and one user.deleted message", tombs, msgs, err)
	}

	// Deleting again (a retry after an interruption) succeeds and writes
	// nothing more.
	erased, err := account.Erase(ctx, e.data, e.userID, time.Now())
	if err != nil || erased {
		t.Fatalf("second erasure = %v, %v; want false, nil", erased, err)
	}
	if msgs, _, _ := e.store.ListOutbox(ctx, false, storage.Page{}); len(msgs) != 1 {
		t.Fatalf("%d outbox messages after a second erasure, want 1", len(msgs))
	}

	// The other user keeps theirs.
	if _, err := e.store.GetUser(ctx, bobID); err != nil {
		t.Errorf("the other user: %v", err)
	}
	if _, err := e.state.GetSession(ctx, bobSession.ID); err != nil {
		t.Errorf("the other user's session: %v", err)
	}
	if _, err := e.store.GetUser(ctx, e.userID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetUser after deletion: %v", err)
	}
}

// checkRedisForgets fails t when a key under prefix, or its value, holds
// one of texts.
func checkRedisForgets(t *testing.T, rdb goredis.UniversalClient, prefix string, texts ...string) {
	t.Helper()
	ctx := context.Background()
	keys := 0
	iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		keys++
		var vals []string
		switch typ := rdb.Type(ctx, key).Val(); typ {
		case "string":
			vals = []string{rdb.Get(ctx, key).Val()}
		case "zset":
			vals = rdb.ZRange(ctx, key, 0, -1).Val()
		case "set":
			vals = rdb.SMembers(ctx, key).Val()
		case "list":
			vals = rdb.LRange(ctx, key, 0, -1).Val()
		case "hash":
			for k, v := range rdb.HGetAll(ctx, key).Val() {
				vals = append(vals, k, v)
			}
		case "none":
			continue // expired meanwhile
		default:
			t.Errorf("redis key %s of type %s not checked", key, typ)
		}
		for _, text := range texts {
			if strings.Contains(key, text) {
				t.Errorf("redis key %q names the user", key)
			}
			for _, v := range vals {
				if strings.Contains(v, text) {
					t.Errorf("redis key %s holds a value naming the user: %.200q", key, v)
				}
			}
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if keys == 0 {
		t.Error("no redis keys under the test prefix: the scan saw nothing")
	}
}

// TestAccountDeleteWithoutEmail: an account without an address confirms
// with DELETE, in capitals.
func TestAccountDeleteWithoutEmail(t *testing.T) {
	e := newDataEnv(t)
	ctx := context.Background()
	u, err := e.store.GetUser(ctx, e.userID)
	if err != nil {
		t.Fatal(err)
	}
	u.Email, u.EmailVerified = "", false
	if err := e.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	e.session(b, time.Now())
	pageURL := e.srv.URL + "/account/delete"
	_, page := e.get(b, "/account/delete")
	if !strings.Contains(page, "<strong>DELETE</strong>") {
		t.Fatalf("delete page of an account without an address: %s", page)
	}
	for _, typed := range []string{"delete", "", "yes"} {
		resp := submitForm(t, b, pageURL, page, "/account/delete", url.Values{"confirm": {typed}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "type DELETE in capital letters") {
			t.Fatalf("confirmation %q: %d %s", typed, resp.StatusCode, body)
		}
		if _, err := e.store.GetUser(ctx, e.userID); err != nil {
			t.Fatalf("confirmation %q deleted the user: %v", typed, err)
		}
	}
	resp := submitForm(t, b, pageURL, page, "/account/delete", url.Values{"confirm": {"DELETE"}})
	if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "Your account is deleted") {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	if _, err := e.store.GetUser(ctx, e.userID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after DELETE: %v", err)
	}
}

// TestEraseFinishesInterrupted: when the SQL erasure went through but the
// state store still holds the user's sessions and tokens (a request in
// flight wrote them, or the first sweep was cut short), erasing again
// ends them, without a second outbox message.
func TestEraseFinishesInterrupted(t *testing.T) {
	run := func(t *testing.T, e *dataEnv) {
		ctx := context.Background()
		b := e.seed()
		if ok, err := e.store.EraseUser(ctx, e.userID, time.Now()); !ok || err != nil {
			t.Fatalf("EraseUser = %v, %v", ok, err)
		}
		if ss, _ := e.state.ListUserSessions(ctx, e.userID); len(ss) == 0 && e.state != storage.StateStore(e.store) {
			t.Fatal("no session left in the state store to finish with")
		}
		erased, err := account.Erase(ctx, e.data, e.userID, time.Now())
		if err != nil || erased {
			t.Fatalf("Erase after the SQL erasure = %v, %v; want false, nil", erased, err)
		}
		if ss, err := e.state.ListUserSessions(ctx, e.userID); err != nil || len(ss) != 0 {
			t.Errorf("sessions after Erase: %d, %v", len(ss), err)
		}
		if n, err := e.state.RevokeSubjectTokens(ctx, e.userID); err != nil || n != 0 {
			t.Errorf("tokens after Erase: %d, %v", n, err)
		}
		if msgs, _, _ := e.store.ListOutbox(ctx, false, storage.Page{}); len(msgs) != 1 {
			t.Errorf("%d outbox messages, want 1", len(msgs))
		}
		resp, err := noRedirects(b).Get(e.srv.URL + "/account/data")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("the erased user's browser on the account area: %d, want sent to sign in", resp.StatusCode)
		}
	}
	t.Run("sql", func(t *testing.T) { run(t, newDataEnv(t)) })
	t.Run("redis", func(t *testing.T) {
		rs, err := redisstore.Open(context.Background(), redistest.URL(t), redisstore.WithPrefix("erase-test:"+randomToken()[:12]+":"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		run(t, newDataEnv(t, rs))
	})
}
