package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// atrium is a real "atrium serve --dev" process with a client and a user.
type atrium struct {
	issuer string
	logs   string // file with the server's output
}

const (
	atriumSecret   = "load-secret-0123456789"
	atriumEmail    = "u@example.com"
	atriumPassword = "correct horse battery"
	atriumRedirect = "http://127.0.0.1:1/cb"
)

// startAtrium builds cmd/atrium from this module, serves it on a free port
// with a fresh data folder and registers the load clients and the user.
func startAtrium(t *testing.T) *atrium {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		t.Skipf("no Go module to build atrium from (go env GOMOD: %q, %v)", gomod, err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	dir := t.TempDir()
	bin := filepath.Join(dir, "atrium")
	build := exec.Command("go", "build", "-o", bin, "./cmd/atrium")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/atrium: %v\n%s", err, out)
	}

	// Only our settings: an ATRIUM_* variable of the environment running
	// the tests must not change the server.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ATRIUM_") {
			env = append(env, kv)
		}
	}
	env = append(env, "ATRIUM_LOGIN_MAX_ATTEMPTS=-1") // the test signs in many times
	data := filepath.Join(dir, "data")
	cli := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--data", data)...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("atrium %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	a := &atrium{issuer: "http://" + addr, logs: filepath.Join(dir, "server.log")}
	logs, err := os.Create(a.logs)
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	srv := exec.Command(bin, "serve", "--dev", "--addr", addr, "--data", data)
	srv.Env, srv.Stdout, srv.Stderr = env, logs, logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			srv.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(a.issuer + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("atrium serve exited: %v\n%s", err, a.tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("atrium serve not healthy at %s\n%s", a.issuer, a.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}

	grants := []string{"--grant-type", "authorization_code", "--grant-type", "refresh_token", "--grant-type", "client_credentials",
		"--scope", "openid", "--scope", "offline_access", "--scope", "profile"}
	cli(append([]string{"clients", "create", "--id", "load", "--secret", atriumSecret, "--redirect-uri", atriumRedirect}, grants...)...)
	cli(append([]string{"clients", "create", "--id", "load-post", "--secret", atriumSecret, "--redirect-uri", atriumRedirect,
		"--token-endpoint-auth-method", "client_secret_post"}, grants...)...)
	cli("users", "create", "--email", atriumEmail, "--password", atriumPassword)
	return a
}

// tail is the end of the server's output, for failure messages.
func (a *atrium) tail() string {
	b, _ := os.ReadFile(a.logs)
	return string(b[max(0, len(b)-4000):])
}

func (a *atrium) args(scenario string, extra ...string) []string {
	return append([]string{
		"-scenario", scenario, "-issuer", a.issuer, "-client-id", "load", "-client-secret", atriumSecret,
		"-redirect-uri", atriumRedirect, "-username", atriumEmail, "-password", atriumPassword,
		"-c", "4", "-d", "1s", "-json", "-progress", "0",
	}, extra...)
}

func has5xx(errs map[string]int64) bool {
	for k := range errs {
		if strings.HasPrefix(k, "5") {
			return true
		}
	}
	return false
}

func TestAgainstAtrium(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the atrium server")
	}
	a := startAtrium(t)

	tests := []struct {
		scenario string
		extra    []string
	}{
		{"client_credentials", nil},
		{"introspect", nil},
		{"refresh", nil},
		{"userinfo", nil},
		// A sign-in costs a password hash, hundreds of milliseconds on a
		// small machine: a count, not a time, keeps this from flaking.
		{"code-flow", []string{"-n", "4", "-d", "30s"}},
		{"code-flow-sso", nil},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			r := runJSON(t, a.args(tt.scenario, tt.extra...))
			if r.Successes == 0 || len(r.Errors) > 0 {
				t.Fatalf("%d requests, %d successes, errors %v; want successes and no errors\n%s", r.Requests, r.Successes, r.Errors, a.tail())
			}
			if r.Requests != r.Successes || r.RPS <= 0 || r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 {
				t.Errorf("inconsistent report %+v", r)
			}
		})
	}
	for _, bad := range []string{"bad-secret", "unknown-client", "malformed"} {
		t.Run(bad, func(t *testing.T) {
			r := runJSON(t, a.args(bad))
			if r.Successes == 0 || has5xx(r.Errors) {
				t.Fatalf("%d successes, errors %v; want successes and no 5xx\n%s", r.Successes, r.Errors, a.tail())
			}
		})
	}
	t.Run("client_credentials with bad-secret alongside", func(t *testing.T) {
		r := runJSON(t, a.args("client_credentials", "-bad", "bad-secret:2"))
		if r.Successes == 0 || len(r.Errors) > 0 {
			t.Fatalf("main: %d successes, errors %v", r.Successes, r.Errors)
		}
		if r.Bad == nil || r.Bad.Scenario != "bad-secret" || r.Bad.Successes == 0 || has5xx(r.Bad.Errors) {
			t.Fatalf("bad: %+v; want bad-secret successes and no 5xx", r.Bad)
		}
	})
	t.Run("client_secret_post", func(t *testing.T) {
		r := runJSON(t, a.args("client_credentials", "-client-id", "load-post", "-auth", "post"))
		if r.Successes == 0 || len(r.Errors) > 0 {
			t.Fatalf("%d successes, errors %v", r.Successes, r.Errors)
		}
	})
	t.Run("text summary", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		args := a.args("client_credentials", "-c", "2", "-d", "500ms", "-progress", "200ms", "-json=false")
		if err := run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"scenario   client_credentials (2 workers)", "errors     none", "latency    p50 "} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("summary lacks %q:\n%s", want, &stdout)
			}
		}
		if !strings.Contains(stderr.String(), "requests") || !strings.Contains(stderr.String(), "/s") {
			t.Errorf("no progress lines on stderr:\n%s", &stderr)
		}
	})
	t.Run("wrong password fails setup", func(t *testing.T) {
		err := run(context.Background(), a.args("userinfo", "-c", "1", "-password", "not the password"), new(bytes.Buffer), new(bytes.Buffer))
		if err == nil || !strings.Contains(err.Error(), "sign-in refused") || !strings.Contains(err.Error(), a.issuer+"/login") {
			t.Fatalf("run: %v; want a setup error naming the login page", err)
		}
	})
}
