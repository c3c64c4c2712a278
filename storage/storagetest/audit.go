package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

func auditEvent(typ, userID string, at time.Time) *storage.AuditEvent {
	return &storage.AuditEvent{
		Time:      at,
		Type:      typ,
		UserID:    userID,
		ClientID:  "client-1",
		IP:        "203.0.113.7",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) \"quoted\" ünïcode",
		Detail:    map[string]string{"reason": "bad_password", "method": typ},
	}
}

func auditID(e *storage.AuditEvent) string { return e.ID }

// appendAll appends the events in order, checking each gets an ID.
func appendAll(t *testing.T, s Store, events ...*storage.AuditEvent) {
	t.Helper()
	for i, e := range events {
		put := clone(e)
		must(t, s.AppendAudit(t.Context(), put), "AppendAudit(event %d, %s)", i, e.Type)
		if put.ID == "" {
			t.Fatalf("AppendAudit(event %d) left ID empty, want one assigned", i)
		}
		e.ID = put.ID
		if e.Time.IsZero() {
			e.Time = put.Time
		}
	}
}

func reversed[T any](v []T) []T {
	out := slices.Clone(v)
	slices.Reverse(out)
	return out
}

var auditTests = []test{
	{"AppendAndList", func(t *testing.T, s Store, clock *Clock) {
		var events []*storage.AuditEvent
		for i, user := range []string{"user-1", "user-2", "", "user-1", "user-2", "user-1"} {
			e := auditEvent(fmt.Sprintf("login.%d", i), user, time.Time{})
			if i == 2 {
				e.Detail = nil
				e.ClientID, e.UserAgent = "", ""
			}
			events = append(events, e)
			appendAll(t, s, e)
			if !sameInstant(e.Time, clock.Now()) {
				t.Errorf("AppendAudit(no Time) set Time %s, want now %s", fmtTime(e.Time), fmtTime(clock.Now()))
			}
			clock.Advance(time.Second)
		}
		got, next, err := s.ListAudit(t.Context(), "", storage.Page{})
		must(t, err, "ListAudit(everyone)")
		if next != "" {
			t.Errorf("ListAudit(everyone, all in one page) next = %q, want \"\"", next)
		}
		checkList(t, "ListAudit(everyone)", got, reversed(events), auditID)

		got, _, err = s.ListAudit(t.Context(), "user-1", storage.Page{})
		must(t, err, "ListAudit(user-1)")
		checkList(t, "ListAudit(user-1)", got, []*storage.AuditEvent{events[5], events[3], events[0]}, auditID)
		got, _, err = s.ListAudit(t.Context(), "nobody", storage.Page{})
		if err != nil || len(got) != 0 {
			t.Errorf("ListAudit(a user without events) = %d events, %v; want none", len(got), err)
		}
	}},
	{"IDsSortByTime", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		// Appended out of time order: the listing follows the times.
		late := auditEvent("late", "user-1", now.Add(2*time.Hour))
		early := auditEvent("early", "user-1", now.Add(time.Hour))
		earliest := auditEvent("earliest", "user-1", now)
		appendAll(t, s, late, early, earliest)
		// Events appended in one instant list in reverse order of
		// appending.
		same := []*storage.AuditEvent{
			auditEvent("same-1", "user-2", now.Add(3*time.Hour)),
			auditEvent("same-2", "user-2", now.Add(3*time.Hour)),
			auditEvent("same-3", "user-2", now.Add(3*time.Hour)),
		}
		appendAll(t, s, same...)
		got, _, err := s.ListAudit(t.Context(), "", storage.Page{})
		must(t, err, "ListAudit")
		checkList(t, "ListAudit", got, []*storage.AuditEvent{same[2], same[1], same[0], late, early, earliest}, auditID)

		// An ID the caller sets is kept.
		own := auditEvent("own", "user-3", now)
		own.ID = "0000-caller-chosen"
		appendAll(t, s, own)
		if own.ID != "0000-caller-chosen" {
			t.Errorf("AppendAudit(ID set) changed the ID to %q, want it kept", own.ID)
		}
		got, _, err = s.ListAudit(t.Context(), "user-3", storage.Page{})
		must(t, err, "ListAudit(user-3)")
		checkList(t, "ListAudit(user-3)", got, []*storage.AuditEvent{own}, auditID)
	}},
	{"Paging", func(t *testing.T, s Store, clock *Clock) {
		var all, mine []*storage.AuditEvent
		for i := range 11 {
			user := "user-2"
			if i%3 != 0 {
				user = "user-1"
			}
			e := auditEvent(pad("event-", i), user, clock.Now())
			appendAll(t, s, e)
			all = append(all, e)
			if user == "user-1" {
				mine = append(mine, e)
			}
			clock.Advance(time.Minute)
		}
		for _, tc := range []struct {
			user  string
			want  []*storage.AuditEvent
			limit int
		}{
			{"", all, 3},
			{"", all, 11},
			{"", all, 1},
			{"user-1", mine, 3},
			{"user-1", mine, 7},
		} {
			what := fmt.Sprintf("ListAudit(%q, Limit %d)", tc.user, tc.limit)
			got := walk(t, what, tc.limit, func(ctx context.Context, p storage.Page) ([]string, string, error) {
				es, next, err := s.ListAudit(ctx, tc.user, p)
				return ids(es, auditID), next, err
			})
			if want := ids(reversed(tc.want), auditID); !slices.Equal(got, want) {
				t.Errorf("%s walked %q, want %q", what, got, want)
			}
		}
	}},
	{"Prune", func(t *testing.T, s Store, clock *Clock) {
		now := clock.Now()
		old := auditEvent("old", "user-1", now.Add(-48*time.Hour))
		older := auditEvent("older", "", now.Add(-72*time.Hour))
		edge := auditEvent("edge", "user-1", now.Add(-24*time.Hour))
		fresh := auditEvent("fresh", "user-2", now)
		appendAll(t, s, old, fresh, older, edge)
		n, err := s.PruneAudit(t.Context(), now.Add(-24*time.Hour))
		if err != nil || n != 2 {
			t.Errorf("PruneAudit(a day ago) = %d, %v; want 2 (the events older than it), nil", n, err)
		}
		got, _, err := s.ListAudit(t.Context(), "", storage.Page{})
		must(t, err, "ListAudit after PruneAudit")
		checkList(t, "ListAudit after PruneAudit", got, []*storage.AuditEvent{fresh, edge}, auditID)
		n, err = s.PruneAudit(t.Context(), now.Add(-24*time.Hour))
		if err != nil || n != 0 {
			t.Errorf("PruneAudit(a day ago) a second time = %d, %v; want 0, nil", n, err)
		}
	}},
}
