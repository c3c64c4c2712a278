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
	{"DeleteUser", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		must(t, s.PutPreferences(t.Context(), fullPreferences("user-1", clock.Now())), "PutPreferences")
		must(t, s.DeleteUser(t.Context(), "user-1"), "DeleteUser")
		got, err := s.GetPreferences(t.Context(), "user-1")
		must(t, err, "GetPreferences(deleted user)")
		checkRecord(t, "GetPreferences(deleted user)", got, &storage.Preferences{UserID: "user-1"})
	}},
}
