package sql

import (
	"context"
	sqldb "database/sql"
	"errors"
	"strings"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// The outbox: messages written with the change they report (erasure.go),
// the attempts to deliver them, a lease so that one worker at a time
// sends a message, and in outbox_deliveries the hooks that took each.

const outboxColumns = `id, topic, payload, created_at, delivered_at, attempts, next_attempt_at`

// ListOutbox implements storage.OutboxStore.
func (s *Store) ListOutbox(ctx context.Context, undeliveredOnly bool, p storage.Page) ([]*storage.OutboxMessage, string, error) {
	q := `SELECT ` + outboxColumns + ` FROM outbox WHERE id > ? ORDER BY id LIMIT ?`
	if undeliveredOnly {
		q = `SELECT ` + outboxColumns + ` FROM outbox WHERE delivered_at IS NULL AND id > ? ORDER BY id LIMIT ?`
	}
	msgs, next, err := listPage(ctx, s, q, p, scanOutbox, func(m *storage.OutboxMessage) string { return m.ID })
	if err != nil {
		return nil, "", err
	}
	if err := s.fillDeliveredTo(ctx, msgs); err != nil {
		return nil, "", err
	}
	return msgs, next, nil
}

func scanOutbox(r scanner) (*storage.OutboxMessage, error) {
	var (
		m         storage.OutboxMessage
		payload   string
		created   int64
		delivered sqldb.NullInt64
		next      int64
	)
	if err := r.Scan(&m.ID, &m.Topic, &payload, &created, &delivered, &m.Attempts, &next); err != nil {
		return nil, mapErr(err)
	}
	m.Payload = []byte(payload)
	m.CreatedAt = storage.FromUnixMicro(created)
	if delivered.Valid {
		m.DeliveredAt = storage.FromUnixMicro(delivered.Int64)
	}
	if next != 0 {
		m.NextAttemptAt = storage.FromUnixMicro(next)
	}
	return &m, nil
}

// fillDeliveredTo sets the DeliveredTo of msgs.
func (s *Store) fillDeliveredTo(ctx context.Context, msgs []*storage.OutboxMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	byID := make(map[string]*storage.OutboxMessage, len(msgs))
	args := make([]any, len(msgs))
	for i, m := range msgs {
		byID[m.ID] = m
		args[i] = m.ID
	}
	rows, err := s.query(ctx, `SELECT message_id, hook FROM outbox_deliveries WHERE message_id IN (`+placeholders(len(args))+`) ORDER BY message_id, hook`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, hook string
		if err := rows.Scan(&id, &hook); err != nil {
			return err
		}
		if m := byID[id]; m != nil {
			m.DeliveredTo = append(m.DeliveredTo, hook)
		}
	}
	return rows.Err()
}

// placeholders returns n comma-separated question marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// MarkDelivered implements storage.OutboxStore.
func (s *Store) MarkDelivered(ctx context.Context, id string) error {
	return affectedOne(s.exec(ctx, `UPDATE outbox SET delivered_at = COALESCE(delivered_at, ?), lease_owner = '', lease_until = 0 WHERE id = ?`,
		storage.UnixMicro(s.now()), id))
}

// ClaimOutbox implements storage.OutboxStore. It picks the candidates,
// then leases each with an UPDATE that checks again that the message is
// free: of two workers racing for one, the second's UPDATE matches no
// row (SQLite serializes writers; PostgreSQL re-reads the row the first
// updated before applying the second).
func (s *Store) ClaimOutbox(ctx context.Context, owner string, topics []string, lease time.Duration, limit int) ([]*storage.OutboxMessage, error) {
	if owner == "" || lease <= 0 || limit <= 0 {
		return nil, errors.New("claim outbox: want an owner, a positive lease and a positive limit")
	}
	now := storage.UnixMicro(s.now())
	q := `SELECT id FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= ? AND lease_until <= ?`
	args := []any{now, now}
	if topics != nil {
		if len(topics) == 0 {
			return nil, nil
		}
		q += ` AND topic IN (` + placeholders(len(topics)) + `)`
		for _, t := range topics {
			args = append(args, t)
		}
	}
	rows, err := s.query(ctx, q+` ORDER BY id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	var candidates []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		candidates = append(candidates, id)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, err
	}
	until := storage.UnixMicro(s.now().Add(lease))
	var claimed []*storage.OutboxMessage
	for _, id := range candidates {
		n, err := s.exec(ctx, `UPDATE outbox SET lease_owner = ?, lease_until = ?
			WHERE id = ? AND delivered_at IS NULL AND next_attempt_at <= ? AND lease_until <= ?`, owner, until, id, now, now)
		if err != nil {
			return claimed, err
		}
		if n == 0 {
			continue // another worker was first
		}
		m, err := scanOutbox(s.queryRow(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE id = ?`, id))
		if err != nil {
			return claimed, err
		}
		claimed = append(claimed, m)
	}
	if err := s.fillDeliveredTo(ctx, claimed); err != nil {
		return nil, err
	}
	return claimed, nil
}

// MarkHookDelivered implements storage.OutboxStore.
func (s *Store) MarkHookDelivered(ctx context.Context, id, hook string) error {
	n, err := s.exec(ctx, `INSERT INTO outbox_deliveries (message_id, hook, delivered_at)
		SELECT id, ?, ? FROM outbox WHERE id = ? ON CONFLICT (message_id, hook) DO NOTHING`, hook, storage.UnixMicro(s.now()), id)
	if err != nil || n == 1 {
		return err
	}
	return s.outboxExists(ctx, id)
}

// RetryOutbox implements storage.OutboxStore.
func (s *Store) RetryOutbox(ctx context.Context, id, owner string, delay time.Duration) error {
	n, err := s.exec(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, lease_owner = '', lease_until = 0
		WHERE id = ? AND lease_owner = ? AND delivered_at IS NULL`, storage.UnixMicro(s.now().Add(delay)), id, owner)
	if err != nil || n == 1 {
		return err
	}
	if err := s.outboxExists(ctx, id); err != nil {
		return err
	}
	return storage.ErrConflict
}

// outboxExists returns storage.ErrNotFound when there is no message id.
func (s *Store) outboxExists(ctx context.Context, id string) error {
	var one int
	return mapErr(s.queryRow(ctx, `SELECT 1 FROM outbox WHERE id = ?`, id).Scan(&one))
}

// PruneOutbox implements storage.OutboxStore.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time) (int, error) {
	cut := storage.UnixMicro(before)
	var n int64
	err := s.inTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := s.execOn(ctx, tx, `DELETE FROM outbox_deliveries WHERE message_id IN
			(SELECT id FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?)`, cut); err != nil {
			return err
		}
		var err error
		n, err = s.execOn(ctx, tx, `DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?`, cut)
		return err
	})
	return int(n), err
}

// AddOutbox implements storage.OutboxStore.
func (s *Store) AddOutbox(ctx context.Context, topic string, payload []byte, owner string, lease time.Duration) (*storage.OutboxMessage, error) {
	if topic == "" || (owner != "" && lease <= 0) {
		return nil, errors.New("add outbox: want a topic, and a positive lease with an owner")
	}
	now := s.now()
	m := &storage.OutboxMessage{ID: auditID(now), Topic: topic, Payload: payload, CreatedAt: storage.FromUnixMicro(storage.UnixMicro(now))}
	var until int64
	if owner != "" {
		until = storage.UnixMicro(now.Add(lease))
	}
	if _, err := s.exec(ctx, `INSERT INTO outbox (id, topic, payload, created_at, delivered_at, lease_owner, lease_until) VALUES (?, ?, ?, ?, NULL, ?, ?)`,
		m.ID, topic, string(payload), storage.UnixMicro(now), owner, until); err != nil {
		return nil, err
	}
	return m, nil
}
