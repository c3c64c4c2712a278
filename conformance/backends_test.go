package conformance

// Shared-state deployments: Atrium nodes on PostgreSQL and Redis, for the
// multi-node and fault tests. The suite stays black-box (see TestImports),
// so PostgreSQL is reached through psql and Redis is a redis-server process
// driven with the standard library.

import (
	"bufio"
	"bytes"
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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Environment of the backing services.
const (
	envPostgresURL     = "ATRIUM_TEST_POSTGRES_URL"
	envRequirePostgres = "ATRIUM_TEST_REQUIRE_POSTGRES"
	envRequireRedis    = "ATRIUM_TEST_REQUIRE_REDIS"
)

// testMasterSecret is the master secret every node of a deployment shares.
const testMasterSecret = "conformance-master-secret-0123456789abcdef"

// postgresSchema creates a fresh schema on the PostgreSQL server named by
// ATRIUM_TEST_POSTGRES_URL, drops it when t ends, and returns a DSN whose
// search_path is that schema. Without a server (or psql) it skips t,
// unless ATRIUM_TEST_REQUIRE_POSTGRES=1.
func postgresSchema(t testing.TB) string {
	t.Helper()
	base := os.Getenv(envPostgresURL)
	if base == "" {
		need(t, envRequirePostgres, "%s is unset; set it to a PostgreSQL URL, e.g. postgres://user@127.0.0.1:5432/db?sslmode=disable", envPostgresURL)
	}
	psql, err := exec.LookPath("psql")
	if err != nil {
		need(t, envRequirePostgres, "psql is not on PATH: %v", err)
	}
	// search_path is a pgx parameter, not a libpq one: psql must not see it.
	admin := func(stmt string) error {
		ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", base, "-c", stmt).CombinedOutput()
		if err != nil {
			return fmt.Errorf("psql -c %q: %v: %s", stmt, err, out)
		}
		return nil
	}
	schema := "atrium_conf_" + randomString(6)
	if err := admin("CREATE SCHEMA " + schema); err != nil {
		need(t, envRequirePostgres, "PostgreSQL at %s: %v", envPostgresURL, err)
	}
	t.Cleanup(func() {
		if err := admin("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("dropping the test schema: %v", err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// need skips t for want of a service, or fails it when env is "1".
func need(t testing.TB, env, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(env) == "1" {
		t.Fatalf("%s=1 but %s", env, msg)
	}
	t.Skipf("%s (set %s=1 to fail instead)", msg, env)
}

// redisServer is a private redis-server on a loopback port, without
// persistence, that a test can stop and restart on the same port.
type redisServer struct {
	t    testing.TB
	bin  string
	addr string
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *syncBuffer
}

// startRedis starts a private redis-server, stopped when t ends. Without
// redis-server on PATH it skips t, unless ATRIUM_TEST_REQUIRE_REDIS=1.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		need(t, envRequireRedis, "redis-server is not on PATH: %v", err)
	}
	dir := t.TempDir()
	for attempt := 0; ; attempt++ {
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		r := &redisServer{t: t, bin: bin, addr: addr, dir: dir}
		err = r.launch()
		if err == nil {
			t.Cleanup(r.stop)
			return r
		}
		if attempt == 2 { // the port picked was taken meanwhile, three times
			t.Fatal(err)
		}
	}
}

// url is redis://127.0.0.1:port.
func (r *redisServer) url() string { return "redis://" + r.addr }

func (r *redisServer) launch() error {
	host, port, _ := net.SplitHostPort(r.addr)
	log := &syncBuffer{}
	cmd := exec.Command(r.bin, "--bind", host, "--port", port, "--dir", r.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(readyTimeout)
	for !redisPing(r.addr) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited at start:\n%s", r.addr, log.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer PING within %v:\n%s", r.addr, readyTimeout, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.mu.Lock()
	r.cmd, r.exited, r.log = cmd, exited, log
	r.mu.Unlock()
	return nil
}

// stop kills redis-server, as a crash would. It does nothing when stopped.
func (r *redisServer) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		r.t.Errorf("redis-server on %s did not exit after SIGKILL", r.addr)
	}
	r.cmd = nil
}

// restart starts redis-server again on the same port. It comes back empty.
func (r *redisServer) restart() {
	r.t.Helper()
	r.stop()
	deadline := time.Now().Add(readyTimeout)
	for {
		err := r.launch()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("restarting redis-server on %s: %v", r.addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// redisPing reports whether a Redis server answers PING at addr.
func redisPing(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(conn, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

// deployment is the shared configuration of the nodes of one Atrium
// deployment, and the CLI pointed at it.
type deployment struct {
	env  []string // ATRIUM_* settings every node and CLI command gets
	data string   // the data folder of every node and CLI command
}

// newDeployment returns a deployment with the given ATRIUM_* settings on
// top of a clean environment and the shared master secret.
func newDeployment(t testing.TB, settings ...string) *deployment {
	env := append(cleanEnv(), "ATRIUM_MASTER_SECRET="+testMasterSecret)
	return &deployment{env: append(env, settings...), data: t.TempDir()}
}

// atrium runs one CLI command against the deployment and decodes its JSON
// output into out (when out is non-nil).
func (d *deployment) atrium(out any, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, srv.bin, append(args, "--data", d.data)...)
	cmd.Env = d.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("atrium %s: %v\nstderr: %s\nstdout: %s", strings.Join(args, " "), err, stderr.Bytes(), stdout.Bytes())
	}
	if out != nil {
		if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
			return fmt.Errorf("atrium %s: output is not the expected JSON: %v\n%s", strings.Join(args, " "), err, stdout.Bytes())
		}
	}
	return nil
}

// client registers a confidential client (client_secret_basic) with the
// CLI. Zero spec fields take the defaults of the fixture clients.
func (d *deployment) client(t testing.TB, name string, spec clientSpec) *rp {
	t.Helper()
	c := &rp{
		Name: name, ID: "conf-" + name, Secret: "secret-" + randomString(16),
		AuthMethod: authBasic, GrantTypes: spec.grants, Scopes: spec.scopes,
	}
	if c.GrantTypes == nil {
		c.GrantTypes = []string{grantCode, grantRefresh}
	}
	if c.Scopes == nil {
		c.Scopes = []string{"openid", "profile", "email", "offline_access"}
	}
	args := []string{"clients", "create", "--id", c.ID, "--name", "Conformance " + name,
		"--secret", c.Secret, "--token-endpoint-auth-method", authBasic}
	for _, g := range c.GrantTypes {
		args = append(args, "--grant-type", g)
	}
	for _, s := range c.Scopes {
		args = append(args, "--scope", s)
	}
	if containsAll(c.GrantTypes, grantCode) {
		c.RedirectURI = "https://" + name + ".rp.test/callback"
		c.RedirectURIs = []string{c.RedirectURI}
		args = append(args, "--redirect-uri", c.RedirectURI)
	}
	if err := d.atrium(nil, args...); err != nil {
		t.Fatal(err)
	}
	return c
}

// user registers an end user with the CLI.
func (d *deployment) user(t testing.TB, name string) *user {
	t.Helper()
	u := &user{
		Email:    name + "@conformance.test",
		Password: "correct horse " + name + " " + randomString(4),
		Name:     "Conformance " + name,
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := d.atrium(&out, "users", "create", "--email", u.Email, "--password", u.Password, "--name", u.Name); err != nil {
		t.Fatal(err)
	}
	if out.ID == "" {
		t.Fatalf("users create --email %s printed no id", u.Email)
	}
	u.Sub = out.ID
	return u
}

// node starts one `atrium serve` of the deployment on a free loopback port,
// with its own issuer (its own address), and stops it when t ends. On
// failure its stderr is reported.
func (d *deployment) node(t testing.TB, name string) *server {
	t.Helper()
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{
		bin:     srv.bin,
		dataDir: d.data,
		issuer:  "http://" + addr,
		stderr:  &syncBuffer{},
		http:    srv.http,
	}
	s.cmd = exec.Command(s.bin, "serve", "--addr", addr, "--issuer", s.issuer, "--data", s.dataDir)
	s.cmd.Env = d.env
	s.cmd.Stdout = io.Discard
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start atrium serve (%s): %v", name, err)
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("--- %s (%s) stderr, last 8 KiB ---\n%s", name, s.issuer, tail(s.stderr.String(), 8<<10))
		}
	})
	if err := s.waitReady(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	ctx := oidc.ClientContext(context.Background(), &http.Client{Timeout: httpTimeout})
	if s.provider, err = oidc.NewProvider(ctx, s.issuer); err != nil {
		t.Fatalf("%s: go-oidc discovery: %v", name, err)
	}
	if err := s.provider.Claims(&s.discovery); err != nil {
		t.Fatal(err)
	}
	return s
}

// alive fails t when the node's process has exited or logged a panic.
func alive(t testing.TB, s *server) {
	t.Helper()
	select {
	case err := <-s.exited:
		s.exited <- err // let stop see it too
		t.Errorf("atrium serve at %s exited: %v", s.issuer, err)
	default:
	}
	if strings.Contains(strings.ToLower(s.stderr.String()), "panic") {
		t.Errorf("atrium serve at %s logged a panic:\n%s", s.issuer, tail(s.stderr.String(), 8<<10))
	}
}

// nodeBrowser is a browser whose cookie jar every node shares (cookies are
// scoped by host, not port) and that follows redirects between the nodes,
// stopping at the first one that leaves them.
func nodeBrowser(t testing.TB, nodes ...*server) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var origins []*url.URL
	for _, n := range nodes {
		u, err := url.Parse(n.issuer)
		if err != nil {
			t.Fatal(err)
		}
		origins = append(origins, u)
	}
	return &browser{t: t, c: &http.Client{
		Jar:     jar,
		Timeout: httpTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			known := false
			for _, o := range origins {
				known = known || sameOrigin(req.URL, o)
			}
			if !known {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return fmt.Errorf("stopped after %d redirects", len(via))
			}
			return nil
		},
	}}
}

// authorizeAt sends an authorization request for the client to a node and
// drives the browser through it as the actor.
func (b *browser) authorizeAt(n *server, c *rp, scopes []string, extra url.Values, a actor) *authorization {
	b.t.Helper()
	z := &authorization{state: randomString(12), nonce: randomString(12), verifier: oauth2.GenerateVerifier()}
	q := url.Values{
		"client_id":             {c.ID},
		"redirect_uri":          {c.RedirectURI},
		"response_type":         {"code"},
		"scope":                 {strings.Join(scopes, " ")},
		"state":                 {z.state},
		"nonce":                 {z.nonce},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(z.verifier)},
		"code_challenge_method": {"S256"},
	}
	for k, vs := range extra {
		q[k] = vs
	}
	z.outcome = b.authorizeFrom(b.get(n.endpoint(b.t, "authorization_endpoint")+"?"+q.Encode()), a)
	return z
}

// codeFrom returns the code of a successful authorization response from
// node n, after checking state and iss.
func (z *authorization) codeFrom(t testing.TB, n *server) string {
	t.Helper()
	if z.Mode != "query" {
		t.Fatalf("authorization at %s did not complete: %s", n.issuer, z.describe())
	}
	if e := z.Params.Get("error"); e != "" {
		t.Fatalf("authorization at %s failed: error=%s error_description=%q", n.issuer, e, z.Params.Get("error_description"))
	}
	if got := z.Params.Get("state"); got != z.state {
		t.Errorf("state = %q, want %q", got, z.state)
	}
	if got := z.Params.Get("iss"); got != n.issuer {
		t.Errorf("iss = %q, want the issuer of the node that answered, %q", got, n.issuer)
	}
	code := z.Params.Get("code")
	if code == "" {
		t.Fatalf("authorization response without a code: %v", z.Params)
	}
	return code
}

// codeForm is the token request redeeming the authorization's code.
func (z *authorization) codeForm(c *rp, code string) url.Values {
	return url.Values{"grant_type": {grantCode}, "code": {code}, "redirect_uri": {c.RedirectURI}, "code_verifier": {z.verifier}}
}

// tokenAt posts a token request to a node, as the client.
func (c *rp) tokenAt(t testing.TB, n *server, form url.Values) *apiResponse {
	t.Helper()
	return c.post(t, n.endpoint(t, "token_endpoint"), form)
}

// introspectAt asks a node's introspection endpoint whether a token is
// active, as the client.
func (c *rp) introspectAt(t testing.TB, n *server, token string) *apiResponse {
	t.Helper()
	r := c.post(t, n.endpoint(t, "introspection_endpoint"), url.Values{"token": {token}})
	if r.Status != http.StatusOK {
		t.Fatalf("introspection at %s as %s: %s", n.issuer, c.ID, r)
	}
	if _, ok := r.JSON["active"].(bool); !ok {
		t.Fatalf("introspection response has no boolean active: %s", r)
	}
	return r
}

// userinfoAt calls a node's UserInfo endpoint with a bearer token.
func userinfoAt(t testing.TB, n *server, token string) *apiResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, n.endpoint(t, "userinfo_endpoint"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return send(t, req)
}

// getAt sends a GET without cookies and without following redirects.
func getAt(t testing.TB, u string) *apiResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}
