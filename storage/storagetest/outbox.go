package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// RunOutbox runs the suite of the outbox's delivery: claims and their
// leases, per-hook progress, retries and pruning; newStore is as for Run.
// Messages are made by erasing users, the one way a store writes them.
func RunOutbox(t *testing.T, newStore func(t *testing.T, clock *Clock) ErasureStore) {
	run(t, newStore, []suite[ErasureStore]{{"Outbox", outboxTests}})
}

// outboxMessages erases n users, one a second, and returns the IDs of
// their messages, oldest first.
func outboxMessages(t *testing.T, s ErasureStore, clock *Clock, n int) []string {
	t.Helper()
	ctx := t.Context()
	for i := range n {
		id := pad("gone-", i)
		seedUser(t, s, id, clock.Now())
		if erased, err := s.EraseUser(ctx, id, clock.Now()); err != nil || !erased {
			t.Fatalf("EraseUser(%s) = %v, %v", id, erased, err)
		}
		clock.Advance(time.Second)
	}
	msgs, _, err := s.ListOutbox(ctx, false, storage.Page{})
	must(t, err, "ListOutbox")
	if len(msgs) != n {
		t.Fatalf("ListOutbox = %d messages, want %d", len(msgs), n)
	}
	return ids(msgs, func(m *storage.OutboxMessage) string { return m.ID })
}

// claim claims for owner and returns the IDs claimed.
func claim(t *testing.T, s ErasureStore, owner string, topics []string, lease time.Duration, limit int) []string {
	t.Helper()
	msgs, err := s.ClaimOutbox(t.Context(), owner, topics, lease, limit)
	must(t, err, "ClaimOutbox(%s)", owner)
	return ids(msgs, func(m *storage.OutboxMessage) string { return m.ID })
}

func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

var outboxTests = []erasureTest{
	{"ClaimLeases", func(t *testing.T, s ErasureStore, clock *Clock) {
		m := outboxMessages(t, s, clock, 3)
		lease := time.Minute
		wantIDs(t, "ClaimOutbox(a, limit 2)", claim(t, s, "worker-a", nil, lease, 2), m[:2])
		wantIDs(t, "ClaimOutbox(b) while a holds two", claim(t, s, "worker-b", nil, lease, 10), m[2:])
		wantIDs(t, "ClaimOutbox(b) while every message is leased", claim(t, s, "worker-b", nil, lease, 10), nil)
		wantIDs(t, "ClaimOutbox(a) again before its lease ends", claim(t, s, "worker-a", nil, lease, 10), nil)

		clock.Advance(lease - time.Microsecond)
		wantIDs(t, "ClaimOutbox(c) just before the leases end", claim(t, s, "worker-c", nil, lease, 10), nil)
		clock.Advance(time.Microsecond)
		wantIDs(t, "ClaimOutbox(c) when the leases ran out", claim(t, s, "worker-c", nil, lease, 10), m)

		// A message marked delivered is not claimed again.
		clock.Advance(lease)
		must(t, s.MarkDelivered(t.Context(), m[0]), "MarkDelivered")
		wantIDs(t, "ClaimOutbox after one was delivered", claim(t, s, "worker-a", nil, lease, 10), m[1:])

		for _, bad := range []struct {
			owner string
			lease time.Duration
			limit int
		}{{"", lease, 1}, {"worker-a", 0, 1}, {"worker-a", lease, 0}} {
			if _, err := s.ClaimOutbox(t.Context(), bad.owner, nil, bad.lease, bad.limit); err == nil {
				t.Errorf("ClaimOutbox(owner %q, lease %s, limit %d) = nil error, want one", bad.owner, bad.lease, bad.limit)
			}
		}
	}},
	{"ClaimTopics", func(t *testing.T, s ErasureStore, clock *Clock) {
		m := outboxMessages(t, s, clock, 2)
		wantIDs(t, "ClaimOutbox(no topics)", claim(t, s, "worker-a", []string{}, time.Minute, 10), nil)
		wantIDs(t, "ClaimOutbox(another topic)", claim(t, s, "worker-a", []string{"client.created"}, time.Minute, 10), nil)
		wantIDs(t, "ClaimOutbox(user.deleted)", claim(t, s, "worker-a", []string{"client.created", storage.TopicUserDeleted}, time.Minute, 10), m)
	}},
	{"HookProgress", func(t *testing.T, s ErasureStore, clock *Clock) {
		ctx := t.Context()
		m := outboxMessages(t, s, clock, 2)
		must(t, s.MarkHookDelivered(ctx, m[0], "hook-b"), "MarkHookDelivered(hook-b)")
		must(t, s.MarkHookDelivered(ctx, m[0], "hook-a"), "MarkHookDelivered(hook-a)")
		must(t, s.MarkHookDelivered(ctx, m[0], "hook-a"), "MarkHookDelivered(hook-a) again")
		wantErr(t, s.MarkHookDelivered(ctx, "no-such-message", "hook-a"), storage.ErrNotFound, "MarkHookDelivered(unknown message)")

		msgs, err := s.ClaimOutbox(ctx, "worker-a", nil, time.Minute, 10)
		must(t, err, "ClaimOutbox")
		if len(msgs) != 2 || !slices.Equal(msgs[0].DeliveredTo, []string{"hook-a", "hook-b"}) || msgs[1].DeliveredTo != nil {
			t.Errorf("ClaimOutbox DeliveredTo = %v, want [[hook-a hook-b] []]", deliveredTo(msgs))
		}
		listed, _, err := s.ListOutbox(ctx, true, storage.Page{})
		must(t, err, "ListOutbox")
		if len(listed) != 2 || !slices.Equal(listed[0].DeliveredTo, []string{"hook-a", "hook-b"}) || listed[1].DeliveredTo != nil {
			t.Errorf("ListOutbox DeliveredTo = %v, want [[hook-a hook-b] []]", deliveredTo(listed))
		}
		if !listed[0].DeliveredAt.IsZero() {
			t.Errorf("a message two hooks took is delivered at %s, want undelivered until MarkDelivered", fmtTime(listed[0].DeliveredAt))
		}
	}},
	{"Retry", func(t *testing.T, s ErasureStore, clock *Clock) {
		ctx := t.Context()
		m := outboxMessages(t, s, clock, 1)
		wantIDs(t, "ClaimOutbox(a)", claim(t, s, "worker-a", nil, time.Minute, 1), m)
		wantErr(t, s.RetryOutbox(ctx, m[0], "worker-b", time.Minute), storage.ErrConflict, "RetryOutbox by a worker without the lease")
		wantErr(t, s.RetryOutbox(ctx, "no-such-message", "worker-a", time.Minute), storage.ErrNotFound, "RetryOutbox(unknown message)")
		must(t, s.RetryOutbox(ctx, m[0], "worker-a", 30*time.Second), "RetryOutbox")
		due := clock.Now().Add(30 * time.Second)
		listed, _, err := s.ListOutbox(ctx, true, storage.Page{})
		must(t, err, "ListOutbox")
		if len(listed) != 1 || listed[0].Attempts != 1 || !sameInstant(listed[0].NextAttemptAt, due) {
			t.Fatalf("after RetryOutbox: %+v, want 1 attempt, the next at %s", listed, fmtTime(due))
		}
		// The lease ended, but the message waits for its time.
		wantIDs(t, "ClaimOutbox before the retry is due", claim(t, s, "worker-b", nil, time.Minute, 1), nil)
		clock.Advance(30*time.Second - time.Microsecond)
		wantIDs(t, "ClaimOutbox a microsecond before the retry is due", claim(t, s, "worker-b", nil, time.Minute, 1), nil)
		clock.Advance(time.Microsecond)
		msgs, err := s.ClaimOutbox(ctx, "worker-b", nil, time.Minute, 1)
		must(t, err, "ClaimOutbox when due")
		if len(msgs) != 1 || msgs[0].Attempts != 1 {
			t.Fatalf("ClaimOutbox when due = %+v, want the message with 1 attempt", msgs)
		}
		must(t, s.RetryOutbox(ctx, m[0], "worker-b", time.Minute), "RetryOutbox again")
		if listed, _, _ := s.ListOutbox(ctx, true, storage.Page{}); len(listed) != 1 || listed[0].Attempts != 2 {
			t.Errorf("after two retries: %+v, want 2 attempts", listed)
		}
		// A delivered message has no retry.
		must(t, s.MarkDelivered(ctx, m[0]), "MarkDelivered")
		wantErr(t, s.RetryOutbox(ctx, m[0], "worker-b", time.Minute), storage.ErrConflict, "RetryOutbox(delivered message)")
	}},
	{"Add", func(t *testing.T, s ErasureStore, clock *Clock) {
		ctx := t.Context()
		free, err := s.AddOutbox(ctx, storage.TopicBackchannelLogout, []byte(`{"n":1}`), "", 0)
		must(t, err, "AddOutbox(free)")
		clock.Advance(time.Second)
		leased, err := s.AddOutbox(ctx, storage.TopicBackchannelLogout, []byte(`{"n":2}`), "writer", time.Minute)
		must(t, err, "AddOutbox(leased)")
		if free.ID == "" || free.ID >= leased.ID || !sameInstant(free.CreatedAt, clock.Now().Add(-time.Second)) {
			t.Errorf("AddOutbox = %+v then %+v, want time-sortable IDs and the time of writing", free, leased)
		}
		listed, _, err := s.ListOutbox(ctx, true, storage.Page{})
		must(t, err, "ListOutbox")
		if len(listed) != 2 || listed[0].ID != free.ID || string(listed[1].Payload) != `{"n":2}` || listed[1].Topic != storage.TopicBackchannelLogout ||
			listed[1].Attempts != 0 || !listed[1].NextAttemptAt.IsZero() || !listed[1].DeliveredAt.IsZero() {
			t.Fatalf("ListOutbox after AddOutbox = %+v", listed)
		}
		// The leased one is its writer's until the lease runs out; the free
		// one anyone's, and only workers of its topic's.
		wantIDs(t, "ClaimOutbox(user.deleted)", claim(t, s, "worker-a", []string{storage.TopicUserDeleted}, time.Minute, 10), nil)
		wantIDs(t, "ClaimOutbox(b) while the writer holds one", claim(t, s, "worker-b", []string{storage.TopicBackchannelLogout}, time.Hour, 10), []string{free.ID})
		wantErr(t, s.RetryOutbox(ctx, leased.ID, "worker-b", time.Minute), storage.ErrConflict, "RetryOutbox by a worker without the writer's lease")
		must(t, s.RetryOutbox(ctx, leased.ID, "writer", time.Minute), "RetryOutbox by the writer")
		clock.Advance(time.Minute)
		wantIDs(t, "ClaimOutbox(b) when the retry is due", claim(t, s, "worker-b", []string{storage.TopicBackchannelLogout}, time.Minute, 10), []string{leased.ID})

		for _, bad := range []struct {
			topic, owner string
			lease        time.Duration
		}{{"", "", 0}, {storage.TopicBackchannelLogout, "writer", 0}, {storage.TopicBackchannelLogout, "writer", -time.Second}} {
			if _, err := s.AddOutbox(ctx, bad.topic, []byte(`{}`), bad.owner, bad.lease); err == nil {
				t.Errorf("AddOutbox(%q, owner %q, lease %v) succeeded", bad.topic, bad.owner, bad.lease)
			}
		}
		if all, _, _ := s.ListOutbox(ctx, false, storage.Page{}); len(all) != 2 {
			t.Errorf("refused AddOutbox calls wrote messages: %d in the outbox, want 2", len(all))
		}
	}},
	{"LeaseTakenOver", func(t *testing.T, s ErasureStore, clock *Clock) {
		ctx := t.Context()
		m := outboxMessages(t, s, clock, 1)
		wantIDs(t, "ClaimOutbox(a)", claim(t, s, "worker-a", nil, time.Minute, 1), m)
		clock.Advance(2 * time.Minute)
		wantIDs(t, "ClaimOutbox(b) after a's lease ran out", claim(t, s, "worker-b", nil, time.Minute, 1), m)
		wantErr(t, s.RetryOutbox(ctx, m[0], "worker-a", time.Minute), storage.ErrConflict, "RetryOutbox by the worker whose lease ran out")
		must(t, s.RetryOutbox(ctx, m[0], "worker-b", time.Minute), "RetryOutbox by the worker holding the lease")
	}},
	{"Prune", func(t *testing.T, s ErasureStore, clock *Clock) {
		ctx := t.Context()
		m := outboxMessages(t, s, clock, 4)
		must(t, s.MarkHookDelivered(ctx, m[0], "hook-a"), "MarkHookDelivered")
		must(t, s.MarkDelivered(ctx, m[0]), "MarkDelivered(0)")
		clock.Advance(time.Hour)
		cut := clock.Now()
		must(t, s.MarkDelivered(ctx, m[1]), "MarkDelivered(1)")
		clock.Advance(time.Hour)
		must(t, s.MarkDelivered(ctx, m[2]), "MarkDelivered(2)")
		// m[3] stays undelivered, older than every cut below.

		n, err := s.PruneOutbox(ctx, cut)
		if err != nil || n != 1 {
			t.Errorf("PruneOutbox(%s) = %d, %v; want 1 (the one delivered before)", fmtTime(cut), n, err)
		}
		left := func() []string {
			msgs, _, err := s.ListOutbox(ctx, false, storage.Page{})
			must(t, err, "ListOutbox")
			return ids(msgs, func(m *storage.OutboxMessage) string { return m.ID })
		}
		wantIDs(t, "ListOutbox after pruning", left(), m[1:])
		n, err = s.PruneOutbox(ctx, clock.Now().Add(time.Hour))
		if err != nil || n != 2 {
			t.Errorf("PruneOutbox(an hour ahead) = %d, %v; want 2", n, err)
		}
		wantIDs(t, "ListOutbox after pruning everything delivered", left(), m[3:])
		if n, err := s.PruneOutbox(ctx, clock.Now().Add(time.Hour)); err != nil || n != 0 {
			t.Errorf("PruneOutbox again = %d, %v; want 0", n, err)
		}
		wantErr(t, s.MarkHookDelivered(ctx, m[0], "hook-b"), storage.ErrNotFound, "MarkHookDelivered(pruned message)")
	}},
	{"ConcurrentClaims", func(t *testing.T, s ErasureStore, clock *Clock) {
		m := outboxMessages(t, s, clock, 20)
		var (
			mu  sync.Mutex
			got = map[string][]string{}
			wg  sync.WaitGroup
		)
		for w := range 6 {
			owner := fmt.Sprintf("worker-%d", w)
			wg.Go(func() {
				for {
					msgs, err := s.ClaimOutbox(t.Context(), owner, nil, time.Hour, 3)
					if err != nil && !errors.Is(err, storage.ErrConflict) {
						t.Errorf("ClaimOutbox(%s) = %v", owner, err)
						return
					}
					if len(msgs) == 0 {
						return
					}
					mu.Lock()
					for _, msg := range msgs {
						got[msg.ID] = append(got[msg.ID], owner)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, id := range m {
			if len(got[id]) != 1 {
				t.Errorf("message %s claimed by %v, want exactly one worker", id, got[id])
			}
		}
	}},
}

func deliveredTo(msgs []*storage.OutboxMessage) [][]string {
	out := make([][]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.DeliveredTo
	}
	return out
}
