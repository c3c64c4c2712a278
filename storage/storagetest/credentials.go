package storagetest

import (
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

var credentialTests = []test{
	{"RoundTrip", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		want := fullCredential("cred-1", "user-1", storage.CredentialPassword, clock.Now())
		must(t, s.PutCredential(t.Context(), clone(want)), "PutCredential")
		got, err := s.GetCredential(t.Context(), "user-1", storage.CredentialPassword)
		must(t, err, "GetCredential")
		checkRecord(t, "GetCredential", got, want)
	}},
	{"PutReplaces", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		first := fullCredential("cred-1", "user-1", storage.CredentialPassword, clock.Now())
		must(t, s.PutCredential(t.Context(), clone(first)), "PutCredential(first)")
		clock.Advance(time.Hour)
		want := fullCredential("cred-2", "user-1", storage.CredentialPassword, first.CreatedAt)
		want.Secret = []byte("$argon2id$v=19$m=65536,t=3,p=4$new$hash")
		want.UpdatedAt = clock.Now()
		must(t, s.PutCredential(t.Context(), clone(want)), "PutCredential(same user and type)")
		got, err := s.GetCredential(t.Context(), "user-1", storage.CredentialPassword)
		must(t, err, "GetCredential")
		checkRecord(t, "GetCredential after a replacing PutCredential", got, want)
	}},
	{"PerUserAndType", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		seedUser(t, s, "user-1", now)
		seedUser(t, s, "user-2", now)
		creds := []*storage.Credential{
			fullCredential("c1", "user-1", storage.CredentialPassword, now),
			fullCredential("c2", "user-1", "totp", now),
			fullCredential("c3", "user-2", storage.CredentialPassword, now),
		}
		for _, c := range creds {
			must(t, s.PutCredential(t.Context(), clone(c)), "PutCredential(%s, %s)", c.UserID, c.Type)
		}
		for _, c := range creds {
			got, err := s.GetCredential(t.Context(), c.UserID, c.Type)
			must(t, err, "GetCredential(%s, %s)", c.UserID, c.Type)
			checkRecord(t, "GetCredential("+c.UserID+", "+c.Type+")", got, c)
		}
		_, err := s.GetCredential(t.Context(), "user-2", "totp")
		wantErr(t, err, storage.ErrNotFound, "GetCredential(user-2, a type only user-1 has)")

		must(t, s.DeleteCredential(t.Context(), "user-1", storage.CredentialPassword), "DeleteCredential")
		_, err = s.GetCredential(t.Context(), "user-1", storage.CredentialPassword)
		wantErr(t, err, storage.ErrNotFound, "GetCredential(deleted)")
		for _, c := range creds[1:] {
			got, err := s.GetCredential(t.Context(), c.UserID, c.Type)
			must(t, err, "GetCredential(%s, %s) after deleting another credential", c.UserID, c.Type)
			checkRecord(t, "GetCredential("+c.UserID+", "+c.Type+")", got, c)
		}
	}},
	{"Missing", func(t *testing.T, s Store, clock *Clock) {
		seedUser(t, s, "user-1", clock.Now())
		must(t, s.PutCredential(t.Context(), fullCredential("c1", "user-1", storage.CredentialPassword, clock.Now())), "PutCredential")
		_, err := s.GetCredential(t.Context(), "nope", storage.CredentialPassword)
		wantErr(t, err, storage.ErrNotFound, "GetCredential(missing user)")
		_, err = s.GetCredential(t.Context(), "user-1", "webauthn")
		wantErr(t, err, storage.ErrNotFound, "GetCredential(missing type)")
		wantErr(t, s.DeleteCredential(t.Context(), "user-1", "webauthn"), storage.ErrNotFound, "DeleteCredential(missing)")
		wantErr(t, s.DeleteCredential(t.Context(), "nope", storage.CredentialPassword), storage.ErrNotFound, "DeleteCredential(missing user)")
	}},
}
