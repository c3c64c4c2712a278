package storagetest

import (
	"testing"

	"github.com/atrium-id/atrium/storage"
)

// revokeSessionTokensTest checks RevokeSessionTokens: ending an SSO
// session revokes what was issued under it, and nothing else. It is one
// of tokenTests.
var revokeSessionTokensTest = stateTest{"RevokeSessionTokens", func(t *testing.T, s storage.StateStore, clock *Clock) {
	now := clock.Now()
	// Revoked: two grants to user-1 under session sid-a, through two
	// clients. Kept: user-1's grants under sid-b, under sid-a:b (which
	// starts with sid-a) and under no session, and user-2's grant under
	// the same sid-a.
	var revoked, kept []*storage.Token
	revoked = append(revoked, inSession("sid-a", grant("req-1", "client-1", "user-1", "g1-", allKinds, now))...)
	revoked = append(revoked, inSession("sid-a", grant("req-2", "client-2", "user-1", "g2-", []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken}, now))...)
	kept = append(kept, inSession("sid-b", grant("req-3", "client-1", "user-1", "g3-", allKinds, now))...)
	kept = append(kept, inSession("", grant("req-4", "client-1", "user-1", "g4-", []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken}, now))...)
	kept = append(kept, inSession("sid-a", grant("req-5", "client-1", "user-2", "g5-", allKinds, now))...)
	kept = append(kept, inSession("sid-a:b", grant("req-7", "client-1", "user-1", "g7-", []storage.TokenKind{storage.KindAccessToken}, now))...)
	testRevoke(t, s, revoked, kept, "RevokeSessionTokens(user-1, sid-a)", func() (int, error) {
		return s.RevokeSessionTokens(t.Context(), "user-1", "sid-a")
	})
	for _, tc := range []struct{ subject, sid string }{{"user-1", ""}, {"user-2", ""}, {"user-1", "nope"}, {"nobody", "sid-a"}, {"user-3", "sid-b"}} {
		n, err := s.RevokeSessionTokens(t.Context(), tc.subject, tc.sid)
		if err != nil || n != 0 {
			t.Errorf("RevokeSessionTokens(%q, %q), no tokens of that session = %d, %v; want 0, no error", tc.subject, tc.sid, n, err)
		}
	}
	for _, tok := range kept {
		if _, err := s.GetToken(t.Context(), tok.Kind, tok.Signature); err != nil {
			t.Errorf("GetToken(%s, %s) after revoking sessions with no tokens = %v, want it kept", tok.Kind, tok.Signature, err)
		}
	}

	// A grant written later under the session, access and refresh
	// token in one write as the provider does, is revoked in turn;
	// the revocation by subject still finds the rest, and leaves no
	// session of the subject anything to revoke.
	again := inSession("sid-a", grant("req-6", "client-1", "user-1", "g6-", []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken}, now))
	must(t, s.WriteTokens(t.Context(), []*storage.Token{clone(again[0]), clone(again[1])}, nil), "WriteTokens(a new grant under sid-a)")
	n, err := s.RevokeSessionTokens(t.Context(), "user-1", "sid-a")
	if err != nil || n != 2 {
		t.Errorf("RevokeSessionTokens(user-1, sid-a) after a new grant = %d, %v; want 2", n, err)
	}
	n, err = s.RevokeSessionTokens(t.Context(), "user-1", "sid-a:b")
	if err != nil || n != 1 {
		t.Errorf("RevokeSessionTokens(user-1, sid-a:b) after revoking sid-a = %d, %v; want 1", n, err)
	}
	n, err = s.RevokeSubjectTokens(t.Context(), "user-1")
	if err != nil || n != len(allKinds)+2 {
		t.Errorf("RevokeSubjectTokens(user-1) afterwards = %d, %v; want %d (the grants under sid-b and no session)", n, err, len(allKinds)+2)
	}
	if n, err := s.RevokeSessionTokens(t.Context(), "user-1", "sid-b"); err != nil || n != 0 {
		t.Errorf("RevokeSessionTokens(user-1, sid-b) after RevokeSubjectTokens(user-1) = %d, %v; want 0", n, err)
	}
	n, err = s.RevokeSessionTokens(t.Context(), "user-2", "sid-a")
	if err != nil || n != len(allKinds) {
		t.Errorf("RevokeSessionTokens(user-2, sid-a) afterwards = %d, %v; want %d", n, err, len(allKinds))
	}
}}

// inSession sets the tokens' SessionID to sid and returns them.
func inSession(sid string, toks []*storage.Token) []*storage.Token {
	for _, tok := range toks {
		tok.SessionID = sid
	}
	return toks
}
