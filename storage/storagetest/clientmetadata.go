package storagetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// clientMetadataTests cover the registration metadata of a client (OpenID
// Connect Dynamic Client Registration, RFC 7591 and 7592) beyond the round
// trip of fullClient: every field is set by an update and cleared by the
// next.
var clientMetadataTests = []test{
	{"FixtureSetsEveryField", func(t *testing.T, s Store, clock *Clock) {
		// The round trip only proves what fullClient sets: a field added
		// to storage.Client must be given a value there.
		v := reflect.ValueOf(*fullClient("client-1", clock.Now()))
		for i := range v.NumField() {
			if name := v.Type().Field(i).Name; name != "Public" && v.Field(i).IsZero() {
				t.Errorf("fullClient leaves storage.Client.%s zero; give it a value so the round trip covers it", name)
			}
		}
	}},
	{"UpdateSetsAndClears", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		bare := &storage.Client{ID: "client-1", Public: true, TokenEndpointAuthMethod: "none", CreatedAt: now, UpdatedAt: now}
		must(t, s.CreateClient(t.Context(), clone(bare)), "CreateClient")
		clock.Advance(time.Minute)
		full := fullClient("client-1", now)
		full.UpdatedAt = clock.Now()
		must(t, s.UpdateClient(t.Context(), clone(full)), "UpdateClient(every field set)")
		got, err := s.GetClient(t.Context(), full.ID)
		must(t, err, "GetClient")
		checkRecord(t, "GetClient after setting every field", got, full, "JWKS")

		clock.Advance(time.Minute)
		bare.UpdatedAt = clock.Now()
		must(t, s.UpdateClient(t.Context(), clone(bare)), "UpdateClient(fields cleared)")
		got, err = s.GetClient(t.Context(), bare.ID)
		must(t, err, "GetClient")
		checkRecord(t, "GetClient after clearing every field", got, bare, "JWKS")
	}},
}
