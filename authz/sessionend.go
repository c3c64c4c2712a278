package authz

import (
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
func (p *Provider) EndSession(r *http.Request, userID string, s *storage.Session) error {
	if s.UserID != userID {
		return storage.ErrNotFound
	}
	ctx := r.Context()
	if err := p.stores.Sessions.DeleteSession(ctx, s.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if _, err := p.stores.Tokens.RevokeSessionTokens(ctx, userID, sid(s.ID)); err != nil {
		return fmt.Errorf("revoking the tokens of an ended session: %w", err)
	}
	return nil
}
