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
		put := clone(want)
		must(t, s.PutCredential(t.Context(), put), "PutCredential")
		// A single-type credential's ID is the store's, whatever was passed.
		want.ID = "user-1:" + storage.CredentialPassword
		if put.ID != want.ID {
			t.Errorf("PutCredential(password with ID %q) set ID %q, want %q", "cred-1", put.ID, want.ID)
		}
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
		want.ID = "user-1:" + storage.CredentialPassword
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
			c.ID = c.UserID + ":" + c.Type
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
	{"ListCredentials", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		seedUser(t, s, "user-1", now)
		seedUser(t, s, "user-2", now)
		seedUser(t, s, "user-3", now)
		// Put out of order: the listing orders by CreatedAt, then by ID
		// among credentials created in the same instant.
		pkB := fullCredential("pk-b", "user-1", storage.CredentialPasskey, now.Add(2*time.Minute))
		pkA := fullCredential("pk-a", "user-1", storage.CredentialPasskey, now.Add(2*time.Minute))
		totp := fullCredential("", "user-1", storage.CredentialTOTP, now.Add(time.Minute))
		codes := fullCredential("", "user-1", storage.CredentialRecoveryCodes, now.Add(3*time.Minute))
		pw := fullCredential("", "user-1", storage.CredentialPassword, now)
		other := fullCredential("pk-c", "user-2", storage.CredentialPasskey, now)
		for _, c := range []*storage.Credential{pkB, pkA, totp, codes, pw, other} {
			must(t, s.PutCredential(t.Context(), clone(c)), "PutCredential(%s, %s, %q)", c.UserID, c.Type, c.ID)
		}
		for _, c := range []*storage.Credential{totp, codes, pw} {
			c.ID = c.UserID + ":" + c.Type
		}
		got, err := s.ListCredentials(t.Context(), "user-1")
		must(t, err, "ListCredentials(user-1)")
		checkList(t, "ListCredentials(user-1)", got, []*storage.Credential{pw, totp, pkA, pkB, codes}, credentialID)
		got, err = s.ListCredentials(t.Context(), "user-2")
		must(t, err, "ListCredentials(user-2)")
		checkList(t, "ListCredentials(user-2)", got, []*storage.Credential{other}, credentialID)
		for _, id := range []string{"user-3", "nobody"} {
			got, err = s.ListCredentials(t.Context(), id)
			if err != nil || got == nil || len(got) != 0 {
				t.Errorf("ListCredentials(%s, who has none) = %#v, %v; want an empty slice, no error", id, got, err)
			}
		}
	}},
	{"DeleteCredentialByID", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		seedUser(t, s, "user-1", now)
		seedUser(t, s, "user-2", now)
		pk1 := fullCredential("pk-1", "user-1", storage.CredentialPasskey, now)
		pk2 := fullCredential("pk-2", "user-1", storage.CredentialPasskey, now.Add(time.Second))
		totp := fullCredential("", "user-1", storage.CredentialTOTP, now.Add(2*time.Second))
		theirs := fullCredential("pk-3", "user-2", storage.CredentialPasskey, now)
		for _, c := range []*storage.Credential{pk1, pk2, totp, theirs} {
			must(t, s.PutCredential(t.Context(), clone(c)), "PutCredential(%s, %s, %q)", c.UserID, c.Type, c.ID)
		}
		totp.ID = "user-1:" + storage.CredentialTOTP

		must(t, s.DeleteCredentialByID(t.Context(), "user-1", "pk-1"), "DeleteCredentialByID(user-1, pk-1)")
		wantErr(t, s.DeleteCredentialByID(t.Context(), "user-1", "pk-1"), storage.ErrNotFound, "DeleteCredentialByID(user-1, pk-1) a second time")
		// Another user's credential is not found, and stays.
		wantErr(t, s.DeleteCredentialByID(t.Context(), "user-2", "pk-2"), storage.ErrNotFound, "DeleteCredentialByID(user-2, user-1's pk-2)")
		wantErr(t, s.DeleteCredentialByID(t.Context(), "user-1", "pk-3"), storage.ErrNotFound, "DeleteCredentialByID(user-1, user-2's pk-3)")
		wantErr(t, s.DeleteCredentialByID(t.Context(), "user-1", ""), storage.ErrNotFound, "DeleteCredentialByID(user-1, \"\")")
		got, err := s.ListCredentials(t.Context(), "user-1")
		must(t, err, "ListCredentials(user-1)")
		checkList(t, "ListCredentials(user-1) after deleting pk-1", got, []*storage.Credential{pk2, totp}, credentialID)
		got, err = s.ListCredentials(t.Context(), "user-2")
		must(t, err, "ListCredentials(user-2)")
		checkList(t, "ListCredentials(user-2) after failed deletes by user-1", got, []*storage.Credential{theirs}, credentialID)

		// A single-type credential is deleted by its derived ID too.
		must(t, s.DeleteCredentialByID(t.Context(), "user-1", totp.ID), "DeleteCredentialByID(user-1, %s)", totp.ID)
		_, err = s.GetCredential(t.Context(), "user-1", storage.CredentialTOTP)
		wantErr(t, err, storage.ErrNotFound, "GetCredential(user-1, totp) after deleting it by ID")

		// Deleting the user removes every credential of theirs, passkeys
		// included.
		must(t, s.DeleteUser(t.Context(), "user-1"), "DeleteUser(user-1)")
		got, err = s.ListCredentials(t.Context(), "user-1")
		if err != nil || len(got) != 0 {
			t.Errorf("ListCredentials(user-1) after DeleteUser = %d credentials, %v; want none", len(got), err)
		}
	}},
	{"SeveralPasskeys", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		seedUser(t, s, "user-1", now)
		pw := fullCredential("", "user-1", storage.CredentialPassword, now)
		pk1 := fullCredential("pk-1", "user-1", storage.CredentialPasskey, now.Add(time.Second))
		pk2 := fullCredential("pk-2", "user-1", storage.CredentialPasskey, now.Add(2*time.Second))
		for _, c := range []*storage.Credential{pw, pk1, pk2} {
			must(t, s.PutCredential(t.Context(), clone(c)), "PutCredential(%s, %q)", c.Type, c.ID)
		}
		pw.ID = "user-1:" + storage.CredentialPassword

		// Putting a passkey again by its ID replaces that one only.
		clock.Advance(time.Hour)
		pk1b := clone(pk1)
		pk1b.Secret = []byte(`{"public_key":"new","sign_count":7}`)
		pk1b.UpdatedAt = clock.Now()
		must(t, s.PutCredential(t.Context(), clone(pk1b)), "PutCredential(pk-1 again)")
		got, err := s.ListCredentials(t.Context(), "user-1")
		must(t, err, "ListCredentials")
		checkList(t, "ListCredentials after replacing pk-1", got, []*storage.Credential{pw, pk1b, pk2}, credentialID)

		// A passkey needs an ID; without one nothing is stored.
		noID := fullCredential("", "user-1", storage.CredentialPasskey, clock.Now())
		if err := s.PutCredential(t.Context(), noID); err == nil {
			t.Errorf("PutCredential(passkey without ID) = nil, want an error")
		}
		got, err = s.ListCredentials(t.Context(), "user-1")
		must(t, err, "ListCredentials")
		checkList(t, "ListCredentials after a rejected passkey without ID", got, []*storage.Credential{pw, pk1b, pk2}, credentialID)

		// DeleteCredential of the passkey type removes every passkey and
		// nothing else.
		must(t, s.DeleteCredential(t.Context(), "user-1", storage.CredentialPasskey), "DeleteCredential(passkey)")
		got, err = s.ListCredentials(t.Context(), "user-1")
		must(t, err, "ListCredentials")
		checkList(t, "ListCredentials after DeleteCredential(passkey)", got, []*storage.Credential{pw}, credentialID)
	}},
	{"SingleTypesReplaced", func(t *testing.T, s Store, clock *Clock) {
		for _, typ := range []string{storage.CredentialPassword, storage.CredentialTOTP, storage.CredentialRecoveryCodes} {
			t.Run(typ, func(t *testing.T) {
				user := "user-" + typ
				seedUser(t, s, user, clock.Now())
				first := fullCredential("first", user, typ, clock.Now())
				must(t, s.PutCredential(t.Context(), clone(first)), "PutCredential(%s, ID first)", typ)
				// Another ID passed for the same type still replaces it.
				second := fullCredential("second", user, typ, first.CreatedAt)
				second.Secret = []byte("replaced " + typ)
				second.UpdatedAt = first.UpdatedAt.Add(time.Hour)
				must(t, s.PutCredential(t.Context(), clone(second)), "PutCredential(%s, ID second)", typ)
				second.ID = user + ":" + typ
				got, err := s.ListCredentials(t.Context(), user)
				must(t, err, "ListCredentials")
				checkList(t, "ListCredentials after putting "+typ+" twice", got, []*storage.Credential{second}, credentialID)
				one, err := s.GetCredential(t.Context(), user, typ)
				must(t, err, "GetCredential(%s)", typ)
				checkRecord(t, "GetCredential("+typ+")", one, second)
			})
		}
	}},
}

func credentialID(c *storage.Credential) string { return c.ID }
