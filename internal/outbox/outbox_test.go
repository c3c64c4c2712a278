package outbox_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atrium-id/atrium/internal/outbox"
	"github.com/atrium-id/atrium/storage"
	sqlstore "github.com/atrium-id/atrium/storage/sql"
	"github.com/atrium-id/atrium/storage/sql/sqltest"
	"github.com/atrium-id/atrium/storage/storagetest"
)

// backends runs fn against a fresh SQLite database and, when
// ATRIUM_TEST_POSTGRES_URL names a server, a fresh PostgreSQL schema
// (sqltest.Backends). fn's open opens a store on that database (each call
// one more node) judging time by clock.
func backends(t *testing.T, fn func(t *testing.T, open func(clock *storagetest.Clock) *sqlstore.Store)) {
	sqltest.Backends(t, func(t *testing.T, open func(now func() time.Time) *sqlstore.Store) {
		fn(t, func(clock *storagetest.Clock) *sqlstore.Store { return open(clock.Now) })
	})
}

// eraseUsers writes n user.deleted messages and returns the users' IDs.
func eraseUsers(t *testing.T, s *sqlstore.Store, clock *storagetest.Clock, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		var r [8]byte
		rand.Read(r[:])
		id := "user-" + hex.EncodeToString(r[:])
		now := clock.Now()
		if err := s.CreateUser(t.Context(), &storage.User{ID: id, Email: id + "@example.com", CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if ok, err := s.EraseUser(t.Context(), id, now); err != nil || !ok {
			t.Fatalf("EraseUser(%s) = %v, %v", id, ok, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// The secrets of the test hooks, in the Standard Webhooks form and as
// plain text.
const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "a plain secret of some thirty bytes"
)

// receiver is a downstream system. It checks each request the way the
// Standard Webhooks libraries do, written here from the specification
// and not from package outbox, and answers with the next of its
// statuses (200 when they run out).
type receiver struct {
	t      *testing.T
	secret string
	clock  *storagetest.Clock
	srv    *httptest.Server
	delay  time.Duration

	mu       sync.Mutex
	statuses []int
	got      []delivery
}

// delivery is a request the receiver verified.
type delivery struct {
	ID     string
	Type   string
	Time   time.Time
	Data   map[string]string
	Status int
}

func newReceiver(t *testing.T, secret string, clock *storagetest.Clock, statuses ...int) *receiver {
	r := &receiver{t: t, secret: secret, clock: clock, statuses: statuses}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() string { return r.srv.URL + "/hooks/atrium?token=path-credential" }

// verify is the Standard Webhooks check: the signed content is
// "<webhook-id>.<webhook-timestamp>.<body>", the key the base64 after
// "whsec_" (else the secret's bytes), the header a space-separated list
// of "v1,<base64 HMAC-SHA256>", and the timestamp within five minutes.
func (r *receiver) verify(h http.Header, body []byte) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing headers: id %q timestamp %q signature %q", id, ts, sigs)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q: %v", ts, err)
	}
	if d := r.clock.Now().Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("webhook-timestamp %s is %s off", ts, d)
	}
	key := []byte(r.secret)
	if b64, ok := strings.CutPrefix(r.secret, "whsec_"); ok {
		if key, err = base64.StdEncoding.DecodeString(b64); err != nil {
			return err
		}
	}
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, id+"."+ts+".")
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, b64, _ := strings.Cut(s, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if v == "v1" && err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no valid signature in %q", sigs)
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if req.Method != http.MethodPost || req.URL.Query().Get("token") != "path-credential" || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("request %s %s, Content-Type %q; want a JSON POST to the hook's URL", req.Method, req.URL, req.Header.Get("Content-Type"))
	}
	if err := r.verify(req.Header, body); err != nil {
		r.t.Errorf("request does not verify: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var env struct {
		Type      string            `json:"type"`
		Timestamp string            `json:"timestamp"`
		Data      map[string]string `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		r.t.Errorf("body %s: %v", body, err)
	}
	at, err := time.Parse(time.RFC3339, env.Timestamp)
	if err != nil {
		r.t.Errorf("body timestamp %q: %v", env.Timestamp, err)
	}
	time.Sleep(r.delay)
	r.mu.Lock()
	status := http.StatusOK
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	r.got = append(r.got, delivery{ID: req.Header.Get("webhook-id"), Type: env.Type, Time: at, Data: env.Data, Status: status})
	r.mu.Unlock()
	w.WriteHeader(status)
}

// deliveries returns what the receiver got so far.
func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// accepted counts the 2xx answers per message ID.
func (r *receiver) accepted() map[string]int {
	n := map[string]int{}
	for _, d := range r.deliveries() {
		if d.Status/100 == 2 {
			n[d.ID]++
		}
	}
	return n
}

func newWorker(t *testing.T, s storage.OutboxStore, clock *storagetest.Clock, log *slog.Logger, hooks ...outbox.Hook) *outbox.Worker {
	t.Helper()
	w, err := outbox.New(outbox.Config{Store: s, Hooks: hooks, Now: clock.Now, Log: log})
	if err != nil {
		t.Fatalf("outbox.New: %v", err)
	}
	return w
}

func hookOf(t *testing.T, r *receiver, topics ...string) outbox.Hook {
	t.Helper()
	key, err := outbox.ParseSecret(r.secret)
	if err != nil {
		t.Fatalf("ParseSecret: %v", err)
	}
	return outbox.Hook{URL: r.url(), Key: key, Topics: topics}
}

func deliverDue(t *testing.T, w *outbox.Worker, want int) {
	t.Helper()
	n, err := w.DeliverDue(t.Context())
	if err != nil || n != want {
		t.Errorf("DeliverDue() = %d, %v; want %d delivered", n, err, want)
	}
}

func undelivered(t *testing.T, s storage.OutboxStore) []*storage.OutboxMessage {
	t.Helper()
	msgs, _, err := s.ListOutbox(t.Context(), true, storage.Page{})
	if err != nil {
		t.Fatalf("ListOutbox: %v", err)
	}
	return msgs
}

func TestDeliverOnce(t *testing.T) {
	backends(t, func(t *testing.T, open func(*storagetest.Clock) *sqlstore.Store) {
		clock := storagetest.NewClock(time.Now())
		s := open(clock)
		users := eraseUsers(t, s, clock, 2)
		rA, rB := newReceiver(t, secretA, clock), newReceiver(t, secretB, clock)
		w := newWorker(t, s, clock, nil, hookOf(t, rA), hookOf(t, rB, storage.TopicUserDeleted))

		deliverDue(t, w, 2)
		all, _, err := s.ListOutbox(t.Context(), false, storage.Page{})
		if err != nil || len(all) != 2 {
			t.Fatalf("ListOutbox = %d, %v", len(all), err)
		}
		for _, r := range []*receiver{rA, rB} {
			got := r.deliveries()
			if len(got) != 2 {
				t.Fatalf("receiver got %d requests, want 2", len(got))
			}
			for i, d := range got {
				m := all[i]
				if d.ID != m.ID || d.Type != storage.TopicUserDeleted || d.Data["user_id"] != users[i] || !d.Time.Equal(m.CreatedAt) {
					t.Errorf("request %d: %+v, want message %s of %s created %s", i, d, m.ID, users[i], m.CreatedAt)
				}
				if m.DeliveredAt.IsZero() {
					t.Errorf("message %s not marked delivered", m.ID)
				}
			}
		}
		clock.Advance(2 * time.Hour)
		deliverDue(t, w, 0)
		if n := len(rA.deliveries()) + len(rB.deliveries()); n != 4 {
			t.Errorf("after another pass the receivers got %d requests, want still 4", n)
		}
	})
}

func TestRetryWithBackoff(t *testing.T) {
	backends(t, func(t *testing.T, open func(*storagetest.Clock) *sqlstore.Store) {
		clock := storagetest.NewClock(time.Now())
		s := open(clock)
		eraseUsers(t, s, clock, 1)
		r := newReceiver(t, secretA, clock, http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusOK)
		w := newWorker(t, s, clock, nil, hookOf(t, r))

		step := func(what string, advance time.Duration, wantRequests int, wantDelivered int) {
			t.Helper()
			clock.Advance(advance)
			deliverDue(t, w, wantDelivered)
			if n := len(r.deliveries()); n != wantRequests {
				t.Errorf("%s: %d requests so far, want %d", what, n, wantRequests)
			}
		}
		step("first attempt (500)", 0, 1, 0)
		if m := undelivered(t, s); len(m) != 1 || m[0].Attempts != 1 || !m[0].NextAttemptAt.Equal(clock.Now().Add(30*time.Second).Truncate(time.Microsecond)) {
			t.Fatalf("after a 500: %+v, want 1 attempt, the next in 30s", m)
		}
		step("at once again", 0, 1, 0)
		step("29s later", 29*time.Second, 1, 0)
		step("30s after the first (503)", time.Second, 2, 0)
		step("59s later", 59*time.Second, 2, 0)
		step("60s after the second (200)", time.Second, 3, 1)
		if m := undelivered(t, s); len(m) != 0 {
			t.Errorf("after a 200: %d undelivered, want none", len(m))
		}
		step("an hour later", time.Hour, 3, 0)
	})
}

func TestTwoHooksOneFailing(t *testing.T) {
	backends(t, func(t *testing.T, open func(*storagetest.Clock) *sqlstore.Store) {
		clock := storagetest.NewClock(time.Now())
		s := open(clock)
		eraseUsers(t, s, clock, 1)
		good := newReceiver(t, secretA, clock)
		bad := newReceiver(t, secretB, clock, 500, 500)
		w := newWorker(t, s, clock, nil, hookOf(t, good), hookOf(t, bad))
		for range 2 {
			deliverDue(t, w, 0)
			clock.Advance(time.Hour)
		}
		if n, m := len(good.deliveries()), len(bad.deliveries()); n != 1 || m != 2 {
			t.Fatalf("after the failing hook failed twice: good got %d, failing got %d; want 1 and 2", n, m)
		}
		deliverDue(t, w, 1)
		if n, m := len(good.deliveries()), len(bad.accepted()); n != 1 || m != 1 {
			t.Errorf("at the end: good got %d requests, the other accepted %d; want 1 and 1", n, m)
		}
	})
}

// Two nodes, each with its own store on the one database, send each
// message to each hook once.
func TestTwoWorkers(t *testing.T) {
	backends(t, func(t *testing.T, open func(*storagetest.Clock) *sqlstore.Store) {
		clock := storagetest.NewClock(time.Now())
		s1, s2 := open(clock), open(clock)
		eraseUsers(t, s1, clock, 8)
		rA, rB := newReceiver(t, secretA, clock), newReceiver(t, secretB, clock)
		rA.delay, rB.delay = 5*time.Millisecond, 5*time.Millisecond
		var wg sync.WaitGroup
		for _, s := range []*sqlstore.Store{s1, s2, s1, s2} {
			w := newWorker(t, s, clock, nil, hookOf(t, rA), hookOf(t, rB))
			wg.Go(func() {
				if _, err := w.DeliverDue(t.Context()); err != nil {
					t.Errorf("DeliverDue: %v", err)
				}
			})
		}
		wg.Wait()
		for name, r := range map[string]*receiver{"A": rA, "B": rB} {
			got := r.accepted()
			if len(got) != 8 || len(r.deliveries()) != 8 {
				t.Errorf("hook %s got %d requests for %d messages, want 8 for 8", name, len(r.deliveries()), len(got))
			}
		}
		if m := undelivered(t, s2); len(m) != 0 {
			t.Errorf("%d undelivered, want none", len(m))
		}
	})
}

func TestTopics(t *testing.T) {
	backends(t, func(t *testing.T, open func(*storagetest.Clock) *sqlstore.Store) {
		clock := storagetest.NewClock(time.Now())
		s := open(clock)
		eraseUsers(t, s, clock, 1)
		other := newReceiver(t, secretB, clock)
		// A hook of another topic only: the message is not its to take,
		// and stays for whatever else reads the outbox.
		deliverDue(t, newWorker(t, s, clock, nil, hookOf(t, other, "client.created")), 0)
		if len(other.deliveries()) != 0 || len(undelivered(t, s)) != 1 {
			t.Fatalf("a hook of another topic got %d requests and left %d undelivered; want 0 and 1", len(other.deliveries()), len(undelivered(t, s)))
		}
		wanted := newReceiver(t, secretA, clock)
		deliverDue(t, newWorker(t, s, clock, nil, hookOf(t, other, "client.created"), hookOf(t, wanted, storage.TopicUserDeleted)), 1)
		if len(other.deliveries()) != 0 || len(wanted.deliveries()) != 1 {
			t.Errorf("the other topic's hook got %d, user.deleted's got %d; want 0 and 1", len(other.deliveries()), len(wanted.deliveries()))
		}
	})
}

// TestInternalTopics: a hook of every topic gets the topics webhooks get,
// never the back-channel logouts Atrium delivers itself from the same
// outbox.
func TestInternalTopics(t *testing.T) {
	backends(t, func(t *testing.T, open func(*storagetest.Clock) *sqlstore.Store) {
		clock := storagetest.NewClock(time.Now())
		s := open(clock)
		logout, err := s.AddOutbox(t.Context(), storage.TopicBackchannelLogout, []byte(`{"client_id":"app","sub":"u","sid":"s"}`), "", 0)
		if err != nil {
			t.Fatal(err)
		}
		eraseUsers(t, s, clock, 1)
		r := newReceiver(t, secretA, clock)
		deliverDue(t, newWorker(t, s, clock, nil, hookOf(t, r)), 1)
		if got := r.deliveries(); len(got) != 1 || got[0].Type != storage.TopicUserDeleted {
			t.Errorf("a hook of every topic got %+v, want the user.deleted message only", got)
		}
		if left := undelivered(t, s); len(left) != 1 || left[0].ID != logout.ID {
			t.Errorf("undelivered after the webhooks' pass: %+v, want the back-channel logout", left)
		}
	})
}

func TestPrune(t *testing.T) {
	backends(t, func(t *testing.T, open func(*storagetest.Clock) *sqlstore.Store) {
		clock := storagetest.NewClock(time.Now())
		s := open(clock)
		eraseUsers(t, s, clock, 2) // delivered now
		r := newReceiver(t, secretA, clock)
		hooks := []outbox.Hook{hookOf(t, r)}
		w, err := outbox.New(outbox.Config{Store: s, Hooks: hooks, Now: clock.Now, Retention: 48 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		deliverDue(t, w, 2)
		clock.Advance(24 * time.Hour)
		eraseUsers(t, s, clock, 1) // delivered a day later
		deliverDue(t, w, 1)
		// Undelivered, older than all: its hook answers 500.
		failing := newReceiver(t, secretB, clock, 500)
		old := eraseUsers(t, s, clock, 1)
		deliverDue(t, newWorker(t, s, clock, nil, hookOf(t, failing)), 0)

		clock.Advance(24*time.Hour + time.Second)
		if n, err := w.Prune(t.Context()); err != nil || n != 2 {
			t.Errorf("Prune after 48h = %d, %v; want the 2 delivered 48h ago", n, err)
		}
		clock.Advance(365 * 24 * time.Hour)
		if n, err := w.Prune(t.Context()); err != nil || n != 1 {
			t.Errorf("Prune a year later = %d, %v; want 1", n, err)
		}
		all, _, err := s.ListOutbox(t.Context(), false, storage.Page{})
		if err != nil || len(all) != 1 || !strings.Contains(string(all[0].Payload), old[0]) {
			t.Errorf("left after pruning: %d messages (%v), want the undelivered one", len(all), err)
		}
	})
}

// Run delivers without being asked, and stops with its context.
func TestRun(t *testing.T) {
	clock := storagetest.NewClock(time.Now())
	s := sqltest.Open(t, filepath.Join(t.TempDir(), "atrium.db"), clock.Now)
	r := newReceiver(t, secretA, clock)
	w, err := outbox.New(outbox.Config{Store: s, Hooks: []outbox.Hook{hookOf(t, r)}, Now: clock.Now, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	eraseUsers(t, s, clock, 1)
	// Delivered is when the worker has recorded the receiver's answer: a
	// context cancelled between the two leaves the message to be sent
	// again, which is not what this test is about.
	deadline := time.Now().Add(10 * time.Second)
	for len(undelivered(t, s)) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	if len(r.accepted()) != 1 || len(undelivered(t, s)) != 0 {
		t.Errorf("Run delivered %d, left %d undelivered; want 1 and 0", len(r.accepted()), len(undelivered(t, s)))
	}
}

// A failure is logged with the message ID, the hook's host and the
// status, and without the secret, the URL's path and query, or the
// payload. A redirect is not followed.
func TestFailureLog(t *testing.T) {
	clock := storagetest.NewClock(time.Now())
	s := sqltest.Open(t, filepath.Join(t.TempDir(), "atrium.db"), clock.Now)
	users := eraseUsers(t, s, clock, 1)
	target := newReceiver(t, secretA, clock)
	redirect := httptest.NewServer(http.RedirectHandler(target.url(), http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	key, _ := outbox.ParseSecret(secretA)
	w := newWorker(t, s, clock, log, outbox.Hook{URL: redirect.URL + "/hooks/atrium?token=path-credential", Key: key})
	deliverDue(t, w, 0)
	if len(target.deliveries()) != 0 {
		t.Errorf("the redirect was followed")
	}
	m := undelivered(t, s)
	if len(m) != 1 {
		t.Fatalf("%d undelivered, want 1", len(m))
	}
	out := buf.String()
	for _, want := range []string{`"message_id":"` + m[0].ID + `"`, `"hook":"` + strings.TrimPrefix(redirect.URL, "http://") + `"`, `"status":307`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %s\ndoes not contain %s", out, want)
		}
	}
	for _, secret := range []string{secretA, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "path-credential", "/hooks/atrium", users[0]} {
		if strings.Contains(out, secret) {
			t.Errorf("log %s\ncontains %q", out, secret)
		}
	}

	// A hook that does not answer: the error without the URL.
	buf.Reset()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/hooks/atrium?token=path-credential"
	dead.Close()
	clock.Advance(time.Hour)
	deliverDue(t, newWorker(t, s, clock, log, outbox.Hook{URL: deadURL, Key: key}), 0)
	out = buf.String()
	if !strings.Contains(out, `"err":`) || strings.Contains(out, "path-credential") || strings.Contains(out, "/hooks/atrium") {
		t.Errorf("log of a hook that does not answer: %s\nwant an error without the URL's path and query", out)
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		if got := outbox.Backoff(i); got != w {
			t.Errorf("Backoff(%d) = %s, want %s", i, got, w)
		}
	}
	if got := outbox.Backoff(1000); got != time.Hour {
		t.Errorf("Backoff(1000) = %s, want 1h", got)
	}
}

func TestSign(t *testing.T) {
	// The example of the Standard Webhooks libraries' tests.
	key, err := outbox.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := outbox.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestParseSecret(t *testing.T) {
	for _, tc := range []struct {
		name, secret, want string
	}{
		{"short", "too-short", "must be at least 24 bytes, got 9"},
		{"not base64", "whsec_not base64!", "must go on in standard base64"},
		{"short whsec", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16)), "must hold 24 to 64 bytes, got 16"},
		{"long whsec", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)), "must hold 24 to 64 bytes, got 65"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := outbox.ParseSecret(tc.secret)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseSecret = %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), strings.TrimPrefix(tc.secret, "whsec_")) {
				t.Errorf("error %q repeats the secret", err)
			}
		})
	}
	if key, err := outbox.ParseSecret(secretB); err != nil || string(key) != secretB {
		t.Errorf("ParseSecret(plain) = %q, %v; want its bytes", key, err)
	}
}

func TestNewRefuses(t *testing.T) {
	key := []byte(secretB)
	for name, cfg := range map[string]outbox.Config{
		"no store":       {},
		"relative URL":   {Hooks: []outbox.Hook{{URL: "/hook", Key: key}}},
		"no key":         {Hooks: []outbox.Hook{{URL: "https://hooks.example.com/"}}},
		"URL twice":      {Hooks: []outbox.Hook{{URL: "https://hooks.example.com/", Key: key}, {URL: "https://hooks.example.com/", Key: key}}},
		"negative range": {Retention: -time.Hour},
	} {
		if name != "no store" {
			cfg.Store = (*sqlstore.Store)(nil)
		}
		if _, err := outbox.New(cfg); err == nil {
			t.Errorf("New(%s) = nil error, want one", name)
		}
	}
}
