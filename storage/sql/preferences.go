package sql

import (
	"context"
	sqldb "database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/atrium-id/atrium/storage"
)

var _ storage.PreferenceRecorder = (*Store)(nil)

// GetPreferences implements storage.PreferenceStore.
func (s *Store) GetPreferences(ctx context.Context, userID string) (*storage.Preferences, error) {
	var (
		p       = storage.Preferences{UserID: userID}
		optIns  string
		updated int64
	)
	err := s.queryRow(ctx, `SELECT language, currency, opt_ins, updated_at FROM preferences WHERE user_id = ?`, userID).
		Scan(&p.Language, &p.Currency, &optIns, &updated)
	if err := mapErr(err); errors.Is(err, storage.ErrNotFound) {
		return &storage.Preferences{UserID: userID}, nil
	} else if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(optIns), &p.OptIns); err != nil {
		return nil, fmt.Errorf("corrupt opt_ins column: %w", err)
	}
	if len(p.OptIns) == 0 {
		p.OptIns = nil
	}
	p.UpdatedAt = storage.FromUnixMicro(updated)
	return &p, nil
}

// PutPreferences implements storage.PreferenceStore.
func (s *Store) PutPreferences(ctx context.Context, p *storage.Preferences) error {
	return s.putPreferences(ctx, s.wdb, p)
}

// PutPreferencesRecorded implements storage.PreferenceRecorder.
func (s *Store) PutPreferencesRecorded(ctx context.Context, p *storage.Preferences, events []*storage.ConsentEvent) error {
	return s.inTx(ctx, func(tx *sqldb.Tx) error {
		for _, e := range events {
			if err := s.appendConsentEvent(ctx, tx, e); err != nil {
				return err
			}
		}
		return s.putPreferences(ctx, tx, p)
	})
}

func (s *Store) putPreferences(ctx context.Context, db querier, p *storage.Preferences) error {
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = s.now()
	}
	p.UpdatedAt = p.UpdatedAt.UTC().Truncate(time.Microsecond)
	optIns, err := json.Marshal(compactOptIns(p.OptIns))
	if err != nil {
		return err
	}
	_, err = s.execOn(ctx, db, `INSERT INTO preferences (user_id, language, currency, opt_ins, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET language = excluded.language, currency = excluded.currency,
			opt_ins = excluded.opt_ins, updated_at = excluded.updated_at`,
		p.UserID, p.Language, p.Currency, string(optIns), storage.UnixMicro(p.UpdatedAt))
	return err
}

// compactOptIns drops the purposes without channels and sorts each
// purpose's channels, so equal choices store equal text.
func compactOptIns(m map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if len(m[k]) > 0 {
			out[k] = slices.Compact(slices.Sorted(slices.Values(m[k])))
		}
	}
	return out
}
