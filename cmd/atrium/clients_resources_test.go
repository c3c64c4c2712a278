package main

import (
	"context"
	"log/slog"
	"os"
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

func TestResourcesMetadata(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "atrium.yaml")
	if err := os.WriteFile(cfgFile, []byte(`issuer: https://id.example.com
resources:
  - {uri: "https://api.example.com/orders", name: Orders, scopes: [orders.read]}
  - {uri: "https://id.example.com/api"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, nil, "resources", "metadata", "--config", cfgFile, "--data", dir)
	got := decode[[]resourceMetadataView](t, out)
	if len(got) != 2 || got[0].URL != "https://api.example.com/.well-known/oauth-protected-resource/orders" || got[0].ServedByAtrium ||
		got[0].Document["resource"] != "https://api.example.com/orders" || got[0].Document["resource_name"] != "Orders" ||
		got[1].URL != "https://id.example.com/.well-known/oauth-protected-resource/api" || !got[1].ServedByAtrium {
		t.Fatalf("resources metadata: %s", out)
	}
	if _, err := atrium(t, nil, "resources", "metadata", "--uri", "https://nope.example.com", "--config", cfgFile, "--data", dir); err == nil ||
		!strings.Contains(err.Error(), `--uri: "https://nope.example.com" is not one of the resources`) {
		t.Fatalf("unknown --uri: %v", err)
	}
}
