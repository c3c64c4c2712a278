package authz

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// TestClientCredentialsTokens covers the access tokens of client_credentials
// grants, which no index lists (storage.Token.NoIndex): introspection names
// the client as the subject, revocation finds them by signature, and a
// client deleted and created again under the same ID does not inherit them.
func TestClientCredentialsTokens(t *testing.T) {
	stateBackends(t, func(t *testing.T, e *testEnv) {
		e.p.store.cache = nil // see an operator's change at once
		ctx := context.Background()
		// A resource server introspects: "app" is deleted below.
		if err := e.store.CreateClient(ctx, &storage.Client{ID: "rs", SecretHash: HashClientSecret(testSecret),
			GrantTypes: []string{"client_credentials"}}); err != nil {
			t.Fatal(err)
		}
		active := func(tok string) bool {
			t.Helper()
			return e.introspectAs(t, "rs", tok)["active"] == true
		}
		cc := func() string {
			t.Helper()
			status, tok := e.postToken(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}, "app", testSecret)
			if status != 200 {
				t.Fatalf("client_credentials: %d %v", status, tok)
			}
			return tok["access_token"].(string)
		}

		tok := cc()
		got := e.introspectAll(t, tok)
		if got["active"] != true || got["sub"] != "app" || got["client_id"] != "app" {
			t.Fatalf("introspection = %v, want active with sub and client_id app", got)
		}
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+pathRevoke, strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("app", testSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("revocation: %d", resp.StatusCode)
		}
		if e.introspect(t, tok) {
			t.Fatal("a revoked client_credentials token is still active")
		}

		kept, user := cc(), e.grant(t, "app", "openid offline_access")["access_token"].(string)
		old, err := e.store.GetClient(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.DeleteClient(ctx, "app"); err != nil {
			t.Fatal(err)
		}
		if active(kept) {
			t.Fatal("a token of a deleted client is active")
		}
		time.Sleep(2 * time.Millisecond) // the new client is created strictly later
		old.CreatedAt = time.Time{}
		if err := e.store.CreateClient(ctx, old); err != nil {
			t.Fatal(err)
		}
		for name, tok := range map[string]string{"client_credentials": kept, "user": user} {
			if active(tok) {
				t.Errorf("a %s token of the deleted client is active for the new client of the same ID", name)
			}
		}
		if fresh := cc(); !active(fresh) {
			t.Error("a token of the new client is not active")
		}
	})
}

// TestClientAuthFailureWaits checks that a failed client authentication is
// answered invalid_client no sooner than Config.ClientAuthDelay, at the
// token and introspection endpoints.
func TestClientAuthFailureWaits(t *testing.T) {
	e := newTestEnv(t)
	start := time.Now()
	status, out := e.postToken(url.Values{"grant_type": {"client_credentials"}}, "app", "wrong-secret")
	if status != 401 || out["error"] != "invalid_client" {
		t.Fatalf("wrong secret: %d %v, want 401 invalid_client", status, out)
	}
	if d := time.Since(start); d < e.p.cfg.ClientAuthDelay {
		t.Errorf("token endpoint answered a wrong secret after %v, before the %v delay", d, e.p.cfg.ClientAuthDelay)
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+pathIntrospect, strings.NewReader("token=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("nobody", "wrong")
	start = time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("introspection by an unknown client: %d, want 401", resp.StatusCode)
	}
	if d := time.Since(start); d < e.p.cfg.ClientAuthDelay {
		t.Errorf("introspection answered an unknown client after %v, before the %v delay", d, e.p.cfg.ClientAuthDelay)
	}
}
