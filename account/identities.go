package account

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// The "Sign-in methods" page. A user signs in with a password and with
// every linked identity; unlinking refuses to remove the last of these.
// Linking is an upstream sign-in the Authenticator runs (StartLink). No
// recent sign-in is asked for: any SSO session may link and unlink.

// identitiesData is the identities page's.
type identitiesData struct {
	Title       string
	User        *storage.User
	CSRF        string
	HasPassword bool
	Identities  []identityView
	Linkable    []Provider
	Notice      string
	Error       string
	L           page.Lang
}

type identityView struct {
	ID, Provider, Email string
	Linked              time.Time
}

// linkedParam is the query parameter StartLink returns with;
// unlinkedParam, the one an unlink returns with.
const (
	linkedParam   = "linked"
	unlinkedParam = "unlinked"
)

func (h *Handler) provider(id string) (Provider, bool) {
	i := slices.IndexFunc(h.cfg.Providers, func(p Provider) bool { return p.ID == id })
	if i < 0 {
		return Provider{ID: id, Name: id, Label: id}, false
	}
	return h.cfg.Providers[i], true
}

func (h *Handler) identities(w http.ResponseWriter, r *http.Request) {
	sess, user := h.signedIn(w, r, pathIdentities)
	if sess == nil {
		return
	}
	notice := ""
	q := r.URL.Query()
	if p, ok := h.provider(q.Get(linkedParam)); ok {
		notice = p.Name + " is now linked: you can sign in with it."
	} else if id := q.Get(unlinkedParam); id != "" {
		if p, ok := h.provider(id); ok {
			notice = p.Name + " is unlinked: it no longer signs you in."
		} else {
			notice = "The sign-in method is unlinked."
		}
	}
	h.renderIdentities(w, r, http.StatusOK, sess, user, notice, "")
}

func (h *Handler) renderIdentities(w http.ResponseWriter, r *http.Request, status int, sess *storage.Session, user *storage.User, notice, problem string) {
	ctx := r.Context()
	ids, err := h.cfg.Identities.ListIdentities(ctx, user.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	hasPassword, err := h.hasPassword(r, user.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	slices.SortStableFunc(ids, func(a, b *storage.Identity) int { return a.CreatedAt.Compare(b.CreatedAt) })
	d := identitiesData{
		Title: "Sign-in methods", User: user, CSRF: h.csrfToken(sess.ID), HasPassword: hasPassword,
		Notice: notice, Error: problem,
	}
	for _, i := range ids {
		p, _ := h.provider(i.Provider)
		d.Identities = append(d.Identities, identityView{
			ID: i.ID, Provider: p.Name, Email: i.Email, Linked: i.CreatedAt.UTC(),
		})
	}
	for _, p := range h.cfg.Providers {
		if !slices.ContainsFunc(ids, func(i *storage.Identity) bool { return i.Provider == p.ID }) {
			d.Linkable = append(d.Linkable, p)
		}
	}
	h.render(w, r, status, "identities", d)
}

func (h *Handler) hasPassword(r *http.Request, userID string) (bool, error) {
	_, err := h.cfg.Credentials.GetCredential(r.Context(), userID, storage.CredentialPassword)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// hasLocalSignIn reports whether the user can sign in without an
// upstream: with a password, or with a passkey while passkeys are on.
func (h *Handler) hasLocalSignIn(r *http.Request, userID string) (bool, error) {
	creds, err := h.cfg.Credentials.ListCredentials(r.Context(), userID)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(creds, func(c *storage.Credential) bool {
		return c.Type == storage.CredentialPassword || (c.Type == storage.CredentialPasskey && h.cfg.Passkeys != nil)
	}), nil
}

// postSession returns the session and user of a POST with a good CSRF
// token; otherwise it answers and returns nils. Without a session the
// browser signs in and comes back to the page, not to the POST.
func (h *Handler) postSession(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User) {
	sess, user := h.signedIn(w, r, pathIdentities)
	if sess == nil {
		return nil, nil
	}
	if !h.csrfOK(r, sess) {
		h.log.InfoContext(r.Context(), "account form refused", "reason", "csrf token mismatch", "path", r.URL.Path, "request_id", requestID(w, r))
		h.fail(w, r, http.StatusForbidden, "This form has expired",
			"Nothing was changed. Go back to the page and try again.")
		return nil, nil
	}
	return sess, user
}

func (h *Handler) unlink(w http.ResponseWriter, r *http.Request) {
	sess, user := h.postSession(w, r)
	if sess == nil {
		return
	}
	ctx := r.Context()
	ids, err := h.cfg.Identities.ListIdentities(ctx, user.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	i := slices.IndexFunc(ids, func(i *storage.Identity) bool { return i.ID == r.PostFormValue("identity") })
	if i < 0 {
		// Not this user's, or unlinked meanwhile: the same answer for both.
		h.renderIdentities(w, r, http.StatusNotFound, sess, user, "", "That sign-in method is not linked to your account.")
		return
	}
	target := ids[i]
	p, _ := h.provider(target.Provider)
	hasPassword, err := h.hasLocalSignIn(r, user.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if !hasPassword && len(ids) == 1 {
		h.log.InfoContext(ctx, "unlink refused", "reason", "last way to sign in", "provider", target.Provider, "user_id", user.ID, "request_id", requestID(w, r))
		h.renderIdentities(w, r, http.StatusConflict, sess, user, "",
			"You cannot unlink "+p.Name+": it is your only way to sign in. Link another sign-in method first.")
		return
	}
	if err := h.cfg.Identities.DeleteIdentity(ctx, target.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(w, r, err)
		return
	}
	// Two unlinks at once could each leave the other as the last way to
	// sign in and remove both: look again, and put this one back if none
	// is left.
	left, err := h.cfg.Identities.ListIdentities(ctx, user.ID)
	if err == nil && len(left) == 0 && !hasPassword {
		if err := h.cfg.Identities.CreateIdentity(ctx, target); err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
			h.serverError(w, r, err)
			return
		}
		h.renderIdentities(w, r, http.StatusConflict, sess, user, "",
			"You cannot unlink "+p.Name+": it is your only way to sign in. Link another sign-in method first.")
		return
	} else if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.log.InfoContext(ctx, "upstream identity unlinked", "provider", target.Provider, "user_id", user.ID, "request_id", requestID(w, r))
	http.Redirect(w, r, pathIdentities+"?"+unlinkedParam+"="+url.QueryEscape(target.Provider), http.StatusSeeOther)
}

func (h *Handler) link(w http.ResponseWriter, r *http.Request) {
	sess, _ := h.postSession(w, r)
	if sess == nil {
		return
	}
	if _, ok := h.provider(r.PostFormValue("provider")); !ok {
		h.fail(w, r, http.StatusNotFound, "Sign-in option not available", "This sign-in option is not available.")
		return
	}
	h.cfg.Auth.StartLink(w, r, r.PostFormValue("provider"), pathIdentities)
}
