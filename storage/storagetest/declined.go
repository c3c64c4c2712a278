package storagetest

import (
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// declinedTests check the scopes a consent remembers as declined
// (storage.Consent.Declined); the consent suite's round trips cover them
// too, through fullConsent.
var declinedTests = []test{
	{"ReplacedByAnAnswer", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		seedClient(t, s, "client-1", clock.Now())
		first := fullConsent("user-1", "client-1", clock.Now())
		must(t, s.PutConsent(t.Context(), clone(first)), "PutConsent(phone and address declined)")
		clock.Advance(time.Hour)
		// phone granted now, address still declined.
		want := clone(first)
		want.Scopes = []string{"openid", "profile", "email", "phone"}
		want.Declined = []string{"address"}
		want.UpdatedAt = clock.Now()
		must(t, s.PutConsent(t.Context(), clone(want)), "PutConsent(phone granted)")
		got, err := s.GetConsent(t.Context(), "user-1", "client-1")
		must(t, err, "GetConsent")
		checkRecord(t, "GetConsent after granting a declined scope", got, want)
	}},
	{"NoneDeclined", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		seedClient(t, s, "client-1", clock.Now())
		must(t, s.PutConsent(t.Context(), fullConsent("user-1", "client-1", clock.Now())), "PutConsent(declined)")
		want := fullConsent("user-1", "client-1", clock.Now())
		want.Declined = nil
		must(t, s.PutConsent(t.Context(), clone(want)), "PutConsent(nothing declined)")
		got, err := s.GetConsent(t.Context(), "user-1", "client-1")
		must(t, err, "GetConsent")
		if len(got.Declined) != 0 {
			t.Errorf("GetConsent().Declined after a consent declining nothing = %q, want none", got.Declined)
		}
		l, err := s.ListConsents(t.Context(), "user-1")
		must(t, err, "ListConsents")
		checkList(t, "ListConsents of a consent declining nothing", l, []*storage.Consent{want}, consentClient)
	}},
}
