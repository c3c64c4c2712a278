package authz

import (
	"errors"
	"net/http"
	"time"

	"github.com/ory/fosite"

	"github.com/atrium-id/atrium/storage"
)

// Bearer access to the provider's own resources (the account API): an
// access token this provider issued to any client for a user, sent as
// "Authorization: Bearer", checked as the introspection endpoint checks
// it (active, not revoked, its client still the one that got it), then
// for the scope the resource needs.

// Scopes of the account API. They release no claims.
const (
	ScopeAccountRead  = "account.read"
	ScopeAccountWrite = "account.write"
)

// BearerError is why a bearer token was refused, as RFC 6750 §3 says it:
// a status (401 or 403), an error code, a description for the client, and
// for insufficient_scope the scope needed.
type BearerError struct {
	Status      int
	Code        string
	Description string
	Scope       string
	// Header, when set, is the challenge to answer with instead of the
	// Bearer one: a DPoP-bound token's (RFC 9449 §7.1), with a DPoP-Nonce
	// when one is wanted.
	Header http.Header
}

func (e *BearerError) Error() string { return "bearer token refused: " + e.Code + ": " + e.Description }

// BearerChallenge returns the parts of the WWW-Authenticate challenge and
// the JSON error body.
func (e *BearerError) BearerChallenge() (status int, code, description, scope string) {
	return e.Status, e.Code, e.Description, e.Scope
}

// ChallengeHeader returns Header.
func (e *BearerError) ChallengeHeader() http.Header { return e.Header }

// BearerUser returns the user of the request's bearer access token, the
// client it was issued to, and when the user signed in for it (the SSO
// session's sign-in; zero when that session has ended). The token must
// have been granted scope. A missing, expired or revoked token, or one of
// a user who no longer exists, is a *BearerError with status 401; a token
// without scope or without a user (client_credentials) one with status
// 403. Other errors are the stores' (storage.ErrUnavailable).
func (p *Provider) BearerUser(r *http.Request, scope string) (*storage.User, string, time.Time, error) {
	token, scheme := resourceToken(r)
	if token == "" || r.URL.Query().Has("access_token") {
		// RFC 6750 §2.3's query parameter is refused: it ends up in logs.
		return nil, "", time.Time{}, &BearerError{Status: http.StatusUnauthorized, Code: "invalid_token",
			Description: "No access token was sent in the Authorization header."}
	}
	ctx := withClientMemo(r.Context())
	sess := newSession()
	use, ar, err := p.oauth.IntrospectToken(ctx, token, fosite.AccessToken, sess)
	if errors.Is(err, storage.ErrUnavailable) {
		return nil, "", time.Time{}, err
	}
	invalid := &BearerError{Status: http.StatusUnauthorized, Code: "invalid_token",
		Description: "The access token is invalid, expired or revoked."}
	if err != nil || use != fosite.AccessToken {
		return nil, "", time.Time{}, invalid
	}
	if derr := p.checkResourceDPoP(r, token, scheme, ar); derr != nil {
		// A DPoP-bound token needs the DPoP scheme and a proof of its key.
		return nil, "", time.Time{}, &BearerError{Status: http.StatusUnauthorized, Code: derr.code, Description: derr.desc,
			Header: p.dpopChallenge(derr)}
	}
	sig, ok := memoOf(ctx).accessBy[ar.GetID()]
	if !ok {
		return nil, "", time.Time{}, invalid
	}
	t, err := p.stores.Tokens.GetToken(ctx, storage.KindAccessToken, sig)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", time.Time{}, invalid
	}
	if err != nil {
		return nil, "", time.Time{}, err
	}
	if t.Subject == "" {
		return nil, "", time.Time{}, &BearerError{Status: http.StatusForbidden, Code: "insufficient_scope",
			Description: "The access token was issued to a client for itself, not for a user.", Scope: scope}
	}
	if !ar.GetGrantedScopes().Has(scope) {
		return nil, "", time.Time{}, &BearerError{Status: http.StatusForbidden, Code: "insufficient_scope",
			Description: "The access token was not granted the " + scope + " scope.", Scope: scope}
	}
	user, err := p.activeUser(ctx, t.Subject)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", time.Time{}, &BearerError{Status: http.StatusUnauthorized, Code: "invalid_token",
			Description: "The user of this access token no longer exists."}
	}
	if err != nil {
		return nil, "", time.Time{}, err
	}
	authTime := sess.Claims.AuthTime
	if authTime.IsZero() && t.SessionID != "" {
		// Access tokens do not keep the ID token's claims; the SSO session
		// they were issued in does: its sign-in is their auth_time.
		list, err := p.stores.Sessions.ListUserSessions(ctx, user.ID)
		if err != nil {
			return nil, "", time.Time{}, err
		}
		for _, s := range list {
			if sid(s.ID) == t.SessionID && s.UserID == user.ID {
				authTime = s.AuthTime
			}
		}
	}
	return user, t.ClientID, authTime, nil
}
