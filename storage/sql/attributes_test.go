package sql

import (
	"path/filepath"
	"testing"
)

// TestUserWithoutAttributes reads users whose attributes column holds
// nothing: rows written before the column existed (which take its default)
// and an empty value. They have no attributes.
func TestUserWithoutAttributes(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "atrium.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, q := range []string{
		`INSERT INTO users (id, email, email_verified, name, given_name, family_name, nickname, picture, locale, zoneinfo,
			phone_number, phone_number_verified, address, disabled, created_at, updated_at)
			VALUES ('old', 'old@example.com', 1, 'Old', '', '', '', '', '', '', '', 0, '{}', 0, 0, 0)`,
		`INSERT INTO users (id, email, email_verified, name, given_name, family_name, nickname, picture, locale, zoneinfo,
			phone_number, phone_number_verified, address, disabled, created_at, updated_at, attributes)
			VALUES ('blank', 'blank@example.com', 1, 'Blank', '', '', '', '', '', '', '', 0, '{}', 0, 0, 0, '')`,
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"old", "blank"} {
		u, err := s.GetUser(ctx, id)
		if err != nil {
			t.Fatalf("GetUser(%s) = %v", id, err)
		}
		if len(u.Attributes) != 0 {
			t.Errorf("GetUser(%s).Attributes = %v, want none", id, u.Attributes)
		}
		// Saving the user writes an empty object, which reads as none.
		if err := s.UpdateUser(ctx, u); err != nil {
			t.Fatalf("UpdateUser(%s) = %v", id, err)
		}
		var stored string
		if err := s.db.QueryRowContext(ctx, `SELECT attributes FROM users WHERE id = ?`, id).Scan(&stored); err != nil || stored != "{}" {
			t.Errorf("attributes of %s after UpdateUser = %q, %v; want \"{}\"", id, stored, err)
		}
	}
}
