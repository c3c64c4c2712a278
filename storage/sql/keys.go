package sql

import (
	"context"
	sqldb "database/sql"
	"fmt"
	"time"

	"github.com/atrium-id/atrium/storage"
)

var _ storage.KeyScheduler = (*Store)(nil)

// lockKeys serializes the key writes of every node: on PostgreSQL with the
// advisory lock RotateKey takes, on SQLite by the immediate transaction.
func (s *Store) lockKeys(ctx context.Context, tx *sqldb.Tx) error {
	if s.dialect != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7316001)`)
	return err
}

// PublishKey implements storage.KeyScheduler. The insert happens only when
// the algorithm has no next key; the lock makes that check and the insert
// one step for every node.
func (s *Store) PublishKey(ctx context.Context, next *storage.SigningKey) error {
	s.stamp(&next.CreatedAt, nil)
	next.Status, next.NotAfter = storage.KeyNext, time.Time{}
	return s.inTx(ctx, func(tx *sqldb.Tx) error {
		if err := s.lockKeys(ctx, tx); err != nil {
			return err
		}
		n, err := s.execOn(ctx, tx, `INSERT INTO signing_keys (id, algorithm, private_key, public_jwk, status, created_at, not_after)
			SELECT ?, ?, ?, ?, ?, ?, 0 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE status = ? AND algorithm = ?)`,
			next.ID, next.Algorithm, next.PrivateKey, next.PublicJWK, storage.KeyNext, storage.UnixMicro(next.CreatedAt),
			storage.KeyNext, next.Algorithm)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: a next %s key is already published", storage.ErrAlreadyExists, next.Algorithm)
		}
		return nil
	})
}

// PromoteKey implements storage.KeyScheduler. When id is not a next key
// the first update matches nothing and the second reports ErrNotFound,
// which rolls both back.
func (s *Store) PromoteKey(ctx context.Context, id string, retireAfter time.Time) error {
	return s.inTx(ctx, func(tx *sqldb.Tx) error {
		if err := s.lockKeys(ctx, tx); err != nil {
			return err
		}
		if _, err := s.execOn(ctx, tx, `UPDATE signing_keys SET status = ?, not_after = ?
			WHERE status = ? AND algorithm = (SELECT algorithm FROM signing_keys WHERE id = ? AND status = ?)`,
			storage.KeyRetired, storage.UnixMicro(retireAfter), storage.KeyActive, id, storage.KeyNext); err != nil {
			return err
		}
		var now time.Time
		s.stamp(&now, nil)
		return affectedOne(s.execOn(ctx, tx, `UPDATE signing_keys SET status = ?, created_at = ? WHERE id = ? AND status = ?`,
			storage.KeyActive, storage.UnixMicro(now), id, storage.KeyNext))
	})
}
