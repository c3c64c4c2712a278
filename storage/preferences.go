package storage

import (
	"context"
	"time"
)

// Communication channels a user opts into per purpose.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
)

// Preferences are a user's choices for the pages and for the messages
// the operator may send them.
type Preferences struct {
	UserID string
	// Language is the pages' language as a BCP 47 tag ("en", "de"); ""
	// follows the browser.
	Language string
	// Currency is an ISO 4217 code ("EUR"); "" when the user chose none.
	Currency string
	// OptIns maps a purpose (e.g. "newsletter") to the channels the user
	// accepts messages for it on (ChannelEmail, ChannelSMS). A purpose
	// without channels is left out.
	OptIns    map[string][]string
	UpdatedAt time.Time
}

// PreferenceStore stores users' preferences.
type PreferenceStore interface {
	// GetPreferences returns the user's preferences; a record with only
	// UserID set (no error) when the user has none stored.
	GetPreferences(ctx context.Context, userID string) (*Preferences, error)
	// PutPreferences creates or replaces the user's preferences, setting
	// UpdatedAt to now when zero.
	PutPreferences(ctx context.Context, p *Preferences) error
}

// PreferenceRecorder is a PreferenceStore that also writes the consent
// ledger entries of a change of opt-ins in the same transaction as the
// preferences, so neither is stored without the other (the SQL store is
// one).
type PreferenceRecorder interface {
	PreferenceStore
	// PutPreferencesRecorded is PutPreferences plus AppendConsentEvent of
	// each of events, all or nothing.
	PutPreferencesRecorded(ctx context.Context, p *Preferences, events []*ConsentEvent) error
}
