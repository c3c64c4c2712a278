package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// requestTimeout bounds every HTTP request, a hop of a flow included.
	requestTimeout = 10 * time.Second
	// maxBody is the most read of a response whose content matters.
	maxBody = 1 << 20
)

// Error keys besides HTTP statuses.
const (
	keyTransport   = "transport"    // no HTTP response: refused, reset, ...
	keyTimeout     = "timeout"      // no response within requestTimeout
	keyBadResponse = "bad_response" // the expected status, not the expected content
	keyFlow        = "flow"         // the browser flow went astray: no form, state mismatch, ...
)

// result is the outcome of one request or flow. The error is built only on
// failure, so success costs no allocation.
type result struct {
	ok  bool
	key string // error key when !ok: an HTTP status or one of the keys above
	err error  // what went wrong when !ok
}

var success = result{ok: true}

// statusKeys holds the error key of every status, so counting one does not
// allocate.
var statusKeys = func() []string {
	keys := make([]string, 600)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	return keys
}()

func statusKey(code int) string {
	if code >= 0 && code < len(statusKeys) {
		return statusKeys[code]
	}
	return strconv.Itoa(code)
}

// transportFailure classifies an error from http.Client.Do.
func transportFailure(method, u string, err error) result {
	key := keyTransport
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		key = keyTimeout
	}
	return result{key: key, err: fmt.Errorf("%s %s: %w", method, u, err)}
}

// statusFailure reports an unexpected status; the start of the body, which
// the caller has read into body, usually says why.
func statusFailure(method, u string, code int, body []byte) result {
	return result{key: statusKey(code), err: fmt.Errorf("%s %s: status %d%s", method, u, code, snippet(body))}
}

func flowFailure(format string, a ...any) result {
	return result{key: keyFlow, err: fmt.Errorf(format, a...)}
}

// snippet is the start of body on one line, for error messages; of an HTML
// page, the start of its visible text.
func snippet(body []byte) string {
	const limit = 300
	text := string(body[:min(len(body), 4*limit)])
	if looksLikeHTML(body) {
		text = visibleText(body, limit)
	}
	s := strings.Join(strings.Fields(text), " ")
	if s == "" {
		return ""
	}
	if len(s) > limit {
		s = s[:limit] + " …"
	}
	return ": " + s
}

// endpoints are the server's URLs a scenario may use.
type endpoints struct {
	issuer, token, introspect, userinfo, authorize string
}

// env is what every worker shares: the configuration, the HTTP transport and
// the endpoints.
type env struct {
	cfg       *config
	transport *http.Transport
	hc        *http.Client // no cookies, redirects not followed
	ep        endpoints
	auth      clientAuth // the configured client's credentials
	scope     string     // scope of the main scenario

	introspectToken string // the token the introspect scenario introspects
}

func newTransport(conns int, insecure bool) *http.Transport {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: requestTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   requestTimeout,
		ExpectContinueTimeout: time.Second,
		// Compressing would cost the server and this tool CPU for bodies
		// of a few hundred bytes.
		DisableCompression: true,
	}
	if insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	return tr
}

// newHTTPClient returns a client over tr that does not follow redirects:
// the flows follow them by hand and stop at the redirect URI.
func newHTTPClient(tr http.RoundTripper, jar http.CookieJar) *http.Client {
	return &http.Client{
		Transport:     tr,
		Jar:           jar,
		Timeout:       requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// newEnv builds the transport and finds the endpoints, from discovery when
// -issuer is given, then from the explicit -*-url flags.
func newEnv(ctx context.Context, cfg *config) (*env, error) {
	tr := newTransport(cfg.workers+cfg.badWorkers, cfg.insecure)
	e := &env{
		cfg:       cfg,
		transport: tr,
		hc:        newHTTPClient(tr, nil),
		auth:      newClientAuth(cfg.authMethod, cfg.clientID, cfg.clientSecret),
	}
	if cfg.issuer != "" {
		ep, err := discover(ctx, e.hc, cfg.issuer)
		if err != nil {
			return nil, err
		}
		e.ep = ep
	}
	for _, o := range []struct {
		dst *string
		val string
	}{
		{&e.ep.token, cfg.tokenURL}, {&e.ep.introspect, cfg.introspectURL},
		{&e.ep.userinfo, cfg.userinfoURL}, {&e.ep.authorize, cfg.authorizeURL},
	} {
		if o.val != "" {
			*o.dst = o.val
		}
	}
	var errs []error
	for _, s := range []*scenarioSpec{cfg.scenario, cfg.bad} {
		if s != nil {
			errs = append(errs, s.checkEndpoints(e.ep))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	e.scope = cfg.scenario.scopeFor(cfg.scope)
	return e, nil
}

// discover reads the endpoints from issuer's discovery document.
func discover(ctx context.Context, hc *http.Client, issuer string) (endpoints, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return endpoints{}, fmt.Errorf("discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return endpoints{}, fmt.Errorf("discovery: %w", transportFailure(http.MethodGet, u, err).err)
	}
	var buf bytes.Buffer
	body, err := readBody(resp, &buf)
	if err != nil {
		return endpoints{}, fmt.Errorf("discovery: GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return endpoints{}, fmt.Errorf("discovery: %w", statusFailure(http.MethodGet, u, resp.StatusCode, body).err)
	}
	var doc struct {
		Issuer        string `json:"issuer"`
		Token         string `json:"token_endpoint"`
		Introspection string `json:"introspection_endpoint"`
		Userinfo      string `json:"userinfo_endpoint"`
		Authorization string `json:"authorization_endpoint"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return endpoints{}, fmt.Errorf("discovery: GET %s: not a discovery document: %v", u, err)
	}
	if doc.Issuer == "" {
		doc.Issuer = issuer
	}
	return endpoints{
		issuer: doc.Issuer, token: doc.Token, introspect: doc.Introspection,
		userinfo: doc.Userinfo, authorize: doc.Authorization,
	}, nil
}

// clientAuth is a client's credentials, encoded once: an Authorization
// header for client_secret_basic or form parameters for client_secret_post.
type clientAuth struct {
	header string // "Basic ..." or ""
	form   string // "&client_id=...&client_secret=..." or ""
}

func newClientAuth(method, id, secret string) clientAuth {
	if method == "post" {
		return clientAuth{form: "&" + url.Values{"client_id": {id}, "client_secret": {secret}}.Encode()}
	}
	// RFC 6749 §2.3.1: form-urlencode the ID and the secret, then Base64.
	raw := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
	return clientAuth{header: "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))}
}

// formHeader is the header of a form POST authenticated with a, built once
// per worker and reused: requests only read it.
func (a clientAuth) formHeader() http.Header {
	h := http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Accept":       {"application/json"},
	}
	if a.header != "" {
		h["Authorization"] = []string{a.header}
	}
	return h
}

// tokenBody is a pre-encoded form body with a's parameters appended.
func (a clientAuth) body(form string) []byte { return []byte(form + a.form) }

// post sends body to u with header h and returns the response; the caller
// drains it (drain or readBody).
func post(ctx context.Context, hc *http.Client, u string, h http.Header, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = h
	return hc.Do(req)
}

// drain reads the rest of the body so the connection is reused, and closes it.
func drain(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// readBody reads up to maxBody of the body into buf, drains the rest and
// returns the bytes read; they stay valid until buf is reused.
func readBody(resp *http.Response, buf *bytes.Buffer) ([]byte, error) {
	buf.Reset()
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, maxBody))
	drain(resp)
	return buf.Bytes(), err
}

// checkStatus reads the response and returns its body if it has status want,
// or the failure otherwise.
func checkStatus(resp *http.Response, want int, method, u string, buf *bytes.Buffer) ([]byte, result) {
	body, err := readBody(resp, buf)
	if resp.StatusCode != want {
		return body, statusFailure(method, u, resp.StatusCode, body)
	}
	if err != nil {
		return body, transportFailure(method, u, err)
	}
	return body, success
}

// expectStatus drains the response without reading it unless the status is
// not want, in which case the start of the body goes into the failure.
func expectStatus(resp *http.Response, want int, method, u string, buf *bytes.Buffer) result {
	if resp.StatusCode == want {
		drain(resp)
		return success
	}
	body, _ := readBody(resp, buf)
	return statusFailure(method, u, resp.StatusCode, body)
}

// tokenResponse is the part of a token endpoint response the scenarios use.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
}
