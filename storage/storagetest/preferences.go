package storagetest

import (
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

func fullPreferences(userID string, now time.Time) *storage.Preferences {
	return &storage.Preferences{UserID: userID, Language: "de", Currency: "CHF",
		OptIns: map[string][]string{
			"newsletter": {storage.ChannelEmail, storage.ChannelSMS},
			"marketing":  {storage.ChannelSMS},
		},
		UpdatedAt: now}
}

var preferenceTests = []test{
	{"NoneStored", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		got, err := s.GetPreferences(t.Context(), "user-1")
		must(t, err, "GetPreferences(none stored)")
		checkRecord(t, "GetPreferences(none stored)", got, &storage.Preferences{UserID: "user-1"})
		got, err = s.GetPreferences(t.Context(), "no-such-user")
		must(t, err, "GetPreferences(missing user)")
		checkRecord(t, "GetPreferences(missing user)", got, &storage.Preferences{UserID: "no-such-user"})
	}},
	{"RoundTrip", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		want := fullPreferences("user-1", clock.Now())
		must(t, s.PutPreferences(t.Context(), clone(want)), "PutPreferences")
		got, err := s.GetPreferences(t.Context(), "user-1")
		must(t, err, "GetPreferences")
		checkRecord(t, "GetPreferences", got, want)
	}},
	{"StampsUpdatedAt", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		p := fullPreferences("user-1", time.Time{})
		must(t, s.PutPreferences(t.Context(), p), "PutPreferences(no UpdatedAt)")
		got, err := s.GetPreferences(t.Context(), "user-1")
		must(t, err, "GetPreferences")
		if !sameInstant(got.UpdatedAt, clock.Now()) {
			t.Errorf("UpdatedAt = %s, want now (%s)", fmtTime(got.UpdatedAt), fmtTime(clock.Now()))
		}
	}},
	{"PutReplaces", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		seedUser(t, s, "user-2", clock.Now())
		other := fullPreferences("user-2", clock.Now())
		must(t, s.PutPreferences(t.Context(), clone(other)), "PutPreferences(user-2)")
		must(t, s.PutPreferences(t.Context(), fullPreferences("user-1", clock.Now())), "PutPreferences(first)")
		clock.Advance(time.Hour)
		want := &storage.Preferences{UserID: "user-1", Language: "", Currency: "JPY",
			OptIns: map[string][]string{"newsletter": {storage.ChannelEmail}}, UpdatedAt: clock.Now()}
		must(t, s.PutPreferences(t.Context(), clone(want)), "PutPreferences(replacing)")
		got, err := s.GetPreferences(t.Context(), "user-1")
		must(t, err, "GetPreferences")
		checkRecord(t, "GetPreferences after a replacing PutPreferences", got, want)

		// Every opt-in withdrawn: none read back.
		clock.Advance(time.Hour)
		want = &storage.Preferences{UserID: "user-1", Currency: "JPY",
			OptIns: map[string][]string{"newsletter": {}}, UpdatedAt: clock.Now()}
		must(t, s.PutPreferences(t.Context(), clone(want)), "PutPreferences(no opt-ins)")
		got, err = s.GetPreferences(t.Context(), "user-1")
		must(t, err, "GetPreferences")
		want.OptIns = nil
		checkRecord(t, "GetPreferences after every opt-in withdrawn", got, want)

		got, err = s.GetPreferences(t.Context(), "user-2")
		must(t, err, "GetPreferences(user-2)")
		checkRecord(t, "GetPreferences(other user)", got, other)
	}},
	{"Recorded", func(t *testing.T, s Store, clock *Clock) {
		r, ok := s.(storage.PreferenceRecorder)
		if !ok {
			t.Skip("the store is no storage.PreferenceRecorder")
		}
		ctx := t.Context()
		seedUser(t, s, "user-1", clock.Now())
		want := fullPreferences("user-1", clock.Now())
		granted := ledgerEvent("user-1", "", "newsletter", storage.ConsentGranted, clock.Now())
		granted.Scopes = []string{storage.ChannelEmail}
		must(t, r.PutPreferencesRecorded(ctx, clone(want), []*storage.ConsentEvent{granted}), "PutPreferencesRecorded")
		got, err := s.GetPreferences(ctx, "user-1")
		must(t, err, "GetPreferences")
		checkRecord(t, "GetPreferences after PutPreferencesRecorded", got, want)
		ledger, err := s.ListConsentEvents(ctx, "user-1")
		must(t, err, "ListConsentEvents")
		if len(ledger) != 1 || ledger[0].ID != granted.ID || ledger[0].Purpose != "newsletter" {
			t.Fatalf("ledger after PutPreferencesRecorded = %d entries, want the one written", len(ledger))
		}

		// An entry that cannot be written (its ID taken) leaves the
		// preferences and the ledger as they were.
		clock.Advance(time.Hour)
		next := &storage.Preferences{UserID: "user-1", Currency: "USD", UpdatedAt: clock.Now()}
		revoked := ledgerEvent("user-1", "", "newsletter", storage.ConsentRevoked, clock.Now())
		dup := ledgerEvent("user-1", "", "marketing", storage.ConsentRevoked, clock.Now())
		dup.ID = granted.ID
		if err := r.PutPreferencesRecorded(ctx, next, []*storage.ConsentEvent{revoked, dup}); err == nil {
			t.Fatal("PutPreferencesRecorded(an entry with a taken ID) = nil, want an error")
		}
		got, err = s.GetPreferences(ctx, "user-1")
		must(t, err, "GetPreferences")
		checkRecord(t, "GetPreferences after a failed PutPreferencesRecorded", got, want)
		if ledger, err := s.ListConsentEvents(ctx, "user-1"); err != nil || len(ledger) != 1 {
			t.Errorf("ledger after a failed PutPreferencesRecorded = %d entries, %v; want the 1 before", len(ledger), err)
		}
	}},
	{"DeleteUser", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		must(t, s.PutPreferences(t.Context(), fullPreferences("user-1", clock.Now())), "PutPreferences")
		must(t, s.DeleteUser(t.Context(), "user-1"), "DeleteUser")
		got, err := s.GetPreferences(t.Context(), "user-1")
		must(t, err, "GetPreferences(deleted user)")
		checkRecord(t, "GetPreferences(deleted user)", got, &storage.Preferences{UserID: "user-1"})
	}},
}
