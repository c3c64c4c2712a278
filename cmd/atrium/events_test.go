package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atrium-id/atrium/internal/outbox"
	"github.com/atrium-id/atrium/storage"
)

// TestServeDeliversEvents runs serve with two webhooks, one of which
// fails: the good one gets the user.deleted message of a deletion made
// with the CLI, signed; outbox list then shows the message waiting for
// the other, with its attempts.
func TestServeDeliversEvents(t *testing.T) {
	const secret = "a plain secret of some thirty bytes"
	var (
		mu   sync.Mutex
		got  []*http.Request
		body []byte
	)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, body = append(got, r), b
		mu.Unlock()
	}))
	t.Cleanup(good.Close)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(failing.Close)

	data := t.TempDir()
	mustRun(t, nil, "users", "create", "--data", data, "--email", "gone@example.com", "--password", "correct horse battery")
	mustRun(t, nil, "users", "delete", "--data", data, "--email", "gone@example.com")
	env := map[string]string{
		"ATRIUM_LOG_FORMAT":      "json",
		"ATRIUM_EVENTS_WEBHOOKS": `[{"url": "` + good.URL + `/hook", "secret": "` + secret + `"}, {"url": "` + failing.URL + `/hook", "secret": "` + secret + `", "topics": ["user.deleted"]}]`,
	}
	srv := startServer(t, env, "--dev", "--data", data)
	deadline := time.Now().Add(20 * time.Second)
	// The good hook comes first; the message is deferred after the
	// failing one answered.
	for !strings.Contains(srv.logs.String(), "outbox: message deferred") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := srv.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("the hook got %d requests, want 1\n%s", len(got), srv.logs)
	}
	r := got[0]
	unix, err := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp: %v", err)
	}
	if sig := r.Header.Get("webhook-signature"); sig != outbox.Sign([]byte(secret), r.Header.Get("webhook-id"), unix, body) {
		t.Errorf("webhook-signature %q does not sign the request", sig)
	}
	var env2 struct {
		Type string            `json:"type"`
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(body, &env2); err != nil || env2.Type != storage.TopicUserDeleted || env2.Data["user_id"] == "" {
		t.Errorf("body %s (%v), want a user.deleted event naming the user", body, err)
	}
	if strings.Contains(srv.logs.String(), secret) || strings.Contains(srv.logs.String(), env2.Data["user_id"]) {
		t.Errorf("the log holds the secret or the payload:\n%s", srv.logs)
	}
	if !strings.Contains(srv.logs.String(), `"status":502`) {
		t.Errorf("the log does not tell of the failing hook's 502:\n%s", srv.logs)
	}

	var m map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, nil, "outbox", "list", "--undelivered", "--data", data)), &m); err != nil {
		t.Fatalf("outbox list: %v", err)
	}
	if m["id"] != r.Header.Get("webhook-id") || m["attempts"] != 1.0 || m["next_attempt_at"] == nil {
		t.Errorf("outbox list --undelivered: %v, want the message with 1 attempt and the next one's time", m)
	}
}
