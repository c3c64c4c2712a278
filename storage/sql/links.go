package sql

import (
	"context"
	"time"

	"github.com/atrium-id/atrium/storage"
)

const identityColumns = `id, user_id, provider, subject, email, claims, tokens, created_at, updated_at`

// CreateIdentity implements storage.IdentityStore.
func (s *Store) CreateIdentity(ctx context.Context, i *storage.Identity) error {
	s.stamp(&i.CreatedAt, &i.UpdatedAt)
	_, err := s.exec(ctx, `INSERT INTO identities (`+identityColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		i.ID, i.UserID, i.Provider, i.Subject, i.Email, i.Claims, i.Tokens, storage.UnixMicro(i.CreatedAt), storage.UnixMicro(i.UpdatedAt))
	return err
}

// GetIdentity implements storage.IdentityStore.
func (s *Store) GetIdentity(ctx context.Context, provider, subject string) (*storage.Identity, error) {
	return scanIdentity(s.queryRow(ctx, `SELECT `+identityColumns+`
		FROM identities WHERE provider = ? AND subject = ?`, provider, subject))
}

// ListIdentities implements storage.IdentityStore.
func (s *Store) ListIdentities(ctx context.Context, userID string) ([]*storage.Identity, error) {
	rows, err := s.query(ctx, `SELECT `+identityColumns+`
		FROM identities WHERE user_id = ? ORDER BY provider, subject`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*storage.Identity
	for rows.Next() {
		i, err := scanIdentity(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// UpdateIdentity implements storage.IdentityStore: the link's e-mail,
// claims, tokens and owner change; provider and subject do not.
func (s *Store) UpdateIdentity(ctx context.Context, i *storage.Identity) error {
	if i.UpdatedAt.IsZero() || !i.UpdatedAt.After(i.CreatedAt) {
		i.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	}
	return affectedOne(s.exec(ctx, `UPDATE identities SET user_id = ?, email = ?, claims = ?, tokens = ?, updated_at = ?
		WHERE id = ?`, i.UserID, i.Email, i.Claims, i.Tokens, storage.UnixMicro(i.UpdatedAt), i.ID))
}

// DeleteIdentity implements storage.IdentityStore.
func (s *Store) DeleteIdentity(ctx context.Context, id string) error {
	return affectedOne(s.exec(ctx, `DELETE FROM identities WHERE id = ?`, id))
}

func scanIdentity(r scanner) (*storage.Identity, error) {
	var (
		i                storage.Identity
		created, updated int64
	)
	if err := r.Scan(&i.ID, &i.UserID, &i.Provider, &i.Subject, &i.Email, &i.Claims, &i.Tokens, &created, &updated); err != nil {
		return nil, mapErr(err)
	}
	i.CreatedAt, i.UpdatedAt = storage.FromUnixMicro(created), storage.FromUnixMicro(updated)
	return &i, nil
}
