package sql

import (
	"context"
	sqldb "database/sql"
	"time"

	"github.com/atrium-id/atrium/storage"
)

const consentColumns = `user_id, client_id, scopes, declined, resources, policy_version, created_at, updated_at`

// GetConsent implements storage.ConsentStore.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error) {
	return scanConsent(s.queryRow(ctx, `SELECT `+consentColumns+`
		FROM consents WHERE user_id = ? AND client_id = ?`, userID, clientID))
}

// PutConsent implements storage.ConsentStore; a replaced consent keeps
// its creation time.
func (s *Store) PutConsent(ctx context.Context, c *storage.Consent) error {
	s.stamp(&c.CreatedAt, &c.UpdatedAt)
	_, err := s.exec(ctx, `INSERT INTO consents (`+consentColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, declined = excluded.declined,
			resources = excluded.resources, policy_version = excluded.policy_version, updated_at = excluded.updated_at`,
		c.UserID, c.ClientID, list(c.Scopes), list(c.Declined), list(c.Resources), c.PolicyVersion, storage.UnixMicro(c.CreatedAt), storage.UnixMicro(c.UpdatedAt))
	return err
}

// DeleteConsent implements storage.ConsentStore.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	return affectedOne(s.exec(ctx, `DELETE FROM consents WHERE user_id = ? AND client_id = ?`, userID, clientID))
}

// ListConsents implements storage.ConsentStore.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]*storage.Consent, error) {
	rows, err := s.query(ctx, `SELECT `+consentColumns+`
		FROM consents WHERE user_id = ? ORDER BY client_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*storage.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func scanConsent(r scanner) (*storage.Consent, error) {
	var (
		c                           storage.Consent
		scopes, declined, resources string
		created, updated            int64
	)
	if err := r.Scan(&c.UserID, &c.ClientID, &scopes, &declined, &resources, &c.PolicyVersion, &created, &updated); err != nil {
		return nil, mapErr(err)
	}
	var err error
	if c.Scopes, err = unlist(scopes); err != nil {
		return nil, err
	}
	if c.Declined, err = unlist(declined); err != nil {
		return nil, err
	}
	if c.Resources, err = unlist(resources); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = storage.FromUnixMicro(created), storage.FromUnixMicro(updated)
	return &c, nil
}

const consentEventColumns = `id, user_id, client_id, purpose, scopes, resources, action, at, policy_version, ip, user_agent`

// AppendConsentEvent implements storage.ConsentStore. The ledger is only
// ever inserted into; DeleteUser is the one statement that removes rows.
func (s *Store) AppendConsentEvent(ctx context.Context, e *storage.ConsentEvent) error {
	return s.appendConsentEvent(ctx, s.wdb, e)
}

func (s *Store) appendConsentEvent(ctx context.Context, db querier, e *storage.ConsentEvent) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	if e.ID == "" {
		e.ID = auditID(e.At)
	}
	_, err := s.execOn(ctx, db, `INSERT INTO consent_events (`+consentEventColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.UserID, e.ClientID, e.Purpose, list(e.Scopes), list(e.Resources), e.Action, storage.UnixMicro(e.At), e.PolicyVersion, e.IP, e.UserAgent)
	return err
}

// ListConsentEvents implements storage.ConsentStore.
func (s *Store) ListConsentEvents(ctx context.Context, userID string) ([]*storage.ConsentEvent, error) {
	rows, err := s.query(ctx, `SELECT `+consentEventColumns+`
		FROM consent_events WHERE user_id = ? ORDER BY at, id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*storage.ConsentEvent{}
	for rows.Next() {
		e, err := scanConsentEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func scanConsentEvent(r scanner) (*storage.ConsentEvent, error) {
	var (
		e                 storage.ConsentEvent
		scopes, resources string
		at                int64
	)
	if err := r.Scan(&e.ID, &e.UserID, &e.ClientID, &e.Purpose, &scopes, &resources, &e.Action, &at, &e.PolicyVersion, &e.IP, &e.UserAgent); err != nil {
		return nil, mapErr(err)
	}
	var err error
	if e.Scopes, err = unlist(scopes); err != nil {
		return nil, err
	}
	if e.Resources, err = unlist(resources); err != nil {
		return nil, err
	}
	e.At = storage.FromUnixMicro(at)
	return &e, nil
}

// deleteConsentEvents removes the user's ledger, inside the erasure of
// their account (DeleteUser).
func (s *Store) deleteConsentEvents(ctx context.Context, tx *sqldb.Tx, userID string) error {
	_, err := s.execOn(ctx, tx, `DELETE FROM consent_events WHERE user_id = ?`, userID)
	return err
}
