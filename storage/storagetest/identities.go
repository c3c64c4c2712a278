package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

func identityID(i *storage.Identity) string { return i.ID }

var identityTests = []test{
	{"RoundTrip", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		want := fullIdentity("ident-1", "user-1", "google", "1234567890", clock.Now())
		must(t, s.CreateIdentity(t.Context(), clone(want)), "CreateIdentity")
		got, err := s.GetIdentity(t.Context(), "google", "1234567890")
		must(t, err, "GetIdentity")
		checkRecord(t, "GetIdentity", got, want, "Claims")
	}},
	{"RoundTripNoClaims", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		want := &storage.Identity{ID: "ident-1", UserID: "user-1", Provider: "github", Subject: "42", CreatedAt: clock.Now(), UpdatedAt: clock.Now()}
		must(t, s.CreateIdentity(t.Context(), clone(want)), "CreateIdentity(no email or claims)")
		got, err := s.GetIdentity(t.Context(), "github", "42")
		must(t, err, "GetIdentity")
		checkRecord(t, "GetIdentity", got, want, "Claims")
	}},
	{"UpdateDropsTokens", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		seedUser(t, s, "user-1", now)
		orig := fullIdentity("ident-1", "user-1", "github", "42", now)
		must(t, s.CreateIdentity(t.Context(), clone(orig)), "CreateIdentity")
		clock.Advance(time.Minute)
		want := clone(orig)
		want.Tokens = nil
		want.UpdatedAt = clock.Now()
		must(t, s.UpdateIdentity(t.Context(), clone(want)), "UpdateIdentity(no tokens)")
		got, err := s.GetIdentity(t.Context(), "github", "42")
		must(t, err, "GetIdentity")
		if len(got.Tokens) != 0 {
			t.Errorf("GetIdentity after UpdateIdentity without tokens: Tokens = %x, want none", got.Tokens)
		}
	}},
	{"ProviderSubjectUnique", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		seedUser(t, s, "user-1", now)
		seedUser(t, s, "user-2", now)
		first := fullIdentity("ident-1", "user-1", "github", "42", now)
		must(t, s.CreateIdentity(t.Context(), clone(first)), "CreateIdentity")
		wantErr(t, s.CreateIdentity(t.Context(), fullIdentity("ident-2", "user-2", "github", "42", now)), storage.ErrAlreadyExists, "CreateIdentity(same provider and subject, other ID and user)")
		wantErr(t, s.CreateIdentity(t.Context(), fullIdentity("ident-1", "user-2", "gitlab", "7", now)), storage.ErrAlreadyExists, "CreateIdentity(existing ID)")
		got, err := s.GetIdentity(t.Context(), "github", "42")
		must(t, err, "GetIdentity")
		checkRecord(t, "GetIdentity after rejected duplicates", got, first, "Claims")
		_, err = s.GetIdentity(t.Context(), "gitlab", "7")
		wantErr(t, err, storage.ErrNotFound, "GetIdentity(of a rejected duplicate ID)")
		// The same subject at another provider is another account.
		other := fullIdentity("ident-3", "user-2", "google", "42", now)
		must(t, s.CreateIdentity(t.Context(), clone(other)), "CreateIdentity(same subject, other provider)")
		got, err = s.GetIdentity(t.Context(), "google", "42")
		must(t, err, "GetIdentity(google, 42)")
		checkRecord(t, "GetIdentity(google, 42)", got, other, "Claims")
	}},
	{"Missing", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		must(t, s.CreateIdentity(t.Context(), fullIdentity("ident-1", "user-1", "github", "42", clock.Now())), "CreateIdentity")
		_, err := s.GetIdentity(t.Context(), "github", "43")
		wantErr(t, err, storage.ErrNotFound, "GetIdentity(missing subject)")
		_, err = s.GetIdentity(t.Context(), "gitlab", "42")
		wantErr(t, err, storage.ErrNotFound, "GetIdentity(subject at another provider)")
		wantErr(t, s.UpdateIdentity(t.Context(), fullIdentity("nope", "user-1", "github", "99", clock.Now())), storage.ErrNotFound, "UpdateIdentity(missing)")
		wantErr(t, s.DeleteIdentity(t.Context(), "nope"), storage.ErrNotFound, "DeleteIdentity(missing)")
		_, err = s.GetIdentity(t.Context(), "github", "99")
		wantErr(t, err, storage.ErrNotFound, "GetIdentity after UpdateIdentity(missing)")
	}},
	{"Update", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		seedUser(t, s, "user-1", now)
		orig := fullIdentity("ident-1", "user-1", "github", "42", now)
		must(t, s.CreateIdentity(t.Context(), clone(orig)), "CreateIdentity")
		other := fullIdentity("ident-2", "user-1", "google", "42", now)
		must(t, s.CreateIdentity(t.Context(), clone(other)), "CreateIdentity")
		clock.Advance(time.Hour)
		want := clone(orig)
		want.Email = "new@upstream.example"
		want.Claims = []byte(`{"sub":"42","name":"New Name"}`)
		want.Tokens = []byte{1, 2, 3, 0, 0xfe}
		want.UpdatedAt = clock.Now()
		must(t, s.UpdateIdentity(t.Context(), clone(want)), "UpdateIdentity")
		got, err := s.GetIdentity(t.Context(), "github", "42")
		must(t, err, "GetIdentity")
		checkRecord(t, "GetIdentity after UpdateIdentity", got, want, "Claims")
		got, err = s.GetIdentity(t.Context(), "google", "42")
		must(t, err, "GetIdentity(identity not updated)")
		checkRecord(t, "GetIdentity of an identity not updated", got, other, "Claims")
	}},
	{"ListByUser", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		for _, u := range []string{"user-1", "user-2", "user-3"} {
			seedUser(t, s, u, now)
		}
		want := []*storage.Identity{
			fullIdentity("ident-b", "user-1", "google", "g1", now),
			fullIdentity("ident-a", "user-1", "github", "h1", now),
			fullIdentity("ident-c", "user-1", "gitlab", "l1", now),
		}
		for _, i := range want {
			must(t, s.CreateIdentity(t.Context(), clone(i)), "CreateIdentity(%s)", i.ID)
		}
		must(t, s.CreateIdentity(t.Context(), fullIdentity("ident-z", "user-2", "github", "h2", now)), "CreateIdentity(user-2)")
		got, err := s.ListIdentities(t.Context(), "user-1")
		must(t, err, "ListIdentities(user-1)")
		checkList(t, "ListIdentities(user-1) (sorted by ID)", sortedBy(got, identityID), sortedBy(want, identityID), identityID, "Claims")
		checkEmpty(t, "ListIdentities(user with none)", func(ctx context.Context) (int, error) {
			l, err := s.ListIdentities(ctx, "user-3")
			return len(l), err
		})
	}},
	{"Delete", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		seedUser(t, s, "user-1", now)
		must(t, s.CreateIdentity(t.Context(), fullIdentity("ident-1", "user-1", "github", "42", now)), "CreateIdentity")
		keep := fullIdentity("ident-2", "user-1", "google", "42", now)
		must(t, s.CreateIdentity(t.Context(), clone(keep)), "CreateIdentity")
		must(t, s.DeleteIdentity(t.Context(), "ident-1"), "DeleteIdentity")
		_, err := s.GetIdentity(t.Context(), "github", "42")
		wantErr(t, err, storage.ErrNotFound, "GetIdentity(deleted)")
		wantErr(t, s.DeleteIdentity(t.Context(), "ident-1"), storage.ErrNotFound, "DeleteIdentity(already deleted)")
		got, err := s.ListIdentities(t.Context(), "user-1")
		must(t, err, "ListIdentities")
		checkList(t, "ListIdentities after DeleteIdentity", got, []*storage.Identity{keep}, identityID, "Claims")
		must(t, s.CreateIdentity(t.Context(), fullIdentity("ident-3", "user-1", "github", "42", now)), "CreateIdentity(provider and subject of a deleted identity)")
	}},
}
