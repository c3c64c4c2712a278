// Package sqltest opens the SQL store on real databases for the tests of
// the packages that use it: a fresh SQLite file always, and a fresh
// PostgreSQL schema when ATRIUM_TEST_POSTGRES_URL names a server.
package sqltest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	sqlstore "github.com/atrium-id/atrium/storage/sql"
)

// Backends runs fn as a subtest against a fresh SQLite database and, when
// ATRIUM_TEST_POSTGRES_URL names a server, a fresh PostgreSQL schema
// (skipped otherwise). fn's open opens one more store on that database,
// as one more node would, judging expiry by now; every store is closed
// and the schema dropped when the subtest ends.
func Backends(t *testing.T, fn func(t *testing.T, open func(now func() time.Time) *sqlstore.Store)) {
	t.Run("SQLite", func(t *testing.T) {
		dsn := filepath.Join(t.TempDir(), "atrium.db")
		fn(t, func(now func() time.Time) *sqlstore.Store { return Open(t, dsn, now) })
	})
	t.Run("Postgres", func(t *testing.T) {
		base := os.Getenv("ATRIUM_TEST_POSTGRES_URL")
		if base == "" {
			t.Skip("ATRIUM_TEST_POSTGRES_URL is unset")
		}
		var r [6]byte
		rand.Read(r[:])
		schema := "atrium_test_" + hex.EncodeToString(r[:])
		ddl := func(ctx context.Context, stmt string) {
			conn, err := pgx.Connect(ctx, base)
			if err != nil {
				t.Fatalf("connect to PostgreSQL: %v", err)
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(ctx, stmt); err != nil {
				t.Errorf("%s: %v", stmt, err)
			}
		}
		ddl(t.Context(), "CREATE SCHEMA "+schema)
		t.Cleanup(func() { ddl(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
		sep := "?"
		if strings.Contains(base, "?") {
			sep = "&"
		}
		fn(t, func(now func() time.Time) *sqlstore.Store { return Open(t, base+sep+"search_path="+schema, now) })
	})
}

// Open opens the store at dsn, migrated, judging expiry by now; it is
// closed when t ends.
func Open(t *testing.T, dsn string, now func() time.Time) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), dsn, sqlstore.WithClock(now))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
