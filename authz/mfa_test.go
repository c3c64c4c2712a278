package authz

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/internal/secretbox"
	"github.com/atrium-id/atrium/storage"
	sqlstore "github.com/atrium-id/atrium/storage/sql"
)

func testFactors(t testing.TB) *login.Factors {
	t.Helper()
	box, err := secretbox.New([]byte(strings.Repeat("m", 32)), "totp")
	if err != nil {
		t.Fatal(err)
	}
	return &login.Factors{Box: box, RecoveryKey: []byte(strings.Repeat("r", 32)), Issuer: "atrium.test"}
}

func newMFAEnv(t testing.TB, configure func(*Config)) *testEnv {
	return newTestEnvWith(t, func(c *Config) {
		c.Factors = testFactors(t)
		if configure != nil {
			configure(c)
		}
	})
}

func noReplayCheck(context.Context, string, time.Time) error { return nil }

// enrolTOTP gives the test user an authenticator app and recovery codes.
func (e *testEnv) enrolTOTP() (secret string, codes []string) {
	t := e.t
	t.Helper()
	ctx := context.Background()
	f := e.p.cfg.Factors
	enrol, err := f.NewTOTP(testEmail)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cred, err := f.ConfirmTOTP(ctx, e.userID, enrol.Secret, totpCode(t, enrol.Secret, now), now, noReplayCheck)
	if err != nil {
		t.Fatal(err)
	}
	codes, rec, err := f.NewRecoveryCodes(e.userID, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*storage.Credential{cred, rec} {
		if err := e.store.PutCredential(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return enrol.Secret, codes
}

func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mfaStep is what a test does on the second-factor page: the fields to
// submit, or nil to stop there.
type mfaStep func(page string) url.Values

// flow is one authorization request driven through the pages.
type flow struct {
	location *url.URL // the redirect to the client, if reached
	status   int      // the last page's status when stopped
	page     string   // the last page
	mfaPages int      // second-factor pages seen
	logins   int      // login pages seen
}

// drive runs an authorization request: the password on the login page,
// mfa on second-factor pages, "allow" on consent pages.
func (e *testEnv) drive(b *http.Client, params url.Values, mfa mfaStep) flow {
	t := e.t
	t.Helper()
	resp, err := b.Get(e.authorizeURL(params))
	if err != nil {
		t.Fatal(err)
	}
	var f flow
	for range 12 {
		if resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound {
			f.location, _ = resp.Location()
			resp.Body.Close()
			return f
		}
		f.status, f.page = resp.StatusCode, readBody(t, resp)
		pageURL := resp.Request.URL.String()
		switch {
		case strings.Contains(f.page, `name="password"`):
			f.logins++
			resp = submitForm(t, b, pageURL, f.page, "login", url.Values{"email": {testEmail}, "password": {testPassword}})
		case strings.Contains(pageURL, pathMFA):
			f.mfaPages++
			fields := mfa(f.page)
			if fields == nil {
				return f
			}
			resp = submitForm(t, b, pageURL, f.page, "mfa", fields)
		case strings.Contains(f.page, `value="allow"`):
			resp = submitForm(t, b, pageURL, f.page, "consent", url.Values{"action": {"allow"}})
		default:
			return f
		}
	}
	t.Fatal("no end to the flow")
	return f
}

// claims exchanges the flow's code and returns the ID token's claims.
func (e *testEnv) claims(f flow, verifier string) map[string]any {
	e.t.Helper()
	if f.location == nil {
		e.t.Fatalf("flow stopped on a page (%d): %s", f.status, f.page)
	}
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {f.location.Query().Get("code")},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "app", testSecret)
	if status != 200 {
		e.t.Fatalf("token response %d %v", status, tok)
	}
	return jwtClaims(e.t, tok["id_token"].(string))
}

func amrOf(c map[string]any) []string {
	var out []string
	for _, v := range c["amr"].([]any) {
		out = append(out, v.(string))
	}
	slices.Sort(out)
	return out
}

func submit(fields ...string) mfaStep {
	return func(string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(fields); i += 2 {
			v.Add(fields[i], fields[i+1])
		}
		return v
	}
}

func TestMFAWithTOTP(t *testing.T) {
	e := newMFAEnv(t, nil)
	secret, codes := e.enrolTOTP()
	now := time.Now()
	verifier, challenge := pkcePair()
	params := codeParams("app", "openid", challenge)

	// Bad codes keep the person on the page with a message.
	b := e.browser()
	bad := []struct{ code, message string }{
		{"000000", "That code is not right"},
		{"abcdef", "That code is not right"},
		{"", "That code is not right"},
		{"aaaaa-aaaaa", "That code is not right"},
	}
	i := 0
	f := e.drive(b, params, func(page string) url.Values {
		if i == len(bad) {
			return nil
		}
		if i > 0 && !strings.Contains(page, bad[i-1].message) {
			t.Errorf("code %q: page does not say %q", bad[i-1].code, bad[i-1].message)
		}
		i++
		return url.Values{"code": {bad[i-1].code}}
	})
	if f.location != nil || f.mfaPages != len(bad)+1 || f.status != http.StatusUnauthorized {
		t.Fatalf("bad codes: reached %v after %d pages, status %d", f.location, f.mfaPages, f.status)
	}
	if n, _ := e.store.ListUserSessions(context.Background(), e.userID); len(n) != 0 {
		t.Fatalf("%d sessions started by failed second factors", len(n))
	}

	// The right code signs in with both factors.
	good := totpCode(t, secret, now)
	f = e.drive(e.browser(), params, submit("code", good))
	c := e.claims(f, verifier)
	if got := amrOf(c); !slices.Equal(got, []string{"mfa", "otp", "pwd"}) || c["acr"] != acrMFA {
		t.Fatalf("amr %v acr %v, want [mfa otp pwd] and %q", got, c["acr"], acrMFA)
	}

	// The same code again, in another browser, is a replay.
	f = e.drive(e.browser(), params, func(page string) url.Values {
		if strings.Contains(page, "used already") {
			return nil
		}
		return url.Values{"code": {good}}
	})
	if f.location != nil || !strings.Contains(f.page, "That code has been used already") {
		t.Fatalf("replayed code: reached %v; page %s", f.location, f.page)
	}

	// A recovery code works once.
	f = e.drive(e.browser(), params, submit("code", strings.ToUpper(codes[0])))
	c = e.claims(f, verifier)
	if got := amrOf(c); !slices.Equal(got, []string{"mfa", "pwd"}) {
		t.Fatalf("recovery code amr %v, want [mfa pwd]", got)
	}
	f = e.drive(e.browser(), params, func(page string) url.Values {
		if strings.Contains(page, "not right") {
			return nil
		}
		return url.Values{"code": {codes[0]}}
	})
	if f.location != nil {
		t.Fatal("a recovery code worked twice")
	}
	if !strings.Contains(f.page, "(9 left)") {
		t.Errorf("page does not count the codes left: %s", f.page)
	}
}

func TestMFARememberDevice(t *testing.T) {
	e := newMFAEnv(t, nil)
	secret, _ := e.enrolTOTP()
	verifier, challenge := pkcePair()
	params := codeParams("app", "openid", challenge)
	b := e.browser()
	f := e.drive(b, params, submit("code", totpCode(t, secret, time.Now()), "remember", "1"))
	e.claims(f, verifier)

	// The SSO session ends; the remembered device skips the second step.
	signOut(t, e, b)
	params.Set("prompt", "login")
	f = e.drive(b, params, func(string) url.Values { t.Error("second factor asked on a remembered device"); return nil })
	if got := amrOf(e.claims(f, verifier)); !slices.Equal(got, []string{"pwd"}) {
		t.Fatalf("remembered device: amr %v, want [pwd]", got)
	}

	// An app asking for two factors gets them, remembered device or not.
	mfaParams := codeParams("app", "openid", challenge)
	mfaParams.Set("acr_values", acrPAPEMFA)
	mfaParams.Set("prompt", "login")
	f = e.drive(b, mfaParams, submit("code", totpCode(t, secret, time.Now().Add(30*time.Second))))
	if c := e.claims(f, verifier); f.mfaPages != 1 || c["acr"] != acrPAPEMFA {
		t.Fatalf("acr_values on a remembered device: %d second-factor pages, acr %v", f.mfaPages, c["acr"])
	}

	// Setting up the app again forgets the device.
	if err := e.store.DeleteCredential(context.Background(), e.userID, storage.CredentialTOTP); err != nil {
		t.Fatal(err)
	}
	e.enrolTOTP()
	f = e.drive(b, params, func(string) url.Values { return nil })
	if f.mfaPages != 1 {
		t.Fatal("a device remembered for the old authenticator app skipped the new one")
	}
}

// signOut ends the browser's SSO session.
func signOut(t *testing.T, e *testEnv, b *http.Client) {
	t.Helper()
	u, _ := url.Parse(e.srv.URL)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == cookieSession {
			if err := e.store.DeleteSession(context.Background(), sessionKey(c.Value)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

var secretRe = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
var codeListRe = regexp.MustCompile(`<li><code>([a-z0-9-]+)</code></li>`)

func TestMFAStepUpAndEnrolment(t *testing.T) {
	e := newMFAEnv(t, nil)
	verifier, challenge := pkcePair()
	b := e.browser()

	// No factor set up: one step, acr "1".
	f := e.drive(b, codeParams("app", "openid", challenge), nil)
	if c := e.claims(f, verifier); c["acr"] != acrPassword || !slices.Equal(amrOf(c), []string{"pwd"}) {
		t.Fatalf("password only: acr %v amr %v", c["acr"], c["amr"])
	}

	// prompt=none cannot step up.
	params := codeParams("app", "openid", challenge)
	params.Set("acr_values", acrMFA)
	none := url.Values{}
	for k, v := range params {
		none[k] = v
	}
	none.Set("prompt", "none")
	f = e.drive(b, none, nil)
	if f.location == nil || f.location.Query().Get("error") != "interaction_required" {
		t.Fatalf("prompt=none step-up: %v", f.location)
	}

	// A session signed in long ago signs in again before setting up a
	// second factor in a step-up.
	stale := e.browser()
	e.session(stale, time.Now().Add(-time.Hour))
	f = e.drive(stale, params, func(page string) url.Values {
		if !strings.Contains(page, `id="totp-secret"`) {
			t.Errorf("not the setup page: %s", page)
		}
		return nil
	})
	if f.logins != 1 || f.mfaPages != 1 {
		t.Fatalf("step-up with setup from an old session: %d login pages, %d second-factor pages", f.logins, f.mfaPages)
	}

	// The app asks for two: the signed-in user sets up an app now.
	var secret string
	step := 0
	f = e.drive(b, params, func(page string) url.Values {
		step++
		switch step {
		case 1:
			m := secretRe.FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("no secret on the setup page: %s", page)
			}
			secret = m[1]
			return url.Values{"code": {"000000"}}
		case 2:
			if !strings.Contains(page, "That code is not right") || secretRe.FindStringSubmatch(page)[1] != secret {
				t.Fatalf("wrong setup code: page should keep the same secret and say so: %s", page)
			}
			return url.Values{"code": {totpCode(t, secret, time.Now())}}
		case 3:
			if n := len(codeListRe.FindAllString(page, -1)); n != login.RecoveryCodeCount {
				t.Fatalf("%d recovery codes shown: %s", n, page)
			}
			return url.Values{}
		}
		t.Fatalf("unexpected fourth page: %s", page)
		return nil
	})
	c := e.claims(f, verifier)
	if c["acr"] != acrMFA || !slices.Equal(amrOf(c), []string{"mfa", "otp", "pwd"}) {
		t.Fatalf("step-up: acr %v amr %v", c["acr"], c["amr"])
	}
	if _, err := e.store.GetCredential(context.Background(), e.userID, storage.CredentialTOTP); err != nil {
		t.Fatalf("no TOTP credential stored: %v", err)
	}

	// The session now has two factors: the next request asking for them
	// is answered without a page.
	f = e.drive(b, params, func(string) url.Values { t.Error("asked again"); return nil })
	if c := e.claims(f, verifier); c["acr"] != acrMFA || f.logins != 0 {
		t.Fatalf("SSO with two factors: acr %v, %d login pages", c["acr"], f.logins)
	}
}

func TestMFARequiredByPolicy(t *testing.T) {
	e := newMFAEnv(t, func(c *Config) { c.MFARequired = true })
	_, challenge := pkcePair()
	f := e.drive(e.browser(), codeParams("app", "openid", challenge), func(string) url.Values { return nil })
	if f.mfaPages != 1 || !strings.Contains(f.page, `id="totp-secret"`) {
		t.Fatalf("policy: no setup page (%d pages): %s", f.mfaPages, f.page)
	}
	// The pending sign-in cannot skip ahead to the client: no session yet.
	if n, _ := e.store.ListUserSessions(context.Background(), e.userID); len(n) != 0 {
		t.Fatal("a session started before the second factor")
	}
}

func TestMFAPageRefusals(t *testing.T) {
	e := newMFAEnv(t, nil)
	e.enrolTOTP()
	_, challenge := pkcePair()
	b := e.browser()
	f := e.drive(b, codeParams("app", "openid", challenge), func(string) url.Values { return nil })
	pageURL := e.srv.URL + pathMFA + "?interaction=" + hiddenValue(f.page, "interaction")

	// Without the CSRF token, and from another browser.
	resp := submitForm(t, b, pageURL, strings.ReplaceAll(f.page, `name="csrf_token"`, `name="other"`), "mfa", url.Values{"code": {"123456"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("missing CSRF token: %d", resp.StatusCode)
	}
	resp.Body.Close()
	resp = submitForm(t, e.browser(), pageURL, f.page, "mfa", url.Values{"code": {"123456"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("another browser: %d", resp.StatusCode)
	}
	resp.Body.Close()

	// An interaction with no second factor pending has no MFA page.
	_, challenge = pkcePair()
	params := codeParams("app", "openid", challenge)
	resp, err := b.Get(e.authorizeURL(params))
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	ix := hiddenValue(page, "interaction")
	resp, err = b.Get(e.srv.URL + pathMFA + "?interaction=" + url.QueryEscape(ix))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("MFA page before the first factor: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

func hiddenValue(page, name string) string {
	for _, m := range hiddenRe.FindAllStringSubmatch(page, -1) {
		if m[1] == name {
			return m[2]
		}
	}
	return ""
}

func TestMFAThrottleAndAudit(t *testing.T) {
	// The clock stands still, so the backoff cannot run out however slow
	// the machine (the race detector makes password checks take seconds).
	start := time.Now()
	clock := func() time.Time { return start }
	e := newMFAEnv(t, func(c *Config) { c.Now = clock })
	counters, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), sqlstore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { counters.Close() })
	e.p.stores.Counters, e.p.stores.Audit = counters, e.store
	secret, _ := e.enrolTOTP()
	_, challenge := pkcePair()
	tries := 0
	f := e.drive(e.browser(), codeParams("app", "openid", challenge), func(page string) url.Values {
		if strings.Contains(page, "Too many attempts") {
			return nil
		}
		tries++
		if tries > 20 {
			t.Fatal("never throttled")
		}
		return url.Values{"code": {"000000"}}
	})
	if f.status != http.StatusTooManyRequests || tries != e.p.cfg.LoginAttempts+1 {
		t.Fatalf("throttled after %d tries with status %d", tries, f.status)
	}
	// While throttled, even the right code waits: guessing gains nothing.
	f2 := e.drive(e.browser(), codeParams("app", "openid", challenge), func(page string) url.Values {
		if strings.Contains(page, "Too many attempts") {
			return nil
		}
		return url.Values{"code": {totpCode(t, secret, start)}}
	})
	if f2.location != nil || f2.status != http.StatusTooManyRequests {
		t.Fatalf("right code while throttled: %v %d", f2.location, f2.status)
	}
	events, _, err := e.store.ListAudit(context.Background(), e.userID, storage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range events {
		count[ev.Type]++
		for k, v := range ev.Detail {
			if strings.Contains(v, "000000") || strings.Contains(k, "code") {
				t.Errorf("audit event %s holds the code: %v", ev.Type, ev.Detail)
			}
		}
	}
	if count[storage.AuditMFAFailed] != e.p.cfg.LoginAttempts || count[storage.AuditMFAThrottled] != 2 {
		t.Fatalf("audit events %v", count)
	}
}

func TestMFARequestedByACRValues(t *testing.T) {
	for _, tc := range []struct {
		acr  string
		want bool
	}{
		{"", false},
		{"2", true},
		{acrPAPEMFA, true},
		{"urn:other 2", true},
		{"1 2", false}, // preferences: a password meets "1"
		{"2 0", false},
		{"urn:other", false},
	} {
		ix := &interaction{Form: url.Values{"acr_values": {tc.acr}}}
		if got := mfaRequested(ix); got != tc.want {
			t.Errorf("acr_values %q: mfaRequested = %v, want %v", tc.acr, got, tc.want)
		}
	}
}
