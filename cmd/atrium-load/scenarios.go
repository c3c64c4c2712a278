package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// worker runs one scenario's requests, one at a time.
type worker interface {
	// ready readies the next request outside its timing: it signs in when
	// the worker has no token or session yet (the first time, or after a
	// failure lost it). Setup calls it once per worker before the clock
	// starts.
	ready(ctx context.Context) result
	// do sends one request, or runs one whole flow, and judges the answer.
	do(ctx context.Context) result
}

// scenarioSpec describes a scenario: what it needs and how to make its
// workers.
type scenarioSpec struct {
	name   string
	bad    bool // bad input: a 4xx is the success
	signIn bool // drives the authorization code flow, so needs a user
	// needs are the endpoints beyond the token endpoint.
	needsIntrospect, needsUserinfo bool
	// scope is requested when -scope is not given; require is always added.
	scope, require string
	// setup runs once before the workers are made (may be nil).
	setup     func(ctx context.Context, e *env) error
	newWorker func(e *env) worker
}

var scenarioList = []*scenarioSpec{
	{name: "client_credentials", newWorker: newClientCredentials},
	{name: "introspect", needsIntrospect: true, setup: introspectSetup, newWorker: newIntrospect},
	{name: "refresh", signIn: true, scope: "openid offline_access", require: "offline_access", newWorker: newRefresh},
	{name: "userinfo", signIn: true, needsUserinfo: true, scope: "openid", require: "openid", newWorker: newUserinfo},
	{name: "code-flow", signIn: true, scope: "openid", newWorker: newCodeFlow},
	{name: "code-flow-sso", signIn: true, scope: "openid", newWorker: newCodeFlowSSO},
	{name: "bad-secret", bad: true, newWorker: newBadSecret},
	{name: "unknown-client", bad: true, newWorker: newUnknownClient},
	{name: "malformed", bad: true, newWorker: newMalformed},
}

func lookupScenario(name string) *scenarioSpec {
	for _, s := range scenarioList {
		if s.name == name {
			return s
		}
	}
	return nil
}

func scenarioNames(bad bool) []string {
	var names []string
	for _, s := range scenarioList {
		if s.bad == bad {
			names = append(names, s.name)
		}
	}
	return names
}

// checkEndpoints reports the endpoints s needs that ep lacks.
func (s *scenarioSpec) checkEndpoints(ep endpoints) error {
	var errs []error
	missing := func(what, flag, field string) {
		errs = append(errs, fmt.Errorf("scenario %s needs the %s endpoint: give -%s, or an -issuer whose discovery document has %s", s.name, what, flag, field))
	}
	if ep.token == "" {
		missing("token", "token-url", "token_endpoint")
	}
	if s.needsIntrospect && ep.introspect == "" {
		missing("introspection", "introspect-url", "introspection_endpoint")
	}
	if s.needsUserinfo && ep.userinfo == "" {
		missing("userinfo", "userinfo-url", "userinfo_endpoint")
	}
	if s.signIn && ep.authorize == "" {
		missing("authorization", "authorize-url", "authorization_endpoint")
	}
	return errors.Join(errs...)
}

// target is the endpoint s mostly loads, for messages.
func (s *scenarioSpec) target(ep endpoints) string {
	switch {
	case s.needsIntrospect:
		return ep.introspect
	case s.needsUserinfo:
		return ep.userinfo
	case s.signIn && s.name != "refresh":
		return ep.authorize
	}
	return ep.token
}

// scopeFor is the scope s requests given -scope: the flag or s's default,
// plus what s requires.
func (s *scenarioSpec) scopeFor(flag string) string {
	scope := strings.Join(strings.Fields(flag), " ")
	if scope == "" {
		scope = s.scope
	}
	for _, r := range strings.Fields(s.require) {
		if !hasScope(scope, r) {
			scope = strings.TrimSpace(scope + " " + r)
		}
	}
	return scope
}

// noReady is embedded by workers that need nothing before a request.
type noReady struct{}

func (noReady) ready(context.Context) result { return success }

func clientCredentialsForm(scope string) string {
	form := "grant_type=client_credentials"
	if scope != "" {
		form += "&scope=" + url.QueryEscape(scope)
	}
	return form
}

// postWorker posts the same pre-encoded body to one URL every time.
type postWorker struct {
	noReady
	e    *env
	u    string
	h    http.Header
	body []byte
	buf  bytes.Buffer
	// judge decides on a response; nil means a 200 is a success.
	judge func(w *postWorker, resp *http.Response) result
}

func (w *postWorker) do(ctx context.Context) result {
	resp, err := post(ctx, w.e.hc, w.u, w.h, w.body)
	if err != nil {
		return transportFailure(http.MethodPost, w.u, err)
	}
	if w.judge != nil {
		return w.judge(w, resp)
	}
	return expectStatus(resp, http.StatusOK, http.MethodPost, w.u, &w.buf)
}

// client_credentials: a token for the client itself; a 200 is a success.
func newClientCredentials(e *env) worker {
	return &postWorker{e: e, u: e.ep.token, h: e.auth.formHeader(), body: e.auth.body(clientCredentialsForm(e.scope))}
}

// introspect: every worker introspects the one token got in setup; a 200
// with "active": true is a success.
func introspectSetup(ctx context.Context, e *env) error {
	u := e.ep.token
	resp, err := post(ctx, e.hc, u, e.auth.formHeader(), e.auth.body(clientCredentialsForm(e.scope)))
	if err != nil {
		return fmt.Errorf("token to introspect: %w", transportFailure(http.MethodPost, u, err).err)
	}
	var buf bytes.Buffer
	body, r := checkStatus(resp, http.StatusOK, http.MethodPost, u, &buf)
	if !r.ok {
		return fmt.Errorf("token to introspect: %w", r.err)
	}
	var t tokenResponse
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return fmt.Errorf("token to introspect: %w", badTokenResponse(u, body, err))
	}
	e.introspectToken = t.AccessToken
	return nil
}

func newIntrospect(e *env) worker {
	form := url.Values{"token": {e.introspectToken}, "token_type_hint": {"access_token"}}.Encode()
	return &postWorker{e: e, u: e.ep.introspect, h: e.auth.formHeader(), body: e.auth.body(form), judge: judgeIntrospection}
}

func judgeIntrospection(w *postWorker, resp *http.Response) result {
	body, r := checkStatus(resp, http.StatusOK, http.MethodPost, w.u, &w.buf)
	if !r.ok {
		return r
	}
	var v struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal(body, &v); err != nil || !v.Active {
		return result{key: keyBadResponse, err: fmt.Errorf("POST %s: status 200 but not active%s", w.u, snippet(body))}
	}
	return success
}

// refresh: each worker signs in once for a refresh token, then refreshes
// with the newest refresh token it has (servers that rotate send a new one
// each time). After a failure it signs in again.
type refreshWorker struct {
	e       *env
	h       http.Header
	refresh string
	buf     bytes.Buffer
}

func newRefresh(e *env) worker { return &refreshWorker{e: e, h: e.auth.formHeader()} }

func (w *refreshWorker) ready(ctx context.Context) result {
	if w.refresh != "" {
		return success
	}
	t, r := w.e.signIn(ctx, newBrowser(w.e, &w.buf), w.e.scope)
	if !r.ok {
		return r
	}
	if t.RefreshToken == "" {
		return result{key: keyBadResponse, err: fmt.Errorf("POST %s: no refresh_token in the token response: may client %q use offline_access and the refresh_token grant?", w.e.ep.token, w.e.cfg.clientID)}
	}
	w.refresh = t.RefreshToken
	return success
}

func (w *refreshWorker) do(ctx context.Context) result {
	u := w.e.ep.token
	body := w.e.auth.body("grant_type=refresh_token&refresh_token=" + url.QueryEscape(w.refresh))
	r := func() result {
		resp, err := post(ctx, w.e.hc, u, w.h, body)
		if err != nil {
			return transportFailure(http.MethodPost, u, err)
		}
		b, r := checkStatus(resp, http.StatusOK, http.MethodPost, u, &w.buf)
		if !r.ok {
			return r
		}
		var t tokenResponse
		if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
			return result{key: keyBadResponse, err: badTokenResponse(u, b, err)}
		}
		if t.RefreshToken != "" {
			w.refresh = t.RefreshToken
		}
		return success
	}()
	if !r.ok {
		w.refresh = ""
	}
	return r
}

// userinfo: each worker signs in once for an access token, then reads
// userinfo with it; after a 401 it signs in again.
type userinfoWorker struct {
	e   *env
	h   http.Header
	buf bytes.Buffer
}

func newUserinfo(e *env) worker { return &userinfoWorker{e: e} }

func (w *userinfoWorker) ready(ctx context.Context) result {
	if w.h != nil {
		return success
	}
	t, r := w.e.signIn(ctx, newBrowser(w.e, &w.buf), w.e.scope)
	if !r.ok {
		return r
	}
	w.h = http.Header{"Authorization": {"Bearer " + t.AccessToken}, "Accept": {"application/json"}}
	return success
}

func (w *userinfoWorker) do(ctx context.Context) result {
	u := w.e.ep.userinfo
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return transportFailure(http.MethodGet, u, err)
	}
	req.Header = w.h
	resp, err := w.e.hc.Do(req)
	if err != nil {
		return transportFailure(http.MethodGet, u, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		w.h = nil
	}
	return expectStatus(resp, http.StatusOK, http.MethodGet, u, &w.buf)
}

// code-flow: every iteration is a new browser (an empty cookie jar) going
// through the whole flow, sign-in included, and the code exchange.
type codeFlowWorker struct {
	noReady
	e   *env
	buf bytes.Buffer
}

func newCodeFlow(e *env) worker { return &codeFlowWorker{e: e} }

func (w *codeFlowWorker) do(ctx context.Context) result {
	code, verifier, r := w.e.authorize(ctx, newBrowser(w.e, &w.buf), w.e.scope)
	if !r.ok {
		return r
	}
	_, r = w.e.exchange(ctx, code, verifier, &w.buf, false)
	return r
}

// code-flow-sso: each worker signs in once; every iteration then goes
// through the flow with the same cookies (the SSO session), so the server
// should answer without the login form, and exchanges the code. After a
// failure the worker signs in again with a new browser.
type ssoWorker struct {
	e   *env
	b   *browser // nil until signed in
	buf bytes.Buffer
}

func newCodeFlowSSO(e *env) worker { return &ssoWorker{e: e} }

func (w *ssoWorker) ready(ctx context.Context) result {
	if w.b != nil {
		return success
	}
	b := newBrowser(w.e, &w.buf)
	if _, r := w.e.signIn(ctx, b, w.e.scope); !r.ok {
		return r
	}
	w.b = b
	return success
}

func (w *ssoWorker) do(ctx context.Context) result {
	code, verifier, r := w.e.authorize(ctx, w.b, w.e.scope)
	if r.ok {
		_, r = w.e.exchange(ctx, code, verifier, &w.buf, false)
	}
	if !r.ok {
		w.b = nil
	}
	return r
}

// judgeClientError counts any 4xx as a success: the server turned the bad
// input away without failing.
func judgeClientError(w *postWorker, resp *http.Response) result {
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		drain(resp)
		return success
	}
	body, _ := readBody(resp, &w.buf)
	return statusFailure(http.MethodPost, w.u, resp.StatusCode, body)
}

// bad-secret: client_credentials with the right client ID and a wrong
// secret; a 4xx with error invalid_client is a success.
func newBadSecret(e *env) worker {
	auth := newClientAuth(e.cfg.authMethod, e.cfg.clientID, e.cfg.clientSecret+"-not-the-secret")
	return &postWorker{e: e, u: e.ep.token, h: auth.formHeader(), body: auth.body(clientCredentialsForm("")), judge: judgeInvalidClient}
}

func judgeInvalidClient(w *postWorker, resp *http.Response) result {
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		return judgeClientError(w, resp)
	}
	body, _ := readBody(resp, &w.buf)
	var t tokenResponse
	if json.Unmarshal(body, &t) != nil || t.Error != "invalid_client" {
		return result{key: keyBadResponse, err: fmt.Errorf("POST %s: status %d, want error invalid_client%s", w.u, resp.StatusCode, snippet(body))}
	}
	return success
}

// unknown-client: client_credentials as a client the server does not know;
// any 4xx is a success.
func newUnknownClient(e *env) worker {
	auth := newClientAuth(e.cfg.authMethod, "atrium-load-unknown-"+randomToken()[:12], "not-a-secret")
	return &postWorker{e: e, u: e.ep.token, h: auth.formHeader(), body: auth.body(clientCredentialsForm("")), judge: judgeClientError}
}

// malformedBodies are token requests no server should accept, sent in turn
// with the client's credentials.
var malformedBodies = []struct{ contentType, body string }{
	{"application/x-www-form-urlencoded", "grant_type=%zz&scope=%%%"},                   // bad percent-encoding
	{"application/x-www-form-urlencoded", "\x00\xff\xfe\x01garbage=&&==\x7f"},           // not text
	{"application/json", `{"grant_type":"client_credentials"}`},                         // not a form
	{"application/x-www-form-urlencoded", "grant_type=urn:atrium-load:no-such-grant"},   // unknown grant
	{"application/x-www-form-urlencoded", ""},                                           // empty
	{"application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=%00"}, // junk token
}

type malformedWorker struct {
	noReady
	posts []*postWorker // one per body
	next  int
}

func newMalformed(e *env) worker {
	w := &malformedWorker{}
	for _, m := range malformedBodies {
		h := e.auth.formHeader()
		h["Content-Type"] = []string{m.contentType}
		w.posts = append(w.posts, &postWorker{e: e, u: e.ep.token, h: h, body: []byte(m.body), judge: judgeClientError})
	}
	return w
}

func (w *malformedWorker) do(ctx context.Context) result {
	i := w.next
	w.next = (w.next + 1) % len(w.posts)
	r := w.posts[i].do(ctx)
	if !r.ok {
		r.err = fmt.Errorf("malformed body %q: %w", malformedBodies[i].body, r.err)
	}
	return r
}
