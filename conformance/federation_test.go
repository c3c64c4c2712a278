package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Social sign-in against real upstreams: a second Atrium signs its users
// in through the suite's server (Atrium to Atrium) and through
// oidc-provider, driving every page of both with one browser.

// downstreamHost is the loopback address of the Atrium that federates. A
// browser keeps cookies per host, whatever the port, so the two Atriums
// must not share one: their cookies have the same names.
const downstreamHost = "127.0.0.2"

// federated is a running `atrium serve` whose sign-in page offers
// upstream providers, with one client registered.
type federated struct {
	*server
	rp *rp
}

// freeDownstreamAddr picks a free port on downstreamHost.
func freeDownstreamAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", downstreamHost+":0")
	if err != nil {
		t.Skipf("cannot listen on %s (needed for a second issuer host): %v", downstreamHost, err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startFederated starts a second Atrium on addr with the given providers.
func startFederated(t *testing.T, addr string, providers []map[string]any) *federated {
	t.Helper()
	tmp := t.TempDir()
	s := &server{bin: srv.bin, dataDir: filepath.Join(tmp, "data"), issuer: "http://" + addr, stderr: &syncBuffer{}}
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := s.createClient(tmp, "fed-rp", clientSpec{scopes: []string{"openid", "profile", "email"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"federation": map[string]any{"providers": providers}})
	file := filepath.Join(tmp, "atrium.yaml")
	if err := os.WriteFile(file, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(s.bin, "serve", "--dev", "--addr", addr, "--issuer", s.issuer, "--data", s.dataDir, "--config", file)
	s.cmd.Env = cleanEnv()
	s.cmd.Stdout = io.Discard
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("--- federating atrium serve stderr ---\n%s", tail(s.stderr.String(), 16<<10))
		}
	})
	if err := s.waitReady(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.stderr.String(), s.issuer+"/federation/") {
		t.Errorf("serve did not log the redirect URI of its providers:\n%s", s.stderr.String())
	}
	return &federated{server: s, rp: c}
}

// fedBrowser is a browser that follows every redirect except the one to
// the client's redirect URI, across all the servers of a flow.
func fedBrowser(t *testing.T, rpRedirect string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: httpTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), rpRedirect) {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return fmt.Errorf("stopped after %d redirects", len(via))
			}
			return nil
		}}}
}

// upstreamPages answers the pages of one upstream: it returns the values
// to submit a form with, or false when the form is not one of its own.
type upstreamPages func(p *page, f *form) (url.Values, bool)

// signInUpstream runs the authorization code flow at the federating
// Atrium, choosing the provider's button, and answers every page until
// the redirect to the client. It returns the tokens and the pages seen.
func (d *federated) signInUpstream(t *testing.T, b *browser, provider string, answer upstreamPages) (*oauth2.Token, []string) {
	t.Helper()
	conf := &oauth2.Config{ClientID: d.rp.ID, ClientSecret: d.rp.Secret, RedirectURL: d.rp.RedirectURI,
		Scopes:   []string{"openid", "profile", "email"},
		Endpoint: oauth2.Endpoint{AuthURL: d.issuer + "/authorize", TokenURL: d.issuer + "/token", AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	p := b.get(conf.AuthCodeURL("st-"+randomString(4), oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", randomString(8))))
	var seen []string
	down, _ := url.Parse(d.issuer)
	for range 12 {
		if p.Redirect != nil {
			break
		}
		if p.Status != http.StatusOK {
			t.Fatalf("page %s: status %d: %s", p.URL, p.Status, p.describe())
		}
		var f *form
		var values url.Values
		for _, cand := range p.Forms {
			switch {
			case sameOrigin(p.URL, down) && strings.HasSuffix(cand.Action.Path, "/federation/"+provider+"/start"):
				f, values, seen = cand, nil, append(seen, "downstream login")
			case sameOrigin(p.URL, down) && cand.isConsent():
				f, values, seen = cand, url.Values{"action": {"allow"}}, append(seen, "downstream consent")
			case !sameOrigin(p.URL, down):
				if v, ok := answer(p, cand); ok {
					f, values, seen = cand, v, append(seen, "upstream "+p.URL.Path)
				}
			}
			if f != nil {
				break
			}
		}
		if f == nil {
			t.Fatalf("no form to answer on %s: %s", p.URL, p.describe())
		}
		p = b.submit(f, values)
	}
	if p.Redirect == nil || p.Redirect.Query().Get("code") == "" {
		t.Fatalf("no code for the client after %v: %s", seen, p.describe())
	}
	tok, err := conf.Exchange(context.Background(), p.Redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange at the federating Atrium: %v", err)
	}
	return tok, seen
}

// userinfo returns the federating Atrium's userinfo for tok.
func (d *federated) userinfo(t *testing.T, tok *oauth2.Token) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("userinfo: %d %v", resp.StatusCode, err)
	}
	return out
}

// TestFederationAtriumToAtrium: a second Atrium signs its users in with
// the suite's Atrium as an OpenID Connect upstream, through both login
// pages and both consent pages, and imports the upstream profile.
func TestFederationAtriumToAtrium(t *testing.T) {
	t.Parallel()
	addr := freeDownstreamAddr(t)
	name := "fed-up-" + randomString(3)
	up, err := srv.createClient(t.TempDir(), name, clientSpec{
		scopes: []string{"openid", "profile", "email"}, redirectURIs: []string{"http://" + addr + "/federation/atrium/callback"},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := &user{Email: name + "@conformance.test", Password: "correct horse " + randomString(4), Name: "Upstream Person " + name}
	var out struct {
		ID string `json:"id"`
	}
	if err := srv.atrium(&out, "users", "create", "--email", u.Email, "--password", u.Password, "--name", u.Name, "--email-verified"); err != nil {
		t.Fatal(err)
	}
	d := startFederated(t, addr, []map[string]any{{
		"id": "atrium", "type": "oidc", "label": "Continue with Upstream Atrium", "issuer": srv.issuer,
		"client_id": up.ID, "client_secret": up.Secret, "scopes": []string{"openid", "profile", "email"},
	}})
	answer := func(p *page, f *form) (url.Values, bool) {
		switch {
		case f.isLogin():
			return url.Values{"email": {u.Email}, "password": {u.Password}}, true
		case f.isConsent():
			return url.Values{"action": {"allow"}}, true
		}
		return nil, false
	}
	tok, seen := d.signInUpstream(t, fedBrowser(t, d.rp.RedirectURI), "atrium", answer)
	want := []string{"downstream login", "upstream /login", "upstream /consent", "downstream consent"}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("pages %v, want %v", seen, want)
	}
	info := d.userinfo(t, tok)
	if info["email"] != u.Email || info["email_verified"] != true || info["name"] != u.Name {
		t.Errorf("federating Atrium's userinfo %v, want the upstream's email (verified) and name", info)
	}
	if info["sub"] == out.ID || info["sub"] == "" {
		t.Errorf("sub %v: want the federating Atrium's own account ID", info["sub"])
	}

	// Another browser: the upstream account is linked now; same account.
	tok2, _ := d.signInUpstream(t, fedBrowser(t, d.rp.RedirectURI), "atrium", answer)
	if got := d.userinfo(t, tok2)["sub"]; got != info["sub"] {
		t.Errorf("second sign-in sub %v, want %v", got, info["sub"])
	}
}

// TestFederationOIDCProvider: oidc-provider, the OpenID Certified Node.js
// provider, as a generic OpenID Connect upstream, through its development
// login and consent pages.
func TestFederationOIDCProvider(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs(filepath.Join("testdata", "oidc-upstream"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json"))
	}
	if err != nil {
		msg := fmt.Sprintf("needs node and `npm ci --prefix conformance/testdata/oidc-upstream`: %v", err)
		if os.Getenv("ATRIUM_TEST_REQUIRE_NODE") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	addr := freeDownstreamAddr(t)
	opAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(opAddr)
	opIssuer := "http://" + opAddr
	secret := "oidc-upstream-" + randomString(8)
	cmd := exec.Command(node, filepath.Join(dir, "server.mjs"))
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "PORT="+port, "CLIENT_ID=atrium", "CLIENT_SECRET="+secret,
		"REDIRECT_URI=http://"+addr+"/federation/node/callback")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("--- oidc-provider output ---\n%s", tail(logs.String(), 16<<10))
		}
	})
	deadline := time.Now().Add(readyTimeout)
	for {
		resp, err := http.Get(opIssuer + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("oidc-provider exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("oidc-provider not ready: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	d := startFederated(t, addr, []map[string]any{{
		"id": "node", "type": "oidc", "issuer": opIssuer, "client_id": "atrium", "client_secret": secret,
		"scopes": []string{"openid", "email", "profile"}, "require_verified_email": true,
	}})
	answer := func(p *page, f *form) (url.Values, bool) {
		if _, ok := f.Values["login"]; ok {
			return url.Values{"login": {"ada-" + randomString(3)}, "password": {"any password"}}, true
		}
		if f.Values.Get("prompt") == "consent" {
			return url.Values{}, true
		}
		return nil, false
	}
	tok, seen := d.signInUpstream(t, fedBrowser(t, d.rp.RedirectURI), "node", answer)
	if len(seen) < 3 || seen[0] != "downstream login" || seen[len(seen)-1] != "downstream consent" {
		t.Errorf("pages %v, want the federating login, oidc-provider's pages, then the federating consent", seen)
	}
	info := d.userinfo(t, tok)
	for k, want := range map[string]any{
		"email": "ada@oidc-upstream.test", "email_verified": true, "name": "Ada Upstream", "given_name": "Ada",
		"family_name": "Upstream", "locale": "en-GB", "picture": "https://oidc-upstream.test/ada.png",
	} {
		if info[k] != want {
			t.Errorf("userinfo %s = %v, want %v (imported from oidc-provider)", k, info[k], want)
		}
	}
}
