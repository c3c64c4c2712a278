package account

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// deleteData is the delete page's.
type deleteData struct {
	Title string
	User  *storage.User
	CSRF  string
	// Confirm is what the person types to confirm: the address, or
	// confirmWord for an account without one.
	Confirm string
	Error   string
	L       page.Lang
}

// confirmWord confirms the deletion of an account without an address.
const confirmWord = "DELETE"

func confirmation(u *storage.User) string {
	if u.Email != "" {
		return u.Email
	}
	return confirmWord
}

func (h *Handler) deletePage(w http.ResponseWriter, r *http.Request) {
	sess, user := h.signedIn(w, r, pathDelete)
	if sess == nil {
		return
	}
	h.renderDelete(w, r, http.StatusOK, sess, user, "")
}

func (h *Handler) renderDelete(w http.ResponseWriter, r *http.Request, status int, sess *storage.Session, user *storage.User, errMsg string) {
	h.render(w, r, status, "delete", deleteData{Title: "Delete your account", User: user, CSRF: h.csrfToken(sess.ID),
		Confirm: confirmation(user), Error: errMsg})
}

func (h *Handler) deleteAccount(w http.ResponseWriter, r *http.Request) {
	sess, user := h.postSession(w, r)
	if sess == nil || !h.recentlySignedIn(w, r, sess, pathDelete) {
		return
	}
	// An address matches in any case, as it does at sign-in.
	typed, want := strings.TrimSpace(r.PostFormValue("confirm")), confirmation(user)
	if typed != want && (want == confirmWord || !strings.EqualFold(typed, want)) {
		msg := "To delete your account, type your email address exactly as shown."
		if want == confirmWord {
			msg = "To delete your account, type DELETE in capital letters."
		}
		h.renderDelete(w, r, http.StatusBadRequest, sess, user, msg)
		return
	}
	if _, err := Erase(r.Context(), h.cfg.Data, user.ID, time.Now()); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.log.InfoContext(r.Context(), "account deleted", "request_id", requestID(w, r))
	if err := h.cfg.Auth.SignOut(w, r); err != nil {
		h.log.WarnContext(r.Context(), "sign-out after account deletion", "err", err, "request_id", requestID(w, r))
	}
	h.render(w, r, http.StatusOK, "message", messageData{Title: "Your account is deleted",
		Message: "We deleted your account and everything it held. You are signed out, and the apps you used with it can no longer use it."})
}

// Erase deletes the account userID and everything naming it: first, in
// the state store, every SSO session and every token of the user (the
// apps of those sessions are told, d.Logout); then,
// in one SQL transaction (storage.UserEraser), the user and their
// records, leaving an audit tombstone and a user.deleted outbox message;
// then the state store once more, for whatever a request in flight wrote
// meanwhile. Every step is idempotent, so an erasure cut short is
// finished by running it again; for a user already erased it reports
// false and writes nothing. What the state store keeps of the user under
// no index (pending interactions; in Redis, the markers of spent
// one-time codes) expires on its own.
func Erase(ctx context.Context, d *DataStores, userID string, now time.Time) (bool, error) {
	sweep := func() error {
		if _, err := d.Sessions.DeleteUserSessions(ctx, userID); err != nil {
			return fmt.Errorf("erase sessions: %w", err)
		}
		if _, err := d.Tokens.RevokeSubjectTokens(ctx, userID); err != nil {
			return fmt.Errorf("erase tokens: %w", err)
		}
		return nil
	}
	// Listed before they go, so their apps can be told.
	var ended []*storage.Session
	if d.Logout != nil {
		var err error
		if ended, err = d.Sessions.ListUserSessions(ctx, userID); err != nil {
			return false, fmt.Errorf("erase sessions: %w", err)
		}
	}
	if err := sweep(); err != nil {
		return false, err
	}
	if len(ended) > 0 {
		if err := d.Logout.LogoutSessions(ctx, ended); err != nil {
			return false, fmt.Errorf("erase sessions: telling their apps: %w", err)
		}
	}
	erased, err := d.Eraser.EraseUser(ctx, userID, now)
	if err != nil {
		return false, fmt.Errorf("erase user: %w", err)
	}
	return erased, sweep()
}
