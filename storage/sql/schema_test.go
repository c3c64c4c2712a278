package sql

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// TestMigrateFromV1 upgrades a database that holds data under the first
// schema and checks the later migrations apply over it.
func TestMigrateFromV1(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2031, time.March, 14, 15, 9, 26, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "atrium.db")
	s, err := Open(ctx, path, WithClock(func() time.Time { return now }), WithoutMigrations())
	if err != nil {
		t.Fatalf("Open(WithoutMigrations) = %v", err)
	}
	defer s.Close()

	// Lay down schema version 1 by hand, as a release that knew only it
	// would have left the database.
	for _, stmt := range append([]string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`,
		`INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0)`,
	}, strings.Split(strings.ReplaceAll(migrations[0], "{{blob}}", "BLOB"), ";")...) {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("schema v1: %v\n%s", err, stmt)
		}
	}
	for _, tok := range []*storage.Token{
		{Kind: storage.KindAccessToken, Signature: "a1", RequestID: "req-1", ClientID: "client-1", Subject: "user-1", Active: true, ExpiresAt: now.Add(time.Hour)},
		{Kind: storage.KindRefreshToken, Signature: "r1", RequestID: "req-1", ClientID: "client-1", Subject: "user-1", Active: true, ExpiresAt: now.Add(time.Hour)},
		{Kind: storage.KindAccessToken, Signature: "a2", RequestID: "req-2", ClientID: "client-2", Subject: "user-2", Active: true, ExpiresAt: now.Add(time.Hour)},
	} {
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatalf("CreateToken(%s) under schema v1 = %v", tok.Signature, err)
		}
	}

	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate from version 1 = %v", err)
	}
	var version int
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != len(migrations) {
		t.Errorf("schema version after Migrate = %d, want %d", version, len(migrations))
	}
	for _, index := range []string{"tokens_subject", "tokens_client", "counters_expiry"} {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?`, index).Scan(&n); err != nil || n != 1 {
			t.Errorf("index %s after Migrate: found %d, %v; want it created", index, n, err)
		}
	}
	if n, err := s.RevokeSubjectTokens(ctx, "user-1"); err != nil || n != 2 {
		t.Errorf("RevokeSubjectTokens(user-1) over tokens stored under schema v1 = %d, %v; want 2, nil", n, err)
	}
	if n, err := s.RevokeClientTokens(ctx, "client-2"); err != nil || n != 1 {
		t.Errorf("RevokeClientTokens(client-2) over tokens stored under schema v1 = %d, %v; want 1, nil", n, err)
	}
	for want := int64(1); want <= 2; want++ {
		if got, err := s.Hit(ctx, "k", time.Minute); err != nil || got != want {
			t.Errorf("Hit after Migrate = %d, %v; want %d, nil", got, err, want)
		}
	}
}

// TestMigrateCredentialsV5 upgrades credentials stored under schema
// version 4, one per user and type with any ID, to version 5's key of
// (user, type, ID): rows are kept, single types get their derived ID.
func TestMigrateCredentialsV5(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2031, time.March, 14, 15, 9, 26, 0, time.UTC)
	s, err := Open(ctx, filepath.Join(t.TempDir(), "atrium.db"), WithClock(func() time.Time { return now }), WithoutMigrations())
	if err != nil {
		t.Fatalf("Open(WithoutMigrations) = %v", err)
	}
	defer s.Close()
	stmts := []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`,
		`INSERT INTO schema_migrations (version, applied_at) VALUES (4, 0)`,
	}
	for _, m := range migrations[:4] {
		stmts = append(stmts, strings.Split(strings.ReplaceAll(m, "{{blob}}", "BLOB"), ";")...)
	}
	stmts = append(stmts,
		`INSERT INTO credentials (user_id, type, id, secret, created_at, updated_at) VALUES ('user-1', 'password', 'legacy-id', X'7077', 1, 2)`,
		`INSERT INTO credentials (user_id, type, id, secret, created_at, updated_at) VALUES ('user-1', 'totp', 'user-1:totp', X'7474', 3, 4)`,
		`INSERT INTO credentials (user_id, type, id, secret, created_at, updated_at) VALUES ('user-2', 'passkey', 'pk-x', X'706b', 5, 6)`,
	)
	for _, stmt := range stmts {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("schema v4: %v\n%s", err, stmt)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate from version 4 = %v", err)
	}
	for _, tc := range []struct {
		user string
		want []string // type=id:secret
	}{
		{"user-1", []string{"password=user-1:password:pw", "totp=user-1:totp:tt"}},
		{"user-2", []string{"passkey=pk-x:pk"}},
	} {
		creds, err := s.ListCredentials(ctx, tc.user)
		if err != nil {
			t.Fatalf("ListCredentials(%s) after Migrate = %v", tc.user, err)
		}
		var got []string
		for _, c := range creds {
			got = append(got, c.Type+"="+c.ID+":"+string(c.Secret))
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("ListCredentials(%s) after Migrate = %q, want %q", tc.user, got, tc.want)
		}
	}
	// The migrated password is the one a new password replaces.
	if err := s.PutCredential(ctx, &storage.Credential{UserID: "user-1", Type: storage.CredentialPassword, Secret: []byte("new")}); err != nil {
		t.Fatalf("PutCredential(password) after Migrate = %v", err)
	}
	creds, err := s.ListCredentials(ctx, "user-1")
	if err != nil || len(creds) != 2 || string(creds[0].Secret) != "new" {
		t.Errorf("ListCredentials(user-1) after replacing the migrated password = %d credentials (first %+v), %v; want 2, the password replaced", len(creds), creds, err)
	}
	if err := s.AppendAudit(ctx, &storage.AuditEvent{Type: "login.failed"}); err != nil {
		t.Errorf("AppendAudit after Migrate = %v, want the audit table created", err)
	}
}

// TestMigrateConsentResources upgrades a consent and a consent ledger
// entry stored before they named resources (schema version 15): they read
// back with none, so the app's next request naming a resource asks the
// user.
func TestMigrateConsentResources(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "atrium.db"), WithoutMigrations())
	if err != nil {
		t.Fatalf("Open(WithoutMigrations) = %v", err)
	}
	defer s.Close()
	const before = 15
	stmts := []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`,
		`INSERT INTO schema_migrations (version, applied_at) VALUES (15, 0)`,
	}
	for _, m := range migrations[:before] {
		stmts = append(stmts, strings.Split(strings.ReplaceAll(m, "{{blob}}", "BLOB"), ";")...)
	}
	stmts = append(stmts, `INSERT INTO consents (user_id, client_id, scopes, declined, policy_version, created_at, updated_at)
		VALUES ('user-1', 'app', '["openid","email"]', '["phone"]', '2031-01', 1, 2)`,
		`INSERT INTO consent_events (id, user_id, client_id, purpose, scopes, action, at, policy_version, ip, user_agent)
		VALUES ('ev-1', 'user-1', 'app', '', '["openid","email"]', 'granted', 1, '2031-01', '192.0.2.1', 'Zoe/1')`)
	for _, stmt := range stmts {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("schema v%d: %v\n%s", before, err, stmt)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate from version %d = %v", before, err)
	}
	c, err := s.GetConsent(ctx, "user-1", "app")
	if err != nil {
		t.Fatalf("GetConsent after Migrate = %v", err)
	}
	if c.Resources != nil || strings.Join(c.Scopes, " ") != "openid email" || strings.Join(c.Declined, " ") != "phone" || c.PolicyVersion != "2031-01" {
		t.Errorf("consent after Migrate = %+v; want scopes openid email, phone declined, no resources, under 2031-01", c)
	}
	c.Resources = []string{"https://api.example.com/orders"}
	if err := s.PutConsent(ctx, c); err != nil {
		t.Fatalf("PutConsent(with a resource) after Migrate = %v", err)
	}
	if c, err := s.GetConsent(ctx, "user-1", "app"); err != nil || strings.Join(c.Resources, " ") != "https://api.example.com/orders" {
		t.Errorf("GetConsent after storing a resource = %+v, %v; want the resource", c, err)
	}
	l, err := s.ListConsentEvents(ctx, "user-1")
	if err != nil || len(l) != 1 || l[0].ID != "ev-1" || l[0].Resources != nil || strings.Join(l[0].Scopes, " ") != "openid email" {
		t.Fatalf("ListConsentEvents after Migrate = %+v, %v; want ev-1 granting openid email, no resources", l, err)
	}
}
