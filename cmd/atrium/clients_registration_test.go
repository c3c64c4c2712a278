package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atrium-id/atrium/authz"
	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/storage"
	sqlstore "github.com/atrium-id/atrium/storage/sql"
)

// TestClientsListShowsRegistration: a client that registered itself over
// HTTP is listed with registration "dynamic", the CLI's without.
func TestClientsListShowsRegistration(t *testing.T) {
	data := t.TempDir()
	mustRun(t, nil, "clients", "create", "--id", "cli", "--grant-type", "client_credentials", "--data", data)
	st, err := sqlstore.Open(context.Background(), filepath.Join(data, "atrium.db"))
	if err != nil {
		t.Fatal(err)
	}
	err = st.CreateClient(context.Background(), &storage.Client{ID: "dyn", Public: true, TokenEndpointAuthMethod: "none",
		RedirectURIs: []string{"https://rp.example/cb"}, Registration: "dynamic", Contacts: []string{"ops@rp.example"}})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]clientView{}
	for _, c := range decode[[]clientView](t, mustRun(t, nil, "clients", "list", "--data", data)) {
		got[c.ClientID] = c
	}
	if got["dyn"].Registration != "dynamic" || len(got["dyn"].Contacts) != 1 || got["cli"].Registration != "" {
		t.Errorf("clients list: dyn %+v, cli %+v; want registration dynamic and \"\"", got["dyn"], got["cli"])
	}
}

// TestAuthzRegistration: serve hands the provider the registration policy
// with the initial access tokens as digests.
func TestAuthzRegistration(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("second-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Registration: config.Registration{Mode: "token", InitialAccessTokens: []string{"first-token-0123456789abcdef"},
		InitialAccessTokensFile: file, AllowedRedirectHosts: []string{"rp.example"}}}
	if err := cfg.Registration.AnonymousRefreshTokenLifespan.UnmarshalText([]byte("3h")); err != nil {
		t.Fatal(err)
	}
	r, err := authzRegistration(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != "token" || len(r.InitialAccessTokens) != 2 || r.AnonymousRefreshTokenLifespan != 3*time.Hour || r.AllowedRedirectHosts[0] != "rp.example" {
		t.Fatalf("authzRegistration = %+v", r)
	}
	for i, tok := range []string{"first-token-0123456789abcdef", "second-token-0123456789abcdef"} {
		if !bytes.Equal(r.InitialAccessTokens[i], authz.HashClientSecret(tok)) {
			t.Errorf("initial access token %d is not kept as its digest", i)
		}
	}
}
