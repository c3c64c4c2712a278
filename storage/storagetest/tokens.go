package storagetest

import (
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

var allKinds = []storage.TokenKind{
	storage.KindAuthorizeCode,
	storage.KindAccessToken,
	storage.KindRefreshToken,
	storage.KindOpenID,
	storage.KindPKCE,
	// Kinds Redis has no one-letter code for (device flow state).
	storage.KindDeviceCode,
	storage.KindUserCode,
	storage.KindDeviceAnswer,
}

var tokenTests = []stateTest{
	{"RoundTrip", func(t *testing.T, s storage.StateStore, clock *Clock) {
		// One signature under every kind: (Kind, Signature) is the key.
		var want []*storage.Token
		for i, kind := range allKinds {
			tok := fullToken(kind, "sig-1", "req-1", clock.Now())
			tok.ExpiresAt = tok.ExpiresAt.Add(time.Duration(i) * time.Minute)
			want = append(want, tok)
			must(t, s.CreateToken(t.Context(), clone(tok)), "CreateToken(%s, sig-1)", kind)
		}
		for _, tok := range want {
			got, err := s.GetToken(t.Context(), tok.Kind, tok.Signature)
			must(t, err, "GetToken(%s, sig-1)", tok.Kind)
			checkRecord(t, "GetToken("+string(tok.Kind)+")", got, tok)
		}
	}},
	{"RoundTripSparse", func(t *testing.T, s storage.StateStore, clock *Clock) {
		want := &storage.Token{Kind: storage.KindPKCE, Signature: "sig-1", RequestID: "req-1", ClientID: "client-1", CreatedAt: clock.Now(), ExpiresAt: clock.Now().Add(time.Minute)}
		must(t, s.CreateToken(t.Context(), clone(want)), "CreateToken(inactive, no data)")
		got, err := s.GetToken(t.Context(), want.Kind, want.Signature)
		must(t, err, "GetToken")
		checkRecord(t, "GetToken", got, want)
	}},
	{"CreateDuplicate", func(t *testing.T, s storage.StateStore, clock *Clock) {
		first := fullToken(storage.KindAccessToken, "sig-1", "req-1", clock.Now())
		must(t, s.CreateToken(t.Context(), clone(first)), "CreateToken")
		dup := fullToken(storage.KindAccessToken, "sig-1", "req-2", clock.Now())
		dup.Subject = "impostor"
		wantErr(t, s.CreateToken(t.Context(), dup), storage.ErrAlreadyExists, "CreateToken(existing kind and signature)")
		got, err := s.GetToken(t.Context(), first.Kind, first.Signature)
		must(t, err, "GetToken")
		checkRecord(t, "GetToken after a rejected duplicate", got, first)
	}},
	{"WriteTokens", func(t *testing.T, s storage.StateStore, clock *Clock) {
		old := fullToken(storage.KindAccessToken, "sig-old", "req-1", clock.Now())
		must(t, s.CreateToken(t.Context(), clone(old)), "CreateToken")
		access := fullToken(storage.KindAccessToken, "sig-a", "req-2", clock.Now())
		refresh := fullToken(storage.KindRefreshToken, "sig-r", "req-2", clock.Now())
		refresh.ExpiresAt = clock.Now().Add(24 * time.Hour)
		must(t, s.WriteTokens(t.Context(), []*storage.Token{clone(access), clone(refresh)},
			[]storage.TokenRef{{Kind: old.Kind, Signature: old.Signature}, {Kind: storage.KindAccessToken, Signature: "never-was"}}),
			"WriteTokens")
		for _, tok := range []*storage.Token{access, refresh} {
			got, err := s.GetToken(t.Context(), tok.Kind, tok.Signature)
			must(t, err, "GetToken(%s) after WriteTokens", tok.Kind)
			checkRecord(t, "GetToken("+string(tok.Kind)+")", got, tok)
		}
		_, err := s.GetToken(t.Context(), old.Kind, old.Signature)
		wantErr(t, err, storage.ErrNotFound, "GetToken(deleted by WriteTokens)")
		wantErr(t, s.WriteTokens(t.Context(), []*storage.Token{fullToken(storage.KindRefreshToken, "sig-r", "req-3", clock.Now())}, nil),
			storage.ErrAlreadyExists, "WriteTokens(taken signature)")
		// The grant's indexes outlive its shorter-lived token.
		clock.Advance(2 * time.Hour)
		n, err := s.RevokeTokens(t.Context(), storage.KindRefreshToken, "req-2")
		if err != nil || n != 1 {
			t.Errorf("RevokeTokens(refresh, req-2) after the access token expired = %d, %v; want 1", n, err)
		}
	}},
	{"Missing", func(t *testing.T, s storage.StateStore, clock *Clock) {
		must(t, s.CreateToken(t.Context(), fullToken(storage.KindAccessToken, "sig-1", "req-1", clock.Now())), "CreateToken")
		_, err := s.GetToken(t.Context(), storage.KindAccessToken, "nope")
		wantErr(t, err, storage.ErrNotFound, "GetToken(missing signature)")
		_, err = s.GetToken(t.Context(), storage.KindRefreshToken, "sig-1")
		wantErr(t, err, storage.ErrNotFound, "GetToken(signature of another kind)")
		wantErr(t, s.DeleteToken(t.Context(), storage.KindAccessToken, "nope"), storage.ErrNotFound, "DeleteToken(missing)")
		wantErr(t, s.DeleteToken(t.Context(), storage.KindRefreshToken, "sig-1"), storage.ErrNotFound, "DeleteToken(signature of another kind)")
		wantErr(t, s.DeactivateToken(t.Context(), storage.KindAccessToken, "nope"), storage.ErrNotFound, "DeactivateToken(missing)")
		wantErr(t, s.DeactivateToken(t.Context(), storage.KindRefreshToken, "sig-1"), storage.ErrNotFound, "DeactivateToken(signature of another kind)")
		got, err := s.GetToken(t.Context(), storage.KindAccessToken, "sig-1")
		if err != nil || !got.Active {
			t.Errorf("GetToken(access_token, sig-1) after operations on other tokens = %+v, %v; want it still active", got, err)
		}
	}},
	{"Delete", func(t *testing.T, s storage.StateStore, clock *Clock) {
		for _, kind := range []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken} {
			must(t, s.CreateToken(t.Context(), fullToken(kind, "sig-1", "req-1", clock.Now())), "CreateToken(%s)", kind)
		}
		must(t, s.DeleteToken(t.Context(), storage.KindAccessToken, "sig-1"), "DeleteToken")
		_, err := s.GetToken(t.Context(), storage.KindAccessToken, "sig-1")
		wantErr(t, err, storage.ErrNotFound, "GetToken(deleted)")
		wantErr(t, s.DeleteToken(t.Context(), storage.KindAccessToken, "sig-1"), storage.ErrNotFound, "DeleteToken(already deleted)")
		if _, err := s.GetToken(t.Context(), storage.KindRefreshToken, "sig-1"); err != nil {
			t.Errorf("GetToken(refresh_token, sig-1) after deleting the access token of that signature = %v, want it kept", err)
		}
	}},
	{"Expiry", func(t *testing.T, s storage.StateStore, clock *Clock) {
		tok := fullToken(storage.KindAuthorizeCode, "sig-1", "req-1", clock.Now())
		must(t, s.CreateToken(t.Context(), clone(tok)), "CreateToken")
		testExpiry(t, clock, tok.ExpiresAt, func() error {
			_, err := s.GetToken(t.Context(), tok.Kind, tok.Signature)
			return err
		}, "GetToken")
	}},
	{"ExpiryComparesInstants", func(t *testing.T, s storage.StateStore, clock *Clock) {
		// Now on a whole second in one zone, expiry half a second later
		// in another: a backend comparing formatted times gets this wrong.
		now := time.Date(2031, time.June, 1, 12, 0, 0, 0, time.FixedZone("NPT", 5*3600+2700))
		clock.Set(now)
		tok := fullToken(storage.KindAccessToken, "sig-1", "req-1", now)
		tok.ExpiresAt = now.Add(500 * time.Millisecond).In(time.FixedZone("PST", -8*3600))
		must(t, s.CreateToken(t.Context(), clone(tok)), "CreateToken")
		testExpiry(t, clock, tok.ExpiresAt, func() error {
			_, err := s.GetToken(t.Context(), tok.Kind, tok.Signature)
			return err
		}, "GetToken(expiring 500ms after a whole second)")
		clock.Set(now)
		got, err := s.GetToken(t.Context(), tok.Kind, tok.Signature)
		must(t, err, "GetToken(expiring 500ms after now)")
		checkRecord(t, "GetToken", got, tok)
	}},
	{"Deactivate", func(t *testing.T, s storage.StateStore, clock *Clock) {
		tok := fullToken(storage.KindRefreshToken, "sig-1", "req-1", clock.Now())
		must(t, s.CreateToken(t.Context(), clone(tok)), "CreateToken")
		other := fullToken(storage.KindAccessToken, "sig-1", "req-1", clock.Now())
		must(t, s.CreateToken(t.Context(), clone(other)), "CreateToken")
		must(t, s.DeactivateToken(t.Context(), tok.Kind, tok.Signature), "DeactivateToken(active token)")
		want := clone(tok)
		want.Active, want.Data = false, nil
		got, err := s.GetToken(t.Context(), tok.Kind, tok.Signature)
		must(t, err, "GetToken(deactivated token)")
		checkRecord(t, "GetToken after DeactivateToken (Active false, Data dropped, the rest kept)", got, want)
		wantErr(t, s.DeactivateToken(t.Context(), tok.Kind, tok.Signature), storage.ErrConflict, "DeactivateToken(already inactive)")
		got, err = s.GetToken(t.Context(), other.Kind, other.Signature)
		must(t, err, "GetToken(same signature, other kind)")
		checkRecord(t, "GetToken of a token not deactivated", got, other)
	}},
	{"DeactivateCreatedInactive", func(t *testing.T, s storage.StateStore, clock *Clock) {
		tok := fullToken(storage.KindAuthorizeCode, "sig-1", "req-1", clock.Now())
		tok.Active = false
		must(t, s.CreateToken(t.Context(), clone(tok)), "CreateToken(inactive)")
		wantErr(t, s.DeactivateToken(t.Context(), tok.Kind, tok.Signature), storage.ErrConflict, "DeactivateToken(created inactive)")
	}},
	{"RevokeTokens", func(t *testing.T, s storage.StateStore, clock *Clock) {
		now := clock.Now()
		revoked := []*storage.Token{
			fullToken(storage.KindAccessToken, "a1", "req-1", now),
			fullToken(storage.KindAccessToken, "a2", "req-1", now),
		}
		kept := []*storage.Token{
			fullToken(storage.KindAccessToken, "a3", "req-2", now),
			fullToken(storage.KindRefreshToken, "r1", "req-1", now),
			fullToken(storage.KindAuthorizeCode, "a1", "req-1", now),
		}
		for _, tok := range append(append([]*storage.Token{}, revoked...), kept...) {
			must(t, s.CreateToken(t.Context(), clone(tok)), "CreateToken(%s, %s)", tok.Kind, tok.Signature)
		}
		n, err := s.RevokeTokens(t.Context(), storage.KindAccessToken, "req-1")
		must(t, err, "RevokeTokens(access_token, req-1)")
		if n != len(revoked) {
			t.Errorf("RevokeTokens(access_token, req-1) = %d, want %d", n, len(revoked))
		}
		for _, tok := range revoked {
			_, err := s.GetToken(t.Context(), tok.Kind, tok.Signature)
			wantErr(t, err, storage.ErrNotFound, "GetToken(%s, %s) after RevokeTokens", tok.Kind, tok.Signature)
		}
		for _, tok := range kept {
			got, err := s.GetToken(t.Context(), tok.Kind, tok.Signature)
			must(t, err, "GetToken(%s, %s) of another kind or request after RevokeTokens", tok.Kind, tok.Signature)
			checkRecord(t, "GetToken("+string(tok.Kind)+", "+tok.Signature+")", got, tok)
		}
		n, err = s.RevokeTokens(t.Context(), storage.KindAccessToken, "req-1")
		if err != nil || n != 0 {
			t.Errorf("RevokeTokens(access_token, req-1) again = %d, %v; want 0, no error", n, err)
		}
		n, err = s.RevokeTokens(t.Context(), storage.KindRefreshToken, "nope")
		if err != nil || n != 0 {
			t.Errorf("RevokeTokens(unknown request) = %d, %v; want 0, no error", n, err)
		}
	}},
	{"RevokeSubjectTokens", func(t *testing.T, s storage.StateStore, clock *Clock) {
		now := clock.Now()
		// Two grants to user-1 through two clients, every kind; a grant
		// to user-2 through the same client; a client_credentials grant
		// whose subject is the client.
		var revoked, kept []*storage.Token
		revoked = append(revoked, grant("req-1", "client-1", "user-1", "g1-", allKinds, now)...)
		revoked = append(revoked, grant("req-2", "client-2", "user-1", "g2-", []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken}, now)...)
		kept = append(kept, grant("req-3", "client-1", "user-2", "g3-", allKinds, now)...)
		kept = append(kept, grant("req-4", "client-1", "client-1", "g4-", []storage.TokenKind{storage.KindAccessToken}, now)...)
		testRevoke(t, s, revoked, kept, "RevokeSubjectTokens(user-1)", func() (int, error) {
			return s.RevokeSubjectTokens(t.Context(), "user-1")
		})
		n, err := s.RevokeSubjectTokens(t.Context(), "nobody")
		if err != nil || n != 0 {
			t.Errorf("RevokeSubjectTokens(subject with no tokens) = %d, %v; want 0, no error", n, err)
		}
		n, err = s.RevokeSubjectTokens(t.Context(), "client-1")
		must(t, err, "RevokeSubjectTokens(client-1)")
		if n != 1 {
			t.Errorf("RevokeSubjectTokens(client-1, subject of one client_credentials token) = %d, want 1", n)
		}
		if _, err := s.GetToken(t.Context(), storage.KindRefreshToken, "g3-"+string(storage.KindRefreshToken)); err != nil {
			t.Errorf("GetToken(a token of client-1 issued to user-2) after RevokeSubjectTokens(client-1) = %v, want it kept", err)
		}
	}},
	{"RevokeClientTokens", func(t *testing.T, s storage.StateStore, clock *Clock) {
		now := clock.Now()
		var revoked, kept []*storage.Token
		revoked = append(revoked, grant("req-1", "client-1", "user-1", "g1-", allKinds, now)...)
		revoked = append(revoked, grant("req-2", "client-1", "user-2", "g2-", []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken}, now)...)
		revoked = append(revoked, grant("req-3", "client-1", "client-1", "g3-", []storage.TokenKind{storage.KindAccessToken}, now)...)
		kept = append(kept, grant("req-4", "client-2", "user-1", "g4-", allKinds, now)...)
		testRevoke(t, s, revoked, kept, "RevokeClientTokens(client-1)", func() (int, error) {
			return s.RevokeClientTokens(t.Context(), "client-1")
		})
		n, err := s.RevokeClientTokens(t.Context(), "nobody")
		if err != nil || n != 0 {
			t.Errorf("RevokeClientTokens(client with no tokens) = %d, %v; want 0, no error", n, err)
		}
	}},
	{"RevokeUserClientTokens", func(t *testing.T, s storage.StateStore, clock *Clock) {
		now := clock.Now()
		// Two grants of client-1 to user-1; kept: user-1's grant through
		// client-2, user-2's through client-1, and client-1's
		// client_credentials grant.
		var revoked, kept []*storage.Token
		revoked = append(revoked, grant("req-1", "client-1", "user-1", "g1-", allKinds, now)...)
		revoked = append(revoked, grant("req-2", "client-1", "user-1", "g2-", []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken}, now)...)
		kept = append(kept, grant("req-3", "client-2", "user-1", "g3-", allKinds, now)...)
		kept = append(kept, grant("req-4", "client-1", "user-2", "g4-", []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken}, now)...)
		kept = append(kept, grant("req-5", "client-1", "client-1", "g5-", []storage.TokenKind{storage.KindAccessToken}, now)...)
		testRevoke(t, s, revoked, kept, "RevokeUserClientTokens(user-1, client-1)", func() (int, error) {
			return s.RevokeUserClientTokens(t.Context(), "user-1", "client-1")
		})
		for _, tc := range []struct{ subject, client string }{{"nobody", "client-1"}, {"user-1", "nobody"}, {"user-2", "client-2"}} {
			n, err := s.RevokeUserClientTokens(t.Context(), tc.subject, tc.client)
			if err != nil || n != 0 {
				t.Errorf("RevokeUserClientTokens(%s, %s), no tokens of that pair = %d, %v; want 0, no error", tc.subject, tc.client, n, err)
			}
		}
		// A new grant of the pair is revoked in turn, and the revocations
		// by subject and by client still find what is left.
		again := grant("req-6", "client-1", "user-1", "g6-", []storage.TokenKind{storage.KindAccessToken}, now)
		must(t, s.CreateToken(t.Context(), clone(again[0])), "CreateToken(a new grant of client-1 to user-1)")
		n, err := s.RevokeUserClientTokens(t.Context(), "user-1", "client-1")
		if err != nil || n != 1 {
			t.Errorf("RevokeUserClientTokens(user-1, client-1) after a new grant = %d, %v; want 1", n, err)
		}
		n, err = s.RevokeSubjectTokens(t.Context(), "user-1")
		if err != nil || n != len(allKinds) {
			t.Errorf("RevokeSubjectTokens(user-1) afterwards = %d, %v; want %d (client-2's grant)", n, err, len(allKinds))
		}
		n, err = s.RevokeClientTokens(t.Context(), "client-1")
		if err != nil || n != 3 {
			t.Errorf("RevokeClientTokens(client-1) afterwards = %d, %v; want 3 (user-2's grant and the client_credentials token)", n, err)
		}
	}},
	revokeSessionTokensTest,
	{"UseOnce", func(t *testing.T, s storage.StateStore, clock *Clock) {
		exp := clock.Now().Add(5 * time.Minute)
		must(t, s.UseOnce(t.Context(), "jti-1", exp), "UseOnce(jti-1) first time")
		wantErr(t, s.UseOnce(t.Context(), "jti-1", exp), storage.ErrAlreadyExists, "UseOnce(jti-1) again")
		wantErr(t, s.UseOnce(t.Context(), "jti-1", exp.Add(time.Hour)), storage.ErrAlreadyExists, "UseOnce(jti-1) again with a later exp")
		must(t, s.UseOnce(t.Context(), "jti-2", exp), "UseOnce(jti-2), another key")
		clock.Set(exp.Add(-time.Second))
		wantErr(t, s.UseOnce(t.Context(), "jti-1", exp.Add(time.Hour)), storage.ErrAlreadyExists, "UseOnce(jti-1) a second before its exp")
		clock.Set(exp.Add(time.Second))
		exp2 := clock.Now().Add(5 * time.Minute)
		must(t, s.UseOnce(t.Context(), "jti-1", exp2), "UseOnce(jti-1) after its exp passed")
		wantErr(t, s.UseOnce(t.Context(), "jti-1", exp2), storage.ErrAlreadyExists, "UseOnce(jti-1) again after it was recorded anew")
		clock.Set(exp2.Add(-time.Second))
		wantErr(t, s.UseOnce(t.Context(), "jti-1", exp2), storage.ErrAlreadyExists, "UseOnce(jti-1) before the new exp (the new record keeps the new exp)")
	}},
}

// grant returns the tokens of one grant: one of each kind, signed
// prefix+kind, all under requestID, issued by clientID to subject.
func grant(requestID, clientID, subject, prefix string, kinds []storage.TokenKind, now time.Time) []*storage.Token {
	var out []*storage.Token
	for _, kind := range kinds {
		tok := fullToken(kind, prefix+string(kind), requestID, now)
		tok.ClientID, tok.Subject = clientID, subject
		out = append(out, tok)
	}
	return out
}

// testRevoke creates revoked and kept, calls revoke, and checks that it
// reported len(revoked), that those are gone and the others unchanged, and
// that a second call reports 0.
func testRevoke(t *testing.T, s storage.StateStore, revoked, kept []*storage.Token, what string, revoke func() (int, error)) {
	t.Helper()
	for _, tok := range append(append([]*storage.Token{}, revoked...), kept...) {
		must(t, s.CreateToken(t.Context(), clone(tok)), "CreateToken(%s, %s)", tok.Kind, tok.Signature)
	}
	// A spent token is revoked like any other.
	must(t, s.DeactivateToken(t.Context(), revoked[0].Kind, revoked[0].Signature), "DeactivateToken(%s, %s)", revoked[0].Kind, revoked[0].Signature)
	n, err := revoke()
	must(t, err, "%s", what)
	if n != len(revoked) {
		t.Errorf("%s = %d, want %d", what, n, len(revoked))
	}
	for _, tok := range revoked {
		_, err := s.GetToken(t.Context(), tok.Kind, tok.Signature)
		wantErr(t, err, storage.ErrNotFound, "GetToken(%s, %s) after %s", tok.Kind, tok.Signature, what)
	}
	for _, tok := range kept {
		got, err := s.GetToken(t.Context(), tok.Kind, tok.Signature)
		must(t, err, "GetToken(%s, %s) after %s", tok.Kind, tok.Signature, what)
		checkRecord(t, "GetToken("+string(tok.Kind)+", "+tok.Signature+") after "+what, got, tok)
	}
	n, err = revoke()
	if err != nil || n != 0 {
		t.Errorf("%s again = %d, %v; want 0, no error", what, n, err)
	}
}
