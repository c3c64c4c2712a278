package sql_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atrium-id/atrium/storage"
	sqlstore "github.com/atrium-id/atrium/storage/sql"
	"github.com/atrium-id/atrium/storage/storagetest"
)

func TestSQLite(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, clock *storagetest.Clock) storagetest.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "atrium.db"), clock)
	})
}

func TestPostgres(t *testing.T) {
	url := postgresURL(t)
	storagetest.Run(t, func(t *testing.T, clock *storagetest.Clock) storagetest.Store {
		return openPostgres(t, url, clock)
	})
}

// TestSQLiteState runs the state suite against SQLite as a
// storage.StateStore, the way it serves when no Redis is configured.
func TestSQLiteState(t *testing.T) {
	storagetest.RunState(t, func(t *testing.T, clock *storagetest.Clock) storage.StateStore {
		return openSQLite(t, filepath.Join(t.TempDir(), "atrium.db"), clock)
	})
}

func TestPostgresState(t *testing.T) {
	url := postgresURL(t)
	storagetest.RunState(t, func(t *testing.T, clock *storagetest.Clock) storage.StateStore {
		return openPostgres(t, url, clock)
	})
}

// backends runs fn against a fresh SQLite store and, when one is
// configured, a fresh PostgreSQL store.
func backends(t *testing.T, fn func(t *testing.T, open func(clock *storagetest.Clock) *sqlstore.Store)) {
	t.Run("SQLite", func(t *testing.T) {
		fn(t, func(clock *storagetest.Clock) *sqlstore.Store {
			return openSQLite(t, filepath.Join(t.TempDir(), "atrium.db"), clock)
		})
	})
	t.Run("Postgres", func(t *testing.T) {
		url := postgresURL(t)
		fn(t, func(clock *storagetest.Clock) *sqlstore.Store { return openPostgres(t, url, clock) })
	})
}

func TestOpen(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		s := openSQLite(t, filepath.Join(t.TempDir(), "atrium.db"), storagetest.NewClock(storagetest.Epoch))
		if got := s.Dialect(); got != "sqlite" {
			t.Errorf("Dialect() = %q, want \"sqlite\"", got)
		}
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping() = %v, want nil", err)
		}
	})
	t.Run("Postgres", func(t *testing.T) {
		url := postgresURL(t)
		for _, scheme := range []string{"postgres://", "postgresql://"} {
			dsn := scheme + strings.TrimPrefix(strings.TrimPrefix(url, "postgresql://"), "postgres://")
			s := openPostgres(t, dsn, storagetest.NewClock(storagetest.Epoch))
			if got := s.Dialect(); got != "postgres" {
				t.Errorf("Dialect() of a %s DSN = %q, want \"postgres\"", scheme, got)
			}
			if err := s.Ping(t.Context()); err != nil {
				t.Errorf("Ping() = %v, want nil", err)
			}
		}
	})
}

func TestDeleteExpired(t *testing.T) {
	backends(t, func(t *testing.T, open func(*storagetest.Clock) *sqlstore.Store) {
		ctx := t.Context()
		clock := storagetest.NewClock(storagetest.Epoch)
		s := open(clock)
		now := clock.Now()
		soon, later := now.Add(time.Minute), now.Add(time.Hour)

		must(t, s.CreateUser(ctx, &storage.User{ID: "user-1", Email: "user-1@example.com", CreatedAt: now, UpdatedAt: now}), "CreateUser")
		tok := func(kind storage.TokenKind, sig string, exp time.Time) *storage.Token {
			return &storage.Token{Kind: kind, Signature: sig, RequestID: "req-" + sig, ClientID: "client-1", Active: true, CreatedAt: now, ExpiresAt: exp}
		}
		// Six records that expire soon...
		must(t, s.CreateToken(ctx, tok(storage.KindAccessToken, "old-a", soon)), "CreateToken(old-a)")
		must(t, s.CreateToken(ctx, tok(storage.KindRefreshToken, "old-r", soon)), "CreateToken(old-r)")
		must(t, s.PutSession(ctx, &storage.Session{ID: "old-s", UserID: "user-1", AuthTime: now, CreatedAt: now, ExpiresAt: soon}), "PutSession(old-s)")
		must(t, s.PutInteraction(ctx, &storage.Interaction{ID: "old-i", Data: []byte("x"), ExpiresAt: soon}), "PutInteraction(old-i)")
		must(t, s.UseOnce(ctx, "old-jti", soon), "UseOnce(old-jti)")
		hit(t, s, "old-counter", time.Minute, 1)
		// ...and records that outlive them, including an active key and
		// a retired key still published.
		must(t, s.CreateToken(ctx, tok(storage.KindAccessToken, "live-a", later)), "CreateToken(live-a)")
		must(t, s.PutSession(ctx, &storage.Session{ID: "live-s", UserID: "user-1", AuthTime: now, CreatedAt: now, ExpiresAt: later}), "PutSession(live-s)")
		must(t, s.PutInteraction(ctx, &storage.Interaction{ID: "live-i", Data: []byte("y"), ExpiresAt: later}), "PutInteraction(live-i)")
		must(t, s.UseOnce(ctx, "live-jti", later), "UseOnce(live-jti)")
		hit(t, s, "live-counter", time.Hour, 1)
		key := func(id string) *storage.SigningKey {
			return &storage.SigningKey{ID: id, Algorithm: "EdDSA", PrivateKey: []byte("sealed"), PublicJWK: []byte(`{"kid":"` + id + `"}`), Status: storage.KeyActive, CreatedAt: now}
		}
		must(t, s.RotateKey(ctx, key("kid-1"), now), "RotateKey(kid-1)")
		must(t, s.RotateKey(ctx, key("kid-2"), later), "RotateKey(kid-2)")

		n, err := s.DeleteExpired(ctx)
		if err != nil || n != 0 {
			t.Errorf("DeleteExpired before anything expired = %d, %v; want 0, nil", n, err)
		}
		clock.Advance(10 * time.Minute)
		n, err = s.DeleteExpired(ctx)
		if err != nil || n != 6 {
			t.Errorf("DeleteExpired after 2 tokens, a session, an interaction, a replay marker and a counter expired = %d, %v; want 6, nil", n, err)
		}
		n, err = s.DeleteExpired(ctx)
		if err != nil || n != 0 {
			t.Errorf("DeleteExpired a second time = %d, %v; want 0, nil", n, err)
		}

		_, err = s.GetToken(ctx, storage.KindAccessToken, "live-a")
		must(t, err, "GetToken(live-a) after DeleteExpired")
		_, err = s.GetSession(ctx, "live-s")
		must(t, err, "GetSession(live-s) after DeleteExpired")
		_, err = s.GetInteraction(ctx, "live-i")
		must(t, err, "GetInteraction(live-i) after DeleteExpired")
		if err := s.UseOnce(ctx, "live-jti", later); !errors.Is(err, storage.ErrAlreadyExists) {
			t.Errorf("UseOnce(live-jti) after DeleteExpired = %v, want %v (the marker kept)", err, storage.ErrAlreadyExists)
		}
		keys, err := s.ListKeys(ctx)
		must(t, err, "ListKeys after DeleteExpired")
		if len(keys) != 2 {
			t.Errorf("ListKeys after DeleteExpired = %d keys, want 2 (the active key and the retired one still published)", len(keys))
		}
		hit(t, s, "live-counter", time.Hour, 2)
		hit(t, s, "old-counter", time.Minute, 1)
		must(t, s.UseOnce(ctx, "old-jti", later), "UseOnce(old-jti) after its marker was deleted")
		// The expired records are gone, not merely hidden: the same keys
		// can be created again.
		must(t, s.CreateToken(ctx, tok(storage.KindAccessToken, "old-a", later)), "CreateToken(old-a) after DeleteExpired removed it")
	})
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "atrium.db")
	clock := storagetest.NewClock(storagetest.Epoch)
	want := &storage.Client{ID: "client-1", Name: "Kept", RedirectURIs: []string{"https://rp.example/cb"}, CreatedAt: clock.Now(), UpdatedAt: clock.Now()}

	s, err := sqlstore.Open(t.Context(), path, sqlstore.WithClock(clock.Now))
	must(t, err, "Open(new file)")
	must(t, s.CreateClient(t.Context(), want), "CreateClient")
	must(t, s.Close(), "Close")

	for i := range 2 {
		s, err := sqlstore.Open(t.Context(), path, sqlstore.WithClock(clock.Now))
		must(t, err, "reopen %d (migrations already applied)", i+1)
		got, err := s.GetClient(t.Context(), want.ID)
		if err != nil {
			t.Errorf("GetClient after reopen %d = %v, want the client created before", i+1, err)
		} else if got.Name != want.Name || len(got.RedirectURIs) != 1 || got.RedirectURIs[0] != want.RedirectURIs[0] {
			t.Errorf("GetClient after reopen %d = %+v, want %+v", i+1, got, want)
		}
		must(t, s.Close(), "Close after reopen %d", i+1)
	}
}

// openSQLite opens the SQLite database at path, closed when t ends.
func openSQLite(t *testing.T, path string, clock *storagetest.Clock) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), path, sqlstore.WithClock(clock.Now))
	must(t, err, "Open(%q)", path)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	})
	return s
}

// postgresURL returns the PostgreSQL server to test against, skipping t
// when none is configured unless ATRIUM_TEST_REQUIRE_POSTGRES=1.
func postgresURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("ATRIUM_TEST_POSTGRES_URL")
	if url == "" {
		if os.Getenv("ATRIUM_TEST_REQUIRE_POSTGRES") == "1" {
			t.Fatal("ATRIUM_TEST_REQUIRE_POSTGRES=1 but ATRIUM_TEST_POSTGRES_URL is unset; want the URL of a PostgreSQL server")
		}
		t.Skip("ATRIUM_TEST_POSTGRES_URL is unset")
	}
	return url
}

// openPostgres opens a store in a new schema of the server at url; the
// store is closed and the schema dropped when t ends.
func openPostgres(t *testing.T, url string, clock *storagetest.Clock) *sqlstore.Store {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	schema := "atrium_test_" + hex.EncodeToString(b[:])
	admin := func(ctx context.Context, stmt string) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, stmt)
		return err
	}
	must(t, admin(t.Context(), "CREATE SCHEMA "+schema), "CREATE SCHEMA %s", schema)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("DROP SCHEMA %s = %v, want nil", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	s, err := sqlstore.Open(t.Context(), url+sep+"search_path="+schema, sqlstore.WithClock(clock.Now))
	must(t, err, "Open(PostgreSQL, schema %s)", schema)
	// Registered after the drop, so it runs first.
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	})
	return s
}

// hit calls s.Hit and fails t unless it counts want.
func hit(t *testing.T, s *sqlstore.Store, key string, window time.Duration, want int64) {
	t.Helper()
	got, err := s.Hit(t.Context(), key, window)
	if err != nil || got != want {
		t.Fatalf("Hit(%q) = %d, %v; want %d, no error", key, got, err, want)
	}
}

func must(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf(format+" = %v, want no error", append(args, err)...)
	}
}
