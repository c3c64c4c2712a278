package sql

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// auditSeq orders the events this process appends within one microsecond.
var auditSeq atomic.Uint32

// auditID returns a new event ID for an event at t: 16 hex digits of
// microseconds since the epoch, then 8 of a per-process sequence and 8
// random ones. IDs of the same width sort as their times, and events one
// process appends in the same microsecond sort in the order appended.
func auditID(t time.Time) string {
	var r [4]byte
	rand.Read(r[:])
	return fmt.Sprintf("%016x%08x%08x", uint64(max(t.UnixMicro(), 0)), auditSeq.Add(1), binary.BigEndian.Uint32(r[:]))
}

const auditColumns = `id, time, type, user_id, client_id, ip, user_agent, detail`

// AppendAudit implements storage.AuditStore.
func (s *Store) AppendAudit(ctx context.Context, e *storage.AuditEvent) error {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	if e.ID == "" {
		e.ID = auditID(e.Time)
	}
	detail := "{}"
	if len(e.Detail) > 0 {
		b, _ := json.Marshal(e.Detail) // a map of strings always marshals
		detail = string(b)
	}
	_, err := s.exec(ctx, `INSERT INTO audit_events (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, storage.UnixMicro(e.Time), e.Type, e.UserID, e.ClientID, e.IP, e.UserAgent, detail)
	return err
}

// ListAudit implements storage.AuditStore.
func (s *Store) ListAudit(ctx context.Context, userID string, p storage.Page) ([]*storage.AuditEvent, string, error) {
	limit := pageLimit(p)
	q := `SELECT ` + auditColumns + ` FROM audit_events`
	var args []any
	switch {
	case userID != "" && p.After != "":
		q += ` WHERE user_id = ? AND id < ?`
		args = append(args, userID, p.After)
	case userID != "":
		q += ` WHERE user_id = ?`
		args = append(args, userID)
	case p.After != "":
		q += ` WHERE id < ?`
		args = append(args, p.After)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	rows, err := s.query(ctx, q, append(args, limit+1)...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []*storage.AuditEvent
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

func scanAudit(r scanner) (*storage.AuditEvent, error) {
	var (
		e      storage.AuditEvent
		at     int64
		detail string
	)
	if err := r.Scan(&e.ID, &at, &e.Type, &e.UserID, &e.ClientID, &e.IP, &e.UserAgent, &detail); err != nil {
		return nil, mapErr(err)
	}
	e.Time = storage.FromUnixMicro(at)
	if detail != "" && detail != "{}" {
		if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
			return nil, fmt.Errorf("corrupt detail of audit event %s: %w", e.ID, err)
		}
	}
	return &e, nil
}

// PruneAudit implements storage.AuditStore.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM audit_events WHERE time < ?`, storage.UnixMicro(before))
	return int(n), err
}
