package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/storage"
)

// TestOutbox deletes two users with users delete and reads their
// user.deleted messages with outbox list, marking one delivered.
func TestOutbox(t *testing.T) {
	data := t.TempDir()
	for _, email := range []string{"user-1@example.com", "user-2@example.com"} {
		mustRun(t, nil, "users", "create", "--data", data, "--email", email, "--password", "correct horse battery")
	}
	var ids []string
	func() {
		st, err := openStore(context.Background(), &config.Config{DataDir: data})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		for _, email := range []string{"user-1@example.com", "user-2@example.com"} {
			u, err := st.GetUserByEmail(context.Background(), email)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, u.ID)
			if err := st.AppendAudit(context.Background(), &storage.AuditEvent{Type: "login.succeeded", UserID: u.ID, IP: "203.0.113.1"}); err != nil {
				t.Fatal(err)
			}
		}
	}()
	mustRun(t, nil, "users", "delete", "--data", data, "--email", "user-1@example.com")
	mustRun(t, nil, "users", "delete", "--data", data, "--id", ids[1])
	func() {
		st, err := openStore(context.Background(), &config.Config{DataDir: data})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		for _, id := range ids {
			if m, err := st.FindText(context.Background(), id); err != nil || len(m) != 1 || m[0].Table != "outbox" {
				t.Errorf("after users delete, %s is named by %v (%v), want only its outbox message", id, m, err)
			}
		}
	}()
	lines := func(out string) []map[string]any {
		t.Helper()
		var msgs []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("outbox list line %q: %v", l, err)
			}
			msgs = append(msgs, m)
		}
		return msgs
	}
	all := lines(mustRun(t, nil, "outbox", "list", "--data", data))
	if len(all) != 2 {
		t.Fatalf("outbox list: %v, want 2 messages", all)
	}
	for i, want := range ids {
		p, _ := all[i]["payload"].(map[string]any)
		if all[i]["topic"] != storage.TopicUserDeleted || p["user_id"] != want || p["deleted_at"] == nil || all[i]["delivered_at"] != nil {
			t.Errorf("message %d: %v, want an undelivered user.deleted of %s", i, all[i], want)
		}
	}
	first := all[0]["id"].(string)
	mustRun(t, nil, "outbox", "delivered", "--data", data, "--id", first)
	left := lines(mustRun(t, nil, "outbox", "list", "--undelivered", "--data", data))
	if len(left) != 1 || left[0]["id"] == first {
		t.Errorf("outbox list --undelivered after marking the first: %v", left)
	}
	if got := lines(mustRun(t, nil, "outbox", "list", "--data", data, "--limit", "1")); len(got) != 1 || got[0]["delivered_at"] == nil {
		t.Errorf("outbox list --limit 1: %v, want the first message, delivered", got)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"outbox", "delivered", "--data", data, "--id", "no-such-id"}, `no message "no-such-id"`},
		{[]string{"outbox", "delivered", "--data", data}, "--id is required"},
		{[]string{"outbox", "list", "--data", data, "--limit", "0"}, "--limit"},
	} {
		if _, err := atrium(t, nil, bad.args...); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: %v, want an error with %q", bad.args, err, bad.want)
		}
	}
}
