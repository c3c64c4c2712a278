package authz

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/atrium-id/atrium/federation"
	"github.com/atrium-id/atrium/storage"
)

// The account area (package account) authenticates with the SSO session
// and leaves signing in and upstream sign-ins to the provider, through
// three hooks:
//
//   - SessionUser: the browser's SSO session and its user.
//   - StartSignIn: an interaction tied to no client. It shows the login
//     page (password and upstream buttons, account linking as for apps);
//     on success it starts the SSO session and redirects to its return
//     path, a same-origin path under /account.
//   - StartLink: an upstream sign-in with a link intent for the signed-in
//     user. Its callback links the upstream identity to that user (if the
//     SSO session is still the one that started it, and the identity is
//     linked to no other account) and returns to the account area.
//
// Neither asks for a recent sign-in: any SSO session may link and unlink.

// accountPrefix is the path every account return path is under.
const accountPrefix = "/account"

// linkIntent is an upstream sign-in started from the account area by a
// signed-in user, to link the upstream identity to that user.
type linkIntent struct {
	UserID    string `json:"user_id"`
	SessionID string `json:"session_id"`
}

// LinkedParam names the query parameter of the return path that says
// which provider a link intent has just linked.
const LinkedParam = "linked"

// SessionUser returns the browser's SSO session and its user, or
// storage.ErrNotFound when the browser has no live session of an enabled
// user.
func (p *Provider) SessionUser(r *http.Request) (*storage.Session, *storage.User, error) {
	c, err := r.Cookie(cookieSession)
	if err != nil || c.Value == "" {
		return nil, nil, storage.ErrNotFound
	}
	ctx := r.Context()
	sess, err := p.stores.Sessions.GetSession(ctx, sessionKey(c.Value))
	if err != nil {
		return nil, nil, err
	}
	user, err := p.activeUser(ctx, sess.UserID)
	if err != nil {
		return nil, nil, err
	}
	return sess, user, nil
}

// ValidReturnPath reports whether s may be where an account sign-in
// returns to: a same-origin path under /account, with no scheme, host,
// backslash, dot segment or control character.
func ValidReturnPath(s string) bool {
	if len(s) > 2048 || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsRune(s, '\\') {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || u.Fragment != "" {
		return false
	}
	// The decoded path too: %5c, %2e%2e and %2f%2f decode to what the
	// raw checks refuse.
	if strings.ContainsRune(u.Path, '\\') || strings.HasPrefix(u.Path, "//") || path.Clean(u.Path) != strings.TrimSuffix(u.Path, "/") {
		return false
	}
	return u.Path == accountPrefix || strings.HasPrefix(u.Path, accountPrefix+"/")
}

// badReturn answers a return path that is not under /account.
func (p *Provider) badReturn(w http.ResponseWriter, r *http.Request, returnTo string) {
	p.log.InfoContext(r.Context(), "account sign-in refused", "reason", "return path not under "+accountPrefix,
		"return_to_length", len(returnTo), "request_id", requestID(w, r))
	p.errorPage(w, r, http.StatusBadRequest, "This sign-in link is not valid",
		"Open your account page and sign in from there.")
}

// StartSignIn sends the browser to the login page of a new interaction
// that is tied to no client and, once the person has signed in, starts
// the SSO session and redirects to returnTo (see ValidReturnPath).
func (p *Provider) StartSignIn(w http.ResponseWriter, r *http.Request, returnTo string) {
	if !ValidReturnPath(returnTo) {
		p.badReturn(w, r, returnTo)
		return
	}
	ix := &interaction{RequestedAt: p.now(), Return: returnTo}
	p.bindInteraction(w, r, ix)
	if err := p.saveInteraction(r.Context(), ix); err != nil {
		p.serverError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.loginURL(ix), http.StatusSeeOther)
}

// StartLink sends the signed-in browser to the upstream provider to sign
// in there; the callback links that upstream identity to the signed-in
// user and redirects to returnTo with LinkedParam set. Without a session
// it starts a sign-in that returns to returnTo instead. The caller checks
// CSRF: StartLink is meant for a POST of the account area.
func (p *Provider) StartLink(w http.ResponseWriter, r *http.Request, provider, returnTo string) {
	if !ValidReturnPath(returnTo) {
		p.badReturn(w, r, returnTo)
		return
	}
	sess, user, err := p.SessionUser(r)
	if errors.Is(err, storage.ErrNotFound) {
		p.StartSignIn(w, r, returnTo)
		return
	} else if err != nil {
		p.serverError(w, r, err)
		return
	}
	c, _, ok := p.connector(provider)
	if !ok {
		p.render(w, r, http.StatusNotFound, "error", pageData{Title: "Sign-in option not available",
			Message: "This sign-in option is not available.", Retry: returnTo, RequestID: requestID(w, r)})
		return
	}
	ix := &interaction{RequestedAt: p.now(), Return: returnTo, LinkTo: &linkIntent{UserID: user.ID, SessionID: sess.ID}}
	p.bindInteraction(w, r, ix)
	p.startUpstream(w, r, ix, c, false)
}

// completeLinkIntent links the upstream identity of a link intent's
// callback to the user who started it, and returns to the account area.
func (p *Provider) completeLinkIntent(w http.ResponseWriter, r *http.Request, ix *interaction, c federation.Connector, cfg federation.Config, id *federation.Identity) {
	ctx := r.Context()
	sess, user, err := p.SessionUser(r)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		p.serverError(w, r, err)
		return
	}
	if err != nil || sess.ID != ix.LinkTo.SessionID || user.ID != ix.LinkTo.UserID {
		p.log.InfoContext(ctx, "link refused", "reason", "session changed during the upstream sign-in", "provider", id.Provider, "request_id", requestID(w, r))
		p.upstreamFailure(w, r, ix, http.StatusForbidden, "Your "+providerName(c)+" sign-in was not linked",
			"You were signed out, or signed in as someone else, before it completed. Nothing was linked. Please sign in and try again.")
		return
	}
	sealed, err := p.sealTokens(cfg, id)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	switch err := p.linkOnce(ctx, cfg, user, id, sealed); {
	case errors.Is(err, errLinkedElsewhere):
		p.log.InfoContext(ctx, "link refused", "reason", "identity linked to another account", "provider", id.Provider, "user_id", user.ID, "request_id", requestID(w, r))
		p.upstreamFailure(w, r, ix, http.StatusConflict, "Your "+providerName(c)+" sign-in was not linked",
			"This "+providerName(c)+" account is already linked to another account here. Nothing was linked. "+
				"To move it to this account, sign in with it, unlink it there, then link it here.")
		return
	case err != nil:
		p.serverError(w, r, err)
		return
	}
	p.log.InfoContext(ctx, "upstream identity linked from the account area", "provider", id.Provider, "user_id", user.ID, "request_id", requestID(w, r))
	_ = p.stores.Sessions.DeleteInteraction(ctx, ix.ID)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, withParam(ix.Return, LinkedParam, c.ID()), http.StatusSeeOther)
}

// errLinkedElsewhere: the upstream identity is linked to another account.
var errLinkedElsewhere = errors.New("upstream identity linked to another account")

// linkOnce links id to user unless it is linked already: to user, it is
// left as it is; to another account, errLinkedElsewhere.
func (p *Provider) linkOnce(ctx context.Context, cfg federation.Config, user *storage.User, id *federation.Identity, sealed []byte) error {
	err := p.link(ctx, cfg, user, id, sealed)
	if !errors.Is(err, storage.ErrAlreadyExists) {
		return err
	}
	other, gerr := p.stores.Identities.GetIdentity(ctx, id.Provider, id.Subject)
	switch {
	case gerr != nil && !errors.Is(gerr, storage.ErrNotFound):
		return gerr
	case gerr != nil || other.UserID != user.ID:
		return errLinkedElsewhere
	}
	return nil
}

// accountSignedIn ends an account sign-in: the SSO session is set, the
// interaction goes, the browser returns to the account area.
func (p *Provider) accountSignedIn(w http.ResponseWriter, r *http.Request, ix *interaction) {
	_ = p.stores.Sessions.DeleteInteraction(r.Context(), ix.ID)
	to := ix.Return
	if !ValidReturnPath(to) { // checked when stored; stored data is checked again
		to = accountPrefix
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// withParam returns the path p with the query parameter k=v set.
func withParam(p, k, v string) string {
	u, err := url.Parse(p)
	if err != nil {
		return p
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

// SignOut ends the browser's SSO session and clears its cookie. The apps
// of the session are told (back-channel logout), without waiting for
// them; their tokens are left as they are.
func (p *Provider) SignOut(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(cookieSession); err == nil && c.Value != "" {
		ctx := r.Context()
		sess, gerr := p.stores.Sessions.GetSession(ctx, sessionKey(c.Value))
		err := p.stores.Sessions.DeleteSession(ctx, sessionKey(c.Value))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if gerr == nil && err == nil {
			p.backchannelLogout(ctx, sess)
		}
	}
	p.clearSessionCookie(w)
	return nil
}
