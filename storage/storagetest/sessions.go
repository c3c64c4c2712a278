package storagetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

func sessionID(s *storage.Session) string { return s.ID }

var sessionTests = []stateTest{
	{"RoundTrip", func(t *testing.T, s storage.StateStore, clock *Clock) {
		want := fullSession("sess-1", "user-1", clock.Now())
		must(t, s.PutSession(t.Context(), clone(want)), "PutSession")
		got, err := s.GetSession(t.Context(), want.ID)
		must(t, err, "GetSession")
		checkRecord(t, "GetSession", got, want)
	}},
	{"PutReplaces", func(t *testing.T, s storage.StateStore, clock *Clock) {
		first := fullSession("sess-1", "user-1", clock.Now())
		must(t, s.PutSession(t.Context(), clone(first)), "PutSession(first)")
		clock.Advance(time.Hour)
		want := clone(first)
		want.AuthTime = clock.Now()
		want.AMR = []string{"pwd"}
		want.ACR = ""
		want.ExpiresAt = clock.Now().Add(48 * time.Hour)
		must(t, s.PutSession(t.Context(), clone(want)), "PutSession(same ID)")
		got, err := s.GetSession(t.Context(), want.ID)
		must(t, err, "GetSession")
		checkRecord(t, "GetSession after a replacing PutSession", got, want)
	}},
	{"Missing", func(t *testing.T, s storage.StateStore, clock *Clock) {
		_, err := s.GetSession(t.Context(), "nope")
		wantErr(t, err, storage.ErrNotFound, "GetSession(missing)")
		wantErr(t, s.DeleteSession(t.Context(), "nope"), storage.ErrNotFound, "DeleteSession(missing)")
	}},
	{"Delete", func(t *testing.T, s storage.StateStore, clock *Clock) {
		must(t, s.PutSession(t.Context(), fullSession("sess-1", "user-1", clock.Now())), "PutSession")
		keep := fullSession("sess-2", "user-1", clock.Now())
		must(t, s.PutSession(t.Context(), clone(keep)), "PutSession")
		must(t, s.DeleteSession(t.Context(), "sess-1"), "DeleteSession")
		_, err := s.GetSession(t.Context(), "sess-1")
		wantErr(t, err, storage.ErrNotFound, "GetSession(deleted)")
		wantErr(t, s.DeleteSession(t.Context(), "sess-1"), storage.ErrNotFound, "DeleteSession(already deleted)")
		got, err := s.ListUserSessions(t.Context(), "user-1")
		must(t, err, "ListUserSessions")
		checkList(t, "ListUserSessions after DeleteSession", got, []*storage.Session{keep}, sessionID)
	}},
	{"AddClient", func(t *testing.T, s storage.StateStore, clock *Clock) {
		ctx := t.Context()
		sess := fullSession("sess-1", "user-1", clock.Now())
		sess.Clients = nil
		must(t, s.PutSession(ctx, clone(sess)), "PutSession")
		for _, c := range []string{"client-b", "client-a", "client-b", "client-c", "client-a"} {
			must(t, s.AddSessionClient(ctx, sess.ID, c), "AddSessionClient(%s)", c)
		}
		got, err := s.GetSession(ctx, sess.ID)
		must(t, err, "GetSession")
		sess.Clients = []string{"client-b", "client-a", "client-c"}
		checkRecord(t, "GetSession after AddSessionClient b, a, b, c, a", got, sess)
	}},
	{"AddClientNeverRevives", func(t *testing.T, s storage.StateStore, clock *Clock) {
		ctx := t.Context()
		wantErr(t, s.AddSessionClient(ctx, "nope", "client-a"), storage.ErrNotFound, "AddSessionClient(missing)")
		must(t, s.PutSession(ctx, fullSession("sess-1", "user-1", clock.Now())), "PutSession")
		must(t, s.DeleteSession(ctx, "sess-1"), "DeleteSession")
		wantErr(t, s.AddSessionClient(ctx, "sess-1", "client-x"), storage.ErrNotFound, "AddSessionClient(deleted)")
		_, err := s.GetSession(ctx, "sess-1")
		wantErr(t, err, storage.ErrNotFound, "GetSession after AddSessionClient to a deleted session")

		expiring := fullSession("sess-2", "user-1", clock.Now())
		must(t, s.PutSession(ctx, clone(expiring)), "PutSession")
		clock.Set(expiring.ExpiresAt.Add(time.Second))
		wantErr(t, s.AddSessionClient(ctx, "sess-2", "client-x"), storage.ErrNotFound, "AddSessionClient(expired)")
		clock.Set(expiring.CreatedAt)
		got, err := s.GetSession(ctx, "sess-2")
		if err == nil && slices.Contains(got.Clients, "client-x") {
			t.Errorf("AddSessionClient to an expired session changed it: Clients %v", got.Clients)
		}
		list, err := s.ListUserSessions(ctx, "user-1")
		must(t, err, "ListUserSessions")
		for _, l := range list {
			if l.ID == "sess-1" {
				t.Errorf("AddSessionClient brought a deleted session back")
			}
		}
	}},
	{"AddClientConcurrent", func(t *testing.T, s storage.StateStore, clock *Clock) {
		ctx := t.Context()
		for round := range 5 {
			sess := fullSession(pad("sess-", round), "user-1", clock.Now())
			sess.Clients = []string{"first"}
			must(t, s.PutSession(ctx, clone(sess)), "PutSession")
			clients := []string{"client-a", "client-b"}
			for i, err := range race(len(clients), func(i int) error { return s.AddSessionClient(ctx, sess.ID, clients[i]) }) {
				must(t, err, "AddSessionClient(%s) racing another client", clients[i])
			}
			got, err := s.GetSession(ctx, sess.ID)
			must(t, err, "GetSession")
			if len(got.Clients) != 3 || got.Clients[0] != "first" || !slices.Contains(got.Clients, "client-a") || !slices.Contains(got.Clients, "client-b") {
				t.Errorf("round %d: Clients after two concurrent adds = %v, want first, then client-a and client-b", round, got.Clients)
			}
		}
	}},
	{"Expiry", func(t *testing.T, s storage.StateStore, clock *Clock) {
		sess := fullSession("sess-1", "user-1", clock.Now())
		must(t, s.PutSession(t.Context(), clone(sess)), "PutSession")
		testExpiry(t, clock, sess.ExpiresAt, func() error {
			_, err := s.GetSession(t.Context(), sess.ID)
			return err
		}, "GetSession")
	}},
	{"ListByUser", func(t *testing.T, s storage.StateStore, clock *Clock) {
		now := clock.Now()
		long := fullSession("sess-b", "user-1", now)
		short := fullSession("sess-a", "user-1", now)
		short.ExpiresAt = now.Add(time.Hour)
		for _, sess := range []*storage.Session{long, short, fullSession("sess-c", "user-2", now)} {
			must(t, s.PutSession(t.Context(), clone(sess)), "PutSession(%s)", sess.ID)
		}
		got, err := s.ListUserSessions(t.Context(), "user-1")
		must(t, err, "ListUserSessions(user-1)")
		checkList(t, "ListUserSessions(user-1) (sorted by ID)", sortedBy(got, sessionID), []*storage.Session{short, long}, sessionID)
		checkEmpty(t, "ListUserSessions(user with none)", func(ctx context.Context) (int, error) {
			l, err := s.ListUserSessions(ctx, "user-3")
			return len(l), err
		})
		clock.Advance(2 * time.Hour)
		got, err = s.ListUserSessions(t.Context(), "user-1")
		must(t, err, "ListUserSessions(user-1) after one session expired")
		checkList(t, "ListUserSessions(user-1) after sess-a expired", got, []*storage.Session{long}, sessionID)
	}},
	{"DeleteUserSessions", func(t *testing.T, s storage.StateStore, clock *Clock) {
		now := clock.Now()
		for _, sess := range []*storage.Session{
			fullSession("sess-1", "user-1", now),
			fullSession("sess-2", "user-1", now.Add(time.Second)),
			fullSession("sess-3", "user-1", now.Add(2*time.Second)),
		} {
			must(t, s.PutSession(t.Context(), sess), "PutSession(%s)", sess.ID)
		}
		kept := []*storage.Session{fullSession("sess-4", "user-2", now), fullSession("sess-5", "user-2", now)}
		for _, sess := range kept {
			must(t, s.PutSession(t.Context(), clone(sess)), "PutSession(%s)", sess.ID)
		}
		in := fullInteraction("int-1", now)
		must(t, s.PutInteraction(t.Context(), clone(in)), "PutInteraction")

		n, err := s.DeleteUserSessions(t.Context(), "user-1")
		must(t, err, "DeleteUserSessions(user-1)")
		if n != 3 {
			t.Errorf("DeleteUserSessions(user-1 with 3 sessions) = %d, want 3", n)
		}
		for _, id := range []string{"sess-1", "sess-2", "sess-3"} {
			_, err := s.GetSession(t.Context(), id)
			wantErr(t, err, storage.ErrNotFound, "GetSession(%s) after DeleteUserSessions of its user", id)
		}
		checkEmpty(t, "ListUserSessions(user-1) after DeleteUserSessions", func(ctx context.Context) (int, error) {
			l, err := s.ListUserSessions(ctx, "user-1")
			return len(l), err
		})
		for _, want := range kept {
			got, err := s.GetSession(t.Context(), want.ID)
			must(t, err, "GetSession(%s) of another user after DeleteUserSessions", want.ID)
			checkRecord(t, "GetSession("+want.ID+") of another user", got, want)
		}
		got, err := s.ListUserSessions(t.Context(), "user-2")
		must(t, err, "ListUserSessions(user-2)")
		checkList(t, "ListUserSessions(another user) after DeleteUserSessions", sortedBy(got, sessionID), kept, sessionID)
		gotIn, err := s.GetInteraction(t.Context(), in.ID)
		must(t, err, "GetInteraction after DeleteUserSessions")
		checkRecord(t, "GetInteraction after DeleteUserSessions", gotIn, in)

		n, err = s.DeleteUserSessions(t.Context(), "user-1")
		if err != nil || n != 0 {
			t.Errorf("DeleteUserSessions(user-1) again = %d, %v; want 0, no error", n, err)
		}
		n, err = s.DeleteUserSessions(t.Context(), "nobody")
		if err != nil || n != 0 {
			t.Errorf("DeleteUserSessions(user with no sessions) = %d, %v; want 0, no error", n, err)
		}

		// Signing in again afterwards starts a session like any other.
		again := fullSession("sess-6", "user-1", now)
		must(t, s.PutSession(t.Context(), clone(again)), "PutSession after DeleteUserSessions")
		got, err = s.ListUserSessions(t.Context(), "user-1")
		must(t, err, "ListUserSessions(user-1) after a new sign-in")
		checkList(t, "ListUserSessions(user-1) after DeleteUserSessions and a new sign-in", got, []*storage.Session{again}, sessionID)
	}},
}

var interactionTests = []stateTest{
	{"RoundTrip", func(t *testing.T, s storage.StateStore, clock *Clock) {
		want := fullInteraction("int-1", clock.Now())
		must(t, s.PutInteraction(t.Context(), clone(want)), "PutInteraction")
		got, err := s.GetInteraction(t.Context(), want.ID)
		must(t, err, "GetInteraction")
		checkRecord(t, "GetInteraction", got, want)
	}},
	{"PutReplaces", func(t *testing.T, s storage.StateStore, clock *Clock) {
		must(t, s.PutInteraction(t.Context(), fullInteraction("int-1", clock.Now())), "PutInteraction(first)")
		other := fullInteraction("int-2", clock.Now())
		must(t, s.PutInteraction(t.Context(), clone(other)), "PutInteraction(other)")
		clock.Advance(time.Minute)
		want := &storage.Interaction{ID: "int-1", Data: []byte("step=consent"), ExpiresAt: clock.Now().Add(time.Hour)}
		must(t, s.PutInteraction(t.Context(), clone(want)), "PutInteraction(same ID)")
		got, err := s.GetInteraction(t.Context(), want.ID)
		must(t, err, "GetInteraction")
		checkRecord(t, "GetInteraction after a replacing PutInteraction", got, want)
		got, err = s.GetInteraction(t.Context(), other.ID)
		must(t, err, "GetInteraction(not replaced)")
		checkRecord(t, "GetInteraction of an interaction not replaced", got, other)
	}},
	{"Missing", func(t *testing.T, s storage.StateStore, clock *Clock) {
		_, err := s.GetInteraction(t.Context(), "nope")
		wantErr(t, err, storage.ErrNotFound, "GetInteraction(missing)")
		wantErr(t, s.DeleteInteraction(t.Context(), "nope"), storage.ErrNotFound, "DeleteInteraction(missing)")
	}},
	{"Delete", func(t *testing.T, s storage.StateStore, clock *Clock) {
		must(t, s.PutInteraction(t.Context(), fullInteraction("int-1", clock.Now())), "PutInteraction")
		must(t, s.PutInteraction(t.Context(), fullInteraction("int-2", clock.Now())), "PutInteraction")
		must(t, s.DeleteInteraction(t.Context(), "int-1"), "DeleteInteraction")
		_, err := s.GetInteraction(t.Context(), "int-1")
		wantErr(t, err, storage.ErrNotFound, "GetInteraction(deleted)")
		wantErr(t, s.DeleteInteraction(t.Context(), "int-1"), storage.ErrNotFound, "DeleteInteraction(already deleted)")
		_, err = s.GetInteraction(t.Context(), "int-2")
		must(t, err, "GetInteraction(another interaction) after DeleteInteraction")
	}},
	{"Expiry", func(t *testing.T, s storage.StateStore, clock *Clock) {
		in := fullInteraction("int-1", clock.Now())
		must(t, s.PutInteraction(t.Context(), clone(in)), "PutInteraction")
		testExpiry(t, clock, in.ExpiresAt, func() error {
			_, err := s.GetInteraction(t.Context(), in.ID)
			return err
		}, "GetInteraction")
	}},
}

// testExpiry checks that get finds its record until the clock reaches
// expiresAt (at microsecond precision) and reports ErrNotFound from then on.
func testExpiry(t *testing.T, clock *Clock, expiresAt time.Time, get func() error, what string) {
	t.Helper()
	exp := expiresAt.Truncate(time.Microsecond)
	clock.Set(exp.Add(-time.Microsecond))
	if err := get(); err != nil {
		t.Errorf("%s 1µs before ExpiresAt = %v, want the record", what, err)
	}
	clock.Set(exp)
	wantErr(t, get(), storage.ErrNotFound, "%s at ExpiresAt", what)
	clock.Set(exp.Add(time.Hour))
	wantErr(t, get(), storage.ErrNotFound, "%s an hour after ExpiresAt", what)
}
