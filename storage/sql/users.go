package sql

import (
	"context"
	sqldb "database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/atrium-id/atrium/storage"
)

const userColumns = `id, email, email_verified, name, given_name, family_name, nickname, picture,
	locale, zoneinfo, phone_number, phone_number_verified, address, disabled, created_at, updated_at, attributes`

// email stores an address lower-cased, and no address as NULL so that
// users without one do not collide on the unique index.
func email(e string) sqldb.NullString {
	e = strings.ToLower(strings.TrimSpace(e))
	return sqldb.NullString{String: e, Valid: e != ""}
}

func userArgs(u *storage.User) ([]any, error) {
	addr, _ := json.Marshal(u.Address) // plain strings always marshal
	attrs := []byte("{}")
	if len(u.Attributes) > 0 {
		var err error
		if attrs, err = json.Marshal(u.Attributes); err != nil {
			return nil, fmt.Errorf("storage: attributes of user %s: %w", u.ID, err)
		}
	}
	return []any{u.ID, email(u.Email), b2i(u.EmailVerified), u.Name, u.GivenName, u.FamilyName, u.Nickname,
		u.Picture, u.Locale, u.Zoneinfo, u.PhoneNumber, b2i(u.PhoneNumberVerified), string(addr),
		b2i(u.Disabled), storage.UnixMicro(u.CreatedAt), storage.UnixMicro(u.UpdatedAt), string(attrs)}, nil
}

// CreateUser implements storage.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	s.stamp(&u.CreatedAt, &u.UpdatedAt)
	args, err := userArgs(u)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	return err
}

// GetUser implements storage.UserStore.
func (s *Store) GetUser(ctx context.Context, id string) (*storage.User, error) {
	return scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
}

// GetUserByEmail implements storage.UserStore.
func (s *Store) GetUserByEmail(ctx context.Context, e string) (*storage.User, error) {
	ne := email(e)
	if !ne.Valid {
		return nil, storage.ErrNotFound
	}
	return scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, ne.String))
}

// UpdateUser implements storage.UserStore; CreatedAt is kept.
func (s *Store) UpdateUser(ctx context.Context, u *storage.User) error {
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	if u.UpdatedAt.IsZero() || !u.UpdatedAt.After(u.CreatedAt) {
		u.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	}
	a, err := userArgs(u)
	if err != nil {
		return err
	}
	args := append(append([]any{}, a[1:14]...), a[15], a[16], a[0])
	return affectedOne(s.exec(ctx, `UPDATE users SET email = ?, email_verified = ?, name = ?, given_name = ?,
		family_name = ?, nickname = ?, picture = ?, locale = ?, zoneinfo = ?, phone_number = ?,
		phone_number_verified = ?, address = ?, disabled = ?, updated_at = ?, attributes = ? WHERE id = ?`, args...))
}

// DeleteUser implements storage.UserStore: the user goes with every
// credential, linked identity, consent (and consent ledger entry), session
// and grant of theirs.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sqldb.Tx) error {
		if err := affectedOne(s.execOn(ctx, tx, `DELETE FROM users WHERE id = ?`, id)); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM credentials WHERE user_id = ?`,
			`DELETE FROM identities WHERE user_id = ?`,
			`DELETE FROM consents WHERE user_id = ?`,
			`DELETE FROM preferences WHERE user_id = ?`,
			`DELETE FROM sessions WHERE user_id = ?`,
			`DELETE FROM tokens WHERE subject = ?`,
		} {
			if _, err := s.execOn(ctx, tx, q, id); err != nil {
				return err
			}
		}
		return s.deleteConsentEvents(ctx, tx, id)
	})
}

// ListUsers implements storage.UserStore.
func (s *Store) ListUsers(ctx context.Context, p storage.Page) ([]*storage.User, string, error) {
	return listPage(ctx, s, `SELECT `+userColumns+` FROM users WHERE id > ? ORDER BY id LIMIT ?`, p, scanUser,
		func(u *storage.User) string { return u.ID })
}

func scanUser(r scanner) (*storage.User, error) {
	var (
		u                                 storage.User
		em                                sqldb.NullString
		verified, phoneVerified, disabled int
		addr                              string
		attrs                             sqldb.NullString
		created, updated                  int64
	)
	err := r.Scan(&u.ID, &em, &verified, &u.Name, &u.GivenName, &u.FamilyName, &u.Nickname, &u.Picture,
		&u.Locale, &u.Zoneinfo, &u.PhoneNumber, &phoneVerified, &addr, &disabled, &created, &updated, &attrs)
	if err != nil {
		return nil, mapErr(err)
	}
	if addr != "{}" && addr != "" { // most users have no address to decode
		if err := json.Unmarshal([]byte(addr), &u.Address); err != nil {
			return nil, fmt.Errorf("corrupt address of user %s: %w", u.ID, err)
		}
	}
	if attrs.String != "{}" && attrs.String != "" { // most users have none
		if err := json.Unmarshal([]byte(attrs.String), &u.Attributes); err != nil {
			return nil, fmt.Errorf("corrupt attributes of user %s: %w", u.ID, err)
		}
	}
	u.Email = em.String
	u.EmailVerified, u.PhoneNumberVerified, u.Disabled = verified != 0, phoneVerified != 0, disabled != 0
	u.CreatedAt, u.UpdatedAt = storage.FromUnixMicro(created), storage.FromUnixMicro(updated)
	return &u, nil
}

// PutCredential implements storage.CredentialStore.
func (s *Store) PutCredential(ctx context.Context, c *storage.Credential) error {
	if err := credentialID(c); err != nil {
		return err
	}
	s.stamp(&c.CreatedAt, &c.UpdatedAt)
	_, err := s.exec(ctx, `INSERT INTO credentials (user_id, type, id, secret, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id, type, id) DO UPDATE SET secret = excluded.secret,
			updated_at = excluded.updated_at`,
		c.UserID, c.Type, c.ID, c.Secret, storage.UnixMicro(c.CreatedAt), storage.UnixMicro(c.UpdatedAt))
	return err
}

// credentialID checks c's key and sets the ID of a single-type credential
// (see storage.Credential).
func credentialID(c *storage.Credential) error {
	switch {
	case c.UserID == "" || c.Type == "":
		return errors.New("storage: a credential needs a user ID and a type")
	case c.Type == storage.CredentialPasskey:
		if c.ID == "" {
			return errors.New("storage: a passkey credential needs an ID")
		}
	default:
		c.ID = c.UserID + ":" + c.Type
	}
	return nil
}

const credentialColumns = `user_id, type, id, secret, created_at, updated_at`

func scanCredential(r scanner) (*storage.Credential, error) {
	var (
		c                storage.Credential
		created, updated int64
	)
	if err := r.Scan(&c.UserID, &c.Type, &c.ID, &c.Secret, &created, &updated); err != nil {
		return nil, mapErr(err)
	}
	c.CreatedAt, c.UpdatedAt = storage.FromUnixMicro(created), storage.FromUnixMicro(updated)
	return &c, nil
}

// GetCredential implements storage.CredentialStore.
func (s *Store) GetCredential(ctx context.Context, userID, typ string) (*storage.Credential, error) {
	return scanCredential(s.queryRow(ctx, `SELECT `+credentialColumns+`
		FROM credentials WHERE user_id = ? AND type = ? ORDER BY created_at, id LIMIT 1`, userID, typ))
}

// ListCredentials implements storage.CredentialStore.
func (s *Store) ListCredentials(ctx context.Context, userID string) ([]*storage.Credential, error) {
	rows, err := s.query(ctx, `SELECT `+credentialColumns+`
		FROM credentials WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*storage.Credential{}
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteCredentialByID implements storage.CredentialStore.
func (s *Store) DeleteCredentialByID(ctx context.Context, userID, id string) error {
	return affectedOne(s.exec(ctx, `DELETE FROM credentials WHERE user_id = ? AND id = ?`, userID, id))
}

// DeleteCredential implements storage.CredentialStore.
func (s *Store) DeleteCredential(ctx context.Context, userID, typ string) error {
	return affectedOne(s.exec(ctx, `DELETE FROM credentials WHERE user_id = ? AND type = ?`, userID, typ))
}
