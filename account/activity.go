package account

import (
	"net/http"
	"strings"
	"time"

	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// The "Activity" page: the user's security-relevant history from the
// audit store, newest first, a page at a time: when, what in plain words,
// from which address and browser.
//
//	GET /account/activity[?after=<event ID>]

const pathActivity = "/account/activity"

// activityPageSize is how many events a page shows.
const activityPageSize = 25

type activityData struct {
	Title  string
	User   *storage.User
	Events []eventView
	// Next is the After of the next (older) page; Older says there is one.
	Next   string
	Newest bool // a later page: link back to the newest events
	Error  string
	L      page.Lang
}

type eventView struct {
	When          time.Time
	Clock         string // When's time of day, UTC
	What          string
	IP            string
	Browser, OS   string
	UnknownClient string // the user agent, cut short, when Browser is unknown
}

// eventDescriptions say in plain words what an audit event type records
// (the provider's types, authz/audit.go, and the account area's). A key
// "type:value" is the sentence of the type's events whose detail method
// or result is value.
var eventDescriptions = map[string]string{
	storage.AuditLoginSucceeded:          "You signed in",
	storage.AuditLoginFailed:             "A sign-in failed: wrong password",
	storage.AuditLoginThrottled:          "Sign-ins were paused after too many failed attempts",
	storage.AuditMFASucceeded:            "You passed two-step verification",
	storage.AuditMFAFailed:               "A two-step verification code was wrong",
	storage.AuditMFAThrottled:            "Two-step verification was paused after too many wrong codes",
	storage.AuditMFAEnrolled:             "Two-step verification was set up, or new recovery codes made",
	"mfa.enrolled:totp":                  "An authenticator app was set up",
	"mfa.enrolled:recovery_codes":        "New recovery codes were made",
	storage.AuditMFARemoved:              "The authenticator app was turned off",
	storage.AuditRecoveryCodeUsed:        "A recovery code was used to sign in",
	storage.AuditPasskeyRegistered:       "A passkey was added",
	storage.AuditPasskeyRemoved:          "A passkey was removed",
	storage.AuditPasskeyFailed:           "A passkey sign-in failed",
	storage.AuditSignup:                  "You signed up",
	"signup:account exists":              "Someone tried to sign up again with your email address",
	storage.AuditSignupThrottled:         "Sign-ups with your address were paused",
	storage.AuditEmailVerified:           "Your email address was confirmed",
	storage.AuditEmailVerificationFailed: "A link to confirm your email address did not work",
	storage.AuditEmailChanged:            "Your email address was changed",
	storage.AuditPasswordResetRequested:  "A password reset was asked for",
	storage.AuditPasswordResetThrottled:  "Password reset mails were paused",
	storage.AuditPasswordReset:           "Your password was reset",
	storage.AuditPasswordResetFailed:     "A password reset link did not work",
	storage.AuditIdentityLinked:          "A sign-in method was linked",
	storage.AuditIdentityUnlinked:        "A sign-in method was unlinked",
	storage.AuditCSRFFailed:              "A form was refused as expired or forged",
	storage.AuditSignedOut:               "You signed out",
	storage.AuditProfileUpdated:          "Your profile was changed",
	storage.AuditConsentRevoked:          "An app's access was removed",
	storage.AuditDataExported:            "You downloaded your data",
}

func (h *Handler) activityRoutes(m *http.ServeMux) {
	if h.cfg.Audit == nil {
		return
	}
	m.HandleFunc("GET "+pathActivity, h.activity)
}

// validAfter reports whether s can be an event ID: short, of letters,
// digits, '-' and '_'.
func validAfter(s string) bool {
	return len(s) <= 64 && !strings.ContainsFunc(s, func(c rune) bool {
		return !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_')
	})
}

func (h *Handler) activity(w http.ResponseWriter, r *http.Request) {
	sess, user := h.signedIn(w, r, pathActivity)
	if sess == nil {
		return
	}
	d := activityData{Title: "Activity", User: user}
	status := http.StatusOK
	after := r.URL.Query().Get("after")
	if !validAfter(after) {
		status, after = http.StatusBadRequest, ""
		d.Error = "That page of your activity does not exist. Here are your latest events."
	}
	events, next, err := h.cfg.Audit.ListAudit(r.Context(), user.ID, storage.Page{After: after, Limit: activityPageSize})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d.Next, d.Newest = next, after != ""
	for _, e := range events {
		d.Events = append(d.Events, viewEvent(e))
	}
	h.render(w, r, status, "activity", d)
}

// viewEvent is e as the page shows it.
func viewEvent(e *storage.AuditEvent) eventView {
	v := eventView{When: e.Time.UTC(), Clock: e.Time.UTC().Format("15:04"), IP: e.IP}
	v.What = describe(e)
	v.Browser, v.OS = browserOf(e.UserAgent)
	if v.Browser == "" && e.UserAgent != "" {
		v.UnknownClient = cut(e.UserAgent, 60)
	}
	return v
}

// describe says in plain words what e records.
func describe(e *storage.AuditEvent) string {
	for _, k := range []string{e.Type + ":" + e.Detail["method"], e.Type + ":" + e.Detail["result"], e.Type} {
		if d, ok := eventDescriptions[k]; ok {
			return d
		}
	}
	return "Other account activity"
}

// browserOf names the browser and system of a user agent, "" for one it
// does not know.
func browserOf(ua string) (browser, os string) {
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"CrOS", "ChromeOS"},
		{"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			os = o.name
			break
		}
	}
	return browser, os
}

// cut shortens s to at most n runes, with an ellipsis when cut.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
