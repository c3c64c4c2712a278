package authz

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/internal/mail"
	"github.com/atrium-id/atrium/storage"
)

// newSecurityEnv serves the provider with second factors and the account
// area, wired as serve wires them.
func newSecurityEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newMFAEnv(t, nil)
	e.serveAccount(account.Config{Factors: e.p.cfg.Factors, UseOnce: e.store.UseOnce})
	return e
}

// serveAccount serves the account area built with cfg beside the
// provider, wired as serve wires it: cfg's stores, the provider as its
// Authenticator, the test user's SQLite store for identities and
// credentials unless cfg names others.
func (e *testEnv) serveAccount(cfg account.Config) {
	e.t.Helper()
	if cfg.Identities == nil {
		cfg.Identities = e.store
	}
	if cfg.Credentials == nil {
		cfg.Credentials = e.store
	}
	cfg.Auth, cfg.CSRFKey, cfg.Log = e.p, []byte(strings.Repeat("k", 32)), testLogger()
	acct, err := account.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", e.p)
	mux.Handle("/account", acct)
	mux.Handle("/account/", acct)
	e.srv.Config.Handler = mux
}

// session gives the browser an SSO session of the test user that signed
// in at authTime.
func (e *testEnv) session(b *http.Client, authTime time.Time) string {
	e.t.Helper()
	cookie := randomToken()
	if err := e.store.PutSession(context.Background(), &storage.Session{ID: sessionKey(cookie), UserID: e.userID,
		AuthTime: authTime, AMR: []string{"pwd"}, ACR: acrPassword, CreatedAt: authTime, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		e.t.Fatal(err)
	}
	u, _ := url.Parse(e.srv.URL)
	b.Jar.SetCookies(u, []*http.Cookie{{Name: cookieSession, Value: cookie, Path: "/"}})
	return sessionKey(cookie)
}

func (e *testEnv) get(b *http.Client, path string) (*http.Response, string) {
	e.t.Helper()
	resp, err := b.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, readBody(e.t, resp)
}

// noRedirects is the browser b that stops at every redirect.
func noRedirects(b *http.Client) *http.Client {
	c := *b
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func TestAccountTOTPSetup(t *testing.T) {
	e := newSecurityEnv(t)
	ctx := context.Background()
	b := e.browser()
	e.session(b, time.Now())
	pageURL := e.srv.URL + "/account/security"

	_, page := e.get(b, "/account/security")
	if !strings.Contains(page, "Set up authenticator app") {
		t.Fatalf("security page: %s", page)
	}
	resp := submitForm(t, b, pageURL, page, "/account/security/totp", nil)
	setup := readBody(t, resp)
	m := secretRe.FindStringSubmatch(setup)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("setup page %d: %s", resp.StatusCode, setup)
	}
	secret := m[1]
	if !strings.Contains(setup, `src="data:image/png;base64,`) {
		t.Fatal("the setup page's QR code is not an inline PNG")
	}

	// A wrong code stores nothing and shows the same secret again.
	resp = submitForm(t, b, pageURL, setup, "/account/security/totp/confirm", url.Values{"code": {"000000"}})
	again := readBody(t, resp)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(again, "That code is not right") || !strings.Contains(again, secret) {
		t.Fatalf("wrong code: %d %s", resp.StatusCode, again)
	}
	if _, err := e.store.GetCredential(ctx, e.userID, storage.CredentialTOTP); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a wrong code stored a credential: %v", err)
	}

	// The pending secret is bound to this session: another session of the
	// same user cannot bring it back.
	other := e.browser()
	e.session(other, time.Now())
	resp = submitForm(t, other, pageURL, strings.ReplaceAll(setup, hiddenValue(setup, "csrf_token"), hiddenValue(pageOf(t, e, other), "csrf_token")),
		"/account/security/totp/confirm", url.Values{"code": {totpCode(t, secret, time.Now())}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "The setup expired") {
		t.Fatalf("pending secret from another session: %d %s", resp.StatusCode, body)
	}

	// The right code turns it on and shows the recovery codes once.
	resp = submitForm(t, b, pageURL, setup, "/account/security/totp/confirm", url.Values{"code": {totpCode(t, secret, time.Now())}})
	done := readBody(t, resp)
	codes := codeListRe.FindAllStringSubmatch(done, -1)
	if resp.StatusCode != 200 || len(codes) != login.RecoveryCodeCount {
		t.Fatalf("confirm: %d, %d codes: %s", resp.StatusCode, len(codes), done)
	}
	if _, err := e.store.GetCredential(ctx, e.userID, storage.CredentialTOTP); err != nil {
		t.Fatalf("no TOTP credential: %v", err)
	}
	_, page = e.get(b, "/account/security")
	if !strings.Contains(page, "Turn off") || strings.Contains(page, codes[0][1]) {
		t.Fatalf("security page after setup: %s", page)
	}

	// New recovery codes replace the old ones.
	resp = submitForm(t, b, pageURL, page, "/account/security/recovery", nil)
	renewed := codeListRe.FindAllStringSubmatch(readBody(t, resp), -1)
	if len(renewed) != login.RecoveryCodeCount || renewed[0][1] == codes[0][1] {
		t.Fatalf("renewed codes: %v", renewed)
	}
	rec, err := e.store.GetCredential(ctx, e.userID, storage.CredentialRecoveryCodes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.cfg.Factors.UseRecoveryCode(ctx, rec, codes[0][1], time.Now(), noReplayCheck); !errors.Is(err, login.ErrWrongCode) {
		t.Fatalf("an old recovery code still works: %v", err)
	}

	// Turning the app off removes it and the recovery codes.
	_, page = e.get(b, "/account/security")
	resp = submitForm(t, noRedirects(b), pageURL, page, "/account/security/totp/remove", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d", resp.StatusCode)
	}
	for _, typ := range []string{storage.CredentialTOTP, storage.CredentialRecoveryCodes} {
		if _, err := e.store.GetCredential(ctx, e.userID, typ); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s left after turning the app off: %v", typ, err)
		}
	}
}

func pageOf(t *testing.T, e *testEnv, b *http.Client) string {
	t.Helper()
	_, page := e.get(b, "/account/security")
	return page
}

func TestAccountSecurityRefusals(t *testing.T) {
	e := newSecurityEnv(t)
	ctx := context.Background()
	pageURL := e.srv.URL + "/account/security"

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
	page := pageOf(t, e, b)
	resp = submitForm(t, b, pageURL, strings.ReplaceAll(page, `name="csrf_token"`, `name="x"`), "/account/security/totp", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("missing CSRF token: %d", resp.StatusCode)
	}

	// A sign-in older than RecentSignIn signs in again before changing
	// anything.
	old := e.browser()
	e.session(old, time.Now().Add(-account.RecentSignIn-time.Minute))
	page = pageOf(t, e, old)
	resp = submitForm(t, noRedirects(old), pageURL, page, "/account/security/totp", nil)
	resp.Body.Close()
	if loc, _ := resp.Location(); resp.StatusCode != http.StatusSeeOther || loc == nil || !strings.HasSuffix(loc.Path, pathLogin) {
		t.Fatalf("old sign-in: %d %v", resp.StatusCode, loc)
	}
	e.enrolTOTP()
	resp = submitForm(t, noRedirects(old), pageURL, pageOf(t, e, old), "/account/security/totp/remove", nil)
	resp.Body.Close()
	if _, err := e.store.GetCredential(ctx, e.userID, storage.CredentialTOTP); err != nil {
		t.Fatalf("an old sign-in turned the app off: %v", err)
	}
}

func TestAccountSignOut(t *testing.T) {
	e := newSecurityEnv(t)
	b := e.browser()
	sid := e.session(b, time.Now())
	page := pageOf(t, e, b)
	resp := submitForm(t, b, e.srv.URL+"/account/security", page, "/account/signout", nil)
	body := readBody(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(body, "You are signed out") {
		t.Fatalf("sign out: %d %s", resp.StatusCode, body)
	}
	if _, err := e.store.GetSession(context.Background(), sid); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("session left after signing out: %v", err)
	}
	u, _ := url.Parse(e.srv.URL)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == cookieSession {
			t.Fatal("session cookie left after signing out")
		}
	}
}

// mailbox is a mail.Sender that hands mails to the test.
type mailbox chan *mail.Message

func (m mailbox) Send(_ context.Context, msg *mail.Message) error {
	m <- msg
	return nil
}

func TestAccountResendVerification(t *testing.T) {
	box := make(mailbox, 10)
	e := newMFAEnv(t, func(c *Config) { c.Mail = box })
	e.serveAccount(account.Config{Factors: e.p.cfg.Factors, UseOnce: e.store.UseOnce})
	e.p.stores.Counters = e.store
	ctx := context.Background()

	b := e.browser()
	e.session(b, time.Now())
	if page := pageOf(t, e, b); strings.Contains(page, "Send a new link") {
		t.Fatal("a confirmed address is offered a new link")
	}
	u, _ := e.store.GetUser(ctx, e.userID)
	u.EmailVerified = false
	if err := e.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	page := pageOf(t, e, b)
	if !strings.Contains(page, "Send a new link") {
		t.Fatalf("no offer of a new link: %s", page)
	}
	for i := range 6 {
		resp := submitForm(t, b, e.srv.URL+"/account/security", page, "/account/email/verify", nil)
		body := readBody(t, resp)
		if i < 5 {
			if resp.StatusCode != 200 || !strings.Contains(body, "We sent a new link") {
				t.Fatalf("resend %d: %d %s", i, resp.StatusCode, body)
			}
			select {
			case m := <-box:
				if m.To != testEmail || !strings.Contains(m.Text, pathVerifyEmail+"?token=") {
					t.Fatalf("mail %+v", m)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no verification mail")
			}
			continue
		}
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "wait an hour") {
			t.Fatalf("resend over the limit: %d %s", resp.StatusCode, body)
		}
	}
	select {
	case m := <-box:
		t.Fatalf("a mail over the limit: %+v", m)
	case <-time.After(200 * time.Millisecond):
	}
}
