package authz

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/storage"
)

// weakHash is an argon2id hash of password with the parameters of an
// earlier release (19 MiB, 2 passes, 1 lane).
func weakHash(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	b64 := base64.RawStdEncoding
	key := argon2.IDKey([]byte(password), salt, 2, 19*1024, 1, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, 19*1024, 2, 1, b64.EncodeToString(salt), b64.EncodeToString(key))
}

const currentParams = "$argon2id$v=19$m=65536,t=3,p=2$"

// TestPasswordHashUpgradedAtSignIn: a password stored with older argon2id
// parameters is re-hashed with the current ones at the next successful
// sign-in and still verifies; a failed sign-in leaves it as it was.
func TestPasswordHashUpgradedAtSignIn(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		password string
		upgraded bool
	}{
		{"right password", testPassword, true},
		{"wrong password", "correct horse battery!", false},
		{"empty password", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			old := weakHash(testPassword)
			if err := e.store.PutCredential(ctx, &storage.Credential{
				ID: e.userID + ":" + storage.CredentialPassword, UserID: e.userID, Type: storage.CredentialPassword,
				Secret: []byte(old), CreatedAt: time.Now(), UpdatedAt: time.Now(),
			}); err != nil {
				t.Fatal(err)
			}
			if tc.upgraded {
				_, challenge := pkcePair()
				if loc := e.signIn(e.browser(), codeParams("app", "openid", challenge)); loc.Query().Get("code") == "" {
					t.Fatalf("sign-in did not return a code: %s", loc)
				}
			} else if _, err := e.p.checkPassword(ctx, testEmail, tc.password); !errors.Is(err, errBadCredentials) {
				t.Fatalf("checkPassword = %v, want bad credentials", err)
			}
			cred, err := e.store.GetCredential(ctx, e.userID, storage.CredentialPassword)
			if err != nil {
				t.Fatal(err)
			}
			stored := string(cred.Secret)
			if !tc.upgraded {
				if stored != old {
					t.Fatalf("hash changed after a failed sign-in: %s", stored)
				}
				return
			}
			if !strings.HasPrefix(stored, currentParams) {
				t.Fatalf("stored hash %s, want current parameters %s", stored, currentParams)
			}
			if ok, err := login.VerifyPassword(stored, testPassword); !ok || err != nil {
				t.Fatalf("upgraded hash does not verify: %v %v", ok, err)
			}
			if _, err := e.p.checkPassword(ctx, testEmail, testPassword); err != nil {
				t.Fatalf("sign-in after the upgrade: %v", err)
			}
			again, _ := e.store.GetCredential(ctx, e.userID, storage.CredentialPassword)
			if string(again.Secret) != stored {
				t.Fatal("a current hash was replaced again")
			}
		})
	}
}
