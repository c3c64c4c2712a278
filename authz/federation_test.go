package authz

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/atrium-id/atrium/federation"
)

func TestFederationLoginPageButtons(t *testing.T) {
	op := newFakeOP(t)
	gh := newFakeGitHub(t)
	cfg := op.config("corp")
	cfg.Logo = "https://upstream.test/logo.svg"
	e := newFedEnv(t, cfg, gh.config())
	a := newAgent(t)
	params := codeParams("app", "openid email", "")
	page := a.follow(a.get(e.authorizeURL(params)), nil)
	mustContain(t, "login page", page.body,
		`action="federation/corp/start"`, "Continue with Upstream", `<img src="https://upstream.test/logo.svg"`,
		`action="federation/github/start"`, "Continue with GitHub", `name="password"`)
	if strings.Index(page.body, `name="password"`) > strings.Index(page.body, "federation/corp/start") {
		t.Error("the provider buttons should come after the password form")
	}

	// Without providers, no buttons and no federation routes.
	plain := newFedEnv(t)
	page = a.follow(a.get(plain.authorizeURL(params)), nil)
	if strings.Contains(page.body, "federation/") {
		t.Errorf("login page without providers mentions federation:\n%s", page.body)
	}
	if h := a.post(plain.srv.URL+"/federation/corp/start", nil); h.status != http.StatusNotFound && h.status != http.StatusMethodNotAllowed {
		t.Errorf("start without providers: %d", h.status)
	}
}

func TestFederationNewAccountAndProfileUpdate(t *testing.T) {
	op := newFakeOP(t)
	e := newFedEnv(t, op.config("corp"))
	claims := e.signInWith(newAgent(t), "corp")
	sub, _ := claims["sub"].(string)
	if sub == "" || sub == e.userID {
		t.Fatalf("sub = %q, want a new account", sub)
	}
	if amr, _ := claims["amr"].([]any); !slices.Contains(amr, any("fed")) || claims["acr"] != "1" {
		t.Errorf("amr %v acr %v, want [fed] and 1", claims["amr"], claims["acr"])
	}
	if claims["email"] != "grace@upstream.test" || claims["email_verified"] != true || claims["name"] != "Grace Hopper" {
		t.Errorf("ID token profile %v, want the upstream's", claims)
	}
	u := e.user(sub)
	if u.Email != "grace@upstream.test" || !u.EmailVerified || u.Name != "Grace Hopper" || u.GivenName != "Grace" ||
		u.FamilyName != "Hopper" || u.Picture != "https://upstream.test/grace.png" || u.Locale != "en-US" {
		t.Errorf("imported account %+v", u)
	}
	id := e.identity("corp", "upstream-1")
	var raw map[string]any
	if err := json.Unmarshal(id.Claims, &raw); err != nil || raw["sub"] != "upstream-1" || raw["family_name"] != "Hopper" {
		t.Errorf("identity claims %s (%v), want the raw upstream claims", id.Claims, err)
	}
	if id.UserID != sub || id.Email != "grace@upstream.test" || len(id.Tokens) != 0 {
		t.Errorf("identity %+v", id)
	}

	// The next sign-in, from another browser, finds the same account and
	// updates its profile (update_profile: every_login).
	op.setUser(map[string]any{"name": "Rear Admiral Grace Hopper", "locale": "en-GB"})
	if got := e.signInWith(newAgent(t), "corp")["sub"]; got != sub {
		t.Fatalf("second sign-in sub = %v, want %s", got, sub)
	}
	if u := e.user(sub); u.Name != "Rear Admiral Grace Hopper" || u.Locale != "en-GB" {
		t.Errorf("profile after the second sign-in: %+v", u)
	}
	if users, ids := e.counts(); users != 2 || ids != 1 {
		t.Errorf("%d users and %d identities, want 2 and 1", users, ids)
	}
}

func TestFederationUpdateProfileOnce(t *testing.T) {
	op := newFakeOP(t)
	cfg := op.config("corp")
	cfg.UpdateProfile = federation.UpdateProfileOnce
	e := newFedEnv(t, cfg)
	sub := e.signInWith(newAgent(t), "corp")["sub"].(string)
	op.setUser(map[string]any{"name": "Someone Else"})
	e.signInWith(newAgent(t), "corp")
	if u := e.user(sub); u.Name != "Grace Hopper" {
		t.Errorf("name = %q after a second sign-in with update_profile once, want the first import", u.Name)
	}
	var raw map[string]any
	json.Unmarshal(e.identity("corp", "upstream-1").Claims, &raw)
	if raw["name"] != "Someone Else" {
		t.Errorf("identity claims keep %v, want the latest upstream claims", raw["name"])
	}
}

func TestFederationGitHub(t *testing.T) {
	gh := newFakeGitHub(t)
	e := newFedEnv(t, gh.config())
	claims := e.signInWith(newAgent(t), "github")
	u := e.user(claims["sub"].(string))
	if u.Email != "mona@github.test" || !u.EmailVerified || u.Name != "Mona Lisa Octocat" || u.Nickname != "monalisa" ||
		u.Picture != "https://github.test/images/mona.gif" {
		t.Errorf("account from GitHub %+v", u)
	}
	id := e.identity("github", "1296269")
	mustContain(t, "GitHub identity claims", string(id.Claims), `"login":"monalisa"`, `"emails":[`)

	// GitHub's unverified primary email is kept with the identity, never
	// given to the account.
	gh.setEmails([]map[string]any{{"email": "other@github.test", "primary": true, "verified": false, "visibility": "private"}})
	e2 := newFedEnv(t, gh.config())
	claims = e2.signInWith(newAgent(t), "github")
	if u := e2.user(claims["sub"].(string)); u.Email != "" || u.EmailVerified {
		t.Errorf("account from an unverified GitHub email has email %q (verified %v), want none", u.Email, u.EmailVerified)
	}
	if id := e2.identity("github", "1296269"); id.Email != "other@github.test" {
		t.Errorf("identity email %q, want the upstream's", id.Email)
	}
	if _, ok := claims["email"]; ok {
		t.Errorf("ID token carries email %v for an account without one", claims["email"])
	}
}

var retryRe = regexp.MustCompile(`<a href="([^"]+)">Try again</a>`)

// TestFederationBadInput: every failure shows an error page, creates
// nothing, and leaves the interaction usable when it is known.
func TestFederationBadInput(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  string
		cfg    func(*federation.Config)
		user   map[string]any
		bad    func(e *fedEnv, a *agent, cb *url.URL) *hop // default: GET the callback
		status int
		msg    string
		retry  bool
	}{
		{name: "upstream denies", fault: "deny", status: 403, msg: "cancelled or declined", retry: true},
		{name: "state mismatch", status: 400, msg: "does not match a sign-in started in this browser", retry: true,
			bad: func(e *fedEnv, a *agent, cb *url.URL) *hop {
				q := cb.Query()
				ixID, _, _ := strings.Cut(q.Get("state"), ".")
				q.Set("state", ixID+"."+randomToken())
				cb.RawQuery = q.Encode()
				return a.get(cb.String())
			}},
		{name: "missing state", status: 400, msg: "does not match", bad: func(e *fedEnv, a *agent, cb *url.URL) *hop {
			q := cb.Query()
			q.Del("state")
			cb.RawQuery = q.Encode()
			return a.get(cb.String())
		}},
		{name: "nonce mismatch", fault: "nonce", status: 400, msg: "could not accept", retry: true},
		{name: "forged id_token", fault: "forged", status: 400, msg: "could not accept", retry: true},
		{name: "expired id_token", fault: "expired", status: 400, msg: "could not accept", retry: true},
		{name: "upstream timeout", fault: "slow", status: 503, msg: "not reachable", retry: true},
		{name: "upstream garbage", fault: "garbage", status: 400, msg: "could not accept", retry: true},
		{name: "missing email", cfg: func(c *federation.Config) { c.RequireVerifiedEmail = true },
			user: map[string]any{"email": nil, "email_verified": nil}, status: 403, msg: "did not share a verified email", retry: true},
		{name: "unknown provider", status: 404, msg: "not available", bad: func(e *fedEnv, a *agent, cb *url.URL) *hop {
			cb.Path = "/federation/nope/callback"
			return a.get(cb.String())
		}},
		{name: "unknown provider at start", status: 404, msg: "not available", retry: true,
			bad: func(e *fedEnv, a *agent, cb *url.URL) *hop {
				ixID, _, _ := strings.Cut(cb.Query().Get("state"), ".")
				page := a.get(e.srv.URL + pathLogin + "?interaction=" + url.QueryEscape(ixID))
				h := a.submit(page, "federation/corp/start", nil)
				return a.post(strings.Replace(h.url.String(), "/federation/corp/", "/federation/nope/", 1), url.Values{
					"interaction": {ixID}, "csrf_token": {inputValue(page.body, "csrf_token")},
				})
			}},
		{name: "unknown interaction", status: 400, msg: "expired or is not valid", bad: func(e *fedEnv, a *agent, cb *url.URL) *hop {
			q := cb.Query()
			q.Set("state", randomToken()+"."+randomToken())
			cb.RawQuery = q.Encode()
			return a.get(cb.String())
		}},
		{name: "expired interaction", status: 400, msg: "expired or is not valid", bad: func(e *fedEnv, a *agent, cb *url.URL) *hop {
			ixID, _, _ := strings.Cut(cb.Query().Get("state"), ".")
			if err := e.store.DeleteInteraction(context.Background(), ixID); err != nil {
				t.Fatal(err)
			}
			return a.get(cb.String())
		}},
		{name: "callback from another browser", status: 400, msg: "expired or is not valid", bad: func(e *fedEnv, a *agent, cb *url.URL) *hop {
			return newAgent(t).get(cb.String())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := newFakeOP(t)
			cfg := op.config("corp")
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			e := newFedEnv(t, cfg)
			if tc.user != nil {
				op.setUser(tc.user)
			}
			op.setFault(tc.fault)
			a := newAgent(t)
			cb := e.toCallback(a, "corp", nil)
			var h *hop
			if tc.bad != nil {
				h = tc.bad(e, a, cb)
			} else {
				h = a.get(cb.String())
			}
			if h.status != tc.status {
				t.Fatalf("status %d, want %d; page:\n%s", h.status, tc.status, h.body)
			}
			mustContain(t, "error page", h.body, tc.msg)
			if users, ids := e.counts(); users != 1 || ids != 0 {
				t.Errorf("after the failure: %d users and %d identities, want 1 and 0", users, ids)
			}
			m := retryRe.FindStringSubmatch(h.body)
			if !tc.retry {
				if m != nil {
					t.Errorf("error page offers to retry an unknown interaction: %s", m[1])
				}
				return
			}
			if m == nil {
				t.Fatalf("error page without a Try again link:\n%s", h.body)
			}
			// Try again: the same interaction, through the login page.
			op.setFault("")
			op.setUser(map[string]any{"email": "grace@upstream.test", "email_verified": true})
			page := a.get(unescapeHTML(m[1]))
			if page.status != 200 {
				t.Fatalf("Try again link: status %d\n%s", page.status, page.body)
			}
			h = a.follow(a.submit(page, "federation/corp/start", nil), isCallback)
			claims := e.idToken(e.finish(a, a.get(h.location.String())))
			if claims["email"] != "grace@upstream.test" {
				t.Errorf("after retry: ID token %v", claims)
			}
			if users, ids := e.counts(); users != 2 || ids != 1 {
				t.Errorf("after retry: %d users and %d identities, want 2 and 1", users, ids)
			}
		})
	}
}

func inputValue(page, name string) string {
	for _, m := range inputRe.FindAllStringSubmatch(page, -1) {
		if m[1] == name {
			return unescapeHTML(m[2])
		}
	}
	return ""
}

// A callback cannot be replayed: its state is spent.
func TestFederationCallbackReplay(t *testing.T) {
	op := newFakeOP(t)
	e := newFedEnv(t, op.config("corp"))
	a := newAgent(t)
	cb := e.toCallback(a, "corp", nil)
	e.idToken(e.finish(a, a.get(cb.String())))
	if h := a.get(cb.String()); h.status != 400 {
		t.Errorf("replayed callback: status %d, want 400\n%s", h.status, h.body)
	}
}

func TestFederationLinkWithPassword(t *testing.T) {
	op := newFakeOP(t)
	op.setUser(map[string]any{"email": strings.ToUpper(testEmail), "email_verified": true})
	e := newFedEnv(t, op.config("corp"))
	a := newAgent(t)
	cb := e.toCallback(a, "corp", nil)
	h := a.follow(a.get(cb.String()), nil)
	if h.status != 200 || !strings.HasSuffix(h.url.Path, pathLink) {
		t.Fatalf("verified email of an account: status %d at %s, want the link page\n%s", h.status, h.url, h.body)
	}
	mustContain(t, "link page", h.body, "An account for <strong>"+testEmail+"</strong> exists", "Enter its password to link your Upstream sign-in")
	linkPage := h

	h = a.submit(linkPage, "link", url.Values{"password": {"wrong password!"}, "action": {"link"}})
	if h.status != http.StatusUnauthorized || !strings.Contains(h.body, "Incorrect password") {
		t.Fatalf("wrong password: status %d\n%s", h.status, h.body)
	}
	if users, ids := e.counts(); users != 1 || ids != 0 {
		t.Fatalf("after a wrong password: %d users and %d identities, want 1 and 0", users, ids)
	}
	h = a.submit(h, "link", url.Values{"password": {testPassword}, "action": {"link"}})
	claims := e.idToken(e.finish(a, h))
	if claims["sub"] != e.userID {
		t.Fatalf("linked sign-in sub = %v, want the existing account %s", claims["sub"], e.userID)
	}
	if amr, _ := claims["amr"].([]any); !slices.Contains(amr, any("pwd")) || !slices.Contains(amr, any("fed")) {
		t.Errorf("amr %v, want pwd and fed", claims["amr"])
	}
	if id := e.identity("corp", "upstream-1"); id.UserID != e.userID {
		t.Errorf("identity linked to %s, want %s", id.UserID, e.userID)
	}
	if u := e.user(e.userID); u.Email != testEmail || u.Name != "Grace Hopper" {
		t.Errorf("linked account %+v: email kept, profile updated", u)
	}

	// The next sign-in goes straight through.
	a2 := newAgent(t)
	h = a2.follow(a2.get(e.toCallback(a2, "corp", nil).String()), isClient)
	if h.location == nil {
		t.Fatalf("second sign-in stopped at status %d\n%s", h.status, h.body)
	}
	if got := e.idToken(h)["sub"]; got != e.userID {
		t.Errorf("second sign-in sub = %v, want %s", got, e.userID)
	}
}

func TestFederationLinkCancelAndRateLimit(t *testing.T) {
	op := newFakeOP(t)
	op.setUser(map[string]any{"email": testEmail})
	e := newFedEnv(t, op.config("corp"))
	a := newAgent(t)
	link := a.follow(a.get(e.toCallback(a, "corp", nil).String()), nil)
	h := a.follow(a.submit(link, "link", url.Values{"action": {"cancel"}}), nil)
	if h.status != 200 || !strings.HasSuffix(h.url.Path, pathLogin) || !strings.Contains(h.body, `name="password"`) {
		t.Fatalf("cancel: status %d at %s, want the login page", h.status, h.url)
	}
	if a.get(e.srv.URL+pathLink+"?interaction="+url.QueryEscape(inputValue(h.body, "interaction"))).location == nil {
		t.Error("the link page after cancel should send back to the login page")
	}

	// The link form counts against the account's sign-in limit (3 here).
	link = a.follow(a.submit(h, "federation/corp/start", nil), nil)
	for i := range 4 {
		link = a.submit(link, "link", url.Values{"password": {"wrong password!"}, "action": {"link"}})
		want := http.StatusUnauthorized
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if link.status != want {
			t.Fatalf("attempt %d: status %d, want %d", i+1, link.status, want)
		}
	}
	if _, ids := e.counts(); ids != 0 {
		t.Errorf("%d identities after failed links, want 0", ids)
	}
}

func TestFederationTrustEmailLinks(t *testing.T) {
	op := newFakeOP(t)
	op.setUser(map[string]any{"email": testEmail, "email_verified": true})
	cfg := op.config("corp")
	cfg.TrustEmail = true
	e := newFedEnv(t, cfg)
	if got := e.signInWith(newAgent(t), "corp")["sub"]; got != e.userID {
		t.Fatalf("trusted verified email: sub = %v, want the existing account %s", got, e.userID)
	}
	if id := e.identity("corp", "upstream-1"); id.UserID != e.userID {
		t.Errorf("identity linked to %s", id.UserID)
	}

	// Trust covers verified emails only.
	op2 := newFakeOP(t)
	op2.setUser(map[string]any{"email": testEmail, "email_verified": false})
	cfg2 := op2.config("corp")
	cfg2.TrustEmail = true
	e2 := newFedEnv(t, cfg2)
	if got := e2.signInWith(newAgent(t), "corp")["sub"]; got == e2.userID {
		t.Fatal("an unverified email was linked to the account that has it")
	}
}

func TestFederationUnverifiedEmailNotLinked(t *testing.T) {
	op := newFakeOP(t)
	op.setUser(map[string]any{"email": testEmail, "email_verified": false})
	e := newFedEnv(t, op.config("corp"))
	a := newAgent(t)
	h := a.follow(a.get(e.toCallback(a, "corp", nil).String()), isClient)
	if strings.Contains(h.body, "exists") {
		t.Fatalf("the page reveals the account:\n%s", h.body)
	}
	h = e.finish(a, h)
	claims := e.idToken(h)
	sub := claims["sub"].(string)
	if sub == e.userID {
		t.Fatal("an unverified email was linked to the account that has it")
	}
	if u := e.user(sub); u.Email != "" || u.Name != "Grace Hopper" {
		t.Errorf("new account %+v, want the profile without the unverified email", u)
	}
	if ids, _ := e.store.ListIdentities(context.Background(), e.userID); len(ids) != 0 {
		t.Errorf("the existing account got %d identities", len(ids))
	}
}

func TestFederationIdpHint(t *testing.T) {
	op := newFakeOP(t)
	e := newFedEnv(t, op.config("corp"))
	a := newAgent(t)
	params := codeParams("app", "openid email", "")
	params.Set("idp_hint", "corp")
	h := a.get(e.authorizeURL(params))
	if h.location == nil || !strings.HasPrefix(h.location.String(), op.srv.URL+"/authorize") {
		t.Fatalf("idp_hint: status %d location %v, want the upstream's authorization endpoint", h.status, h.location)
	}
	h = a.follow(h, isCallback)
	if claims := e.idToken(e.finish(a, a.get(h.location.String()))); claims["email"] != "grace@upstream.test" {
		t.Errorf("idp_hint sign-in: %v", claims)
	}

	params.Set("idp_hint", "nope")
	h = newAgent(t).get(e.authorizeURL(params))
	if h.location == nil || !strings.Contains(h.location.Path, pathLogin) {
		t.Errorf("unknown idp_hint: status %d location %v, want the login page", h.status, h.location)
	}
}

// An upstream that posts its answer cross-site (Apple's form_post) does
// not bring the SameSite=Lax binding cookie: the callback posts it again
// from its own origin.
func TestFederationFormPostWithoutCookie(t *testing.T) {
	op := newFakeOP(t)
	e := newFedEnv(t, op.config("corp"))
	a := newAgent(t)
	cb := e.toCallback(a, "corp", nil)
	params := cb.Query()
	cb.RawQuery = ""
	h := newAgent(t).post(cb.String(), params) // no cookies: a cross-site POST
	if h.status != 200 {
		t.Fatalf("form_post without cookie: status %d\n%s", h.status, h.body)
	}
	csp := h.header.Get("Content-Security-Policy")
	m := regexp.MustCompile(`script-src 'nonce-([0-9a-f]+)'`).FindStringSubmatch(csp)
	if m == nil || !strings.Contains(h.body, `<script nonce="`+m[1]+`">`) {
		t.Fatalf("resubmit page: CSP %q and body\n%s\nwant a script allowed by nonce", csp, h.body)
	}
	mustContain(t, "resubmit page", h.body, `action="callback"`, ">Continue</button>", `name="code"`, `name="state"`)
	if users, _ := e.counts(); users != 1 {
		t.Fatal("the resubmit page created an account")
	}
	// The browser submits it, same-origin, with its cookie.
	h = a.submit(h, "callback", nil)
	if claims := e.idToken(e.finish(a, h)); claims["email"] != "grace@upstream.test" {
		t.Errorf("after resubmit: %v", claims)
	}

	// Still no cookie after the resubmit: no loop.
	params.Set(resubmitField, "1")
	if h := newAgent(t).post(cb.String(), params); h.status != 400 {
		t.Errorf("resubmitted without cookie: status %d, want 400", h.status)
	}
}

func TestFederationStoreTokens(t *testing.T) {
	op := newFakeOP(t)
	cfg := op.config("corp")
	cfg.StoreTokens = true
	e := newFedEnv(t, cfg)
	e.signInWith(newAgent(t), "corp")
	id := e.identity("corp", "upstream-1")
	if len(id.Tokens) == 0 || strings.Contains(string(id.Tokens), "upstream-at-") {
		t.Fatalf("stored tokens %q, want them sealed", id.Tokens)
	}
	if _, err := e.box.Open(id.Tokens, TokensAAD("corp", "other")); err == nil {
		t.Error("tokens open as another subject's")
	}
	plain, err := e.box.Open(id.Tokens, TokensAAD("corp", "upstream-1"))
	if err != nil {
		t.Fatal(err)
	}
	var tok upstreamTokens
	if err := json.Unmarshal(plain, &tok); err != nil || !strings.HasPrefix(tok.AccessToken, "upstream-at-") ||
		!strings.HasPrefix(tok.RefreshToken, "upstream-rt-") || tok.IDToken == "" || tok.Expiry.IsZero() {
		t.Errorf("opened tokens %+v (%v)", tok, err)
	}
}
