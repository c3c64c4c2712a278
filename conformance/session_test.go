package conformance

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSSOAcrossClients signs in to one client, then authorizes another in
// the same browser: the SSO session answers without a login form, for the
// same subject.
func TestSSOAcrossClients(t *testing.T) {
	t.Parallel()
	a, bc, u := client(t, "sso-a"), client(t, "sso-b"), account(t, "sso")
	b := newBrowser(t)
	la := b.signIn(a, u, request{})
	z := b.authorize(bc, request{}, actor{}) // no credentials: a login form ends it
	if z.Logins != 0 || (z.Mode == "" && z.Page.loginForm() != nil) {
		t.Fatalf("the second client got a login form despite the SSO session: %s", z.describe())
	}
	tok := bc.exchange(t, z.code(t, bc), z.verifier)
	idt, _ := bc.idToken(t, tok, idWant{nonce: z.nonce, sub: u.Sub})
	if idt.Subject != la.idToken.Subject {
		t.Errorf("sub = %q for the second client, %q for the first", idt.Subject, la.idToken.Subject)
	}
}

// TestOIDCCPromptNoneNotLoggedIn mirrors oidcc-prompt-none-not-logged-in.
func TestOIDCCPromptNoneNotLoggedIn(t *testing.T) {
	t.Parallel()
	c := client(t, "prompt-none")
	z := newBrowser(t).authorize(c, request{extra: url.Values{"prompt": {"none"}}}, actor{})
	if z.Mode != "query" {
		t.Fatalf("want a redirect to the client, got %s", z.describe())
	}
	if e := z.authError(t, c); e != "login_required" {
		t.Errorf("error = %q, want login_required", e)
	}
}

// TestOIDCCPromptNoneLoggedIn mirrors oidcc-prompt-none-logged-in, and
// checks prompt=none before consent was given.
func TestOIDCCPromptNoneLoggedIn(t *testing.T) {
	t.Parallel()
	c, u := client(t, "prompt-none"), account(t, "prompt-none")
	b := newBrowser(t)
	first := b.signIn(c, u, request{})

	t.Run("session and consent", func(t *testing.T) {
		b.t = t
		z := b.authorize(c, request{extra: url.Values{"prompt": {"none"}}}, actor{})
		if z.Logins != 0 || z.Consents != 0 {
			t.Errorf("prompt=none showed %d login and %d consent pages", z.Logins, z.Consents)
		}
		tok := c.exchange(t, z.code(t, c), z.verifier)
		idt, _ := c.idToken(t, tok, idWant{nonce: z.nonce, sub: u.Sub})
		if idt.Subject != first.idToken.Subject {
			t.Errorf("sub = %q, want %q as at sign-in", idt.Subject, first.idToken.Subject)
		}
	})
	t.Run("session without consent", func(t *testing.T) {
		b.t = t
		other := client(t, "prompt-none-b")
		z := b.authorize(other, request{extra: url.Values{"prompt": {"none"}}}, actor{})
		if z.Mode != "query" {
			t.Fatalf("want a redirect to the client, got %s", z.describe())
		}
		if e := z.authError(t, other); e != "consent_required" && e != "interaction_required" {
			t.Errorf("error = %q, want consent_required (or interaction_required)", e)
		}
	})
}

// TestOIDCCPromptLogin mirrors oidcc-prompt-login: prompt=login shows the
// login form despite the session, and auth_time moves on. Both requests
// send a generous max_age so that auth_time is required.
func TestOIDCCPromptLogin(t *testing.T) {
	t.Parallel()
	c, u := client(t, "prompt-login"), account(t, "prompt-login")
	b := newBrowser(t)
	maxAge := url.Values{"max_age": {"3600"}}
	first := b.signIn(c, u, request{extra: maxAge})
	time.Sleep(1100 * time.Millisecond) // auth_time has a resolution of one second
	again := b.signIn(c, u, request{extra: url.Values{"max_age": {"3600"}, "prompt": {"login"}}})
	if again.Logins != 1 {
		t.Errorf("prompt=login showed %d login forms, want 1", again.Logins)
	}
	if t1, t2 := first.authTime(t), again.authTime(t); t2 <= t1 {
		t.Errorf("auth_time after prompt=login = %d, not later than %d", t2, t1)
	}
	if again.idToken.Subject != first.idToken.Subject {
		t.Errorf("sub changed from %q to %q", first.idToken.Subject, again.idToken.Subject)
	}
}

// TestOIDCCMaxAge1 mirrors oidcc-max-age-1: a session older than max_age
// means signing in again.
func TestOIDCCMaxAge1(t *testing.T) {
	t.Parallel()
	c, u := client(t, "max-age"), account(t, "max-age-1")
	b := newBrowser(t)
	first := b.signIn(c, u, request{extra: url.Values{"max_age": {"1"}}})
	time.Sleep(2 * time.Second)
	again := b.signIn(c, u, request{extra: url.Values{"max_age": {"1"}}})
	if again.Logins != 1 {
		t.Errorf("max_age=1 after 2 s showed %d login forms, want 1", again.Logins)
	}
	if t1, t2 := first.authTime(t), again.authTime(t); t2 <= t1 {
		t.Errorf("auth_time after re-authentication = %d, not later than %d", t2, t1)
	}
}

// TestOIDCCMaxAge10000 mirrors oidcc-max-age-10000: a fresh session
// satisfies a large max_age without a login form, and auth_time stays.
func TestOIDCCMaxAge10000(t *testing.T) {
	t.Parallel()
	c, u := client(t, "max-age"), account(t, "max-age-10000")
	b := newBrowser(t)
	maxAge := url.Values{"max_age": {"10000"}}
	first := b.signIn(c, u, request{extra: maxAge})
	again := b.signIn(c, u, request{extra: maxAge})
	if again.Logins != 0 {
		t.Errorf("max_age=10000 showed %d login forms, want none", again.Logins)
	}
	if t1, t2 := first.authTime(t), again.authTime(t); t1 != t2 {
		t.Errorf("auth_time = %d, want the original %d", t2, t1)
	}
}

// TestLoginWrongCredentials submits a wrong password, then an unknown
// email: each time the login form returns with a message for the person,
// the same message for both (the page must not tell which emails exist),
// and nothing reaches the client. The right password then completes the
// same authorization.
func TestLoginWrongCredentials(t *testing.T) {
	t.Parallel()
	c, u := client(t, "login-errors"), account(t, "login-errors")
	b := newBrowser(t)
	z := b.authorize(c, request{}, actor{}) // stops at the login form
	p := z.Page
	if p.loginForm() == nil {
		t.Fatalf("want the login form, got %s", p.describe())
	}
	baseline := p.Text
	attempts := []struct {
		name            string
		email, password string
	}{
		{"wrong password", u.Email, "not the password"},
		{"unknown email", "nobody-" + randomString(4) + "@conformance.test", u.Password},
	}
	var messages []string
	var statuses []int
	for _, a := range attempts {
		p = b.submit(p.loginForm(), url.Values{"email": {a.email}, "password": {a.password}})
		if p.Redirect != nil {
			t.Fatalf("%s: redirected to %s", a.name, p.Redirect)
		}
		if p.loginForm() == nil {
			t.Fatalf("%s: want the login form again, got %s", a.name, p.describe())
		}
		msg := inserted(baseline, p.Text)
		if msg == "" {
			t.Errorf("%s: the login page shows no message (page text %q)", a.name, p.Text)
		}
		if strings.Contains(msg, a.email) {
			t.Errorf("%s: the message %q repeats the email", a.name, msg)
		}
		messages = append(messages, msg)
		statuses = append(statuses, p.Status)
	}
	if messages[0] != messages[1] || statuses[0] != statuses[1] {
		t.Errorf("wrong password gives %d %q, unknown email %d %q: the page reveals which emails exist",
			statuses[0], messages[0], statuses[1], messages[1])
	}
	z.outcome = b.authorizeFrom(p, actor{user: u})
	tok := c.exchange(t, z.code(t, c), z.verifier)
	c.idToken(t, tok, idWant{nonce: z.nonce, sub: u.Sub})
}

// inserted returns the words of after that are not in before, where after
// is before with something added (the common prefix and suffix of their
// words removed).
func inserted(before, after string) string {
	bw, aw := strings.Fields(before), strings.Fields(after)
	i := 0
	for i < len(bw) && i < len(aw) && bw[i] == aw[i] {
		i++
	}
	j := 0
	for j < len(bw)-i && j < len(aw)-i && bw[len(bw)-1-j] == aw[len(aw)-1-j] {
		j++
	}
	return strings.Join(aw[i:len(aw)-j], " ")
}

// TestLoginCSRF posts the login form without its CSRF token, with an
// altered one and with another browser's: each must be refused, and no
// session may result.
func TestLoginCSRF(t *testing.T) {
	t.Parallel()
	c, u := client(t, "csrf"), account(t, "csrf")
	tests := []struct {
		name  string
		token func(own, foreign string) (string, bool) // the value to send, and whether to send one
	}{
		{"missing", func(string, string) (string, bool) { return "", false }},
		{"empty", func(string, string) (string, bool) { return "", true }},
		{"altered", func(own, _ string) (string, bool) { return own + "x", true }},
		{"another browser's", func(_, foreign string) (string, bool) { return foreign, true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBrowser(t)
			f, field := csrfLoginForm(t, b, c)
			foreign, _ := csrfLoginForm(t, newBrowser(t), c)
			v := cloneValues(f.Values)
			v.Set("email", u.Email)
			v.Set("password", u.Password)
			if tok, send := tt.token(f.Values.Get(field), foreign.Values.Get(field)); send {
				v.Set(field, tok)
			} else {
				v.Del(field)
			}
			p := b.postForm(f.Action.String(), v)
			o := b.authorizeFrom(p, actor{}) // answers a consent page, never a login form
			if o.Mode != "" && o.Params.Has("code") {
				t.Fatalf("login with a %s CSRF token succeeded: %s", tt.name, o.describe())
			}
			z := b.authorize(c, request{extra: url.Values{"prompt": {"none"}}}, actor{})
			if z.Mode == "" || z.Params.Get("error") != "login_required" {
				t.Errorf("after the refused login, prompt=none gave %s, want error=login_required", z.describe())
			}
		})
	}
}

// csrfLoginForm opens the login form for the client and returns it with
// the name of its CSRF field.
func csrfLoginForm(t testing.TB, b *browser, c *rp) (*form, string) {
	t.Helper()
	z := b.authorize(c, request{}, actor{})
	f := z.Page.loginForm()
	if f == nil {
		t.Fatalf("want the login form, got %s", z.describe())
	}
	for _, name := range f.hidden() {
		if strings.Contains(strings.ToLower(name), "csrf") {
			return f, name
		}
	}
	t.Fatalf("the login form has no hidden CSRF field (hidden inputs %v)", f.hidden())
	return nil, ""
}

// TestConsentDeny refuses consent: the client gets access_denied.
func TestConsentDeny(t *testing.T) {
	t.Parallel()
	c, u := client(t, "consent-deny"), account(t, "consent-deny")
	z := newBrowser(t).authorize(c, request{}, actor{user: u, deny: true})
	if z.Consents != 1 {
		t.Fatalf("no consent page for a first authorization of the client: %s", z.describe())
	}
	if e := z.authError(t, c); e != "access_denied" {
		t.Errorf("error = %q, want access_denied", e)
	}
}
