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
}
