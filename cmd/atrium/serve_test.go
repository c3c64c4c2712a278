package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server is a running "atrium serve".
type server struct {
	base string
	logs *syncBuffer
	stop func() error
}

// startServer runs serve with args in the background and waits for /healthz.
func startServer(t *testing.T, env map[string]string, args ...string) *server {
	t.Helper()
	addr := freePort(t)
	base := "http://" + addr
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	args = append([]string{"serve", "--addr", addr, "--issuer", base}, args...)
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, io.Discard, logs) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited: %v\n%s", err, logs)
		default:
		}
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(body) == "ok" {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no healthy server at %s\n%s", base, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s := &server{base: base, logs: logs}
	stopped := false
	s.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return fmt.Errorf("serve did not stop")
		}
	}
	t.Cleanup(func() { _ = s.stop() })
	return s
}

func getJSON(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return v
}

func kids(t *testing.T, jwks map[string]any) []string {
	t.Helper()
	keys, _ := jwks["keys"].([]any)
	var out []string
	for _, k := range keys {
		m, _ := k.(map[string]any)
		kid, _ := m["kid"].(string)
		if kid == "" {
			t.Errorf("a published key has no kid: %v", m)
		}
		if _, private := m["d"]; private {
			t.Errorf("a published key has private material: %v", m)
		}
		out = append(out, kid)
	}
	return out
}

func TestServeDev(t *testing.T) {
	data := t.TempDir()
	cfgFile := filepath.Join(t.TempDir(), "atrium.yaml")
	err := os.WriteFile(cfgFile, []byte(`
log:
  format: json
clients:
  - id: static-app
    secret: static-secret-value
    redirect_uris: [https://static.example.com/cb]
    first_party: true
users:
  - email: static@example.com
    password: static password 1
    name: Static User
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}

	s := startServer(t, nil, "--dev", "--data", data, "--config", cfgFile)
	disc := getJSON(t, s.base+"/.well-known/openid-configuration")
	if disc["issuer"] != s.base || disc["jwks_uri"] != s.base+"/jwks" {
		t.Errorf("discovery: %v", disc)
	}
	firstKids := kids(t, getJSON(t, s.base+"/jwks"))
	if cl := decode[clientView](t, mustRun(t, nil, "clients", "get", "--id", "static-app", "--data", data)); !cl.FirstParty {
		t.Errorf("the config's first_party client is stored as %+v", cl)
	}
	if len(firstKids) == 0 {
		t.Fatal("no published keys")
	}
	resp, err := http.Get(s.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Request-ID") == "" {
		t.Error("no X-Request-ID on the response")
	}

	// The CLI works on the folder of a running dev server, master secret included.
	if out := mustRun(t, nil, "clients", "get", "--id", "demo", "--data", data); !strings.Contains(out, demoRedirectURI) {
		t.Errorf("demo client: %s", out)
	}
	if out := mustRun(t, nil, "clients", "get", "--id", "static-app", "--data", data); strings.Contains(out, "static-secret-value") {
		t.Errorf("static client shows its secret: %s", out)
	}
	users := mustRun(t, nil, "users", "list", "--data", data)
	if !strings.Contains(users, demoEmail) || !strings.Contains(users, "static@example.com") {
		t.Errorf("users: %s", users)
	}
	if keys := decode[[]any](t, mustRun(t, nil, "keys", "list", "--data", data)); len(keys) != len(firstKids) {
		t.Errorf("keys list: %v, published %v", keys, firstKids)
	}

	if err := s.stop(); err != nil {
		t.Fatalf("shutdown: %v\n%s", err, s.logs)
	}
	logs := s.logs.String()
	for _, want := range []string{`"msg":"listening"`, `"client_secret"`, `"password"`, `"msg":"request"`, `"path":"/jwks"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "static-secret-value") || strings.Contains(logs, "static password 1") {
		t.Errorf("logs contain a configured secret:\n%s", logs)
	}
	fi, err := os.Stat(filepath.Join(data, "master.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("master.key: %v %v", fi, err)
	}
	if fi, err := os.Stat(data); err != nil || !fi.IsDir() {
		t.Errorf("data folder: %v", err)
	}

	// A second start reuses the keys and logs no secret.
	s2 := startServer(t, nil, "--dev", "--data", data, "--config", cfgFile)
	if got := kids(t, getJSON(t, s2.base+"/jwks")); strings.Join(got, ",") != strings.Join(firstKids, ",") {
		t.Errorf("keys changed across restarts: %v then %v", firstKids, got)
	}
	if err := s2.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if logs := s2.logs.String(); strings.Contains(logs, `"client_secret"`) || strings.Contains(logs, `"password"`) {
		t.Errorf("second start logs a secret:\n%s", logs)
	}
}

func TestServeRefuses(t *testing.T) {
	secret := strings.Repeat("s", 32)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no master secret", nil, nil, "master_secret: required without --dev"},
		{"http issuer on a public host", map[string]string{"ATRIUM_MASTER_SECRET": secret}, []string{"--issuer", "http://id.example.com"},
			`issuer: "http://id.example.com" must use https unless its host is loopback`},
		{"bad env value", map[string]string{"ATRIUM_MASTER_SECRET": secret, "ATRIUM_SESSION_LIFESPAN": "forever"}, nil,
			`session.lifespan (from ATRIUM_SESSION_LIFESPAN): "forever" is not a duration`},
		{"unknown key", nil, []string{"--dev", "--config", "../../internal/config/testdata/unknown_key.bad.yaml"}, "issuerr: unknown key"},
		{"weak static password", map[string]string{"ATRIUM_USERS": `[{email: a@example.com, password: short}]`}, []string{"--dev"},
			"users[0].password: Use at least 8 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--data", t.TempDir(), "--addr", freePort(t)}, tc.args...)
			_, err := atrium(t, tc.env, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant %q", err, tc.want)
			}
		})
	}
}
