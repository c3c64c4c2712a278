package authz

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atrium-id/atrium/internal/redistest"
	"github.com/atrium-id/atrium/storage"
	redisstore "github.com/atrium-id/atrium/storage/redis"
)

const testAPI = "https://api.example.com"

// testClock is a clock tests move forward.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// writeCounter counts the writes to the token store.
type writeCounter struct {
	storage.TokenStore
	n atomic.Int64
}

func (w *writeCounter) CreateToken(ctx context.Context, t *storage.Token) error {
	w.n.Add(1)
	return w.TokenStore.CreateToken(ctx, t)
}

func (w *writeCounter) WriteTokens(ctx context.Context, c []*storage.Token, d []storage.TokenRef) error {
	w.n.Add(1)
	return w.TokenStore.WriteTokens(ctx, c, d)
}

func (w *writeCounter) DeactivateToken(ctx context.Context, k storage.TokenKind, sig string) error {
	w.n.Add(1)
	return w.TokenStore.DeactivateToken(ctx, k, sig)
}

// newDeviceEnv is a provider with the device grant on (unless configure
// turns it off) and two clients allowed it: tv, public, and box,
// confidential with the API as a resource.
func newDeviceEnv(t *testing.T, configure func(*Config), state ...storage.StateStore) (*testEnv, *testClock) {
	t.Helper()
	clk := &testClock{}
	e := newTestEnvWith(t, func(c *Config) {
		c.Device.Enabled = true
		c.Now = clk.now
		if configure != nil {
			configure(c)
		}
	}, state...)
	for _, c := range []*storage.Client{
		{ID: "tv", Public: true, TokenEndpointAuthMethod: "none", Name: "Living Room TV",
			GrantTypes: []string{grantDeviceCode, "refresh_token"}, Scopes: []string{"openid", "profile", "email", "offline_access"}},
		{ID: "box", SecretHash: HashClientSecret(testSecret), Name: "Box", GrantTypes: []string{grantDeviceCode},
			Scopes: []string{"openid", "profile"}, Audience: []string{testAPI}},
	} {
		if err := e.store.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	return e, clk
}

// post posts form to path, with HTTP Basic credentials when user is set,
// and returns the status and JSON answer.
func (e *testEnv) post(path string, form url.Values, user, pass string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatalf("%s answered %d, not JSON: %v", path, resp.StatusCode, err)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		e.t.Errorf("%s answered Cache-Control %q, want no-store", path, resp.Header.Get("Cache-Control"))
	}
	return resp.StatusCode, out
}

// deviceCodes starts a device request of tv for scope.
func (e *testEnv) deviceCodes(scope string) (deviceCode, userCode string) {
	e.t.Helper()
	status, out := e.post(pathDeviceAuthorization, url.Values{"client_id": {"tv"}, "scope": {scope}}, "", "")
	deviceCode, _ = out["device_code"].(string)
	userCode, _ = out["user_code"].(string)
	if status != http.StatusOK || len(deviceCode) < 40 || !userCodeRe.MatchString(userCode) {
		e.t.Fatalf("/device_authorization: %d %v", status, out)
	}
	return deviceCode, userCode
}

var userCodeRe = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

// poll polls the token endpoint for tv's device code.
func (e *testEnv) poll(deviceCode string) (int, map[string]any) {
	e.t.Helper()
	return e.postToken(url.Values{"grant_type": {grantDeviceCode}, "device_code": {deviceCode}, "client_id": {"tv"}}, "", "")
}

var codeInputRe = regexp.MustCompile(`name="user_code" value="([^"]*)"`)

// enterCode drives the browser from /device with the code typed through
// sign-in to the consent screen, answers it with action, and returns the
// last page and its status.
func (e *testEnv) enterCode(b *http.Client, typed, action string) (int, string) {
	t := e.t
	t.Helper()
	resp, body := e.get(b, pathDevice)
	resp = submitForm(t, b, resp.Request.URL.String(), body, "device", url.Values{"user_code": {typed}})
	for range 3 {
		body = readBody(t, resp)
		pageURL := resp.Request.URL.String()
		switch {
		case strings.Contains(body, `name="password"`):
			resp = submitForm(t, b, pageURL, body, "login", url.Values{"email": {testEmail}, "password": {testPassword}})
		case strings.Contains(body, `value="allow"`):
			if !strings.Contains(body, "request from a device") || !strings.Contains(body, `<strong class="user-code">`) {
				t.Errorf("the consent screen does not say it is a device request with its code:\n%s", body)
			}
			return e.answerConsent(b, pageURL, body, action)
		default:
			return resp.StatusCode, body
		}
	}
	t.Fatal("no consent screen")
	return 0, ""
}

func (e *testEnv) answerConsent(b *http.Client, pageURL, body, action string) (int, string) {
	resp := submitForm(e.t, b, pageURL, body, "consent", url.Values{"action": {action}})
	return resp.StatusCode, readBody(e.t, resp)
}

// TestDeviceFlow: a TV starts a device request; the user types its code
// (lower case, without the dash), signs in, compares the code on the
// consent screen and allows; the TV, polling, gets pending until then and
// the tokens once (an ID token with sid, a refresh token). Ending the SSO
// session revokes them. On SQLite and on Redis.
func TestDeviceFlow(t *testing.T) {
	deviceBackends(t, func(t *testing.T, state ...storage.StateStore) {
		{
			e, _ := newDeviceEnv(t, nil, state...)
			deviceCode, userCode := e.deviceCodes("openid email offline_access")
			if status, out := e.poll(deviceCode); status != http.StatusBadRequest || out["error"] != "authorization_pending" {
				t.Fatalf("poll before the user answered: %d %v", status, out)
			}
			b := e.browser()
			typed := strings.ToLower(strings.ReplaceAll(userCode, "-", ""))
			status, body := e.enterCode(b, typed, "allow")
			if status != http.StatusOK || !strings.Contains(body, "Your device is connected") {
				t.Fatalf("after allow: %d\n%s", status, body)
			}
			// The same code again: spent.
			status, body = e.enterCode(b, userCode, "allow")
			if status != http.StatusBadRequest || !strings.Contains(body, "already been used") {
				t.Fatalf("code entered again: %d\n%s", status, body)
			}

			status, out := e.poll(deviceCode)
			if status != http.StatusOK || out["token_type"] != "bearer" || out["refresh_token"] == nil || out["id_token"] == nil || out["scope"] != "openid email offline_access" {
				t.Fatalf("poll after approval: %d %v", status, out)
			}
			if status, again := e.poll(deviceCode); status != http.StatusBadRequest || again["error"] != "invalid_grant" {
				t.Fatalf("poll after the tokens were issued: %d %v", status, again)
			}
			claims := claimsOf(t, out["id_token"].(string))
			if claims["sub"] != e.userID || strings.Join(toStrings(claims["aud"]), " ") != "tv" || claims["email"] != testEmail || claims["sid"] == nil {
				t.Errorf("ID token claims %v", claims)
			}
			access := out["access_token"].(string)
			if !e.introspect(t, access) {
				t.Fatal("the access token is not active")
			}
			// The refresh token works like the code flow's.
			status, refreshed := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {out["refresh_token"].(string)}, "client_id": {"tv"}}, "", "")
			if status != http.StatusOK || refreshed["id_token"] == nil {
				t.Fatalf("refresh: %d %v", status, refreshed)
			}
			n, err := e.p.stores.Tokens.RevokeSessionTokens(context.Background(), e.userID, claims["sid"].(string))
			if err != nil || n == 0 {
				t.Fatalf("ending the session revoked %d tokens: %v", n, err)
			}
			if e.introspect(t, refreshed["access_token"].(string)) {
				t.Error("the access token survived the end of its session")
			}
		}
	})
}

// TestDeviceConcurrentPolls: of two polls at once after approval, one
// gets the tokens.
func TestDeviceConcurrentPolls(t *testing.T) {
	deviceBackends(t, func(t *testing.T, state ...storage.StateStore) {
		e, _ := newDeviceEnv(t, nil, state...)
		for range 3 {
			deviceCode, userCode := e.deviceCodes("openid")
			if status, body := e.enterCode(e.browser(), userCode, "allow"); status != http.StatusOK {
				t.Fatalf("allow: %d\n%s", status, body)
			}
			var statuses [2]int
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 2 {
				wg.Go(func() {
					<-start
					statuses[i], _ = e.poll(deviceCode)
				})
			}
			close(start)
			wg.Wait()
			if (statuses[0] == http.StatusOK) == (statuses[1] == http.StatusOK) {
				t.Fatalf("statuses %v: want exactly one 200", statuses)
			}
		}
	})
}

// deviceBackends runs fn with the grant state on SQLite and on Redis.
func deviceBackends(t *testing.T, fn func(t *testing.T, state ...storage.StateStore)) {
	t.Run("sql", func(t *testing.T) { fn(t) })
	t.Run("redis", func(t *testing.T) {
		rs, err := redisstore.Open(context.Background(), redistest.URL(t), redisstore.WithPrefix("authz-test:"+randomToken()[:12]+":"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		fn(t, rs)
	})
}

// TestDeviceAuthorizationRejects: every bad request to
// /device_authorization gets its RFC error and stores nothing.
func TestDeviceAuthorizationRejects(t *testing.T) {
	for _, tc := range []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		err        string
	}{
		{"unknown client", url.Values{"client_id": {"nobody"}}, "", "", http.StatusUnauthorized, "invalid_client"},
		{"wrong secret", url.Values{"scope": {"openid"}}, "box", "wrong", http.StatusUnauthorized, "invalid_client"},
		{"confidential client without its secret", url.Values{"client_id": {"box"}}, "", "", http.StatusUnauthorized, "invalid_client"},
		{"client without the grant", url.Values{"client_id": {"spa"}, "scope": {"openid"}}, "", "", http.StatusBadRequest, "unauthorized_client"},
		{"scope the client may not ask for", url.Values{"client_id": {"tv"}, "scope": {"openid api"}}, "", "", http.StatusBadRequest, "invalid_scope"},
		{"other client's client_id", url.Values{"client_id": {"tv"}}, "box", testSecret, http.StatusBadRequest, "invalid_request"},
		{"resource not the client's", url.Values{"resource": {"https://other.example.com"}}, "box", testSecret, http.StatusBadRequest, "invalid_target"},
		{"resource not absolute", url.Values{"resource": {"/api"}}, "box", testSecret, http.StatusBadRequest, "invalid_target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newDeviceEnv(t, func(c *Config) { c.ClientAuthDelay = -1 })
			w := &writeCounter{TokenStore: e.p.stores.Tokens}
			e.p.stores.Tokens = w
			status, out := e.post(pathDeviceAuthorization, tc.form, tc.user, tc.pass)
			if status != tc.status || out["error"] != tc.err || out["error_description"] == "" {
				t.Fatalf("got %d %v, want %d %s", status, out, tc.status, tc.err)
			}
			if n := w.n.Load(); n != 0 {
				t.Errorf("%d writes to the token store", n)
			}
		})
	}
}

// TestDeviceTokenRejects: every poll that cannot have tokens gets its RFC
// 8628 §3.5 (or RFC 6749) error and issues nothing.
func TestDeviceTokenRejects(t *testing.T) {
	type env struct {
		e          *testEnv
		clk        *testClock
		deviceCode string
		userCode   string
	}
	for _, tc := range []struct {
		name    string
		counter bool
		setup   func(t *testing.T, v *env)
		form    func(v *env) url.Values
		user    string
		status  int
		err     string
	}{
		{name: "missing device_code", form: func(v *env) url.Values { return url.Values{"client_id": {"tv"}} },
			status: http.StatusBadRequest, err: "invalid_request"},
		{name: "unknown device_code", form: func(v *env) url.Values { return url.Values{"client_id": {"tv"}, "device_code": {randomToken()}} },
			status: http.StatusBadRequest, err: "invalid_grant"},
		{name: "another client's device_code", user: "box",
			form:   func(v *env) url.Values { return url.Values{"device_code": {v.deviceCode}} },
			status: http.StatusBadRequest, err: "invalid_grant"},
		{name: "client without the grant", form: func(v *env) url.Values { return url.Values{"client_id": {"spa"}, "device_code": {v.deviceCode}} },
			status: http.StatusBadRequest, err: "unauthorized_client"},
		{name: "pending", status: http.StatusBadRequest, err: "authorization_pending"},
		{name: "polling too fast", counter: true,
			setup: func(t *testing.T, v *env) {
				if status, out := v.e.poll(v.deviceCode); out["error"] != "authorization_pending" {
					t.Fatalf("first poll: %d %v", status, out)
				}
			},
			status: http.StatusBadRequest, err: "slow_down"},
		{name: "expired", setup: func(t *testing.T, v *env) { v.clk.advance(10*time.Minute + time.Second) },
			status: http.StatusBadRequest, err: "expired_token"},
		{name: "approved too late", setup: func(t *testing.T, v *env) {
			if status, _ := v.e.enterCode(v.e.browser(), v.userCode, "allow"); status != http.StatusOK {
				t.Fatalf("allow: %d", status)
			}
			v.clk.advance(10*time.Minute + time.Second)
		}, status: http.StatusBadRequest, err: "expired_token"},
		{name: "denied", setup: func(t *testing.T, v *env) {
			status, body := v.e.enterCode(v.e.browser(), v.userCode, "deny")
			if status != http.StatusOK || !strings.Contains(body, "Access denied") {
				t.Fatalf("deny: %d\n%s", status, body)
			}
		}, status: http.StatusBadRequest, err: "access_denied"},
		{name: "approved code used again", setup: func(t *testing.T, v *env) {
			if status, _ := v.e.enterCode(v.e.browser(), v.userCode, "allow"); status != http.StatusOK {
				t.Fatalf("allow: %d", status)
			}
			if status, out := v.e.poll(v.deviceCode); status != http.StatusOK {
				t.Fatalf("first poll: %d %v", status, out)
			}
		}, status: http.StatusBadRequest, err: "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, clk := newDeviceEnv(t, nil)
			if tc.counter {
				e.p.stores.Counters = e.store
			}
			v := &env{e: e, clk: clk}
			v.deviceCode, v.userCode = e.deviceCodes("openid")
			if tc.setup != nil {
				tc.setup(t, v)
			}
			form := url.Values{"client_id": {"tv"}, "device_code": {v.deviceCode}}
			if tc.form != nil {
				form = tc.form(v)
			}
			form.Set("grant_type", grantDeviceCode)
			pass := ""
			if tc.user != "" {
				pass = testSecret
			}
			status, out := e.postToken(form, tc.user, pass)
			if status != tc.status || out["error"] != tc.err || out["access_token"] != nil {
				t.Fatalf("got %d %v, want %d %s", status, out, tc.status, tc.err)
			}
		})
	}
}

// TestDevicePageRejects: the code page refuses what is not a live code of
// a pending request with a message, and a form without its CSRF token.
func TestDevicePageRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		typed  func(userCode string) string
		setup  func(e *testEnv, clk *testClock, userCode string)
		csrf   string
		status int
		msg    string
	}{
		{name: "wrong code", typed: func(string) string { return "BCDF-GHJK" }, status: http.StatusBadRequest, msg: "not valid or has expired"},
		{name: "not a code", typed: func(string) string { return "ABCD-EFGH" }, status: http.StatusBadRequest, msg: "not valid or has expired"},
		{name: "too short", typed: func(c string) string { return c[:8] }, status: http.StatusBadRequest, msg: "not valid or has expired"},
		{name: "expired code", setup: func(e *testEnv, clk *testClock, _ string) { clk.advance(10*time.Minute + time.Second) },
			status: http.StatusBadRequest, msg: "not valid or has expired"},
		{name: "code already answered", setup: func(e *testEnv, _ *testClock, userCode string) {
			if status, _ := e.enterCode(e.browser(), userCode, "deny"); status != http.StatusOK {
				e.t.Fatalf("deny: %d", status)
			}
		}, status: http.StatusBadRequest, msg: "already been used"},
		{name: "missing CSRF token", csrf: "", status: http.StatusForbidden, msg: "This form has expired"},
		{name: "wrong CSRF token", csrf: "forged", status: http.StatusForbidden, msg: "This form has expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, clk := newDeviceEnv(t, nil)
			_, userCode := e.deviceCodes("openid")
			if tc.setup != nil {
				tc.setup(e, clk, userCode)
			}
			typed := userCode
			if tc.typed != nil {
				typed = tc.typed(userCode)
			}
			b := e.browser()
			resp, body := e.get(b, pathDevice+"?user_code="+url.QueryEscape(userCode))
			if m := codeInputRe.FindStringSubmatch(body); m == nil || m[1] != userCode {
				t.Fatalf("the page does not fill in the code of the link: %v", m)
			}
			fields := url.Values{"user_code": {typed}}
			if strings.Contains(tc.name, "CSRF") {
				fields.Set("csrf_token", tc.csrf)
			}
			resp = submitForm(t, b, resp.Request.URL.String(), body, "device", fields)
			body = readBody(t, resp)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.msg) || strings.Contains(body, `name="password"`) {
				t.Fatalf("got %d, want %d with %q:\n%s", resp.StatusCode, tc.status, tc.msg, body)
			}
		})
	}
}

// TestDeviceCodeAttemptsLimited: past Device.AttemptsPerIP codes from one
// address, even the right code is refused until the window ends.
func TestDeviceCodeAttemptsLimited(t *testing.T) {
	e, _ := newDeviceEnv(t, func(c *Config) { c.Device.AttemptsPerIP = 3 })
	e.p.stores.Counters = e.store
	_, userCode := e.deviceCodes("openid")
	b := e.browser()
	for i := range 4 {
		typed := "BCDF-GHJK"
		if i == 3 {
			typed = userCode
		}
		resp, body := e.get(b, pathDevice)
		resp = submitForm(t, b, resp.Request.URL.String(), body, "device", url.Values{"user_code": {typed}})
		body = readBody(t, resp)
		want := http.StatusBadRequest
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want {
			t.Fatalf("attempt %d: %d, want %d\n%s", i+1, resp.StatusCode, want, body)
		}
	}
}

// TestDeviceOff: with the grant off (the default) nothing of it is served
// or advertised, and registration refuses it.
func TestDeviceOff(t *testing.T) {
	e, _ := newDeviceEnv(t, func(c *Config) { c.Device.Enabled = false })
	var doc map[string]any
	resp, body := e.get(http.DefaultClient, "/.well-known/openid-configuration")
	if err := json.Unmarshal([]byte(body), &doc); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatal(err)
	}
	if doc["device_authorization_endpoint"] != nil || strings.Contains(body, grantDeviceCode) {
		t.Errorf("discovery advertises the device grant: %s", body)
	}
	if resp, _ := http.PostForm(e.srv.URL+pathDeviceAuthorization, url.Values{"client_id": {"tv"}}); resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("/device_authorization answered %d", resp.StatusCode)
	}
	status, out := e.postToken(url.Values{"grant_type": {grantDeviceCode}, "device_code": {"x"}, "client_id": {"tv"}}, "", "")
	if status != http.StatusBadRequest || out["error"] != "unsupported_grant_type" {
		t.Errorf("token endpoint: %d %v", status, out)
	}

	on, _ := newDeviceEnv(t, nil)
	resp, body = on.get(http.DefaultClient, "/.well-known/openid-configuration")
	doc = nil
	if err := json.Unmarshal([]byte(body), &doc); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatal(err)
	}
	if doc["device_authorization_endpoint"] != on.srv.URL+pathDeviceAuthorization || !strings.Contains(body, grantDeviceCode) {
		t.Errorf("discovery does not advertise the device grant: %s", body)
	}
}

// TestDeviceAuthorizationAnswer: the answer carries what RFC 8628 §3.2
// lists, the resource asked for is granted, and the codes are stored only
// as HMACs.
func TestDeviceAuthorizationAnswer(t *testing.T) {
	e, _ := newDeviceEnv(t, func(c *Config) { c.Device.Interval = 7 * time.Second })
	status, out := e.post(pathDeviceAuthorization, url.Values{"scope": {"openid"}, "resource": {testAPI}}, "box", testSecret)
	if status != http.StatusOK {
		t.Fatalf("%d %v", status, out)
	}
	userCode := out["user_code"].(string)
	if out["verification_uri"] != e.srv.URL+"/device" || out["verification_uri_complete"] != e.srv.URL+"/device?user_code="+userCode ||
		out["expires_in"] != 600.0 || out["interval"] != 7.0 || !userCodeRe.MatchString(userCode) {
		t.Errorf("answer %v", out)
	}
	e.noStoredText(t, "device code", out["device_code"].(string))
	e.noStoredText(t, "user code", strings.ReplaceAll(userCode, "-", ""))
	if status, body := e.enterCode(e.browser(), userCode, "allow"); status != http.StatusOK {
		t.Fatalf("allow: %d\n%s", status, body)
	}
	status, tok := e.postToken(url.Values{"grant_type": {grantDeviceCode}, "device_code": {out["device_code"].(string)}}, "box", testSecret)
	if status != http.StatusOK || tok["refresh_token"] != nil {
		t.Fatalf("poll: %d %v", status, tok)
	}
	if aud := e.introspectAs(t, "box", tok["access_token"].(string))["aud"]; !strings.Contains(strings.Join(toStrings(aud), " "), testAPI) {
		t.Errorf("access token audience %v, want %s", aud, testAPI)
	}
}

func toStrings(v any) []string {
	var out []string
	switch v := v.(type) {
	case string:
		out = append(out, v)
	case []any:
		for _, s := range v {
			s, _ := s.(string)
			out = append(out, s)
		}
	}
	return out
}

// TestDeviceRegistration: dynamic registration accepts the device grant
// (alone, or with refresh_token, and without redirect URIs) only when it
// is on, and a registered client can use it.
func TestDeviceRegistration(t *testing.T) {
	md := map[string]any{"client_name": "Console", "token_endpoint_auth_method": "none",
		"grant_types": []string{grantDeviceCode, "refresh_token"}, "scope": "openid offline_access"}
	for _, on := range []bool{false, true} {
		e, _ := newDeviceEnv(t, func(c *Config) {
			c.Device.Enabled = on
			c.Registration.Mode = RegistrationOpen
			c.Registration.AllowedGrantTypes = []string{"authorization_code", "refresh_token", grantDeviceCode}
		})
		status, out := e.registerJSON("", md)
		if !on {
			if status != http.StatusBadRequest || out["error"] != "invalid_client_metadata" {
				t.Errorf("registered with the grant off: %d %v", status, out)
			}
			continue
		}
		id, _ := out["client_id"].(string)
		if status != http.StatusCreated || id == "" {
			t.Fatalf("registration: %d %v", status, out)
		}
		status, out = e.post(pathDeviceAuthorization, url.Values{"client_id": {id}, "scope": {"openid"}}, "", "")
		if status != http.StatusOK || out["user_code"] == nil {
			t.Errorf("/device_authorization for the registered client: %d %v", status, out)
		}
	}
	// Without the device grant, refresh_token still needs authorization_code.
	e, _ := newDeviceEnv(t, func(c *Config) {
		c.Registration.Mode = RegistrationOpen
		c.Registration.AllowedGrantTypes = []string{"authorization_code", "refresh_token", grantDeviceCode}
	})
	if status, out := e.registerJSON("", map[string]any{"token_endpoint_auth_method": "none", "grant_types": []string{"refresh_token"}}); status != http.StatusBadRequest {
		t.Errorf("refresh_token alone: %d %v", status, out)
	}
}
