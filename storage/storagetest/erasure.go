package storagetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// ErasureStore is a Store that also erases accounts and keeps an outbox.
type ErasureStore interface {
	Store
	storage.UserEraser
	storage.OutboxStore
}

// RunErasure runs the suite of account erasure and the outbox; newStore
// is as for Run.
func RunErasure(t *testing.T, newStore func(t *testing.T, clock *Clock) ErasureStore) {
	run(t, newStore, []suite[ErasureStore]{{"Erasure", erasureTests}})
}

type erasureTest = testCase[ErasureStore]

// seedAccount gives user id a record of every kind a user has, and
// returns the user.
func seedAccount(t *testing.T, s ErasureStore, id string, now time.Time) *storage.User {
	t.Helper()
	ctx := t.Context()
	u := seedUser(t, s, id, now)
	must(t, s.PutCredential(ctx, fullCredential("", id, storage.CredentialPassword, now)), "PutCredential(%s password)", id)
	must(t, s.PutCredential(ctx, fullCredential("pk-"+id, id, storage.CredentialPasskey, now)), "PutCredential(%s passkey)", id)
	must(t, s.CreateIdentity(ctx, fullIdentity("ident-"+id, id, "github", "gh-"+id, now)), "CreateIdentity(%s)", id)
	must(t, s.PutConsent(ctx, fullConsent(id, "client-1", now)), "PutConsent(%s)", id)
	must(t, s.AppendConsentEvent(ctx, ledgerEvent(id, "client-1", "", storage.ConsentGranted, now)), "AppendConsentEvent(%s grant)", id)
	must(t, s.AppendConsentEvent(ctx, ledgerEvent(id, "", "newsletter", storage.ConsentGranted, now)), "AppendConsentEvent(%s purpose)", id)
	must(t, s.PutSession(ctx, fullSession("session-"+id, id, now)), "PutSession(%s)", id)
	tok := fullToken(storage.KindRefreshToken, "refresh-"+id, "grant-"+id, now)
	tok.Subject, tok.SessionID = id, "session-"+id
	must(t, s.CreateToken(ctx, tok), "CreateToken(%s)", id)
	e := auditEvent("login.succeeded", id, now)
	must(t, s.AppendAudit(ctx, e), "AppendAudit(%s)", id)
	must(t, s.PutPreferences(ctx, fullPreferences(id, now)), "PutPreferences(%s)", id)
	return u
}

func userDeletedPayload(t *testing.T, m *storage.OutboxMessage) (userID, deletedAt string) {
	t.Helper()
	var p map[string]string
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		t.Fatalf("outbox message %s payload %q is not a JSON object of strings: %v", m.ID, m.Payload, err)
	}
	if len(p) != 2 {
		t.Errorf("outbox message %s payload %s, want only user_id and deleted_at", m.ID, m.Payload)
	}
	return p["user_id"], p["deleted_at"]
}

var erasureTests = []erasureTest{
	{"EraseUser", func(t *testing.T, s ErasureStore, clock *Clock) {
		ctx := t.Context()
		now := clock.Now()
		gone := seedAccount(t, s, "user-1", now)
		kept := seedAccount(t, s, "user-2", now)
		clock.Advance(time.Minute)
		at := clock.Now()

		erased, err := s.EraseUser(ctx, gone.ID, at)
		if err != nil || !erased {
			t.Fatalf("EraseUser(user-1) = %v, %v; want true, nil", erased, err)
		}
		wantErr(t, func() error { _, err := s.GetUser(ctx, gone.ID); return err }(), storage.ErrNotFound, "GetUser(erased user)")
		wantErr(t, func() error { _, err := s.GetUserByEmail(ctx, gone.Email); return err }(), storage.ErrNotFound, "GetUserByEmail(erased user's address)")
		if c, err := s.ListCredentials(ctx, gone.ID); err != nil || len(c) != 0 {
			t.Errorf("ListCredentials(erased user) = %d, %v; want none", len(c), err)
		}
		if i, err := s.ListIdentities(ctx, gone.ID); err != nil || len(i) != 0 {
			t.Errorf("ListIdentities(erased user) = %d, %v; want none", len(i), err)
		}
		wantErr(t, func() error { _, err := s.GetIdentity(ctx, "github", "gh-user-1"); return err }(), storage.ErrNotFound, "GetIdentity(erased user's link)")
		if c, err := s.ListConsents(ctx, gone.ID); err != nil || len(c) != 0 {
			t.Errorf("ListConsents(erased user) = %d, %v; want none", len(c), err)
		}
		if ev, err := s.ListConsentEvents(ctx, gone.ID); err != nil || len(ev) != 0 {
			t.Errorf("ListConsentEvents(erased user) = %d, %v; want none", len(ev), err)
		}
		if ss, err := s.ListUserSessions(ctx, gone.ID); err != nil || len(ss) != 0 {
			t.Errorf("ListUserSessions(erased user) = %d, %v; want none", len(ss), err)
		}
		wantErr(t, func() error { _, err := s.GetToken(ctx, storage.KindRefreshToken, "refresh-user-1"); return err }(), storage.ErrNotFound, "GetToken(erased user's)")
		if ev, _, err := s.ListAudit(ctx, gone.ID, storage.Page{}); err != nil || len(ev) != 0 {
			t.Errorf("ListAudit(erased user) = %d, %v; want none", len(ev), err)
		}
		if p, err := s.GetPreferences(ctx, gone.ID); err != nil || p.Language != "" || p.Currency != "" || len(p.OptIns) != 0 {
			t.Errorf("GetPreferences(erased user) = %+v, %v; want none stored", p, err)
		}
		if p, err := s.GetPreferences(ctx, kept.ID); err != nil || len(p.OptIns) == 0 {
			t.Errorf("GetPreferences(other user) = %+v, %v; want theirs kept", p, err)
		}

		// The other user keeps everything.
		if _, err := s.GetUser(ctx, kept.ID); err != nil {
			t.Errorf("GetUser(other user) = %v, want the user", err)
		}
		for what, n := range map[string]func() (int, error){
			"ListCredentials": func() (int, error) { c, err := s.ListCredentials(ctx, kept.ID); return len(c), err },
			"ListIdentities":  func() (int, error) { c, err := s.ListIdentities(ctx, kept.ID); return len(c), err },
			"ListConsents":    func() (int, error) { c, err := s.ListConsents(ctx, kept.ID); return len(c), err },
			"ListConsentEvents": func() (int, error) {
				c, err := s.ListConsentEvents(ctx, kept.ID)
				return len(c), err
			},
			"ListUserSessions": func() (int, error) {
				c, err := s.ListUserSessions(ctx, kept.ID)
				return len(c), err
			},
			"ListAudit": func() (int, error) { c, _, err := s.ListAudit(ctx, kept.ID, storage.Page{}); return len(c), err },
		} {
			if got, err := n(); err != nil || got == 0 {
				t.Errorf("%s(other user) = %d, %v; want their records kept", what, got, err)
			}
		}
		if _, err := s.GetToken(ctx, storage.KindRefreshToken, "refresh-user-2"); err != nil {
			t.Errorf("GetToken(other user's) = %v, want it kept", err)
		}

		// One tombstone that names no one.
		all, _, err := s.ListAudit(ctx, "", storage.Page{})
		must(t, err, "ListAudit(everyone)")
		var tombs []*storage.AuditEvent
		for _, e := range all {
			if e.Type == storage.AuditUserDeleted {
				tombs = append(tombs, e)
			}
		}
		if len(tombs) != 1 {
			t.Fatalf("%d audit events of type %s, want 1", len(tombs), storage.AuditUserDeleted)
		}
		tomb := tombs[0]
		if tomb.UserID == "" || tomb.UserID == gone.ID || tomb.IP != "" || tomb.UserAgent != "" || tomb.ClientID != "" || len(tomb.Detail) != 0 {
			t.Errorf("tombstone %+v, want a user ID of its own and no IP, user agent, client or detail", tomb)
		}
		if !sameInstant(tomb.Time, at) {
			t.Errorf("tombstone at %s, want the erasure's time %s", fmtTime(tomb.Time), fmtTime(at))
		}

		// One outbox message tells downstream systems.
		msgs, next, err := s.ListOutbox(ctx, true, storage.Page{})
		must(t, err, "ListOutbox(undelivered)")
		if len(msgs) != 1 || next != "" {
			t.Fatalf("ListOutbox(undelivered) = %d messages, next %q; want 1 and \"\"", len(msgs), next)
		}
		m := msgs[0]
		if m.Topic != storage.TopicUserDeleted || !m.DeliveredAt.IsZero() || !sameInstant(m.CreatedAt, at) {
			t.Errorf("outbox message %+v, want topic %s, undelivered, created at %s", m, storage.TopicUserDeleted, fmtTime(at))
		}
		uid, when := userDeletedPayload(t, m)
		if uid != gone.ID {
			t.Errorf("outbox payload user_id %q, want %q", uid, gone.ID)
		}
		if ts, err := time.Parse(time.RFC3339Nano, when); err != nil || !sameInstant(ts, at) {
			t.Errorf("outbox payload deleted_at %q (%v), want %s", when, err, fmtTime(at))
		}

		// Erasing again succeeds and writes nothing more.
		erased, err = s.EraseUser(ctx, gone.ID, clock.Now())
		if err != nil || erased {
			t.Errorf("EraseUser(erased user) again = %v, %v; want false, nil", erased, err)
		}
		if msgs, _, err := s.ListOutbox(ctx, false, storage.Page{}); err != nil || len(msgs) != 1 {
			t.Errorf("ListOutbox after a second erasure = %d, %v; want still 1", len(msgs), err)
		}
		all2, _, err := s.ListAudit(ctx, "", storage.Page{})
		if err != nil || len(all2) != len(all) {
			t.Errorf("ListAudit after a second erasure = %d events, %v; want still %d", len(all2), err, len(all))
		}

		// The address is free again.
		must(t, s.CreateUser(ctx, fullUser("user-3", gone.Email, clock.Now())), "CreateUser with an erased user's address")
	}},
	{"EraseUnknownUser", func(t *testing.T, s ErasureStore, clock *Clock) {
		erased, err := s.EraseUser(t.Context(), "nobody", clock.Now())
		if err != nil || erased {
			t.Errorf("EraseUser(nobody) = %v, %v; want false, nil", erased, err)
		}
		if msgs, _, err := s.ListOutbox(t.Context(), false, storage.Page{}); err != nil || len(msgs) != 0 {
			t.Errorf("ListOutbox after erasing nobody = %d, %v; want none", len(msgs), err)
		}
		if ev, _, err := s.ListAudit(t.Context(), "", storage.Page{}); err != nil || len(ev) != 0 {
			t.Errorf("ListAudit after erasing nobody = %d, %v; want none", len(ev), err)
		}
	}},
	{"Outbox", func(t *testing.T, s ErasureStore, clock *Clock) {
		ctx := t.Context()
		var order []string
		for _, id := range []string{"user-c", "user-a", "user-b"} {
			seedUser(t, s, id, clock.Now())
			erased, err := s.EraseUser(ctx, id, clock.Now())
			if err != nil || !erased {
				t.Fatalf("EraseUser(%s) = %v, %v", id, erased, err)
			}
			order = append(order, id)
			clock.Advance(time.Second)
		}
		page, next, err := s.ListOutbox(ctx, false, storage.Page{Limit: 2})
		must(t, err, "ListOutbox(first 2)")
		if len(page) != 2 || next == "" {
			t.Fatalf("ListOutbox(limit 2) = %d, next %q; want 2 and a next page", len(page), next)
		}
		rest, next2, err := s.ListOutbox(ctx, false, storage.Page{After: next, Limit: 2})
		must(t, err, "ListOutbox(after %s)", next)
		if len(rest) != 1 || next2 != "" {
			t.Fatalf("ListOutbox(second page) = %d, next %q; want 1 and \"\"", len(rest), next2)
		}
		msgs := append(page, rest...)
		for i, m := range msgs {
			if uid, _ := userDeletedPayload(t, m); uid != order[i] {
				t.Errorf("outbox message %d names %q, want %q (oldest first)", i, uid, order[i])
			}
		}

		clock.Advance(time.Minute)
		delivered := clock.Now()
		must(t, s.MarkDelivered(ctx, msgs[0].ID), "MarkDelivered(first)")
		clock.Advance(time.Minute)
		must(t, s.MarkDelivered(ctx, msgs[0].ID), "MarkDelivered(first) again")
		wantErr(t, s.MarkDelivered(ctx, "no-such-message"), storage.ErrNotFound, "MarkDelivered(unknown)")

		undelivered, _, err := s.ListOutbox(ctx, true, storage.Page{})
		must(t, err, "ListOutbox(undelivered)")
		checkList(t, "ListOutbox(undelivered)", undelivered, msgs[1:], func(m *storage.OutboxMessage) string { return m.ID }, "Payload")
		every, _, err := s.ListOutbox(ctx, false, storage.Page{})
		must(t, err, "ListOutbox(all)")
		if len(every) != 3 || !sameInstant(every[0].DeliveredAt, delivered) {
			t.Errorf("ListOutbox(all) = %d, first delivered at %s; want 3, delivered at %s (the first marking)",
				len(every), fmtTime(every[0].DeliveredAt), fmtTime(delivered))
		}
	}},
}
