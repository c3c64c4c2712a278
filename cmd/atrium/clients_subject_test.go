package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atrium-id/atrium/internal/config"
	sqlstore "github.com/atrium-id/atrium/storage/sql"
)

// clients create --subject-type pairwise stores a pairwise client of its
// redirect URIs' host, or of --sector; bad combinations are refused.
func TestClientsCreateSubjectType(t *testing.T) {
	data := t.TempDir()
	v := decode[clientView](t, mustRun(t, nil, "clients", "create", "--id", "pw", "--subject-type", "pairwise",
		"--redirect-uri", "https://App.example.com/cb", "--data", data))
	if v.SubjectType != "pairwise" || v.Sector != "app.example.com" {
		t.Fatalf("created %+v", v)
	}
	mustRun(t, nil, "clients", "create", "--id", "pw2", "--subject-type", "pairwise", "--sector", "example.com",
		"--redirect-uri", "https://a.example.com/cb", "--redirect-uri", "https://b.example.com/cb", "--data", data)
	if got := decode[clientView](t, mustRun(t, nil, "clients", "get", "--id", "pw2", "--data", data)); got.SubjectType != "pairwise" || got.Sector != "example.com" {
		t.Fatalf("stored %+v", got)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"two hosts without a sector", []string{"--subject-type", "pairwise", "--redirect-uri", "https://a.example.com/cb", "--redirect-uri", "https://b.example.com/cb"}, "--sector: the redirect URIs are on more than one host"},
		{"unknown subject type", []string{"--subject-type", "secret", "--redirect-uri", "https://a.example.com/cb"}, `--subject-type: subject type "secret"`},
		{"sector of a public client", []string{"--sector", "example.com", "--redirect-uri", "https://a.example.com/cb"}, "--subject-type: a sector is for pairwise clients only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := atrium(t, nil, append(append([]string{"clients", "create"}, tc.args...), "--data", data)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if n := len(decode[[]any](t, mustRun(t, nil, "clients", "list", "--data", data))); n != 2 {
		t.Errorf("refused creates stored clients: %d clients", n)
	}
}

// The config file's subject_type and sector reach the stored client.
func TestStaticClientSubjectType(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "atrium.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := &config.Config{Clients: []config.Client{
		{ID: "pw", Secret: "s3cret", RedirectURIs: []string{"https://app.example.com/cb"}, SubjectType: "pairwise"},
		{ID: "named", Secret: "s3cret", RedirectURIs: []string{"https://app.example.com/cb"}, SubjectType: "pairwise", Sector: "example.com"},
		{ID: "pub", Secret: "s3cret", RedirectURIs: []string{"https://app.example.com/cb"}},
	}}
	if err := upsertStatic(ctx, st, cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string][2]string{"pw": {"pairwise", "app.example.com"}, "named": {"pairwise", "example.com"}, "pub": {"", ""}} {
		c, err := st.GetClient(ctx, id)
		if err != nil || c.SubjectType != want[0] || c.Sector != want[1] {
			t.Errorf("%s: stored subject type %q sector %q (%v), want %v", id, c.SubjectType, c.Sector, err, want)
		}
	}
}
