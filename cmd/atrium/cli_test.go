package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/storage"
)

// atrium runs the CLI with only the given environment.
func atrium(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return stdout.String(), err
}

// mustRun runs the CLI and fails the test on error.
func mustRun(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, err := atrium(t, env, args...)
	if err != nil {
		t.Fatalf("atrium %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, s)
	}
	return v
}

// syncBuffer is a bytes.Buffer safe for a server goroutine and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"help", "clients"}, {"clients", "create", "-h"}, {"serve", "-h"}} {
		out, err := atrium(t, nil, args...)
		if err != nil || !strings.Contains(out, "Usage") {
			t.Errorf("atrium %v: %v\n%s", args, err, out)
		}
	}
	out := mustRun(t, nil, "version")
	if v := decode[map[string]string](t, out); v["version"] == "" {
		t.Errorf("version: %s", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"clients"}, "clients: missing subcommand (create, list, get, delete)"},
		{[]string{"clients", "update"}, `clients: unknown subcommand "update"`},
		{[]string{"users", "list", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"users", "list", "extra"}, `unexpected argument "extra"`},
	} {
		if _, err := atrium(t, nil, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("atrium %v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestMigrateTwice(t *testing.T) {
	dir := t.TempDir() + "/nested/data"
	for range 2 {
		out := mustRun(t, nil, "migrate", "--data", dir)
		if v := decode[map[string]any](t, out); v["migrated"] != true || v["store"] != "sqlite" {
			t.Errorf("migrate: %s", out)
		}
	}
}

func TestDataDirFromEnv(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"ATRIUM_DATA_DIR": dir}
	mustRun(t, env, "clients", "create", "--id", "env", "--grant-type", "client_credentials")
	if out := mustRun(t, nil, "clients", "get", "--id", "env", "--data", dir); !strings.Contains(out, `"client_id": "env"`) {
		t.Errorf("get: %s", out)
	}
}

func TestBadConfigFile(t *testing.T) {
	_, err := atrium(t, nil, "clients", "list", "--data", t.TempDir(), "--config", "../../internal/config/testdata/bad_duration.bad.yaml")
	if err == nil || !strings.Contains(err.Error(), `tokens.access_token_lifespan: "abc" is not a duration`) {
		t.Fatalf("error %v", err)
	}
}

func TestClients(t *testing.T) {
	data := t.TempDir()
	run := func(args ...string) string { t.Helper(); return mustRun(t, nil, append(args, "--data", data)...) }

	// A given secret is echoed once; a generated one is 256 bits.
	out := run("clients", "create", "--id", "web", "--secret", "web-secret-value", "--name", "Web app",
		"--redirect-uri", "https://app.example.com/callback", "--redirect-uri", "http://127.0.0.1:9000/cb",
		"--scope", "openid", "--scope", "profile email")
	web := decode[clientView](t, out)
	if web.ClientSecret != "web-secret-value" || web.ClientID != "web" || web.TokenEndpointAuthMethod != "client_secret_basic" {
		t.Errorf("create: %s", out)
	}
	if strings.Join(web.Scopes, " ") != "openid profile email" || len(web.RedirectURIs) != 2 ||
		strings.Join(web.GrantTypes, " ") != "authorization_code refresh_token" || strings.Join(web.ResponseTypes, " ") != "code" {
		t.Errorf("create: %+v", web)
	}

	out = run("clients", "create", "--name", "Generated", "--redirect-uri", "https://gen.example.com/cb")
	gen := decode[clientView](t, out)
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(gen.ClientSecret) || len(gen.ClientID) != 32 {
		t.Errorf("generated client: %s", out)
	}

	out = run("clients", "create", "--id", "spa", "--public", "--redirect-uri", "com.example.app:/oauth", "--first-party")
	spa := decode[clientView](t, out)
	if spa.ClientSecret != "" || !spa.Public || spa.TokenEndpointAuthMethod != "none" {
		t.Errorf("public client: %s", out)
	}
	if !spa.FirstParty || web.FirstParty {
		t.Errorf("first_party: %v with --first-party, %v without; want true, false", spa.FirstParty, web.FirstParty)
	}

	out = run("clients", "create", "--id", "job", "--grant-type", "client_credentials",
		"--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", "../../internal/config/testdata/client.jwks.json")
	job := decode[clientView](t, out)
	if job.ClientSecret != "" || len(job.JWKS) == 0 || job.TokenEndpointAuthMethod != "private_key_jwt" {
		t.Errorf("private_key_jwt client: %s", out)
	}

	// Listing and getting never show a secret or its digest.
	list := run("clients", "list")
	clients := decode[[]map[string]any](t, list)
	if len(clients) != 4 {
		t.Fatalf("list: %d clients\n%s", len(clients), list)
	}
	got := run("clients", "get", "--id", "web")
	for _, s := range []string{list, got} {
		for _, secret := range []string{"secret_hash", `"client_secret":`, "web-secret-value", gen.ClientSecret} {
			if strings.Contains(s, secret) {
				t.Errorf("output contains %q:\n%s", secret, s)
			}
		}
	}
	if decode[clientView](t, got).Name != "Web app" {
		t.Errorf("get: %s", got)
	}

	run("clients", "delete", "--id", "web")
	if _, err := atrium(t, nil, "clients", "get", "--id", "web", "--data", data); err == nil || !strings.Contains(err.Error(), `no client "web"`) {
		t.Errorf("get after delete: %v", err)
	}
	if _, err := atrium(t, nil, "clients", "delete", "--id", "web", "--data", data); err == nil || !strings.Contains(err.Error(), `no client "web"`) {
		t.Errorf("delete twice: %v", err)
	}
}

func TestClientsCreateRefuses(t *testing.T) {
	data := t.TempDir()
	mustRun(t, nil, "clients", "create", "--id", "taken", "--redirect-uri", "https://a.example.com/cb", "--data", data)
	jwks := "../../internal/config/testdata/client.jwks.json"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown grant type", []string{"--grant-type", "password", "--redirect-uri", "https://a.example.com/cb"},
			`--grant-type: unknown grant type "password" (accepted: authorization_code, refresh_token, client_credentials`},
		{"unknown auth method", []string{"--token-endpoint-auth-method", "client_secret_jwt", "--redirect-uri", "https://a.example.com/cb"},
			`--token-endpoint-auth-method: unknown method "client_secret_jwt" (accepted: client_secret_basic, client_secret_post, private_key_jwt, none)`},
		{"relative redirect URI", []string{"--redirect-uri", "/callback"}, `--redirect-uri: "/callback" is not an absolute URL`},
		{"redirect URI with fragment", []string{"--redirect-uri", "https://a.example.com/cb#x"}, "--redirect-uri: \"https://a.example.com/cb#x\" must not contain a fragment"},
		{"no redirect URI", nil, "--redirect-uri: required for the authorization_code grant"},
		{"public with secret", []string{"--public", "--secret", "x", "--redirect-uri", "https://a.example.com/cb"}, "--secret: a public client has no secret"},
		{"public client_credentials", []string{"--public", "--grant-type", "client_credentials"}, "--grant-type: a public client cannot use client_credentials"},
		{"public token exchange", []string{"--public", "--grant-type", "urn:ietf:params:oauth:grant-type:token-exchange"}, "--grant-type: a public client cannot exchange tokens"},
		{"unknown ID token algorithm", []string{"--id-token-alg", "HS256", "--redirect-uri", "https://a.example.com/cb"},
			`--id-token-alg: "HS256" is not one of RS256, ES256, EdDSA`},
		{"public with basic auth", []string{"--public", "--token-endpoint-auth-method", "client_secret_basic", "--redirect-uri", "https://a.example.com/cb"},
			"--token-endpoint-auth-method: a --public client authenticates with none"},
		{"private_key_jwt without keys", []string{"--token-endpoint-auth-method", "private_key_jwt", "--grant-type", "client_credentials"}, "--jwks-file: required for private_key_jwt"},
		{"private_key_jwt with secret", []string{"--token-endpoint-auth-method", "private_key_jwt", "--secret", "x", "--grant-type", "client_credentials", "--jwks-file", jwks},
			"--secret: a private_key_jwt client has no secret"},
		{"private key in key set", []string{"--token-endpoint-auth-method", "private_key_jwt", "--grant-type", "client_credentials", "--jwks-file", "../../internal/config/testdata/private.jwks.json"},
			"--jwks-file: key 0 (kid \"app-1\") is a private key"},
		{"missing key set file", []string{"--token-endpoint-auth-method", "private_key_jwt", "--grant-type", "client_credentials", "--jwks-file", "nope.json"}, "--jwks-file: open nope.json"},
		{"key set without private_key_jwt", []string{"--grant-type", "client_credentials", "--jwks-file", jwks}, "--jwks-file: only a private_key_jwt client has a key set"},
		{"bad scope", []string{"--scope", `"openid"`, "--grant-type", "client_credentials"}, `--scope: "\"openid\"" is not a scope token`},
		{"duplicate id", []string{"--id", "taken", "--redirect-uri", "https://a.example.com/cb"}, `--id: client "taken" already exists`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"clients", "create", "--data", data}, tc.args...)
			_, err := atrium(t, nil, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant %q", err, tc.want)
			}
		})
	}
	if n := len(decode[[]any](t, mustRun(t, nil, "clients", "list", "--data", data))); n != 1 {
		t.Errorf("refused creates stored clients: %d", n)
	}
}

func TestUsers(t *testing.T) {
	data := t.TempDir()
	run := func(args ...string) string { t.Helper(); return mustRun(t, nil, append(args, "--data", data)...) }
	const password = "correct horse battery staple"

	out := run("users", "create", "--email", "Ada@Example.com", "--password", password, "--name", "Ada Lovelace")
	if strings.Contains(out, password) || strings.Contains(out, "argon2") {
		t.Fatalf("create shows the password: %s", out)
	}
	ada := decode[map[string]any](t, out)
	id, _ := ada["id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) ||
		ada["email"] != "ada@example.com" || ada["name"] != "Ada Lovelace" || ada["created_at"] == nil {
		t.Errorf("create: %s", out)
	}
	run("users", "create", "--email", "grace@example.com", "--password", password)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"duplicate email", []string{"--email", "ADA@example.com", "--password", password}, `--email: a user with email "ADA@example.com" already exists`},
		{"weak password", []string{"--email", "weak@example.com", "--password", "short"}, "--password: Use at least 8 characters"},
		{"common password", []string{"--email", "weak@example.com", "--password", "Sunshine1"}, "--password: This password is too common; choose another"},
		{"email as password", []string{"--email", "weak@example.com", "--password", "WEAK@example.com"}, "--password: Don't use your email address as password"},
		{"bad email", []string{"--email", "not-an-address", "--password", password}, `--email: "not-an-address" is not an email address`},
		{"missing flags", nil, "--email: required\n--password: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := atrium(t, nil, append([]string{"users", "create", "--data", data}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant %q", err, tc.want)
			}
		})
	}

	// set-password applies the same rules and stores a hash that verifies.
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"common password", []string{"--email", "grace@example.com", "--password", "password123"}, "--password: This password is too common; choose another"},
		{"email as password", []string{"--email", "grace@example.com", "--password", "Grace@Example.com"}, "--password: Don't use your email address as password"},
		{"too short", []string{"--id", id, "--password", "short"}, "--password: Use at least 8 characters"},
		{"unknown user", []string{"--email", "nobody@example.com", "--password", password}, `no user "nobody@example.com"`},
		{"no user given", []string{"--password", password}, "give exactly one of --id and --email"},
	} {
		t.Run("set-password "+tc.name, func(t *testing.T) {
			_, err := atrium(t, nil, append([]string{"users", "set-password", "--data", data}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant %q", err, tc.want)
			}
		})
	}
	const newPassword = "a new and longer passphrase"
	func() { // a session to be ended by set-password
		st, err := openStore(context.Background(), &config.Config{DataDir: data})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		grace, err := st.GetUserByEmail(context.Background(), "grace@example.com")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if err := st.PutSession(context.Background(), &storage.Session{ID: "grace-session", UserID: grace.ID, AuthTime: now,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}()
	if out := run("users", "set-password", "--email", "GRACE@example.com", "--password", newPassword); strings.Contains(out, newPassword) || strings.Contains(out, "argon2") {
		t.Fatalf("set-password shows the password: %s", out)
	}
	func() {
		st, err := openStore(context.Background(), &config.Config{DataDir: data})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		u, err := st.GetUserByEmail(context.Background(), "grace@example.com")
		if err != nil {
			t.Fatal(err)
		}
		cred, err := st.GetCredential(context.Background(), u.ID, storage.CredentialPassword)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetSession(context.Background(), "grace-session"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("after set-password, the user's session: %v; want it ended", err)
		}
		for pw, want := range map[string]bool{newPassword: true, password: false} {
			if ok, err := login.VerifyPassword(string(cred.Secret), pw); ok != want || err != nil {
				t.Errorf("after set-password, %q verifies: %v %v; want %v", pw, ok, err, want)
			}
		}
	}()

	list := run("users", "list")
	if users := decode[[]map[string]any](t, list); len(users) != 2 || strings.Contains(list, "argon2") {
		t.Fatalf("list: %s", list)
	}
	run("users", "delete", "--email", "grace@example.com")
	run("users", "delete", "--id", id)
	if users := decode[[]any](t, run("users", "list")); len(users) != 0 {
		t.Errorf("users left: %v", users)
	}
	if _, err := atrium(t, nil, "users", "delete", "--id", id, "--data", data); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Errorf("delete twice: %v", err)
	}
	if _, err := atrium(t, nil, "users", "delete", "--data", data); err == nil || !strings.Contains(err.Error(), "exactly one of --id and --email") {
		t.Errorf("delete without a user: %v", err)
	}
}

func TestKeys(t *testing.T) {
	data := t.TempDir()
	if _, err := atrium(t, nil, "keys", "list", "--data", data); err == nil || !strings.Contains(err.Error(), "no master secret") {
		t.Fatalf("keys list without a master secret: %v", err)
	}
	env := map[string]string{"ATRIUM_MASTER_SECRET": strings.Repeat("m", 32)}
	if _, err := atrium(t, env, "keys", "rotate", "--alg", "HS256", "--data", data); err == nil || !strings.Contains(err.Error(), `--alg: "HS256" is not one of RS256, ES256, EdDSA`) {
		t.Fatalf("rotate to HS256: %v", err)
	}
	first := mustRun(t, env, "keys", "rotate", "--data", data)
	second := mustRun(t, env, "keys", "rotate", "--alg", "ES256", "--data", data)
	if first == second {
		t.Fatalf("rotate twice printed the same key: %s", first)
	}
	list := mustRun(t, env, "keys", "list", "--data", data)
	keys := decode[[]map[string]any](t, list)
	if len(keys) != 2 {
		t.Fatalf("list after two rotations: %s", list)
	}
	if strings.Contains(strings.ToLower(list), `"d"`) || strings.Contains(list, "PRIVATE") {
		t.Errorf("list shows private key material: %s", list)
	}
}
