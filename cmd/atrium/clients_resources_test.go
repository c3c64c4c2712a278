package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/atrium-id/atrium/internal/config"
	sqlstore "github.com/atrium-id/atrium/storage/sql"
)

func TestClientsCreateResources(t *testing.T) {
	data := t.TempDir()
	out := mustRun(t, nil, "clients", "create", "--id", "agent", "--grant-type", "client_credentials",
		"--resource", "https://api.example.com/orders", "--resource", "https://api.example.com/billing",
		"--access-token-format", "jwt", "--data", data)
	v := decode[clientView](t, out)
	if !slices.Equal(v.Resources, []string{"https://api.example.com/orders", "https://api.example.com/billing"}) || v.AccessTokenFormat != "jwt" {
		t.Fatalf("created %s", out)
	}
	if got := decode[clientView](t, mustRun(t, nil, "clients", "get", "--id", "agent", "--data", data)); !slices.Equal(got.Resources, v.Resources) || got.AccessTokenFormat != "jwt" {
		t.Fatalf("stored %+v", got)
	}
	for _, tc := range []struct{ name, flag, value, want string }{
		{"relative resource", "--resource", "/orders", `--resource: "/orders" is not an absolute http(s) URL`},
		{"resource with a fragment", "--resource", "https://api.example.com/#x", "--resource: \"https://api.example.com/#x\" must not contain a fragment"},
		{"unknown format", "--access-token-format", "paseto", `--access-token-format: "paseto" is not one of opaque, jwt`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := atrium(t, nil, "clients", "create", "--grant-type", "client_credentials", tc.flag, tc.value, "--data", data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if n := len(decode[[]any](t, mustRun(t, nil, "clients", "list", "--data", data))); n != 1 {
		t.Errorf("refused creates stored clients: %d", n)
	}
}

// The config file's client resources and access token format reach the
// stored client.
func TestStaticClientResources(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "atrium.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := &config.Config{Clients: []config.Client{{ID: "agent", Secret: "s3cret", GrantTypes: []string{"client_credentials"},
		Resources: []string{"https://api.example.com/orders"}, AccessTokenFormat: "jwt"}}}
	if err := upsertStatic(ctx, st, cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	c, err := st.GetClient(ctx, "agent")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Audience, []string{"https://api.example.com/orders"}) || c.AccessTokenFormat != "jwt" {
		t.Fatalf("stored audience %v, format %q", c.Audience, c.AccessTokenFormat)
	}
}
