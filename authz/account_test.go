package authz

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/federation"
	"github.com/atrium-id/atrium/storage"
)

// newAccountEnv is a fedEnv that also serves the account area, wired as
// serve wires it.
func newAccountEnv(t testing.TB, cfgs ...federation.Config) *fedEnv {
	t.Helper()
	e := newFedEnv(t, cfgs...)
	var providers []account.Provider
	for _, c := range e.p.cfg.Federation.List() {
		providers = append(providers, account.Provider{ID: c.ID(), Name: federation.Name(c), Label: c.Label(), Logo: c.Logo()})
	}
	acct, err := account.New(account.Config{Identities: e.store, Credentials: e.store, Providers: providers,
		Auth: e.p, CSRFKey: []byte(strings.Repeat("k", 32)), Log: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", e.p)
	mux.Handle("/account", acct)
	mux.Handle("/account/", acct)
	e.srv.Config.Handler = mux
	return e
}

const pathAccountIdentities = "/account/identities"

// sessionFor gives the agent an SSO session of userID.
func (e *fedEnv) sessionFor(a *agent, userID string) {
	e.t.Helper()
	cookie := randomToken()
	now := time.Now()
	if err := e.store.PutSession(context.Background(), &storage.Session{ID: sessionKey(cookie), UserID: userID,
		AuthTime: now, AMR: []string{"pwd"}, ACR: acrPassword, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		e.t.Fatal(err)
	}
	u, _ := url.Parse(e.srv.URL)
	a.c.Jar.SetCookies(u, []*http.Cookie{{Name: cookieSession, Value: cookie, Path: "/"}})
}

// addIdentity links an identity to userID in the store.
func (e *fedEnv) addIdentity(userID, provider, subject, email string) *storage.Identity {
	e.t.Helper()
	now := time.Now().UTC()
	i := &storage.Identity{ID: newUserID(), UserID: userID, Provider: provider, Subject: subject, Email: email,
		Claims: []byte(`{}`), CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateIdentity(context.Background(), i); err != nil {
		e.t.Fatal(err)
	}
	return i
}

func (e *fedEnv) addUser(id, email string) {
	e.t.Helper()
	if err := e.store.CreateUser(context.Background(), &storage.User{ID: id, Email: email, EmailVerified: true}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *fedEnv) identitiesOf(userID string) []*storage.Identity {
	e.t.Helper()
	ids, err := e.store.ListIdentities(context.Background(), userID)
	if err != nil {
		e.t.Fatal(err)
	}
	return ids
}

func TestAccountSignInAndReturn(t *testing.T) {
	op := newFakeOP(t)
	e := newAccountEnv(t, op.config("corp"))
	a := newAgent(t)

	h := a.get(e.srv.URL + "/account")
	if h.location == nil || h.location.Path != pathAccountIdentities {
		t.Fatalf("/account: status %d location %v, want the identities page", h.status, h.location)
	}
	h = a.get(e.srv.URL + pathAccountIdentities)
	if h.location == nil || h.location.Path != pathLogin || h.location.Query().Get("interaction") == "" {
		t.Fatalf("without a session: status %d location %v, want the login page", h.status, h.location)
	}
	login := a.follow(h, nil)
	mustContain(t, "account login page", login.body, "to manage your account", `name="password"`, `action="federation/corp/start"`)
	if strings.Contains(login.body, "to continue to") {
		t.Error("the account login page names a client")
	}

	// A wrong password stays on the login page; the right one returns.
	if h := a.submit(login, "login", url.Values{"email": {testEmail}, "password": {"wrong password!"}}); h.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d", h.status)
	}
	h = a.submit(login, "login", url.Values{"email": {testEmail}, "password": {testPassword}})
	if h.location == nil || h.location.Path != pathAccountIdentities {
		t.Fatalf("signed in: status %d location %v, want %s\n%s", h.status, h.location, pathAccountIdentities, h.body)
	}
	page := a.follow(h, nil)
	if page.status != 200 {
		t.Fatalf("identities page: status %d\n%s", page.status, page.body)
	}
	mustContain(t, "identities page", page.body, "Sign-in methods", testEmail, "Password", "Set", `action="identities/link"`, "Link Upstream")
	for k, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
		"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
	} {
		if got := page.header.Get(k); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// The session is the SSO session: an app's sign-in goes through.
	params := codeParams("app", "openid", "")
	params.Del("code_challenge")
	params.Del("code_challenge_method")
	if h := e.finish(a, a.get(e.authorizeURL(params))); e.idToken(h)["sub"] != e.userID {
		t.Error("the account sign-in did not start an SSO session")
	}

	// Signing in to the account area with an upstream creates the account
	// as on an app's login page, and returns too.
	b := newAgent(t)
	login = b.follow(b.get(e.srv.URL+pathAccountIdentities), nil)
	h = b.follow(b.submit(login, "federation/corp/start", nil), isCallback)
	h = b.follow(b.get(h.location.String()), nil)
	if h.status != 200 || h.url.Path != pathAccountIdentities {
		t.Fatalf("upstream account sign-in ended at %s with status %d\n%s", h.url, h.status, h.body)
	}
	mustContain(t, "identities page", h.body, "Upstream", "grace@upstream.test", "Linked ", "Not set")
}

func TestAccountReturnPath(t *testing.T) {
	e := newAccountEnv(t)
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/account", true},
		{"/account/identities", true},
		{"/account/identities?linked=corp", true},
		{"/account/", true},
		{"https://evil.example/account", false},
		{"http:/account", false},
		{"//evil.example/account", false},
		{"/\\evil.example/account", false},
		{"/account\\..\\login", false},
		{"/account/%5c%5cevil.example", false},
		{"/account/../login", false},
		{"/account/%2e%2e/login", false},
		{"/account//evil.example", false},
		{"/account/identities#x", false},
		{"/account/\nSet-Cookie:x", false},
		{"/accounts", false},
		{"/login", false},
		{"account/identities", false},
		{"", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			if got := ValidReturnPath(tc.path); got != tc.ok {
				t.Fatalf("ValidReturnPath(%q) = %v, want %v", tc.path, got, tc.ok)
			}
			w := httptest.NewRecorder()
			e.p.StartSignIn(w, httptest.NewRequest(http.MethodGet, e.srv.URL+pathAccountIdentities, nil), tc.path)
			loc := w.Header().Get("Location")
			if !tc.ok {
				if w.Code != http.StatusBadRequest || loc != "" || w.Header().Get("Set-Cookie") != "" {
					t.Fatalf("StartSignIn(%q): status %d location %q, want 400 and nothing started", tc.path, w.Code, loc)
				}
				if w.Header().Get("Content-Security-Policy") == "" {
					t.Error("error page without security headers")
				}
				return
			}
			if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, e.srv.URL+pathLogin+"?interaction=") {
				t.Fatalf("StartSignIn(%q): status %d location %q, want the login page", tc.path, w.Code, loc)
			}
		})
	}
	// A return path that got into storage anyway is not followed.
	ix := &interaction{ID: "ix", Return: "//evil.example"}
	w := httptest.NewRecorder()
	e.p.accountSignedIn(w, httptest.NewRequest(http.MethodGet, "/", nil), ix)
	if loc := w.Header().Get("Location"); loc != accountPrefix {
		t.Errorf("stored bad return path: redirect to %q, want %s", loc, accountPrefix)
	}
}

// identitiesPage opens the identities page as a signed-in agent.
func (e *fedEnv) identitiesPage(a *agent) *hop {
	e.t.Helper()
	h := a.get(e.srv.URL + pathAccountIdentities)
	if h.status != 200 {
		e.t.Fatalf("identities page: status %d location %v\n%s", h.status, h.location, h.body)
	}
	return h
}

func TestAccountUnlink(t *testing.T) {
	gh := newFakeGitHub(t)
	op := newFakeOP(t)
	for _, tc := range []struct {
		name     string
		password bool
		others   int // identities besides the one unlinked
		want     int
		msg      string
	}{
		{name: "the last way to sign in", want: http.StatusConflict, msg: "it is your only way to sign in"},
		{name: "with a password", password: true, want: http.StatusOK, msg: "Upstream is unlinked"},
		{name: "with another identity", others: 1, want: http.StatusOK, msg: "Upstream is unlinked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAccountEnv(t, op.config("corp"), gh.config())
			user := e.userID
			if !tc.password {
				user = "user-nopw"
				e.addUser(user, "nopw@example.com")
			}
			target := e.addIdentity(user, "corp", "upstream-1", "grace@upstream.test")
			if tc.others > 0 {
				e.addIdentity(user, "github", "1296269", "mona@github.test")
			}
			a := newAgent(t)
			e.sessionFor(a, user)
			page := e.identitiesPage(a)
			h := a.follow(a.submit(page, "identities/unlink", url.Values{"identity": {target.ID}}), nil)
			if h.status != tc.want {
				t.Fatalf("unlink: status %d, want %d\n%s", h.status, tc.want, h.body)
			}
			mustContain(t, "after unlink", h.body, tc.msg)
			_, err := e.store.GetIdentity(context.Background(), "corp", "upstream-1")
			if unlinked := err != nil; unlinked != (tc.want == http.StatusOK) {
				t.Errorf("identity unlinked = %v (%v), want %v", unlinked, err, tc.want == http.StatusOK)
			}
			if n := len(e.identitiesOf(user)); n != tc.others+map[bool]int{true: 0, false: 1}[tc.want == http.StatusOK] {
				t.Errorf("%d identities left", n)
			}
		})
	}

	t.Run("another account's identity", func(t *testing.T) {
		e := newAccountEnv(t, op.config("corp"))
		e.addUser("user-bob", "bob@example.com")
		bobs := e.addIdentity("user-bob", "corp", "bob-1", "bob@upstream.test")
		a := newAgent(t)
		e.sessionFor(a, e.userID)
		page := e.identitiesPage(a)
		h := a.post(e.srv.URL+"/account/identities/unlink", url.Values{"identity": {bobs.ID}, "csrf_token": {inputValue(page.body, "csrf_token")}})
		if h.status != http.StatusNotFound || !strings.Contains(h.body, "not linked to your account") {
			t.Fatalf("unlink of another account's identity: status %d\n%s", h.status, h.body)
		}
		if len(e.identitiesOf("user-bob")) != 1 {
			t.Error("another account's identity was unlinked")
		}
	})

	t.Run("CSRF", func(t *testing.T) {
		e := newAccountEnv(t, op.config("corp"))
		target := e.addIdentity(e.userID, "corp", "upstream-1", "")
		a := newAgent(t)
		e.sessionFor(a, e.userID)
		page := e.identitiesPage(a)
		for name, token := range map[string][]string{"missing": nil, "wrong": {randomToken()}} {
			form := url.Values{"identity": {target.ID}}
			if token != nil {
				form["csrf_token"] = token
			}
			for _, path := range []string{"/account/identities/unlink", "/account/identities/link"} {
				form.Set("provider", "corp")
				if h := a.post(e.srv.URL+path, form); h.status != http.StatusForbidden || !strings.Contains(h.body, "Nothing was changed") {
					t.Errorf("%s CSRF token on %s: status %d\n%s", name, path, h.status, h.body)
				}
			}
		}
		// A token of another session does not do either.
		b := newAgent(t)
		e.sessionFor(b, e.userID)
		if h := b.submit(page, "identities/unlink", url.Values{"identity": {target.ID}}); h.status != http.StatusForbidden {
			t.Errorf("another session's CSRF token: status %d", h.status)
		}
		// A cross-site browser POST is refused before the token is read.
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/account/identities/unlink", strings.NewReader(url.Values{
			"identity": {target.ID}, "csrf_token": {inputValue(page.body, "csrf_token")}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if h := a.do(req); h.status != http.StatusForbidden {
			t.Errorf("cross-site POST: status %d", h.status)
		}
		if len(e.identitiesOf(e.userID)) != 1 {
			t.Error("a refused form unlinked the identity")
		}
	})

	t.Run("without a session", func(t *testing.T) {
		e := newAccountEnv(t, op.config("corp"))
		target := e.addIdentity(e.userID, "corp", "upstream-1", "")
		h := newAgent(t).post(e.srv.URL+"/account/identities/unlink", url.Values{"identity": {target.ID}})
		if h.location == nil || h.location.Path != pathLogin {
			t.Errorf("unlink without a session: status %d location %v, want the login page", h.status, h.location)
		}
		if len(e.identitiesOf(e.userID)) != 1 {
			t.Error("unlinked without a session")
		}
	})
}

func TestAccountLinkIntent(t *testing.T) {
	op := newFakeOP(t)
	gh := newFakeGitHub(t)

	t.Run("links to the signed-in user", func(t *testing.T) {
		// The upstream's verified email is another account's: a link
		// intent links to the signed-in user all the same, as the person
		// signed in upstream.
		e := newAccountEnv(t, op.config("corp"), gh.config())
		a := newAgent(t)
		e.sessionFor(a, e.userID)
		page := e.identitiesPage(a)
		mustContain(t, "identities page", page.body, "Link Upstream", "Link GitHub")
		h := a.follow(a.submit(page, "identities/link", url.Values{"provider": {"github"}}), nil)
		if h.status != 200 || h.url.Path != pathAccountIdentities || h.url.Query().Get("linked") != "github" {
			t.Fatalf("link: ended at %s with status %d\n%s", h.url, h.status, h.body)
		}
		mustContain(t, "identities page", h.body, "GitHub is now linked", "mona@github.test", "Link Upstream")
		if strings.Contains(h.body, "Link GitHub") {
			t.Error("the page still offers to link GitHub")
		}
		if id := e.identity("github", "1296269"); id.UserID != e.userID {
			t.Errorf("identity linked to %s, want %s", id.UserID, e.userID)
		}
		if users, _ := e.counts(); users != 1 {
			t.Errorf("%d users, want 1", users)
		}
		// GitHub now signs the user in.
		if sub := e.signInWith(newAgent(t), "github")["sub"]; sub != e.userID {
			t.Errorf("GitHub sign-in sub %v, want %s", sub, e.userID)
		}
	})

	t.Run("identity of another account", func(t *testing.T) {
		e := newAccountEnv(t, op.config("corp"))
		e.addUser("user-bob", "bob@example.com")
		e.addIdentity("user-bob", "corp", "upstream-1", "grace@upstream.test")
		a := newAgent(t)
		e.sessionFor(a, e.userID)
		h := a.follow(a.submit(e.identitiesPage(a), "identities/link", url.Values{"provider": {"corp"}}), nil)
		if h.status != http.StatusConflict {
			t.Fatalf("link of another account's identity: status %d\n%s", h.status, h.body)
		}
		mustContain(t, "error page", h.body, "already linked to another account", "Nothing was linked", `<a href="/account/identities">Try again</a>`)
		if id := e.identity("corp", "upstream-1"); id.UserID != "user-bob" {
			t.Errorf("identity moved to %s", id.UserID)
		}
		if len(e.identitiesOf(e.userID)) != 0 {
			t.Error("the signed-in user got an identity")
		}
	})

	t.Run("signed out meanwhile", func(t *testing.T) {
		e := newAccountEnv(t, op.config("corp"))
		a := newAgent(t)
		e.sessionFor(a, e.userID)
		h := a.follow(a.submit(e.identitiesPage(a), "identities/link", url.Values{"provider": {"corp"}}), isCallback)
		// Another account signs in in the same browser before the callback.
		e.addUser("user-bob", "bob@example.com")
		e.sessionFor(a, "user-bob")
		h = a.get(h.location.String())
		if h.status != http.StatusForbidden || !strings.Contains(h.body, "Nothing was linked") {
			t.Fatalf("callback with another session: status %d\n%s", h.status, h.body)
		}
		if _, ids := e.counts(); ids != 0 {
			t.Errorf("%d identities, want none", ids)
		}
	})

	t.Run("without a session", func(t *testing.T) {
		e := newAccountEnv(t, op.config("corp"))
		h := newAgent(t).post(e.srv.URL+"/account/identities/link", url.Values{"provider": {"corp"}})
		if h.location == nil || h.location.Path != pathLogin {
			t.Errorf("link without a session: status %d location %v, want the login page", h.status, h.location)
		}
	})

	t.Run("unknown provider", func(t *testing.T) {
		e := newAccountEnv(t, op.config("corp"))
		a := newAgent(t)
		e.sessionFor(a, e.userID)
		if h := a.submit(e.identitiesPage(a), "identities/link", url.Values{"provider": {"nope"}}); h.status != http.StatusNotFound {
			t.Errorf("unknown provider: status %d", h.status)
		}
	})
}

// The link page offers the providers the existing account is linked
// with; signing in with one as that account proves it.
func TestFederationLinkByLinkedProvider(t *testing.T) {
	gh := newFakeGitHub(t)
	for _, tc := range []struct {
		name string
		// githubOwner is the account GitHub's identity 1296269 belongs to.
		githubOwner string
		ok          bool
	}{
		{name: "the same account", githubOwner: "user-ada", ok: true},
		{name: "another account", githubOwner: "user-bob"},
		{name: "no account", githubOwner: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := newFakeOP(t)
			op.setUser(map[string]any{"email": testEmail, "email_verified": true})
			e := newFedEnv(t, op.config("corp"), gh.config())
			e.addUser("user-bob", "bob@example.com")
			if tc.githubOwner != "" {
				e.addIdentity(tc.githubOwner, "github", "1296269", "mona@github.test")
			}
			if tc.githubOwner != e.userID {
				// Ada's own GitHub account is another one.
				e.addIdentity(e.userID, "github", "ada-gh", "ada@github.test")
			}
			a := newAgent(t)
			link := a.follow(a.get(e.toCallback(a, "corp", nil).String()), nil)
			if !strings.HasSuffix(link.url.Path, pathLink) {
				t.Fatalf("not the link page: %s\n%s", link.url, link.body)
			}
			mustContain(t, "link page", link.body, "or prove it is yours", `name="provider" value="github"`, "Continue with GitHub")
			if strings.Contains(link.body, `name="provider" value="corp"`) {
				t.Error("the link page offers a provider the account is not linked with")
			}
			h := a.follow(a.submit(link, "link", url.Values{"action": {"prove"}}), isCallback)
			if h.location == nil || !strings.Contains(h.location.Path, "/federation/github/callback") {
				t.Fatalf("prove: status %d location %v\n%s", h.status, h.location, h.body)
			}
			h = a.get(h.location.String())
			if !tc.ok {
				if h.status != http.StatusForbidden {
					t.Fatalf("proof by the wrong GitHub account: status %d\n%s", h.status, h.body)
				}
				mustContain(t, "error page", h.body, "not the one linked to this account", "Nothing was linked")
				if _, err := e.store.GetIdentity(context.Background(), "corp", "upstream-1"); err == nil {
					t.Fatal("the upstream identity was linked")
				}
				// The password still works from the same interaction.
				m := retryRe.FindStringSubmatch(h.body)
				if m == nil {
					t.Fatalf("no Try again link:\n%s", h.body)
				}
				link = a.get(unescapeHTML(m[1]))
				if link.status != 200 || !strings.Contains(link.body, "Link and sign in") {
					t.Fatalf("Try again: status %d\n%s", link.status, link.body)
				}
				h = a.submit(link, "link", url.Values{"password": {testPassword}, "action": {"link"}})
				if sub := e.idToken(e.finish(a, h))["sub"]; sub != e.userID {
					t.Fatalf("password after a failed proof: sub %v", sub)
				}
				return
			}
			claims := e.idToken(e.finish(a, h))
			if claims["sub"] != e.userID {
				t.Fatalf("sub %v, want %s", claims["sub"], e.userID)
			}
			if amr, _ := claims["amr"].([]any); !slices.Contains(amr, any("fed")) || slices.Contains(amr, any("pwd")) {
				t.Errorf("amr %v, want fed without pwd", claims["amr"])
			}
			if id := e.identity("corp", "upstream-1"); id.UserID != e.userID {
				t.Errorf("identity linked to %s", id.UserID)
			}
		})
	}

	t.Run("a provider the account is not linked with", func(t *testing.T) {
		op := newFakeOP(t)
		op.setUser(map[string]any{"email": testEmail, "email_verified": true})
		e := newFedEnv(t, op.config("corp"), gh.config())
		a := newAgent(t)
		link := a.follow(a.get(e.toCallback(a, "corp", nil).String()), nil)
		if strings.Contains(link.body, "or prove it is yours") {
			t.Error("the link page offers proofs for an account with no identity")
		}
		form := url.Values{"interaction": {inputValue(link.body, "interaction")}, "csrf_token": {inputValue(link.body, "csrf_token")},
			"action": {"prove"}, "provider": {"github"}}
		if h := a.post(e.srv.URL+pathLink, form); h.status != http.StatusBadRequest {
			t.Errorf("proof by an unlinked provider: status %d", h.status)
		}
	})
}
