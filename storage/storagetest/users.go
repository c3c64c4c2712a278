package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

var userTests = []test{
	{"RoundTrip", func(t *testing.T, s Store, clock *Clock) {
		u := fullUser("user-1", "Ada.Lovelace@Example.COM", clock.Now())
		must(t, s.CreateUser(t.Context(), clone(u)), "CreateUser")
		want := clone(u)
		want.Email = "ada.lovelace@example.com"
		got, err := s.GetUser(t.Context(), u.ID)
		must(t, err, "GetUser(%q)", u.ID)
		checkRecord(t, "GetUser (Email stored lower-cased)", got, want)
	}},
	{"RoundTripFlags", func(t *testing.T, s Store, clock *Clock) {
		u := fullUser("user-1", "flags@example.com", clock.Now())
		u.EmailVerified, u.PhoneNumberVerified, u.Disabled = false, false, true
		u.Address = storage.Address{Country: "NZ"}
		must(t, s.CreateUser(t.Context(), clone(u)), "CreateUser")
		got, err := s.GetUser(t.Context(), u.ID)
		must(t, err, "GetUser(%q)", u.ID)
		checkRecord(t, "GetUser", got, u)
	}},
	{"Attributes", func(t *testing.T, s Store, clock *Clock) {
		ctx := t.Context()
		u := fullUser("user-1", "attrs@example.com", clock.Now())
		u.Attributes = map[string]any{"loyalty_id": "L-1", "newsletter": false, "shoe_size": 40.0, "note": "Grüße, \"quoted\"\n"}
		must(t, s.CreateUser(ctx, clone(u)), "CreateUser")
		got, err := s.GetUser(ctx, u.ID)
		must(t, err, "GetUser")
		checkRecord(t, "GetUser (attributes of every type)", got, u)

		// An update replaces the attributes: changed, added and removed.
		clock.Advance(time.Minute)
		u.Attributes = map[string]any{"loyalty_id": "L-2", "newsletter": true, "tier": 3.0}
		u.UpdatedAt = clock.Now()
		must(t, s.UpdateUser(ctx, clone(u)), "UpdateUser")
		got, err = s.GetUser(ctx, u.ID)
		must(t, err, "GetUser after UpdateUser")
		checkRecord(t, "GetUser after the attributes changed", got, u)
		if _, ok := got.Attributes["shoe_size"]; ok {
			t.Errorf("GetUser after UpdateUser without shoe_size = %v, want it gone", got.Attributes)
		}

		// None left: they read as empty.
		u.Attributes = nil
		must(t, s.UpdateUser(ctx, clone(u)), "UpdateUser(no attributes)")
		got, err = s.GetUser(ctx, u.ID)
		must(t, err, "GetUser after the attributes were cleared")
		if len(got.Attributes) != 0 {
			t.Errorf("GetUser after the attributes were cleared = %v, want none", got.Attributes)
		}
		other, err := s.GetUser(ctx, seedUser(t, s, "user-2", clock.Now()).ID)
		must(t, err, "GetUser(user-2)")
		if other.Attributes["loyalty_id"] != "L-user-2" {
			t.Errorf("GetUser(user-2).Attributes = %v, want its own", other.Attributes)
		}
	}},
	{"EmailCaseInsensitive", func(t *testing.T, s Store, clock *Clock) {
		must(t, s.CreateUser(t.Context(), fullUser("user-1", "Ada@Example.com", clock.Now())), "CreateUser")
		seedUser(t, s, "user-2", clock.Now())
		for _, email := range []string{"ada@example.com", "ADA@EXAMPLE.COM", "Ada@Example.com"} {
			got, err := s.GetUserByEmail(t.Context(), email)
			if err != nil {
				t.Errorf("GetUserByEmail(%q) = %v, want user-1", email, err)
				continue
			}
			if got.ID != "user-1" || got.Email != "ada@example.com" {
				t.Errorf("GetUserByEmail(%q) = %q with email %q, want user-1 with email \"ada@example.com\"", email, got.ID, got.Email)
			}
		}
		_, err := s.GetUserByEmail(t.Context(), "ada@example.org")
		wantErr(t, err, storage.ErrNotFound, "GetUserByEmail(unknown email)")
	}},
	{"CreateDuplicateID", func(t *testing.T, s Store, clock *Clock) {
		first := seedUser(t, s, "user-1", clock.Now())
		wantErr(t, s.CreateUser(t.Context(), fullUser("user-1", "other@example.com", clock.Now())), storage.ErrAlreadyExists, "CreateUser(existing ID)")
		_, err := s.GetUserByEmail(t.Context(), "other@example.com")
		wantErr(t, err, storage.ErrNotFound, "GetUserByEmail(email of a rejected duplicate)")
		got, err := s.GetUser(t.Context(), first.ID)
		must(t, err, "GetUser(%q)", first.ID)
		checkRecord(t, "GetUser after a rejected duplicate", got, first)
	}},
	{"CreateDuplicateEmail", func(t *testing.T, s Store, clock *Clock) {
		must(t, s.CreateUser(t.Context(), fullUser("user-1", "A@Example.com", clock.Now())), "CreateUser")
		wantErr(t, s.CreateUser(t.Context(), fullUser("user-2", "a@example.com", clock.Now())), storage.ErrAlreadyExists, "CreateUser(email of another user, other case)")
		wantErr(t, s.CreateUser(t.Context(), fullUser("user-3", "A@EXAMPLE.COM", clock.Now())), storage.ErrAlreadyExists, "CreateUser(email of another user, upper case)")
		for _, id := range []string{"user-2", "user-3"} {
			_, err := s.GetUser(t.Context(), id)
			wantErr(t, err, storage.ErrNotFound, "GetUser(%q) after its create was rejected", id)
		}
		got, err := s.GetUserByEmail(t.Context(), "a@example.com")
		must(t, err, "GetUserByEmail")
		if got.ID != "user-1" {
			t.Errorf("GetUserByEmail = %q, want the first user, user-1", got.ID)
		}
	}},
	{"NoEmail", func(t *testing.T, s Store, clock *Clock) {
		// Users without an address (an upstream account that shares
		// none) do not collide with each other.
		for _, id := range []string{"user-1", "user-2"} {
			want := fullUser(id, "", clock.Now())
			must(t, s.CreateUser(t.Context(), clone(want)), "CreateUser(%s without email)", id)
			got, err := s.GetUser(t.Context(), id)
			must(t, err, "GetUser(%s)", id)
			checkRecord(t, "GetUser", got, want)
		}
		_, err := s.GetUserByEmail(t.Context(), "")
		wantErr(t, err, storage.ErrNotFound, "GetUserByEmail(\"\")")
	}},
	{"Missing", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		_, err := s.GetUser(t.Context(), "nope")
		wantErr(t, err, storage.ErrNotFound, "GetUser(missing)")
		_, err = s.GetUserByEmail(t.Context(), "nope@example.com")
		wantErr(t, err, storage.ErrNotFound, "GetUserByEmail(missing)")
		wantErr(t, s.UpdateUser(t.Context(), fullUser("nope", "nope@example.com", clock.Now())), storage.ErrNotFound, "UpdateUser(missing)")
		wantErr(t, s.DeleteUser(t.Context(), "nope"), storage.ErrNotFound, "DeleteUser(missing)")
		if _, err := s.GetUser(t.Context(), "nope"); err == nil {
			t.Error("GetUser after UpdateUser(missing) found the user, want UpdateUser not to create it")
		}
	}},
	{"Update", func(t *testing.T, s Store, clock *Clock) {
		orig := seedUser(t, s, "user-1", clock.Now())
		other := seedUser(t, s, "user-2", clock.Now())
		clock.Advance(time.Hour)
		u := &storage.User{
			ID:                  orig.ID,
			Email:               "Grace@Navy.example",
			EmailVerified:       false,
			Name:                "Grace Hopper",
			GivenName:           "Grace",
			FamilyName:          "Hopper",
			Locale:              "en-US",
			PhoneNumberVerified: false,
			Address:             storage.Address{Locality: "Arlington", Country: "US"},
			Disabled:            true,
			CreatedAt:           orig.CreatedAt,
			UpdatedAt:           clock.Now(),
		}
		must(t, s.UpdateUser(t.Context(), clone(u)), "UpdateUser")
		want := clone(u)
		want.Email = "grace@navy.example"
		got, err := s.GetUser(t.Context(), u.ID)
		must(t, err, "GetUser(%q)", u.ID)
		checkRecord(t, "GetUser after UpdateUser (Email stored lower-cased)", got, want)
		got, err = s.GetUserByEmail(t.Context(), "GRACE@navy.example")
		if err != nil || got.ID != u.ID {
			t.Errorf("GetUserByEmail(new email) = %v, %v; want user-1", got, err)
		}
		_, err = s.GetUserByEmail(t.Context(), orig.Email)
		wantErr(t, err, storage.ErrNotFound, "GetUserByEmail(old email after it changed)")
		got, err = s.GetUser(t.Context(), other.ID)
		must(t, err, "GetUser(%q)", other.ID)
		checkRecord(t, "GetUser of a user not updated", got, other)
		// The old email is free again.
		must(t, s.CreateUser(t.Context(), fullUser("user-3", orig.Email, clock.Now())), "CreateUser(email user-1 gave up)")
	}},
	{"UpdateOwnEmailCase", func(t *testing.T, s Store, clock *Clock) {
		u := seedUser(t, s, "user-1", clock.Now())
		u.Email = "USER-1@Example.com"
		u.Name = "changed"
		must(t, s.UpdateUser(t.Context(), clone(u)), "UpdateUser(own email in another case)")
		got, err := s.GetUser(t.Context(), u.ID)
		must(t, err, "GetUser")
		if got.Email != "user-1@example.com" || got.Name != "changed" {
			t.Errorf("GetUser after update = email %q, name %q; want \"user-1@example.com\", \"changed\"", got.Email, got.Name)
		}
	}},
	{"UpdateEmailTaken", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		b := seedUser(t, s, "user-2", clock.Now())
		changed := clone(b)
		changed.Email = "USER-1@example.COM"
		changed.Name = "should not stick"
		wantErr(t, s.UpdateUser(t.Context(), changed), storage.ErrAlreadyExists, "UpdateUser(email of another user)")
		got, err := s.GetUser(t.Context(), b.ID)
		must(t, err, "GetUser(%q)", b.ID)
		checkRecord(t, "GetUser after a rejected UpdateUser", got, b)
		got, err = s.GetUserByEmail(t.Context(), "user-1@example.com")
		if err != nil || got.ID != "user-1" {
			t.Errorf("GetUserByEmail(user-1's email) after a rejected update = %v, %v; want user-1", got, err)
		}
	}},
	{"DeleteCascades", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		seedClient(t, s, "client-1", now)
		for _, u := range []string{"gone", "kept"} {
			seedUser(t, s, u, now)
			must(t, s.PutCredential(t.Context(), fullCredential("cred-"+u, u, storage.CredentialPassword, now)), "PutCredential(%s)", u)
			must(t, s.CreateIdentity(t.Context(), fullIdentity("ident-"+u, u, "github", "sub-"+u, now)), "CreateIdentity(%s)", u)
			must(t, s.PutConsent(t.Context(), fullConsent(u, "client-1", now)), "PutConsent(%s)", u)
			must(t, s.PutSession(t.Context(), fullSession("sess-"+u, u, now)), "PutSession(%s)", u)
		}
		must(t, s.DeleteUser(t.Context(), "gone"), "DeleteUser")
		ctx := t.Context()
		_, err := s.GetUser(ctx, "gone")
		wantErr(t, err, storage.ErrNotFound, "GetUser(deleted)")
		_, err = s.GetUserByEmail(ctx, "gone@example.com")
		wantErr(t, err, storage.ErrNotFound, "GetUserByEmail(deleted user's email)")
		_, err = s.GetCredential(ctx, "gone", storage.CredentialPassword)
		wantErr(t, err, storage.ErrNotFound, "GetCredential(deleted user)")
		_, err = s.GetIdentity(ctx, "github", "sub-gone")
		wantErr(t, err, storage.ErrNotFound, "GetIdentity(deleted user's identity)")
		_, err = s.GetConsent(ctx, "gone", "client-1")
		wantErr(t, err, storage.ErrNotFound, "GetConsent(deleted user)")
		_, err = s.GetSession(ctx, "sess-gone")
		wantErr(t, err, storage.ErrNotFound, "GetSession(deleted user's session)")
		checkEmpty(t, "ListIdentities(deleted user)", func(ctx context.Context) (int, error) {
			l, err := s.ListIdentities(ctx, "gone")
			return len(l), err
		})
		checkEmpty(t, "ListConsents(deleted user)", func(ctx context.Context) (int, error) {
			l, err := s.ListConsents(ctx, "gone")
			return len(l), err
		})
		checkEmpty(t, "ListUserSessions(deleted user)", func(ctx context.Context) (int, error) {
			l, err := s.ListUserSessions(ctx, "gone")
			return len(l), err
		})

		_, err = s.GetUser(ctx, "kept")
		must(t, err, "GetUser(other user)")
		_, err = s.GetCredential(ctx, "kept", storage.CredentialPassword)
		must(t, err, "GetCredential(other user)")
		_, err = s.GetIdentity(ctx, "github", "sub-kept")
		must(t, err, "GetIdentity(other user's identity)")
		_, err = s.GetConsent(ctx, "kept", "client-1")
		must(t, err, "GetConsent(other user)")
		_, err = s.GetSession(ctx, "sess-kept")
		must(t, err, "GetSession(other user's session)")

		// The ID, email and upstream account are free again, with nothing
		// of the old user attached.
		must(t, s.CreateUser(ctx, fullUser("gone", "gone@example.com", now)), "CreateUser(ID and email of the deleted user)")
		must(t, s.CreateIdentity(ctx, fullIdentity("ident-new", "gone", "github", "sub-gone", now)), "CreateIdentity(upstream account of the deleted user)")
		_, err = s.GetCredential(ctx, "gone", storage.CredentialPassword)
		wantErr(t, err, storage.ErrNotFound, "GetCredential(re-created user)")
	}},
	{"Pages", func(t *testing.T, s Store, clock *Clock) {
		list := func(ctx context.Context, p storage.Page) ([]string, string, error) {
			us, next, err := s.ListUsers(ctx, p)
			return ids(us, userID), next, err
		}
		testPages(t, list, func(id string) { seedUser(t, s, id, clock.Now()) })
	}},
	{"ListRecords", func(t *testing.T, s Store, clock *Clock) {
		b := seedUser(t, s, "user-b", clock.Now())
		a := fullUser("user-a", "Mixed@Case.example", clock.Now())
		must(t, s.CreateUser(t.Context(), clone(a)), "CreateUser")
		a.Email = "mixed@case.example"
		got, next, err := s.ListUsers(t.Context(), storage.Page{})
		must(t, err, "ListUsers")
		if next != "" {
			t.Errorf("ListUsers(all fit in one page) next = %q, want \"\"", next)
		}
		checkList(t, "ListUsers", got, []*storage.User{a, b}, userID)
	}},
}

func userID(u *storage.User) string { return u.ID }

// checkEmpty fails t unless list succeeds with no records.
func checkEmpty(t *testing.T, what string, list func(ctx context.Context) (int, error)) {
	t.Helper()
	n, err := list(t.Context())
	if err != nil || n != 0 {
		t.Errorf("%s = %d records, %v; want none and no error", what, n, err)
	}
}
