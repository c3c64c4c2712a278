package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atrium-id/atrium/internal/smtptest"
	"github.com/coreos/go-oidc/v3/oidc"
)

// Time limits of the harness.
const (
	readyTimeout = 20 * time.Second // for `atrium serve` to answer discovery
	cliTimeout   = 30 * time.Second // for one CLI command
	httpTimeout  = 15 * time.Second // for one HTTP request
)

// srv is the one Atrium server the package runs against, started by
// TestMain.
var srv *server

// server is a running `atrium serve` and what the suite learned from its
// discovery document.
type server struct {
	bin     string // the atrium binary
	dataDir string
	issuer  string
	cmd     *exec.Cmd
	exited  chan error // receives the process's exit
	stderr  *syncBuffer

	provider  *oidc.Provider
	discovery map[string]any // the raw OpenID discovery document
	http      *http.Client   // for back-channel requests; follows no redirects

	clients map[string]*rp   // fixtures by name
	users   map[string]*user // fixtures by name

	mail *smtptest.Server // where it sends its mails; nil for the servers tests start
}

// defaultParallel is how many tests run at once unless -parallel says
// otherwise: they mostly wait on the server, so more than GOMAXPROCS.
const defaultParallel = "4"

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", defaultParallel)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "atrium-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	mailbox, mailPassword, stopMail, err := startMail()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 1
	}
	defer stopMail()

	s, err := startServer(tmp, mailbox, mailPassword)
	if s != nil {
		defer s.stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		if s != nil && s.stderr.Len() > 0 {
			fmt.Fprintf(os.Stderr, "--- atrium serve stderr ---\n%s\n", s.stderr.String())
		}
		return 1
	}
	srv = s
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- atrium serve stderr (last 16 KiB) ---\n%s\n", tail(s.stderr.String(), 16<<10))
	}
	return code
}

// startServer builds the binary, registers the fixtures and starts the
// server on a free loopback port, sending its mails to m. The returned
// server is non-nil once a process may need stopping.
func startServer(tmp string, m *smtptest.Server, mailPassword string) (*server, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(tmp, "atrium")
	build := exec.Command("go", "build", "-o", bin, "./cmd/atrium")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/atrium: %v\n%s", err, out)
	}
	s := &server{
		bin:     bin,
		dataDir: filepath.Join(tmp, "data"),
		stderr:  &syncBuffer{},
		mail:    m,
		http: &http.Client{
			Timeout:       httpTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// The issuer names localhost, not the loopback address it listens on:
	// WebAuthn refuses an IP address as the relying party ID.
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	s.issuer = "http://localhost:" + port

	// Fixtures are registered before the server starts; one test registers
	// its own while the server runs.
	if err := s.createFixtures(tmp); err != nil {
		return nil, err
	}

	// The account pages' optional parts: operator attributes on the
	// Profile page, a purpose to opt into on the Preferences page.
	config := filepath.Join(tmp, "atrium.yaml")
	// An API on the issuer's origin open to self-registered clients, as an
	// MCP server is (mcp_test.go).
	resources := "resources:\n  - {uri: " + s.issuer + mcpPath + ", name: Example MCP server, self_registered_clients: true}\n"
	if err := os.WriteFile(config, []byte(serverConfig+resources), 0o600); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "serve", "--dev", "--addr", addr, "--issuer", s.issuer, "--data", s.dataDir, "--config", config)
	// It trusts the certificate of httptest's TLS servers, so that tests
	// can serve https endpoints of relying parties (a jwks_uri).
	roots, err := httptestRoots(tmp)
	if err != nil {
		return nil, err
	}
	s.cmd.Env = append(cleanEnv(), append(mailEnv(m, mailPassword), "SSL_CERT_FILE="+roots)...)
	s.cmd.Stdout = io.Discard
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start atrium serve: %w", err)
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()

	if err := s.waitReady(); err != nil {
		return s, err
	}
	ctx := oidc.ClientContext(context.Background(), &http.Client{Timeout: httpTimeout})
	if s.provider, err = oidc.NewProvider(ctx, s.issuer); err != nil {
		return s, fmt.Errorf("go-oidc discovery: %w", err)
	}
	if err := s.provider.Claims(&s.discovery); err != nil {
		return s, err
	}
	return s, nil
}

// serverConfig is the suite's config file; flags and the environment
// set the rest.
const serverConfig = `token_exchange:
  enabled: true # the "exchange" clients (tokenexchange_test.go)
attributes:
  - {name: member_number, label: Member number}
  - {name: favourite_colour, label: Favourite colour, editable: true, max_length: 40}
consent:
  purposes:
    - {id: newsletter, label: Newsletter, description: "Our news, once a month."}
registration:
  mode: open
  allowed_grant_types: [authorization_code, refresh_token, client_credentials]
  hourly_per_ip: -1
  allow_private_network: true # the suite's relying parties listen on loopback
login:
  attempts_per_ip: -1 # every test signs in from loopback
dpop:
  require_nonce: true # openid-client's DPoP step then retries with the server's nonce
device:
  enabled: true # device_test.go and openid-client's device step
`

// waitReady polls discovery until it answers 200, the process exits or
// readyTimeout passes.
func (s *server) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	url := s.issuer + "/.well-known/openid-configuration"
	c := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-s.exited:
			s.cmd = nil
			return fmt.Errorf("atrium serve exited before it was ready: %v", err)
		default:
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("atrium serve not ready after %v: last error %v", readyTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
	}
}

// atrium runs one CLI command against the data folder and decodes its JSON
// output into out (when out is non-nil).
func (s *server) atrium(out any, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, append(args, "--data", s.dataDir)...)
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("atrium %s: %v\nstderr: %s\nstdout: %s", strings.Join(args, " "), err, stderr.Bytes(), stdout.Bytes())
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		return fmt.Errorf("atrium %s: output is not the expected JSON: %v\n%s", strings.Join(args, " "), err, stdout.Bytes())
	}
	return nil
}

// endpoint returns an endpoint URL from the discovery document, failing the
// test when it is not advertised.
func (s *server) endpoint(t testing.TB, name string) string {
	t.Helper()
	u, _ := s.discovery[name].(string)
	if u == "" {
		t.Fatalf("discovery does not advertise %s", name)
	}
	return u
}

// verifier is an id_token verifier for one client, backed by the JWKS.
func (s *server) verifier(clientID string) *oidc.IDTokenVerifier {
	return s.provider.Verifier(&oidc.Config{ClientID: clientID})
}

// ctx is a request context whose HTTP client go-oidc and x/oauth2 use.
func (s *server) ctx(t testing.TB) context.Context {
	return oidc.ClientContext(t.Context(), &http.Client{Timeout: httpTimeout})
}

// freeAddr picks a free loopback port.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// cleanEnv is the environment without ATRIUM_* overrides, so that the
// developer's own settings do not leak into the suite.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ATRIUM_") {
			env = append(env, kv)
		}
	}
	return env
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}
