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
