package sql_test

import (
	"path/filepath"
	"testing"

	"github.com/atrium-id/atrium/storage"
	sqlstore "github.com/atrium-id/atrium/storage/sql"
	"github.com/atrium-id/atrium/storage/storagetest"
)

func TestSQLiteErasure(t *testing.T) {
	storagetest.RunErasure(t, func(t *testing.T, clock *storagetest.Clock) storagetest.ErasureStore {
		return openSQLite(t, filepath.Join(t.TempDir(), "atrium.db"), clock)
	})
}

func TestPostgresErasure(t *testing.T) {
	url := postgresURL(t)
	storagetest.RunErasure(t, func(t *testing.T, clock *storagetest.Clock) storagetest.ErasureStore {
		return openPostgres(t, url, clock)
	})
}

// TestEraseUserLeavesNoMention scans every column of every table after an
// erasure for the user's ID and address: only the outbox message, whose
// purpose is to name the user to downstream systems, may.
func TestEraseUserLeavesNoMention(t *testing.T) {
	backends(t, func(t *testing.T, open func(*storagetest.Clock) *sqlstore.Store) {
		ctx := t.Context()
		clock := storagetest.NewClock(storagetest.Epoch)
		s := open(clock)
		now := clock.Now()
		const id, addr = "user-erased-7f3a", "erased.person@example.com"
		must(t, s.CreateUser(ctx, &storage.User{ID: id, Email: addr, Name: "Erased Person", CreatedAt: now, UpdatedAt: now}), "CreateUser")
		must(t, s.PutCredential(ctx, &storage.Credential{UserID: id, Type: storage.CredentialPassword, Secret: []byte("$argon2id$...")}), "PutCredential")
		must(t, s.PutCredential(ctx, &storage.Credential{ID: "pk-1", UserID: id, Type: storage.CredentialPasskey, Secret: []byte(`{"name":"Laptop"}`)}), "PutCredential(passkey)")
		must(t, s.CreateIdentity(ctx, &storage.Identity{ID: "ident-1", UserID: id, Provider: "github", Subject: "gh-1", Email: addr, Claims: []byte(`{"email":"` + addr + `"}`)}), "CreateIdentity")
		must(t, s.PutConsent(ctx, &storage.Consent{UserID: id, ClientID: "app", Scopes: []string{"openid"}}), "PutConsent")
		must(t, s.AppendConsentEvent(ctx, &storage.ConsentEvent{UserID: id, ClientID: "app", Scopes: []string{"openid"},
			Action: storage.ConsentGranted, IP: "203.0.113.9", UserAgent: "UA"}), "AppendConsentEvent")
		must(t, s.PutSession(ctx, &storage.Session{ID: "sess-1", UserID: id, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(3600e9)}), "PutSession")
		must(t, s.CreateToken(ctx, &storage.Token{Kind: storage.KindAccessToken, Signature: "sig-1", RequestID: "req-1", ClientID: "app", Subject: id, Active: true, CreatedAt: now, ExpiresAt: now.Add(3600e9)}), "CreateToken")
		must(t, s.UseOnce(ctx, "totp:"+storage.UserDigest(id)+":123", now.Add(3600e9)), "UseOnce(totp)")
		must(t, s.UseOnce(ctx, "recovery:"+storage.UserDigest(id)+":mac", now.Add(3600e9)), "UseOnce(recovery)")
		must(t, s.AppendAudit(ctx, &storage.AuditEvent{Type: "login.succeeded", UserID: id, IP: "203.0.113.9", UserAgent: "UA",
			Detail: map[string]string{"email": addr}}), "AppendAudit")
		// Another user, whose records stay.
		must(t, s.CreateUser(ctx, &storage.User{ID: "user-other", Email: "other@example.com"}), "CreateUser(other)")
		must(t, s.UseOnce(ctx, "totp:"+storage.UserDigest("user-other")+":123", now.Add(3600e9)), "UseOnce(other)")

		for _, text := range []string{id, addr, storage.UserDigest(id)} {
			if m, err := s.FindText(ctx, text); err != nil || len(m) == 0 {
				t.Fatalf("FindText(%q) before erasure = %v, %v; want mentions (the scan must see them)", text, m, err)
			}
		}
		erased, err := s.EraseUser(ctx, id, clock.Now())
		if err != nil || !erased {
			t.Fatalf("EraseUser = %v, %v", erased, err)
		}
		for _, text := range []string{id, addr, storage.UserDigest(id)} {
			m, err := s.FindText(ctx, text)
			must(t, err, "FindText(%q)", text)
			for _, x := range m {
				if x.Table == "outbox" && x.Column == "payload" && text == id {
					continue
				}
				t.Errorf("after erasure %s.%s still names the user: %q", x.Table, x.Column, x.Value)
			}
		}
		if m, _ := s.FindText(ctx, "user-other"); len(m) == 0 {
			t.Errorf("the other user's record is gone")
		}
		if m, _ := s.FindText(ctx, storage.UserDigest("user-other")); len(m) == 0 {
			t.Errorf("the other user's replay marker is gone")
		}
		tables, err := s.UserTables(ctx)
		must(t, err, "UserTables")
		for _, want := range []string{"audit_events", "consent_events", "consents", "credentials", "identities", "sessions"} {
			found := false
			for _, tb := range tables {
				found = found || tb == want
			}
			if !found {
				t.Errorf("UserTables() = %v, want %s among them", tables, want)
			}
		}
	})
}
