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

// clients create --request-uri and --request-object-signing-alg store the
// client's request_uris and algorithm; bad values are refused and store
// nothing.
func TestClientsCreateRequestObjects(t *testing.T) {
	data := t.TempDir()
	uris := []string{"https://app.example.com/req/1.jwt", "https://app.example.com/req/2.jwt#h1"}
	v := decode[clientView](t, mustRun(t, nil, "clients", "create", "--id", "ro", "--request-object-signing-alg", "none",
		"--request-uri", uris[0], "--request-uri", uris[1], "--redirect-uri", "https://app.example.com/cb", "--data", data))
	if v.RequestObjectSigningAlg != "none" || !slices.Equal(v.RequestURIs, uris) {
		t.Fatalf("created %+v", v)
	}
	if got := decode[clientView](t, mustRun(t, nil, "clients", "get", "--id", "ro", "--data", data)); got.RequestObjectSigningAlg != "none" || !slices.Equal(got.RequestURIs, uris) {
		t.Fatalf("stored %+v", got)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"http request_uri", []string{"--request-uri", "http://app.example.com/r.jwt"}, `--request-uri: "http://app.example.com/r.jwt" is not an https URL`},
		{"request_uri too long", []string{"--request-uri", "https://app.example.com/" + strings.Repeat("r", 600)}, "--request-uri: "},
		{"unknown algorithm", []string{"--request-object-signing-alg", "HS256"}, `--request-object-signing-alg: "HS256" is not one of RS256, ES256, EdDSA, none`},
		{"algorithm without keys", []string{"--request-object-signing-alg", "RS256"}, "--request-object-signing-alg: a client signs request objects with a key of its key set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"clients", "create", "--redirect-uri", "https://a.example.com/cb"}, tc.args...)
			_, err := atrium(t, nil, append(args, "--data", data)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if n := len(decode[[]any](t, mustRun(t, nil, "clients", "list", "--data", data))); n != 1 {
		t.Errorf("refused creates stored clients: %d clients", n)
	}
}

// The config file's request_object_signing_alg and request_uris reach the
// stored client.
func TestStaticClientRequestObjects(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "atrium.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	uris := []string{"https://app.example.com/req.jwt"}
	cfg := &config.Config{Clients: []config.Client{
		{ID: "ro", Secret: "s3cret", RedirectURIs: []string{"https://app.example.com/cb"}, RequestObjectSigningAlg: "none", RequestURIs: uris},
	}}
	if err := upsertStatic(ctx, st, cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	c, err := st.GetClient(ctx, "ro")
	if err != nil || c.RequestObjectSigningAlg != "none" || !slices.Equal(c.RequestURIs, uris) {
		t.Errorf("stored %+v (%v)", c, err)
	}
}
