package sql

import (
	"context"
	sqldb "database/sql"
	"errors"
	"slices"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// ListKeys implements storage.KeyStore.
func (s *Store) ListKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	rows, err := s.query(ctx, `SELECT id, algorithm, private_key, public_jwk, status, created_at, not_after
		FROM signing_keys WHERE not_after = 0 OR not_after > ? ORDER BY created_at DESC, id`, storage.UnixMicro(s.now()))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*storage.SigningKey
	for rows.Next() {
		var (
			k                 storage.SigningKey
			created, notAfter int64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &k.PublicJWK, &k.Status, &created, &notAfter); err != nil {
			return nil, err
		}
		k.CreatedAt, k.NotAfter = storage.FromUnixMicro(created), storage.FromUnixMicro(notAfter)
		out = append(out, &k)
	}
	return out, rows.Err()
}

// RotateKey implements storage.KeyStore. On PostgreSQL an advisory lock
// serializes rotations, so two nodes rotating at once still leave exactly
// one active key (the partial unique index would reject the second).
func (s *Store) RotateKey(ctx context.Context, next *storage.SigningKey, retireAfter time.Time) error {
	s.stamp(&next.CreatedAt, nil)
	next.Status, next.NotAfter = storage.KeyActive, time.Time{}
	return s.inTx(ctx, func(tx *sqldb.Tx) error {
		if s.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7316001)`); err != nil {
				return err
			}
		}
		if _, err := s.execOn(ctx, tx, `UPDATE signing_keys SET status = ?, not_after = ? WHERE status = ? AND algorithm = ?`,
			storage.KeyRetired, storage.UnixMicro(retireAfter), storage.KeyActive, next.Algorithm); err != nil {
			return err
		}
		_, err := s.execOn(ctx, tx, `INSERT INTO signing_keys (id, algorithm, private_key, public_jwk, status, created_at, not_after)
			VALUES (?, ?, ?, ?, ?, ?, 0)`, next.ID, next.Algorithm, next.PrivateKey, next.PublicJWK, storage.KeyActive, storage.UnixMicro(next.CreatedAt))
		return err
	})
}

// DeleteKey implements storage.KeyStore.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	return affectedOne(s.exec(ctx, `DELETE FROM signing_keys WHERE id = ?`, id))
}

// PutSession implements storage.SessionStore.
func (s *Store) PutSession(ctx context.Context, ss *storage.Session) error {
	s.stamp(&ss.CreatedAt, nil)
	_, err := s.exec(ctx, `INSERT INTO sessions (id, user_id, auth_time, amr, acr, created_at, expires_at, clients)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, auth_time = excluded.auth_time,
			amr = excluded.amr, acr = excluded.acr, expires_at = excluded.expires_at, clients = excluded.clients`,
		ss.ID, ss.UserID, storage.UnixMicro(ss.AuthTime), list(ss.AMR), ss.ACR, storage.UnixMicro(ss.CreatedAt), storage.UnixMicro(ss.ExpiresAt),
		list(ss.Clients))
	return err
}

const sessionColumns = `id, user_id, auth_time, amr, acr, created_at, expires_at, clients`

// GetSession implements storage.SessionStore.
func (s *Store) GetSession(ctx context.Context, id string) (*storage.Session, error) {
	return scanSession(s.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE id = ? AND (expires_at = 0 OR expires_at > ?)`, id, storage.UnixMicro(s.now())))
}

// AddSessionClient records that the client took part in the live
// session id, unless it is listed already; storage.ErrNotFound when the
// session has ended, which it never brings back. The list is replaced
// only if no one changed it since it was read.
func (s *Store) AddSessionClient(ctx context.Context, id, clientID string) error {
	for range 5 {
		ss, err := s.GetSession(ctx, id)
		if err != nil {
			return err
		}
		if slices.Contains(ss.Clients, clientID) {
			return nil
		}
		n, err := s.exec(ctx, `UPDATE sessions SET clients = ? WHERE id = ? AND clients = ?`,
			list(append(ss.Clients, clientID)), id, list(ss.Clients))
		if err != nil || n == 1 {
			return err
		}
	}
	return storage.ErrConflict
}

// DeleteSession implements storage.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return affectedOne(s.exec(ctx, `DELETE FROM sessions WHERE id = ?`, id))
}

// ListUserSessions implements storage.SessionStore: the user's live
// sessions, newest first.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]*storage.Session, error) {
	rows, err := s.query(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = ? AND (expires_at = 0 OR expires_at > ?) ORDER BY created_at DESC, id`, userID, storage.UnixMicro(s.now()))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*storage.Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ss)
	}
	return out, rows.Err()
}

func scanSession(r scanner) (*storage.Session, error) {
	var (
		ss                         storage.Session
		amr, clients               string
		authTime, created, expires int64
	)
	if err := r.Scan(&ss.ID, &ss.UserID, &authTime, &amr, &ss.ACR, &created, &expires, &clients); err != nil {
		return nil, mapErr(err)
	}
	var err error
	if ss.AMR, err = unlist(amr); err != nil {
		return nil, err
	}
	if ss.Clients, err = unlist(clients); err != nil {
		return nil, err
	}
	ss.AuthTime, ss.CreatedAt, ss.ExpiresAt = storage.FromUnixMicro(authTime), storage.FromUnixMicro(created), storage.FromUnixMicro(expires)
	return &ss, nil
}

// DeleteUserSessions implements storage.SessionStore.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	return int(n), err
}

// PutInteraction implements storage.SessionStore.
func (s *Store) PutInteraction(ctx context.Context, i *storage.Interaction) error {
	_, err := s.exec(ctx, `INSERT INTO interactions (id, data, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at`,
		i.ID, i.Data, storage.UnixMicro(i.ExpiresAt))
	return err
}

// GetInteraction implements storage.SessionStore.
func (s *Store) GetInteraction(ctx context.Context, id string) (*storage.Interaction, error) {
	var (
		i       storage.Interaction
		expires int64
	)
	err := s.queryRow(ctx, `SELECT id, data, expires_at FROM interactions
		WHERE id = ? AND (expires_at = 0 OR expires_at > ?)`, id, storage.UnixMicro(s.now())).Scan(&i.ID, &i.Data, &expires)
	if err != nil {
		return nil, mapErr(err)
	}
	i.ExpiresAt = storage.FromUnixMicro(expires)
	return &i, nil
}

// DeleteInteraction implements storage.SessionStore.
func (s *Store) DeleteInteraction(ctx context.Context, id string) error {
	return affectedOne(s.exec(ctx, `DELETE FROM interactions WHERE id = ?`, id))
}

// CreateToken implements storage.TokenStore.
func (s *Store) CreateToken(ctx context.Context, t *storage.Token) error {
	return s.createToken(ctx, s.wdb, t)
}

// WriteTokens implements storage.TokenStore in one transaction.
func (s *Store) WriteTokens(ctx context.Context, create []*storage.Token, del []storage.TokenRef) error {
	return s.inTx(ctx, func(tx *sqldb.Tx) error {
		for _, t := range create {
			if err := s.createToken(ctx, tx, t); err != nil {
				return err
			}
		}
		for _, d := range del {
			if _, err := s.execOn(ctx, tx, `DELETE FROM tokens WHERE kind = ? AND signature = ?`, string(d.Kind), d.Signature); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) createToken(ctx context.Context, db querier, t *storage.Token) error {
	s.stamp(&t.CreatedAt, nil)
	_, err := s.execOn(ctx, db, `INSERT INTO tokens (kind, signature, request_id, client_id, subject, session_id,
		active, access_signature, data, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(t.Kind), t.Signature, t.RequestID, t.ClientID, t.Subject, t.SessionID, b2i(t.Active),
		t.AccessSignature, t.Data, storage.UnixMicro(t.CreatedAt), storage.UnixMicro(t.ExpiresAt))
	return err
}

// GetToken implements storage.TokenStore.
func (s *Store) GetToken(ctx context.Context, kind storage.TokenKind, signature string) (*storage.Token, error) {
	var (
		t                storage.Token
		k                string
		active           int
		created, expires int64
	)
	err := s.queryRow(ctx, `SELECT kind, signature, request_id, client_id, subject, session_id,
		active, access_signature, data, created_at, expires_at FROM tokens
		WHERE kind = ? AND signature = ? AND (expires_at = 0 OR expires_at > ?)`, string(kind), signature, storage.UnixMicro(s.now())).
		Scan(&k, &t.Signature, &t.RequestID, &t.ClientID, &t.Subject, &t.SessionID, &active, &t.AccessSignature,
			&t.Data, &created, &expires)
	if err != nil {
		return nil, mapErr(err)
	}
	t.Kind, t.Active = storage.TokenKind(k), active != 0
	t.CreatedAt, t.ExpiresAt = storage.FromUnixMicro(created), storage.FromUnixMicro(expires)
	return &t, nil
}

// DeleteToken implements storage.TokenStore.
func (s *Store) DeleteToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	return affectedOne(s.exec(ctx, `DELETE FROM tokens WHERE kind = ? AND signature = ?`, string(kind), signature))
}

// DeactivateToken implements storage.TokenStore. The conditional update
// is the arbiter: of concurrent callers exactly one changes the row.
func (s *Store) DeactivateToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	now := storage.UnixMicro(s.now())
	n, err := s.exec(ctx, `UPDATE tokens SET active = 0, data = NULL WHERE kind = ? AND signature = ? AND active = 1
		AND (expires_at = 0 OR expires_at > ?)`, string(kind), signature, now)
	if err != nil || n == 1 {
		return err
	}
	var active int
	err = s.queryRow(ctx, `SELECT active FROM tokens WHERE kind = ? AND signature = ?
		AND (expires_at = 0 OR expires_at > ?)`, string(kind), signature, now).Scan(&active)
	if errors.Is(err, sqldb.ErrNoRows) {
		return storage.ErrNotFound
	}
	if err != nil {
		return err
	}
	return storage.ErrConflict
}

// RevokeTokens implements storage.TokenStore.
func (s *Store) RevokeTokens(ctx context.Context, kind storage.TokenKind, requestID string) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM tokens WHERE kind = ? AND request_id = ?`, string(kind), requestID)
	return int(n), err
}

// RevokeSubjectTokens implements storage.TokenStore.
func (s *Store) RevokeSubjectTokens(ctx context.Context, subject string) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM tokens WHERE subject = ?`, subject)
	return int(n), err
}

// RevokeClientTokens implements storage.TokenStore.
func (s *Store) RevokeClientTokens(ctx context.Context, clientID string) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM tokens WHERE client_id = ?`, clientID)
	return int(n), err
}

// RevokeUserClientTokens implements storage.TokenStore.
func (s *Store) RevokeUserClientTokens(ctx context.Context, subject, clientID string) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM tokens WHERE subject = ? AND client_id = ?`, subject, clientID)
	return int(n), err
}

// RevokeSessionTokens implements storage.TokenStore. The subject index
// (tokens_subject) narrows the delete to the user's tokens, few enough
// that session_id needs no index of its own, which every token write
// would pay for.
func (s *Store) RevokeSessionTokens(ctx context.Context, subject, sid string) (int, error) {
	if sid == "" {
		return 0, nil
	}
	n, err := s.exec(ctx, `DELETE FROM tokens WHERE subject = ? AND session_id = ?`, subject, sid)
	return int(n), err
}

// UseOnce implements storage.TokenStore. The upsert only overwrites a
// marker that has expired, so a live marker makes it change nothing.
func (s *Store) UseOnce(ctx context.Context, key string, exp time.Time) error {
	n, err := s.exec(ctx, `INSERT INTO use_once (key, expires_at) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE use_once.expires_at <= ?`,
		key, storage.UnixMicro(exp), storage.UnixMicro(s.now()))
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrAlreadyExists
	}
	return nil
}

// Hit implements storage.CounterStore. One upsert both counts and, once
// the window has passed, restarts it, so concurrent hits on one key each
// get a distinct count with no read-modify-write race.
func (s *Store) Hit(ctx context.Context, key string, window time.Duration) (int64, error) {
	now := s.now()
	at, end := storage.UnixMicro(now), storage.UnixMicro(now.Add(window))
	var n int64
	err := s.wdb.QueryRowContext(ctx, s.rebind(`INSERT INTO counters (key, count, expires_at) VALUES (?, 1, ?)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN counters.expires_at <= ? THEN 1 ELSE counters.count + 1 END,
			expires_at = CASE WHEN counters.expires_at <= ? THEN excluded.expires_at ELSE counters.expires_at END
		RETURNING count`), key, end, at, at).Scan(&n)
	if err != nil {
		return 0, mapErr(err)
	}
	return n, nil
}

// Fail implements storage.CounterStore: one upsert counts the failure and
// moves the count's end to window after it.
func (s *Store) Fail(ctx context.Context, key string, window time.Duration) (int64, error) {
	now := s.now()
	at, end := storage.UnixMicro(now), storage.UnixMicro(now.Add(window))
	var n int64
	err := s.wdb.QueryRowContext(ctx, s.rebind(`INSERT INTO counters (key, count, expires_at) VALUES (?, 1, ?)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN counters.expires_at <= ? THEN 1 ELSE counters.count + 1 END,
			expires_at = excluded.expires_at
		RETURNING count`), key, end, at).Scan(&n)
	if err != nil {
		return 0, mapErr(err)
	}
	return n, nil
}

// Failures implements storage.CounterStore.
func (s *Store) Failures(ctx context.Context, key string, window time.Duration) (int64, time.Time, error) {
	var n, end int64
	err := s.queryRow(ctx, `SELECT count, expires_at FROM counters WHERE key = ? AND expires_at > ?`,
		key, storage.UnixMicro(s.now())).Scan(&n, &end)
	if err = mapErr(err); errors.Is(err, storage.ErrNotFound) {
		return 0, time.Time{}, nil
	} else if err != nil {
		return 0, time.Time{}, err
	}
	return n, storage.FromUnixMicro(end).Add(-window), nil
}

// ClearFailures implements storage.CounterStore.
func (s *Store) ClearFailures(ctx context.Context, key string) error {
	_, err := s.exec(ctx, `DELETE FROM counters WHERE key = ?`, key)
	return err
}
