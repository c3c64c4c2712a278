package authz

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// A user without a password who has a passkey may unlink their one
// upstream identity: the passkey still signs them in.
func TestUnlinkKeepsPasskeyUsersSignedIn(t *testing.T) {
	e := newPasskeyEnv(t, nil)
	ctx := context.Background()
	const user = "user-nopw"
	if err := e.store.CreateUser(ctx, &storage.User{ID: user, Email: "nopw@example.com", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	id := &storage.Identity{ID: "identity-1", UserID: user, Provider: "corp", Subject: "s-1", Claims: []byte(`{}`), CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateIdentity(ctx, id); err != nil {
		t.Fatal(err)
	}
	unlink := func() int {
		b := e.browser()
		cookie := randomToken()
		if err := e.store.PutSession(ctx, &storage.Session{ID: sessionKey(cookie), UserID: user, AuthTime: now,
			AMR: []string{"fed"}, ACR: acrPassword, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(e.srv.URL)
		b.Jar.SetCookies(u, []*http.Cookie{{Name: cookieSession, Value: cookie, Path: "/"}})
		_, page := e.get(b, "/account/identities")
		resp := submitForm(t, noRedirects(b), e.srv.URL+"/account/identities", page, "/account/identities/unlink", url.Values{"identity": {id.ID}})
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := unlink(); status != http.StatusConflict {
		t.Fatalf("unlinking the only way to sign in: %d, want 409", status)
	}
	e.register(e.auth, user, "nopw@example.com")
	if status := unlink(); status != http.StatusSeeOther {
		t.Fatalf("unlinking with a passkey left: %d, want 303", status)
	}
	if _, err := e.store.GetIdentity(ctx, "corp", "s-1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("identity still linked: %v", err)
	}
}
