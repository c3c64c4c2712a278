package main

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/storage"
)

// TestUsersCommandsQueueBackchannelLogouts: users set-password, users
// sign-out and users delete end the user's sessions and write a back-channel logout to the
// outbox for each of their clients with a back-channel logout URI, for
// the servers to send.
func TestUsersCommandsQueueBackchannelLogouts(t *testing.T) {
	data := t.TempDir()
	mustRun(t, nil, "users", "create", "--data", data, "--email", "ada@example.com", "--password", "correct horse battery")
	ctx := context.Background()
	// seed stores clients (one with a back-channel logout URI, one
	// without) and sessions of the user.
	seed := func(sessions ...string) string {
		st, err := openStore(ctx, &config.Config{DataDir: data})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		for _, c := range []*storage.Client{
			{ID: "bc", Name: "BC", RedirectURIs: []string{"https://bc.example/cb"}, GrantTypes: []string{"authorization_code"},
				ResponseTypes: []string{"code"}, Scopes: []string{"openid"}, BackchannelLogoutURI: "https://bc.example/logout"},
			{ID: "plain", Name: "Plain", RedirectURIs: []string{"https://plain.example/cb"}, GrantTypes: []string{"authorization_code"},
				ResponseTypes: []string{"code"}, Scopes: []string{"openid"}},
		} {
			if _, err := st.GetClient(ctx, c.ID); err == nil {
				continue
			}
			if err := st.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		u, err := st.GetUserByEmail(ctx, "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		for _, id := range sessions {
			if err := st.PutSession(ctx, &storage.Session{ID: id, UserID: u.ID, AuthTime: now, CreatedAt: now,
				ExpiresAt: now.Add(time.Hour), Clients: []string{"plain", "bc"}}); err != nil {
				t.Fatal(err)
			}
		}
		return u.ID
	}
	// logouts are the back-channel logouts in the outbox.
	logouts := func() []map[string]string {
		st, err := openStore(ctx, &config.Config{DataDir: data})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		msgs, _, err := st.ListOutbox(ctx, true, storage.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]string
		for _, m := range msgs {
			if m.Topic != storage.TopicBackchannelLogout {
				continue
			}
			var p map[string]string
			if err := json.Unmarshal(m.Payload, &p); err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
		return out
	}

	userID := seed("session-1")
	mustRun(t, nil, "users", "set-password", "--data", data, "--email", "ada@example.com", "--password", "a new and longer passphrase")
	got := logouts()
	if len(got) != 1 || got[0]["client_id"] != "bc" || got[0]["sub"] != userID || got[0]["sid"] == "" || got[0]["sid"] == "session-1" {
		t.Fatalf("after set-password the outbox holds logouts %v, want one for bc with the user and the session's sid", got)
	}

	seed("session-a", "session-b")
	out := mustRun(t, nil, "users", "sign-out", "--data", data, "--id", userID)
	if v := decode[map[string]any](t, out); v["sessions_ended"] != float64(2) || v["id"] != userID {
		t.Errorf("users sign-out printed %s, want 2 sessions ended", out)
	}
	if got := logouts(); len(got) != 3 {
		t.Fatalf("after sign-out the outbox holds %d logouts, want 3 (one from set-password, two new)", len(got))
	}
	for _, args := range [][]string{{}, {"--id", "x", "--email", "y"}, {"--email", "nobody@example.com"}} {
		if _, err := atrium(t, nil, append([]string{"users", "sign-out", "--data", data}, args...)...); err == nil {
			t.Errorf("users sign-out %v succeeded", args)
		}
	}
	if got := logouts(); len(got) != 3 {
		t.Errorf("refused sign-outs wrote logouts: %d in the outbox, want 3", len(got))
	}

	seed("session-2", "session-3")
	mustRun(t, nil, "users", "delete", "--data", data, "--email", "ada@example.com")
	got = logouts()
	var sids []string
	for _, l := range got {
		if l["client_id"] != "bc" || l["sub"] != userID {
			t.Errorf("logout %v, want one for bc and the user", l)
		}
		sids = append(sids, l["sid"])
	}
	if len(got) != 5 || len(slices.Compact(slices.Sorted(slices.Values(sids)))) != 5 {
		t.Errorf("after users delete the outbox holds logouts %v, want 5 of 5 sessions", got)
	}
}
