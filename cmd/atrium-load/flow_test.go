package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// fakeProvider has the shape of oidc-provider's development interactions,
// which the form driver must handle as well as Atrium's pages: /auth
// answers 303 to /interaction/{uid}, with cookies scoped to that path and to
// /auth/{uid}; the login form has a text input named "login"; the consent
// form's only button is an unnamed "Continue"; each step resumes through
// /auth/{uid}; the redirect carries iss. A session cookie skips both pages.
type fakeProvider struct {
	srv *httptest.Server

	mu           sync.Mutex
	n            int
	interactions map[string]*fakeInteraction
	codes        map[string]url.Values // code -> authorization request
	sessions     map[string]bool
	logins       int
}

type fakeInteraction struct {
	params              url.Values
	loggedIn, consented bool
}

func newFakeProvider(t *testing.T) *fakeProvider {
	p := &fakeProvider{interactions: map[string]*fakeInteraction{}, codes: map[string]url.Values{}, sessions: map[string]bool{}}
	m := http.NewServeMux()
	m.HandleFunc("GET /auth", p.auth)
	m.HandleFunc("GET /auth/{uid}", p.resume)
	m.HandleFunc("GET /interaction/{uid}", p.interaction)
	m.HandleFunc("POST /interaction/{uid}/login", p.login)
	m.HandleFunc("POST /interaction/{uid}/confirm", p.confirm)
	m.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(m)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakeProvider) next() string {
	p.n++
	return fmt.Sprintf("uid%d", p.n)
}

func (p *fakeProvider) auth(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != "c" || q.Get("redirect_uri") != "http://rp.example/cb" || q.Get("code_challenge_method") != "S256" || q.Get("state") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, err := r.Cookie("_session"); err == nil && p.sessions[c.Value] {
		p.respond(w, r, q)
		return
	}
	uid := p.next()
	p.interactions[uid] = &fakeInteraction{params: q}
	http.SetCookie(w, &http.Cookie{Name: "_interaction", Value: uid, Path: "/interaction/" + uid, HttpOnly: true})
	http.SetCookie(w, &http.Cookie{Name: "_interaction_resume", Value: uid, Path: "/auth/" + uid, HttpOnly: true})
	http.Redirect(w, r, "/interaction/"+uid, http.StatusSeeOther)
}

// respond redirects to the client with a code; p.mu is held.
func (p *fakeProvider) respond(w http.ResponseWriter, r *http.Request, q url.Values) {
	code := p.next()
	p.codes[code] = q
	v := url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {p.srv.URL}}
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+v.Encode(), http.StatusSeeOther)
}

// find returns the interaction named by the path whose cookie came along.
func (p *fakeProvider) find(w http.ResponseWriter, r *http.Request, cookie string) *fakeInteraction {
	uid := r.PathValue("uid")
	c, err := r.Cookie(cookie)
	if err != nil || c.Value != uid || p.interactions[uid] == nil {
		http.Error(w, "interaction session not found", http.StatusBadRequest)
		return nil
	}
	return p.interactions[uid]
}

func (p *fakeProvider) interaction(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := p.find(w, r, "_interaction")
	if in == nil {
		return
	}
	uid := r.PathValue("uid")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if !in.loggedIn {
		fmt.Fprintf(w, `<!DOCTYPE html><html><head><title>Sign-in</title></head><body><div class="login-card"><h1>Sign-in</h1>
<form autocomplete="off" action="/interaction/%s/login" method="post">
  <input type="hidden" name="prompt" value="login"/>
  <input required type="text" name="login" placeholder="Enter any login" autofocus="on">
  <input required type="password" name="password" placeholder="and password">
  <button type="submit" class="login login-submit">Sign-in</button>
</form><div class="login-help"><a href="/interaction/%[1]s/abort">[ Cancel ]</a></div></div></body></html>`, uid)
		return
	}
	fmt.Fprintf(w, `<!DOCTYPE html><html><head><title>Authorize</title></head><body><div class="login-card"><h1>Authorize</h1>
<ul><li>scopes:</li><ul><li>profile</li></ul></ul>
<form autocomplete="off" action="/interaction/%s/confirm" method="post">
  <input type="hidden" name="prompt" value="consent"/>
  <button autofocus type="submit" class="login login-submit">Continue</button>
</form><div class="login-help"><a href="/interaction/%[1]s/abort">[ Cancel ]</a></div></div></body></html>`, uid)
}

func (p *fakeProvider) login(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := p.find(w, r, "_interaction")
	if in == nil {
		return
	}
	if r.PostFormValue("prompt") != "login" || r.PostFormValue("login") != "u" || r.PostFormValue("password") != "pw" {
		http.Redirect(w, r, "/interaction/"+r.PathValue("uid"), http.StatusSeeOther) // the form again
		return
	}
	in.loggedIn = true
	p.logins++
	http.Redirect(w, r, "/auth/"+r.PathValue("uid"), http.StatusSeeOther)
}

func (p *fakeProvider) confirm(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := p.find(w, r, "_interaction")
	if in == nil || r.PostFormValue("prompt") != "consent" || !in.loggedIn {
		http.Error(w, "bad confirm", http.StatusBadRequest)
		return
	}
	in.consented = true
	http.Redirect(w, r, "/auth/"+r.PathValue("uid"), http.StatusSeeOther)
}

func (p *fakeProvider) resume(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := p.find(w, r, "_interaction_resume")
	if in == nil {
		return
	}
	if !in.consented {
		http.Redirect(w, r, "/interaction/"+r.PathValue("uid"), http.StatusSeeOther)
		return
	}
	sid := p.next()
	p.sessions[sid] = true
	http.SetCookie(w, &http.Cookie{Name: "_session", Value: sid, Path: "/", HttpOnly: true})
	delete(p.interactions, r.PathValue("uid"))
	p.respond(w, r, in.params)
}

func (p *fakeProvider) token(w http.ResponseWriter, r *http.Request) {
	id, secret, _ := r.BasicAuth()
	if id != "c" || secret != "s" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
		return
	}
	p.mu.Lock()
	q := p.codes[r.PostFormValue("code")]
	delete(p.codes, r.PostFormValue("code"))
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	if q == nil || r.PostFormValue("grant_type") != "authorization_code" || r.PostFormValue("redirect_uri") != q.Get("redirect_uri") ||
		base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_grant"}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"access_token":"at","token_type":"Bearer","expires_in":60}`)
}

func (p *fakeProvider) loginCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logins
}

func (p *fakeProvider) args(scenario string, extra ...string) []string {
	return append([]string{
		"-scenario", scenario, "-authorize-url", p.srv.URL + "/auth", "-token-url", p.srv.URL + "/token",
		"-client-id", "c", "-client-secret", "s", "-redirect-uri", "http://rp.example/cb",
		"-username", "u", "-password", "pw", "-json", "-progress", "0",
	}, extra...)
}

func runJSON(t *testing.T, args []string) *report {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, &stderr)
	}
	var r report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, &stdout)
	}
	return &r
}

func TestFlowsAgainstOIDCProviderShape(t *testing.T) {
	t.Run("code-flow signs in every time", func(t *testing.T) {
		p := newFakeProvider(t)
		r := runJSON(t, p.args("code-flow", "-c", "2", "-n", "6"))
		if r.Requests != 6 || r.Successes != 6 || len(r.Errors) > 0 {
			t.Fatalf("requests %d, successes %d, errors %v; want 6, 6, none", r.Requests, r.Successes, r.Errors)
		}
		if n := p.loginCount(); n != 6 {
			t.Errorf("%d sign-ins, want 6", n)
		}
	})
	t.Run("code-flow-sso signs in once per worker", func(t *testing.T) {
		p := newFakeProvider(t)
		r := runJSON(t, p.args("code-flow-sso", "-c", "2", "-n", "6"))
		if r.Successes != 6 || len(r.Errors) > 0 {
			t.Fatalf("successes %d, errors %v; want 6, none", r.Successes, r.Errors)
		}
		if n := p.loginCount(); n != 2 {
			t.Errorf("%d sign-ins, want 2", n)
		}
	})
	t.Run("a refused sign-in fails setup and names the page", func(t *testing.T) {
		p := newFakeProvider(t)
		args := p.args("code-flow-sso", "-c", "1", "-n", "1", "-password", "wrong")
		err := run(context.Background(), args, new(bytes.Buffer), new(bytes.Buffer))
		if err == nil || !strings.Contains(err.Error(), "sign-in refused") || !strings.Contains(err.Error(), p.srv.URL+"/interaction/") {
			t.Fatalf("run: %v; want a setup error naming the login page", err)
		}
	})
	t.Run("an error page fails setup with its status", func(t *testing.T) {
		p := newFakeProvider(t)
		args := p.args("code-flow-sso", "-c", "1", "-n", "1", "-client-id", "other")
		err := run(context.Background(), args, new(bytes.Buffer), new(bytes.Buffer))
		if err == nil || !strings.Contains(err.Error(), "status 400") || !strings.Contains(err.Error(), p.srv.URL+"/auth?") {
			t.Fatalf("run: %v; want a setup error with the URL and status", err)
		}
	})
}
