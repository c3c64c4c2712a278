package storagetest

import (
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

var counterTests = []stateTest{
	{"Hit", func(t *testing.T, s storage.StateStore, clock *Clock) {
		const window = 10 * time.Minute
		start := clock.Now()
		hit := func(key string, want int64, when string) {
			t.Helper()
			got, err := s.Hit(t.Context(), key, window)
			must(t, err, "Hit(%s) %s", key, when)
			if got != want {
				t.Errorf("Hit(%s) %s = %d, want %d", key, when, got, want)
			}
		}
		hit("a", 1, "first")
		hit("a", 2, "second, in the same window")
		hit("a", 3, "third, in the same window")

		// Another key counts on its own, in a window of its own that
		// starts at its own first hit.
		clock.Advance(window / 2)
		hit("b", 1, "first, while a counts")
		hit("a", 4, "half a window after a's first hit")

		// The window is fixed from the first hit, not sliding: the last
		// microsecond of a's window still counts...
		clock.Set(start.Add(window - time.Microsecond))
		hit("a", 5, "in the last microsecond of its window")
		// ...and once it has passed, the next hit opens a new one.
		clock.Set(start.Add(window + time.Second))
		restart := clock.Now()
		hit("a", 1, "after its window passed")
		hit("a", 2, "again in the new window")
		hit("b", 2, "after a's window passed but within b's")

		// b's window ends on its own schedule; a's new window runs from
		// the hit that opened it.
		clock.Set(start.Add(window/2 + window + time.Second))
		hit("b", 1, "after its own window passed")
		hit("a", 3, "within its new window")
		clock.Set(restart.Add(window - time.Microsecond))
		hit("a", 4, "in the last microsecond of the new window")
		clock.Set(restart.Add(window + time.Second))
		hit("a", 1, "after the new window passed")
	}},
	{"Fail", func(t *testing.T, s storage.StateStore, clock *Clock) {
		const window = 15 * time.Minute
		fail := func(key string, want int64, when string) {
			t.Helper()
			got, err := s.Fail(t.Context(), key, window)
			must(t, err, "Fail(%s) %s", key, when)
			if got != want {
				t.Errorf("Fail(%s) %s = %d, want %d", key, when, got, want)
			}
		}
		failures := func(key string, want int64, wantLast time.Time, when string) {
			t.Helper()
			n, last, err := s.Failures(t.Context(), key, window)
			must(t, err, "Failures(%s) %s", key, when)
			if n != want || !sameInstant(last, wantLast) {
				t.Errorf("Failures(%s) %s = %d, %s; want %d, %s", key, when, n, fmtTime(last), want, fmtTime(wantLast))
			}
		}
		failures("a", 0, time.Time{}, "before any failure")
		fail("a", 1, "first")
		failures("a", 1, clock.Now(), "after the first failure")
		clock.Advance(10 * time.Minute)
		fail("a", 2, "ten minutes later")
		failures("a", 2, clock.Now(), "after the second failure")
		failures("b", 0, time.Time{}, "while a has failures")

		// Each failure extends the count: 14 minutes after the second
		// failure (24 after the first) it still holds...
		second := clock.Now()
		clock.Advance(14 * time.Minute)
		failures("a", 2, second, "14 minutes after the latest failure")
		fail("a", 3, "14 minutes after the latest failure")
		// ...and it lapses a window after the latest one.
		third := clock.Now()
		clock.Set(third.Add(window - time.Microsecond))
		failures("a", 3, third, "in the last microsecond of the window")
		clock.Set(third.Add(window))
		failures("a", 0, time.Time{}, "a window after the latest failure")
		fail("a", 1, "after the count lapsed")

		// ClearFailures forgets them at once, and is no error when there
		// are none.
		fail("a", 2, "again")
		must(t, s.ClearFailures(t.Context(), "a"), "ClearFailures(a)")
		failures("a", 0, time.Time{}, "after ClearFailures")
		fail("a", 1, "after ClearFailures")
		must(t, s.ClearFailures(t.Context(), "never-failed"), "ClearFailures(a key without failures)")
	}},
}
