package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

func consentClient(c *storage.Consent) string { return c.ClientID }

var consentTests = []test{
	{"RoundTrip", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		seedClient(t, s, "client-1", clock.Now())
		want := fullConsent("user-1", "client-1", clock.Now())
		must(t, s.PutConsent(t.Context(), clone(want)), "PutConsent")
		got, err := s.GetConsent(t.Context(), "user-1", "client-1")
		must(t, err, "GetConsent")
		checkRecord(t, "GetConsent", got, want)
	}},
	{"PutReplaces", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		seedClient(t, s, "client-1", clock.Now())
		first := fullConsent("user-1", "client-1", clock.Now())
		must(t, s.PutConsent(t.Context(), clone(first)), "PutConsent(first)")
		clock.Advance(time.Hour)
		want := clone(first)
		want.Scopes = []string{"openid", "offline_access"}
		want.UpdatedAt = clock.Now()
		must(t, s.PutConsent(t.Context(), clone(want)), "PutConsent(same user and client)")
		got, err := s.GetConsent(t.Context(), "user-1", "client-1")
		must(t, err, "GetConsent")
		checkRecord(t, "GetConsent after a replacing PutConsent", got, want)
		l, err := s.ListConsents(t.Context(), "user-1")
		must(t, err, "ListConsents")
		checkList(t, "ListConsents after a replacing PutConsent", l, []*storage.Consent{want}, consentClient)
	}},
	{"Missing", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		seedClient(t, s, "client-1", clock.Now())
		seedClient(t, s, "client-2", clock.Now())
		must(t, s.PutConsent(t.Context(), fullConsent("user-1", "client-1", clock.Now())), "PutConsent")
		_, err := s.GetConsent(t.Context(), "user-1", "client-2")
		wantErr(t, err, storage.ErrNotFound, "GetConsent(client not consented)")
		_, err = s.GetConsent(t.Context(), "nope", "client-1")
		wantErr(t, err, storage.ErrNotFound, "GetConsent(missing user)")
		wantErr(t, s.DeleteConsent(t.Context(), "user-1", "client-2"), storage.ErrNotFound, "DeleteConsent(missing)")
	}},
	{"ListAndDelete", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		for _, u := range []string{"user-1", "user-2", "user-3"} {
			seedUser(t, s, u, now)
		}
		for _, c := range []string{"client-a", "client-b", "client-c"} {
			seedClient(t, s, c, now)
		}
		b := fullConsent("user-1", "client-b", now)
		a := fullConsent("user-1", "client-a", now)
		a.Scopes = []string{"openid"}
		for _, c := range []*storage.Consent{b, a, fullConsent("user-2", "client-c", now), fullConsent("user-2", "client-a", now)} {
			must(t, s.PutConsent(t.Context(), clone(c)), "PutConsent(%s, %s)", c.UserID, c.ClientID)
		}
		got, err := s.ListConsents(t.Context(), "user-1")
		must(t, err, "ListConsents(user-1)")
		checkList(t, "ListConsents(user-1) (sorted by client)", sortedBy(got, consentClient), []*storage.Consent{a, b}, consentClient)
		checkEmpty(t, "ListConsents(user with none)", func(ctx context.Context) (int, error) {
			l, err := s.ListConsents(ctx, "user-3")
			return len(l), err
		})

		must(t, s.DeleteConsent(t.Context(), "user-1", "client-a"), "DeleteConsent")
		_, err = s.GetConsent(t.Context(), "user-1", "client-a")
		wantErr(t, err, storage.ErrNotFound, "GetConsent(deleted)")
		wantErr(t, s.DeleteConsent(t.Context(), "user-1", "client-a"), storage.ErrNotFound, "DeleteConsent(already deleted)")
		got, err = s.ListConsents(t.Context(), "user-1")
		must(t, err, "ListConsents(user-1)")
		checkList(t, "ListConsents(user-1) after DeleteConsent", got, []*storage.Consent{b}, consentClient)
		if _, err := s.GetConsent(t.Context(), "user-2", "client-a"); err != nil {
			t.Errorf("GetConsent(user-2, client-a) after deleting user-1's = %v, want it kept", err)
		}
	}},
}

func eventID(e *storage.ConsentEvent) string { return e.ID }

// ledgerEvent is a ledger entry with every field set.
func ledgerEvent(userID, clientID, purpose, action string, at time.Time) *storage.ConsentEvent {
	return &storage.ConsentEvent{
		UserID:        userID,
		ClientID:      clientID,
		Purpose:       purpose,
		Scopes:        []string{"openid", "profile", "email"},
		Resources:     []string{"https://api.example.com/orders"},
		Action:        action,
		At:            at,
		PolicyVersion: "2031-01",
		IP:            "2001:db8::7",
		UserAgent:     "Mozilla/5.0 (X11; Linux) Zoë/1.0",
	}
}

var ledgerTests = []test{
	{"PolicyVersionKept", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		seedClient(t, s, "client-1", clock.Now())
		c := fullConsent("user-1", "client-1", clock.Now())
		c.PolicyVersion = "v1"
		must(t, s.PutConsent(t.Context(), clone(c)), "PutConsent(v1)")
		got, err := s.GetConsent(t.Context(), "user-1", "client-1")
		must(t, err, "GetConsent")
		if got.PolicyVersion != "v1" {
			t.Errorf("GetConsent().PolicyVersion = %q, want v1", got.PolicyVersion)
		}
		clock.Advance(time.Minute)
		c.PolicyVersion, c.UpdatedAt = "v2", clock.Now()
		must(t, s.PutConsent(t.Context(), clone(c)), "PutConsent(v2)")
		l, err := s.ListConsents(t.Context(), "user-1")
		must(t, err, "ListConsents")
		checkList(t, "ListConsents after a new policy version", l, []*storage.Consent{c}, consentClient)
	}},
	{"AppendAndList", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		seedUser(t, s, "user-1", now)
		seedUser(t, s, "user-2", now)
		granted := ledgerEvent("user-1", "client-1", "", storage.ConsentGranted, now)
		marketing := ledgerEvent("user-1", "", "marketing", storage.ConsentGranted, now.Add(time.Second))
		marketing.Scopes, marketing.Resources = nil, nil
		other := ledgerEvent("user-2", "client-1", "", storage.ConsentGranted, now.Add(2*time.Second))
		revoked := ledgerEvent("user-1", "client-1", "", storage.ConsentRevoked, now.Add(3*time.Second))
		var want []*storage.ConsentEvent
		for _, e := range []*storage.ConsentEvent{granted, marketing, other, revoked} {
			in := clone(e)
			must(t, s.AppendConsentEvent(t.Context(), in), "AppendConsentEvent(%s %s)", e.UserID, e.Action)
			if in.ID == "" {
				t.Fatalf("AppendConsentEvent left the ID empty")
			}
			e.ID = in.ID
			if e.UserID == "user-1" {
				want = append(want, e)
			}
		}
		got, err := s.ListConsentEvents(t.Context(), "user-1")
		must(t, err, "ListConsentEvents(user-1)")
		checkList(t, "ListConsentEvents(user-1), oldest first", got, want, eventID)
		checkEmpty(t, "ListConsentEvents(user with none)", func(ctx context.Context) (int, error) {
			l, err := s.ListConsentEvents(ctx, "nobody")
			return len(l), err
		})
	}},
	{"OldestFirst", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		seedUser(t, s, "user-1", now)
		// Appended out of time order: the list follows At, not the order
		// of appending.
		late := ledgerEvent("user-1", "client-1", "", storage.ConsentRevoked, now.Add(time.Hour))
		early := ledgerEvent("user-1", "client-1", "", storage.ConsentGranted, now)
		for _, e := range []*storage.ConsentEvent{late, early} {
			in := clone(e)
			must(t, s.AppendConsentEvent(t.Context(), in), "AppendConsentEvent")
			e.ID = in.ID
		}
		got, err := s.ListConsentEvents(t.Context(), "user-1")
		must(t, err, "ListConsentEvents")
		checkList(t, "ListConsentEvents of events appended out of order", got, []*storage.ConsentEvent{early, late}, eventID)
	}},
	{"StampsTime", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		e := ledgerEvent("user-1", "client-1", "", storage.ConsentGranted, time.Time{})
		must(t, s.AppendConsentEvent(t.Context(), e), "AppendConsentEvent(zero At)")
		got, err := s.ListConsentEvents(t.Context(), "user-1")
		must(t, err, "ListConsentEvents")
		if len(got) != 1 || !got[0].At.Equal(clock.Now().Truncate(time.Microsecond)) {
			t.Fatalf("ListConsentEvents after appending with a zero At = %+v, want one event at the store's now %v", got, clock.Now())
		}
	}},
	{"ErasedWithUser", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		seedUser(t, s, "gone", now)
		seedUser(t, s, "kept", now)
		for _, u := range []string{"gone", "kept"} {
			must(t, s.AppendConsentEvent(t.Context(), ledgerEvent(u, "client-1", "", storage.ConsentGranted, now)), "AppendConsentEvent(%s)", u)
			must(t, s.AppendConsentEvent(t.Context(), ledgerEvent(u, "", "newsletter", storage.ConsentRevoked, now)), "AppendConsentEvent(%s)", u)
		}
		must(t, s.DeleteUser(t.Context(), "gone"), "DeleteUser")
		checkEmpty(t, "ListConsentEvents(deleted user)", func(ctx context.Context) (int, error) {
			l, err := s.ListConsentEvents(ctx, "gone")
			return len(l), err
		})
		l, err := s.ListConsentEvents(t.Context(), "kept")
		must(t, err, "ListConsentEvents(other user)")
		if len(l) != 2 {
			t.Errorf("ListConsentEvents(other user) after DeleteUser = %d events, want 2", len(l))
		}
	}},
}
