package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/atrium-id/atrium/storage"
)

// EndSession signs out the user's SSO session s (the account area's
// Sessions page and API) and revokes every token issued under it, so the
// apps signed in through that session lose access at once: their access
// tokens fail introspection and userinfo, their refresh tokens fail with
// invalid_grant. Tokens record the session by its sid (see sid), the
// value the ID token carried; the revocation is by user and sid, so a
// session of another user revokes nothing. A session already ended
// still has its tokens revoked.
//
// The session goes first, so no new grant starts from it while its
// tokens are revoked.
//
// The apps of the session are told too (back-channel logout,
// backchannel.go), without waiting for them.
func (p *Provider) EndSession(r *http.Request, userID string, s *storage.Session) error {
	if s.UserID != userID {
		return storage.ErrNotFound
	}
	_, err := p.endSession(r.Context(), s)
	return err
}

// endSession is EndSession for the session's own user. The channel is
// closed once the apps' back-channel logouts are done.
func (p *Provider) endSession(ctx context.Context, s *storage.Session) (<-chan struct{}, error) {
	if err := p.stores.Sessions.DeleteSession(ctx, s.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	if _, err := p.stores.Tokens.RevokeSessionTokens(ctx, s.UserID, sid(s.ID)); err != nil {
		return nil, fmt.Errorf("revoking the tokens of an ended session: %w", err)
	}
	return p.backchannelLogout(ctx, s), nil
}
