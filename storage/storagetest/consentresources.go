package storagetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// consentResourceTests check the resources a consent lets the client
// reach (storage.Consent.Resources); the consent suite's round trips cover
// them too, through fullConsent.
var consentResourceTests = []test{
	{"FixtureSetsEveryField", func(t *testing.T, s Store, clock *Clock) {
		// The round trips only prove what fullConsent sets: a field added
		// to storage.Consent must be given a value there.
		v := reflect.ValueOf(*fullConsent("user-1", "client-1", clock.Now()))
		for i := range v.NumField() {
			if v.Field(i).IsZero() {
				t.Errorf("fullConsent leaves storage.Consent.%s zero; give it a value so the round trip covers it", v.Type().Field(i).Name)
			}
		}
	}},
	{"ReplacedByAnAnswer", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		seedClient(t, s, "client-1", clock.Now())
		first := fullConsent("user-1", "client-1", clock.Now())
		must(t, s.PutConsent(t.Context(), clone(first)), "PutConsent(two resources)")
		clock.Advance(time.Hour)
		want := clone(first)
		want.Resources = append(append([]string(nil), first.Resources...), "https://billing.example.com")
		want.UpdatedAt = clock.Now()
		must(t, s.PutConsent(t.Context(), clone(want)), "PutConsent(a third resource)")
		got, err := s.GetConsent(t.Context(), "user-1", "client-1")
		must(t, err, "GetConsent")
		checkRecord(t, "GetConsent after allowing a third resource", got, want)
	}},
	{"NoResources", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		seedClient(t, s, "client-1", clock.Now())
		must(t, s.PutConsent(t.Context(), fullConsent("user-1", "client-1", clock.Now())), "PutConsent(resources)")
		want := fullConsent("user-1", "client-1", clock.Now())
		want.Resources = nil
		must(t, s.PutConsent(t.Context(), clone(want)), "PutConsent(no resources)")
		got, err := s.GetConsent(t.Context(), "user-1", "client-1")
		must(t, err, "GetConsent")
		if len(got.Resources) != 0 {
			t.Errorf("GetConsent().Resources after a consent to no resource = %q, want none", got.Resources)
		}
		l, err := s.ListConsents(t.Context(), "user-1")
		must(t, err, "ListConsents")
		checkList(t, "ListConsents of a consent to no resource", l, []*storage.Consent{want}, consentClient)
	}},
}
