package conformance

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// A second, independent relying party: openid-client, the OpenID
// Certified client library for Node.js, runs the flows of
// testdata/openid-client-rp/rp.mjs against the suite's server. Every
// check of the responses is the library's; the test only stands in for
// the browser and fails on any step the library failed.

// rpTimeout bounds one run of rp.mjs.
const rpTimeout = 3 * time.Minute

// rpSteps are the steps rp.mjs must report as passed.
var rpSteps = []string{
	"discovery", "discovery-oauth",
	"code-basic", "userinfo", "refresh", "introspection", "token-exchange", "revocation", "code-form-post",
	"code-post", "introspection-post", "revocation-post",
	"code-private-key-jwt", "introspection-private-key-jwt", "revocation-private-key-jwt",
	"code-public", "userinfo-public", "refresh-public", "revocation-public",
	"state-mismatch",
}

// rpKnownGaps are steps of rpSteps that fail for a known reason in the
// server. Their failure is logged; once one passes the test fails, so
// that it leaves this list (and the README's).
var rpKnownGaps = map[string]string{}

// rpFeatures are the steps that run once discovery advertises the
// metadata they need, and are reported skipped until then.
var rpFeatures = []struct{ step, metadata string }{
	{"registration", "registration_endpoint"},
	{"par", "pushed_authorization_request_endpoint"},
	{"jar", "request_parameter_supported"},
	{"dpop", "dpop_signing_alg_values_supported"},
	{"logout", "end_session_endpoint"},
	{"device", "device_authorization_endpoint"},
}

// rpTamper changes the authorization response of a flow before the
// library sees it; the flow's step expects the library to refuse it.
var rpTamper = map[string]func(q url.Values){
	"state-mismatch": func(q url.Values) { q.Set("state", q.Get("state")+"x") },
}

// rpMessage is one line rp.mjs writes: a step's result, or a request to
// the browser (authorize, navigate).
type rpMessage struct {
	Step    string `json:"step"`
	OK      *bool  `json:"ok"`
	Skipped string `json:"skipped"`
	Error   string `json:"error"`
	Flow    string `json:"flow"`
	URL     string `json:"url"`
	raw     string
}

// rpClient is a fixture client as rp.mjs takes it.
type rpClient struct {
	ID          string           `json:"id"`
	Secret      string           `json:"secret,omitempty"`
	RedirectURI string           `json:"redirect_uri"`
	PostLogout  string           `json:"post_logout_redirect_uri,omitempty"`
	JWK         *jose.JSONWebKey `json:"jwk,omitempty"` // private_key_jwt only
}

// openIDClientRP returns node and the folder of rp.mjs, or skips t (fails
// it with ATRIUM_TEST_REQUIRE_NODE=1) when they are not installed.
func openIDClientRP(t testing.TB) (node, dir string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "openid-client-rp"))
	if err != nil {
		t.Fatal(err)
	}
	node, err = exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "openid-client", "package.json"))
	}
	if err != nil {
		need(t, envRequireNode, "needs node and `npm ci --prefix conformance/testdata/openid-client-rp` (%v)", err)
	}
	return node, dir
}

// TestOpenIDClientRP runs openid-client against the server: discovery
// (OpenID and RFC 8414), the code flow with PKCE, state and nonce for a
// client_secret_basic, a client_secret_post, a private_key_jwt and a
// public client, ID token signatures against the JWKS, userinfo with the
// expected subject, refresh, introspection and revocation; and, once
// discovery advertises them, registration, PAR, DPoP and logout. A
// response whose state the browser changed must make the library refuse
// it.
func TestOpenIDClientRP(t *testing.T) {
	t.Parallel()
	node, dir := openIDClientRP(t)
	u := account(t, "openid-client")

	clients := map[string]rpClient{}
	for key, name := range map[string]string{
		"basic": "openid-client-basic", "post": "openid-client-post",
		"public": "openid-client-public", "pkjwt": "openid-client-pkjwt",
	} {
		c := client(t, name)
		rc := rpClient{ID: c.ID, Secret: c.Secret, RedirectURI: c.RedirectURI}
		if len(c.PostLogout) > 0 {
			rc.PostLogout = c.PostLogout[0]
		}
		if c.key != nil {
			rc.JWK = &jose.JSONWebKey{Key: c.key, KeyID: c.kid, Algorithm: string(jose.RS256), Use: "sig"}
		}
		clients[key] = rc
	}
	// The device grant's client (device_test.go), registered now.
	dc, err := srv.createClient(t.TempDir(), "openid-client-device", clientSpec{public: true, grants: []string{grantDeviceCode, grantRefresh}})
	if err != nil {
		t.Fatal(err)
	}
	clients["device"] = rpClient{ID: dc.ID}
	config, err := json.Marshal(map[string]any{"issuer": srv.issuer, "sub": u.Sub, "clients": clients})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), rpTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "rp.mjs")
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "RP_CONFIG="+string(config))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("--- rp.mjs stderr ---\n%s", tail(stderr.String(), 16<<10))
		}
	})

	b := newBrowser(t)
	results := map[string]rpMessage{}
	var order []string
	done := false
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		var m rpMessage
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil || m.Step == "" {
			t.Errorf("rp.mjs wrote %q, want a JSON step", lines.Text())
			continue
		}
		m.raw = lines.Text()
		switch m.Step {
		case "authorize":
			rpAnswer(t, stdin, rpAuthorize(b, u, m))
		case "navigate":
			rpAnswer(t, stdin, rpNavigate(b, m))
		case "device-verify":
			rpAnswer(t, stdin, rpDeviceVerify(b, u, m))
		case "done":
			done = true
		default:
			if _, dup := results[m.Step]; dup {
				t.Errorf("rp.mjs reported step %s twice", m.Step)
			}
			results[m.Step] = m
			order = append(order, m.Step)
		}
	}
	_ = stdin.Close()
	exit := cmd.Wait()
	waited = true
	if !done {
		t.Errorf("rp.mjs ended without reporting done (scanner: %v)", lines.Err())
	}

	var passed, waiting []string
	knownFailed := 0
	for _, name := range order {
		m := results[name]
		ok := m.OK != nil && *m.OK
		gap, known := rpKnownGaps[name]
		switch {
		case m.Skipped != "":
			waiting = append(waiting, fmt.Sprintf("%s (%s)", name, m.Skipped))
		case ok && known:
			t.Errorf("openid-client step %s passes now: remove it from rpKnownGaps and the README", name)
		case ok:
			passed = append(passed, name)
			t.Logf("openid-client %s", m.raw)
		case known:
			knownFailed++
			t.Logf("openid-client step %s fails, a known gap: %s\n\t%s", name, gap, m.Error)
		default:
			t.Errorf("openid-client step %s failed: %s", name, m.Error)
		}
	}
	// rp.mjs exits 1 when a step failed: only known gaps may have.
	var exitErr *exec.ExitError
	if exit != nil && !(done && knownFailed > 0 && errors.As(exit, &exitErr) && exitErr.ExitCode() == 1) {
		t.Errorf("rp.mjs: %v", exit)
	}
	for _, name := range rpSteps {
		if _, ok := results[name]; !ok {
			t.Errorf("openid-client step %s did not run", name)
		}
	}
	for _, f := range rpFeatures {
		m, ok := results[f.step]
		_, advertised := srv.discovery[f.metadata]
		switch {
		case !ok:
			t.Errorf("openid-client step %s was neither run nor skipped", f.step)
		case advertised && m.Skipped != "":
			t.Errorf("openid-client skipped %s (%s), but discovery advertises %s", f.step, m.Skipped, f.metadata)
		case !advertised && m.Skipped == "":
			t.Errorf("openid-client ran %s, but discovery does not advertise %s", f.step, f.metadata)
		}
	}
	for _, name := range order {
		if !slices.Contains(rpSteps, name) && !slices.ContainsFunc(rpFeatures, func(f struct{ step, metadata string }) bool { return f.step == name }) {
			t.Errorf("openid-client reported step %s, which the test does not know", name)
		}
	}
	t.Logf("openid-client passed: %s", strings.Join(passed, ", "))
	if len(waiting) > 0 {
		t.Logf("openid-client waiting for features: %s", strings.Join(waiting, "; "))
	}
}

// rpAuthorize opens an authorization URL in the browser as the user,
// signs in and consents as needed, and returns the answer for rp.mjs: the
// redirect back to the client, or the form the page posts to it, which
// rpTamper may change.
func rpAuthorize(b *browser, u *user, m rpMessage) map[string]string {
	b.t.Helper()
	if m.URL == "" {
		return map[string]string{"error": "no url to open"}
	}
	o := b.authorizeFrom(b.get(m.URL), actor{user: u})
	tamper := rpTamper[m.Flow]
	switch o.Mode {
	case "query":
		back := *o.Target
		if tamper != nil {
			q := back.Query()
			tamper(q)
			back.RawQuery = q.Encode()
		}
		return map[string]string{"callback": back.String()}
	case "form_post":
		form := url.Values{}
		for k, vs := range o.Params {
			form[k] = slices.Clone(vs)
		}
		if tamper != nil {
			tamper(form)
		}
		return map[string]string{"callback": o.Target.String(), "form": form.Encode()}
	}
	return map[string]string{"error": fmt.Sprintf("flow %s: %s", m.Flow, o.describe())}
}

// rpNavigate opens a URL in the browser and returns where it ended: a
// redirect out of the server, or the page's status and text.
func rpNavigate(b *browser, m rpMessage) map[string]any {
	b.t.Helper()
	p := b.get(m.URL)
	if p.Redirect != nil {
		return map[string]any{"redirect": p.Redirect.String()}
	}
	return map[string]any{"status": p.Status, "text": tail(p.Text, 300)}
}

// rpDeviceVerify opens a device request's verification_uri_complete as
// the user, confirms the code, signs in if asked, checks the consent
// screen shows the code, and allows.
func rpDeviceVerify(b *browser, u *user, m rpMessage) map[string]any {
	b.t.Helper()
	fail := func(format string, args ...any) map[string]any {
		return map[string]any{"error": fmt.Sprintf(format, args...)}
	}
	link, err := url.Parse(m.URL)
	if err != nil || link.Query().Get("user_code") == "" {
		return fail("verification_uri_complete %q has no user_code", m.URL)
	}
	code := link.Query().Get("user_code")
	p := b.get(m.URL)
	var f *form
	for _, g := range p.Forms {
		if g.Values.Get("user_code") == code {
			f = g
		}
	}
	if f == nil {
		return fail("the device page does not fill in %s: %s", code, p.describe())
	}
	p = b.submit(f, nil)
	if lf := p.loginForm(); lf != nil {
		p = b.submit(lf, url.Values{"email": {u.Email}, "password": {u.Password}})
	}
	cf := p.consentForm()
	if cf == nil || !strings.Contains(p.Text, code) {
		return fail("no consent screen showing %s: %s", code, p.describe())
	}
	if p = b.submit(cf, url.Values{"action": {"allow"}}); p.Status != 200 || !strings.Contains(p.Text, "Your device is connected") {
		return fail("after allow: %s", p.describe())
	}
	return map[string]any{"ok": true}
}

// rpAnswer writes an answer line to rp.mjs.
func rpAnswer(t testing.TB, w io.Writer, answer any) {
	t.Helper()
	b, err := json.Marshal(answer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		t.Fatalf("writing to rp.mjs: %v", err)
	}
}
