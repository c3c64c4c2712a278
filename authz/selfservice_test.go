package authz

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atrium-id/atrium/internal/mail"
	"github.com/atrium-id/atrium/internal/smtptest"
	"github.com/atrium-id/atrium/storage"
)

// mailEnv is a testEnv whose mails go through SMTP to an in-process
// server, with a clock the test can move.
type mailEnv struct {
	*testEnv
	smtp   *smtptest.Server
	offset atomic.Int64 // added to the clock, in nanoseconds
}

func newMailEnv(t *testing.T) *mailEnv {
	t.Helper()
	e := &mailEnv{testEnv: newTestEnv(t)}
	e.smtp = smtptest.Start(t, smtptest.Options{TLS: true, Username: "atrium", Password: "smtp-secret"})
	s, err := mail.NewSMTP(mail.SMTPConfig{Host: e.smtp.Host(), Port: e.smtp.Port(), Username: "atrium", Password: "smtp-secret",
		From: "Atrium <id@example.com>", StartTLS: mail.StartTLSRequired, TLSConfig: e.smtp.ClientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	e.p.cfg.Mail = s
	e.p.cfg.Now = func() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }
	e.p.stores.Counters = e.store
	return e
}

// loginPage starts an authorization request and returns the login page
// and its URL.
func (e *mailEnv) loginPage(b *http.Client) (page, pageURL string) {
	e.t.Helper()
	_, challenge := pkcePair()
	resp, err := b.Get(e.authorizeURL(codeParams("app", "openid email", challenge)))
	if err != nil {
		e.t.Fatal(err)
	}
	page = readBody(e.t, resp)
	if resp.StatusCode != 200 || !strings.Contains(page, `action="login"`) {
		e.t.Fatalf("not the login page (%d): %s", resp.StatusCode, page)
	}
	return page, resp.Request.URL.String()
}

var hrefRe = regexp.MustCompile(`href="([^"]+)"`)

// follow opens the page's link whose path starts with prefix.
func follow(t testing.TB, b *http.Client, pageURL, page, prefix string) (string, string) {
	t.Helper()
	for _, m := range hrefRe.FindAllStringSubmatch(page, -1) {
		href := unescapeHTML(m[1])
		if strings.HasPrefix(href, prefix) {
			base, _ := url.Parse(pageURL)
			target, _ := base.Parse(href)
			resp, err := b.Get(target.String())
			if err != nil {
				t.Fatal(err)
			}
			return readBody(t, resp), resp.Request.URL.String()
		}
	}
	t.Fatalf("no link to %s on the page: %s", prefix, page)
	return "", ""
}

var mailLinkRe = regexp.MustCompile(`https?://\S+\?token=[A-Za-z0-9_-]+`)

// mailLink waits for a mail to addr with subject and returns its link,
// after checking the HTML part carries the same one.
func (e *mailEnv) mailLink(addr, subject string, skip map[string]bool) string {
	e.t.Helper()
	m := e.smtp.WaitFor(addr, func(m *smtptest.Message) bool {
		return m.Subject == subject && !skip[mailLinkRe.FindString(m.Text)]
	})
	link := mailLinkRe.FindString(m.Text)
	if link == "" || !strings.Contains(m.HTML, link) || !m.TLS || m.AuthUser != "atrium" {
		e.t.Fatalf("mail without a link in both parts, or not over authenticated TLS: %+v", m)
	}
	return link
}

// finish follows the interaction from resp (consent included) to the
// client and exchanges the code; it returns the token response.
func (e *mailEnv) finish(b *http.Client, resp *http.Response, verifier string) map[string]any {
	t := e.t
	t.Helper()
	for i := 0; i < 3 && resp.StatusCode == 200; i++ {
		page := readBody(t, resp)
		if !strings.Contains(page, `value="allow"`) {
			t.Fatalf("unexpected page: %s", page)
		}
		resp = submitForm(t, b, resp.Request.URL.String(), page, "consent", url.Values{"action": {"allow"}})
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("no redirect to the client (%d): %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}}
	status, tok := e.postToken(form, "app", testSecret)
	if status != 200 {
		t.Fatalf("token: %d %v", status, tok)
	}
	return tok
}

func (e *mailEnv) userinfo(accessToken string) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+pathUserinfo, nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var info map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		e.t.Fatal(err)
	}
	return info
}

func (e *mailEnv) canSignIn(email, password string) bool {
	e.t.Helper()
	b := e.browser()
	page, pageURL := e.loginPage(b)
	resp := submitForm(e.t, b, pageURL, page, "login", url.Values{"email": {email}, "password": {password}})
	readBody(e.t, resp)
	return resp.StatusCode != http.StatusUnauthorized
}

// Password reset, end to end: the same answer for known and unknown
// addresses; the mailed link works once, with CSRF, for an hour; the new
// password works, the old one and the old sessions do not.
func TestPasswordReset(t *testing.T) {
	e := newMailEnv(t)
	ctx := context.Background()
	oldSession := e.browser()
	e.signIn(oldSession, codeParams("app", "openid", "x"+strings.Repeat("a", 42)))
	if ss, _ := e.store.ListUserSessions(ctx, e.userID); len(ss) != 1 {
		t.Fatalf("%d sessions before the reset, want 1", len(ss))
	}

	b := e.browser()
	page, pageURL := e.loginPage(b)
	forgot, forgotURL := follow(t, b, pageURL, page, "forgot-password?")
	answers := map[string]string{}
	var statuses []int
	for _, addr := range []string{testEmail, "nobody@example.com", "ADA@example.com"} {
		start := time.Now()
		resp := submitForm(t, b, forgotURL, forgot, "forgot-password", url.Values{"email": {addr}})
		answers[addr] = readBody(t, resp)
		statuses = append(statuses, resp.StatusCode)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: answered in %s; the mail must not be sent before the answer", addr, d)
		}
	}
	if answers[testEmail] != answers["nobody@example.com"] || statuses[0] != statuses[1] || statuses[0] != 200 {
		t.Fatalf("known and unknown addresses answered differently:\n%d %s\n%d %s", statuses[0], answers[testEmail], statuses[1], answers["nobody@example.com"])
	}
	if !strings.Contains(answers[testEmail], "If an account exists for that address") {
		t.Fatalf("answer: %s", answers[testEmail])
	}
	link := e.mailLink(testEmail, "Reset your password", nil)
	second := e.mailLink(testEmail, "Reset your password", map[string]bool{link: true})

	// A browser opens the link; the form needs its CSRF token.
	rb := e.browser()
	resp, err := rb.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	form := readBody(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(form, testEmail) {
		t.Fatalf("reset page (%d): %s", resp.StatusCode, form)
	}
	newPassword := "a new and long passphrase"
	for _, tc := range []struct {
		name   string
		fields url.Values
		status int
		want   string
	}{
		{"missing csrf", url.Values{"csrf_token": {""}, "password": {newPassword}, "password_confirm": {newPassword}}, 403, "This form has expired"},
		{"wrong csrf", url.Values{"csrf_token": {"forged"}, "password": {newPassword}, "password_confirm": {newPassword}}, 403, "This form has expired"},
		{"passwords differ", url.Values{"password": {newPassword}, "password_confirm": {newPassword + "!"}}, 400, "The two passwords differ"},
		{"too short", url.Values{"password": {"short"}, "password_confirm": {"short"}}, 400, "at least 8 characters"},
		{"common", url.Values{"password": {"password123"}, "password_confirm": {"password123"}}, 400, "too common"},
	} {
		resp := submitForm(t, rb, link, form, "reset-password", tc.fields)
		body := readBody(t, resp)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: got %d, want %d with %q: %s", tc.name, resp.StatusCode, tc.status, tc.want, body)
		}
		if !e.canSignIn(testEmail, testPassword) {
			t.Fatalf("%s: the password changed", tc.name)
		}
	}

	resp = submitForm(t, rb, link, form, "reset-password", url.Values{"password": {newPassword}, "password_confirm": {newPassword}})
	if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "Password changed") {
		t.Fatalf("reset: %d %s", resp.StatusCode, body)
	}
	if ss, _ := e.store.ListUserSessions(ctx, e.userID); len(ss) != 0 {
		t.Errorf("%d sessions after the reset, want none", len(ss))
	}
	if e.canSignIn(testEmail, testPassword) {
		t.Error("the old password still works")
	}
	if !e.canSignIn(testEmail, newPassword) {
		t.Error("the new password does not work")
	}

	// The link is spent; the other one was made before the password changed.
	for name, l := range map[string]string{"reused": link, "older than the password": second} {
		resp, err := e.browser().Get(l)
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != 400 || !strings.Contains(body, "expired or was already used") {
			t.Errorf("%s link: %d %s", name, resp.StatusCode, body)
		}
	}
	resp = submitForm(t, rb, link, form, "reset-password", url.Values{"password": {"yet another passphrase"}, "password_confirm": {"yet another passphrase"}})
	if body := readBody(t, resp); resp.StatusCode != 400 || !strings.Contains(body, "expired or was already used") {
		t.Errorf("reused link, posted: %d %s", resp.StatusCode, body)
	}
	if !e.canSignIn(testEmail, newPassword) {
		t.Error("a reused link changed the password")
	}

	// An expired link is refused and changes nothing.
	resp = submitForm(t, b, forgotURL, forgot, "forgot-password", url.Values{"email": {testEmail}})
	readBody(t, resp)
	expiring := e.mailLink(testEmail, "Reset your password", map[string]bool{link: true, second: true})
	rb = e.browser()
	resp, _ = rb.Get(expiring)
	form = readBody(t, resp)
	e.offset.Store(int64(resetLifespan + time.Minute))
	resp, _ = e.browser().Get(expiring)
	if body := readBody(t, resp); resp.StatusCode != 400 || !strings.Contains(body, "expired or was already used") {
		t.Errorf("expired link: %d %s", resp.StatusCode, body)
	}
	resp = submitForm(t, rb, expiring, form, "reset-password", url.Values{"password": {"yet another passphrase"}, "password_confirm": {"yet another passphrase"}})
	if body := readBody(t, resp); resp.StatusCode != 400 {
		t.Errorf("expired link, posted: %d %s", resp.StatusCode, body)
	}
	e.offset.Store(0)
	if !e.canSignIn(testEmail, newPassword) {
		t.Error("an expired link changed the password")
	}
}

// Reset requests are limited per address, known or not, without a
// different answer.
func TestPasswordResetRateLimit(t *testing.T) {
	e := newMailEnv(t)
	b := e.browser()
	page, pageURL := e.loginPage(b)
	forgot, forgotURL := follow(t, b, pageURL, page, "forgot-password?")
	for i := 0; i < mailsPerWindow+2; i++ {
		resp := submitForm(t, b, forgotURL, forgot, "forgot-password", url.Values{"email": {testEmail}})
		if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "If an account exists") {
			t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); len(e.smtp.Messages()) < mailsPerWindow && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(e.smtp.Messages()); n != mailsPerWindow {
		t.Errorf("%d mails sent, want %d", n, mailsPerWindow)
	}
}

// Sign-up, end to end: a new account is signed in at once with
// email_verified false, the mailed link verifies it (once); an existing
// address gets no account and no session.
func TestSignupAndVerify(t *testing.T) {
	e := newMailEnv(t)
	ctx := context.Background()
	b := e.browser()
	verifier, challenge := pkcePair()
	resp, err := b.Get(e.authorizeURL(codeParams("app", "openid email profile", challenge)))
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	signup, signupURL := follow(t, b, resp.Request.URL.String(), page, "signup?")

	for _, tc := range []struct {
		name   string
		fields url.Values
		status int
		want   string
	}{
		{"bad email", url.Values{"email": {"grace"}, "password": {"a long passphrase"}}, 400, "valid email address"},
		{"weak password", url.Values{"email": {"grace@example.com"}, "password": {"1234567"}}, 400, "at least 8 characters"},
		{"password is the email", url.Values{"email": {"grace@example.com"}, "password": {"grace@example.com"}}, 400, "email address"},
		{"missing csrf", url.Values{"csrf_token": {""}, "email": {"grace@example.com"}, "password": {"a long passphrase"}}, 400, "expired or is not valid"},
	} {
		resp := submitForm(t, b, signupURL, signup, "signup", tc.fields)
		body := readBody(t, resp)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: got %d, want %d with %q: %s", tc.name, resp.StatusCode, tc.status, tc.want, body)
		}
	}
	if _, err := e.store.GetUserByEmail(ctx, "grace@example.com"); err == nil {
		t.Fatal("a refused sign-up created the account")
	}

	resp = submitForm(t, b, signupURL, signup, "signup", url.Values{
		"email": {"Grace@example.com"}, "name": {"Grace Hopper"}, "password": {"a long passphrase"}})
	tok := e.finish(b, resp, verifier)
	info := e.userinfo(tok["access_token"].(string))
	if info["email"] != "grace@example.com" || info["email_verified"] != false || info["name"] != "Grace Hopper" {
		t.Fatalf("userinfo after sign-up = %v, want the new, unverified address", info)
	}

	link := e.mailLink("grace@example.com", "Confirm your email address", nil)
	resp, err = e.browser().Get(link)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "confirmed") {
		t.Fatalf("verify: %d %s", resp.StatusCode, body)
	}
	if info := e.userinfo(tok["access_token"].(string)); info["email_verified"] != true {
		t.Fatalf("userinfo after verification = %v", info)
	}
	resp, _ = e.browser().Get(link)
	if body := readBody(t, resp); resp.StatusCode != 400 || !strings.Contains(body, "expired or was already used") {
		t.Errorf("reused verification link: %d %s", resp.StatusCode, body)
	}
	resp, _ = e.browser().Get(e.srv.URL + pathVerifyEmail + "?token=" + randomToken())
	if body := readBody(t, resp); resp.StatusCode != 400 {
		t.Errorf("unknown verification link: %d %s", resp.StatusCode, body)
	}
	if !e.canSignIn("grace@example.com", "a long passphrase") {
		t.Error("the new account cannot sign in")
	}
}

func TestSignupExistingAddress(t *testing.T) {
	e := newMailEnv(t)
	ctx := context.Background()
	b := e.browser()
	page, pageURL := e.loginPage(b)
	signup, signupURL := follow(t, b, pageURL, page, "signup?")
	resp := submitForm(t, b, signupURL, signup, "signup", url.Values{
		"email": {"ADA@example.com"}, "name": {"Mallory"}, "password": {"mallory's long passphrase"}})
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "We could not create an account with this address") {
		t.Fatalf("sign-up with an existing address: %d %s", resp.StatusCode, body)
	}
	if ss, _ := e.store.ListUserSessions(ctx, e.userID); len(ss) != 0 {
		t.Fatal("a sign-up with an existing address signed in")
	}
	u, err := e.store.GetUserByEmail(ctx, testEmail)
	if err != nil || u.ID != e.userID || u.Name != "Ada Lovelace" {
		t.Fatalf("existing account changed: %+v %v", u, err)
	}
	if !e.canSignIn(testEmail, testPassword) || e.canSignIn(testEmail, "mallory's long passphrase") {
		t.Fatal("the existing account's password changed")
	}
	m := e.smtp.WaitFor(testEmail, nil)
	if m.Subject != "You already have an account" || mailLinkRe.MatchString(m.Text) {
		t.Errorf("notice to the owner: %q %s", m.Subject, m.Text)
	}
}

// Sign-ups are limited per address.
func TestSignupRateLimit(t *testing.T) {
	e := newMailEnv(t)
	b := e.browser()
	page, pageURL := e.loginPage(b)
	signup, signupURL := follow(t, b, pageURL, page, "signup?")
	var last *http.Response
	for i := 0; i <= mailsPerWindow; i++ {
		last = submitForm(t, b, signupURL, signup, "signup", url.Values{"email": {testEmail}, "password": {"a long passphrase"}})
		readBody(t, last)
	}
	if last.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("sign-up %d: %d, want 429", mailsPerWindow+1, last.StatusCode)
	}
}

// A verification link for an address the account no longer has does
// nothing.
func TestVerifyLinkForChangedAddress(t *testing.T) {
	e := newMailEnv(t)
	ctx := context.Background()
	u, _ := e.store.GetUser(ctx, e.userID)
	u.EmailVerified = false
	if err := e.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := e.p.sendVerification(ctx, u); err != nil {
		t.Fatal(err)
	}
	link := e.mailLink(testEmail, "Confirm your email address", nil)
	u.Email = "ada.new@example.com"
	if err := e.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	resp, _ := e.browser().Get(link)
	readBody(t, resp)
	if got, _ := e.store.GetUser(ctx, e.userID); resp.StatusCode != 400 || got.EmailVerified {
		t.Fatalf("link for the old address: %d, verified %v", resp.StatusCode, got.EmailVerified)
	}
}

// A mailed link is spent once, even by two requests at the same instant,
// and not usable after its expiry, whichever store holds it.
func TestMailedLinkSpentOnce(t *testing.T) {
	stateBackends(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		for _, kind := range []storage.TokenKind{kindPasswordReset, kindEmailVerification} {
			link, err := e.p.newLink(ctx, kind, pathResetPassword, linkToken{UserID: e.userID, Email: testEmail}, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(link)
			token := u.Query().Get("token")
			lt, sig, err := e.p.lookupLink(ctx, kind, token)
			if err != nil || lt.UserID != e.userID || sig == token {
				t.Fatalf("%s: lookup = %+v %q %v", kind, lt, sig, err)
			}
			var wg sync.WaitGroup
			var spent atomic.Int32
			for range 2 {
				wg.Go(func() {
					if err := e.p.spendLink(ctx, kind, sig); err == nil {
						spent.Add(1)
					} else if !errors.Is(err, errLinkUnusable) {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if spent.Load() != 1 {
				t.Fatalf("%s: spent %d times, want once", kind, spent.Load())
			}
			if _, _, err := e.p.lookupLink(ctx, kind, token); !errors.Is(err, errLinkUnusable) {
				t.Fatalf("%s: spent link looked up: %v", kind, err)
			}
			// Expiry, on the provider's clock.
			link, _ = e.p.newLink(ctx, kind, pathResetPassword, linkToken{UserID: e.userID, Email: testEmail}, time.Hour)
			u, _ = url.Parse(link)
			now := e.p.cfg.Now
			e.p.cfg.Now = func() time.Time { return time.Now().Add(time.Hour + time.Second) }
			_, _, err = e.p.lookupLink(ctx, kind, u.Query().Get("token"))
			e.p.cfg.Now = now
			if !errors.Is(err, errLinkUnusable) {
				t.Fatalf("%s: expired link looked up: %v", kind, err)
			}
			// The digest, not the token, is stored.
			if _, err := e.p.stores.Tokens.GetToken(ctx, kind, u.Query().Get("token")); err == nil {
				t.Fatalf("%s: the token itself is a stored key", kind)
			}
		}
	})
}
