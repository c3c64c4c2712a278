package account

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// The "Sessions" page: where the user is signed in (the SSO sessions),
// when and how, this browser's marked. The user signs one out, every
// other, or all; with a SessionRevoker the apps signed in through a
// session signed out lose their tokens too ("Sign out here", the plain
// sign-out, only ends the session). The page names a session by a
// handle, an HMAC of its ID, so neither the ID nor anything that leads
// to the cookie is shown.
//
//	GET  /account/sessions          the list
//	POST /account/sessions/end      sign out the session of handle
//	POST /account/sessions/others   sign out every session but this one
//	POST /account/sessions/all      sign out every session, this one too

const (
	pathSessions       = "/account/sessions"
	pathSessionsEnd    = "/account/sessions/end"
	pathSessionsOthers = "/account/sessions/others"
	pathSessionsAll    = "/account/sessions/all"
)

// endedParam is the query parameter the list returns with after a sign
// out: the number of sessions ended.
const endedParam = "ended"

type sessionsData struct {
	Title    string
	User     *storage.User
	CSRF     string
	Sessions []sessionView
	// RevokesApps says that signing a session out revokes the tokens
	// issued under it (the Authenticator is a SessionRevoker).
	RevokesApps bool
	Notice      string
	Error       string
	L           page.Lang
}

type sessionView struct {
	Handle   string
	SignedIn time.Time
	Clock    string // SignedIn's time of day, UTC
	Expires  time.Time
	// Methods are the ways the person signed in, in plain words.
	Methods []string
	Current bool
}

// amrDescriptions name the sign-in methods (amr values) in plain words.
var amrDescriptions = map[string]string{
	"pwd": "Password",
	"otp": "Authenticator app",
	"hwk": "Passkey",
	"swk": "Passkey",
	"fed": "Another provider",
	"mfa": "Two-step verification",
}

func (h *Handler) sessionsRoutes(m *http.ServeMux) {
	if h.cfg.Sessions == nil {
		return
	}
	m.HandleFunc("GET "+pathSessions, h.sessions)
	m.HandleFunc("POST "+pathSessionsEnd, h.sessionEnd)
	m.HandleFunc("POST "+pathSessionsOthers, h.sessionsEndOthers)
	m.HandleFunc("POST "+pathSessionsAll, h.sessionsEndAll)
}

// sessionHandle names the session sessionID on the page.
func (h *Handler) sessionHandle(sessionID string) string {
	mac := hmac.New(sha256.New, h.cfg.CSRFKey)
	mac.Write([]byte("account-session\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

func (h *Handler) sessions(w http.ResponseWriter, r *http.Request) {
	sess, user := h.signedIn(w, r, pathSessions)
	if sess == nil {
		return
	}
	notice := ""
	if n, err := strconv.Atoi(r.URL.Query().Get(endedParam)); err == nil && n > 0 {
		notice = "Signed out. The other browsers have to sign in again."
		if h.revokesApps() {
			notice = "Signed out. The other browsers and the apps signed in through them have to sign in again."
		}
	} else if err == nil && n == 0 {
		notice = "You were signed in nowhere else."
	}
	h.renderSessions(w, r, http.StatusOK, sess, user, notice, "")
}

func (h *Handler) renderSessions(w http.ResponseWriter, r *http.Request, status int, sess *storage.Session, user *storage.User, notice, problem string) {
	list, err := h.cfg.Sessions.ListUserSessions(r.Context(), user.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	slices.SortFunc(list, func(a, b *storage.Session) int { return b.AuthTime.Compare(a.AuthTime) })
	d := sessionsData{Title: "Sessions", User: user, CSRF: h.csrfToken(sess.ID), RevokesApps: h.revokesApps(), Notice: notice, Error: problem}
	for _, s := range list {
		v := sessionView{Handle: h.sessionHandle(s.ID), SignedIn: s.AuthTime.UTC(), Clock: s.AuthTime.UTC().Format("15:04"),
			Expires: s.ExpiresAt.UTC(), Current: s.ID == sess.ID}
		for _, m := range s.AMR {
			if d, ok := amrDescriptions[m]; ok && !slices.Contains(v.Methods, d) {
				v.Methods = append(v.Methods, d)
			}
		}
		if v.Current {
			d.Sessions = append([]sessionView{v}, d.Sessions...)
		} else {
			d.Sessions = append(d.Sessions, v)
		}
	}
	h.render(w, r, status, "sessions", d)
}

func (h *Handler) sessionEnd(w http.ResponseWriter, r *http.Request) {
	sess, user := h.postSession(w, r)
	if sess == nil {
		return
	}
	s, err := h.sessionByHandle(r.Context(), user.ID, r.PostFormValue("session"))
	if errors.Is(err, storage.ErrNotFound) {
		// Ended meanwhile, or another user's: the same answer for both.
		h.renderSessions(w, r, http.StatusNotFound, sess, user, "", "That session has ended already.")
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if s.ID == sess.ID {
		h.signOut(w, r)
		return
	}
	if err := h.endSession(r, user.ID, s); err != nil {
		h.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, pathSessions+"?"+endedParam+"=1", http.StatusSeeOther)
}

func (h *Handler) sessionsEndOthers(w http.ResponseWriter, r *http.Request) {
	sess, user := h.postSession(w, r)
	if sess == nil {
		return
	}
	ctx := r.Context()
	list, err := h.cfg.Sessions.ListUserSessions(ctx, user.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	n := 0
	for _, s := range list {
		if s.ID == sess.ID {
			continue
		}
		if err := h.deleteSession(r, user.ID, s); err != nil {
			h.serverError(w, r, err)
			return
		}
		n++
	}
	if n > 0 {
		h.audit(r, storage.AuditSignedOut, user.ID, map[string]string{"sessions": "all others", "count": strconv.Itoa(n)})
	}
	http.Redirect(w, r, pathSessions+"?"+endedParam+"="+strconv.Itoa(n), http.StatusSeeOther)
}

func (h *Handler) sessionsEndAll(w http.ResponseWriter, r *http.Request) {
	sess, user := h.postSession(w, r)
	if sess == nil {
		return
	}
	ctx := r.Context()
	if h.revokesApps() {
		// Each session with its tokens; DeleteUserSessions below then
		// ends any that started meanwhile.
		list, err := h.cfg.Sessions.ListUserSessions(ctx, user.ID)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		for _, s := range list {
			if err := h.deleteSession(r, user.ID, s); err != nil {
				h.serverError(w, r, err)
				return
			}
		}
	}
	if _, err := h.cfg.Sessions.DeleteUserSessions(ctx, user.ID); err != nil {
		h.serverError(w, r, err)
		return
	}
	if err := h.cfg.Auth.SignOut(w, r); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.audit(r, storage.AuditSignedOut, user.ID, map[string]string{"sessions": "all"})
	msg := "Every browser signed in to your account has to sign in again, this one too."
	if h.revokesApps() {
		msg = "Every browser signed in to your account has to sign in again, this one too, and so do the apps signed in through them."
	}
	h.render(w, r, http.StatusOK, "message", messageData{Title: "You are signed out everywhere", Message: msg, Back: pathAccount})
}

// sessionByHandle returns the user's session that handle names
// (sessionHandle), storage.ErrNotFound when none does: ended, or
// another user's.
func (h *Handler) sessionByHandle(ctx context.Context, userID, handle string) (*storage.Session, error) {
	list, err := h.cfg.Sessions.ListUserSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(list, func(s *storage.Session) bool {
		return s.UserID == userID && hmac.Equal([]byte(h.sessionHandle(s.ID)), []byte(handle))
	})
	if i < 0 || handle == "" {
		return nil, storage.ErrNotFound
	}
	return list[i], nil
}

// endSession signs out the user's session s, another browser's.
func (h *Handler) endSession(r *http.Request, userID string, s *storage.Session) error {
	if err := h.deleteSession(r, userID, s); err != nil {
		return err
	}
	h.audit(r, storage.AuditSignedOut, userID, map[string]string{"sessions": "another"})
	return nil
}

// revokesApps reports whether ending a session revokes the tokens issued
// under it (the Authenticator is a SessionRevoker).
func (h *Handler) revokesApps() bool {
	_, ok := h.cfg.Auth.(SessionRevoker)
	return ok
}

// deleteSession ends the user's session s (one already gone is no
// error), through the Authenticator when it is a SessionRevoker, so the
// tokens issued under s are revoked with it.
func (h *Handler) deleteSession(r *http.Request, userID string, s *storage.Session) error {
	if sr, ok := h.cfg.Auth.(SessionRevoker); ok {
		return sr.EndSession(r, userID, s)
	}
	if err := h.cfg.Sessions.DeleteSession(r.Context(), s.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}
