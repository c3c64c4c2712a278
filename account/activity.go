package account

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// The "Activity" page: the user's security-relevant history from the
// audit store, and from the consent ledger the apps they let in and the
// messages they subscribed to or unsubscribed from, merged newest first,
// a page at a time: when, what in plain words, from which address and
// browser.
//
//	GET /account/activity[?after=<cursor>]
//
// A cursor continues below the last event shown of each source:
// "<audit event ID>.<ledger entry ID>", either part empty when the page
// showed none of that source yet.

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
	// Type is the audit event's type, or for a consent ledger entry
	// "consent.<action>" (an app) or "opt_in.<action>" (a purpose).
	Type  string
	When  time.Time
	Clock string // When's time of day, UTC
	What  string
	// Subject, for a sentence with a %s, is what it is about: an app's
	// name, or a purpose's label (translated, as Channel is, the
	// sentence's second %s).
	Subject, Channel string
	IP               string
	Browser, OS      string
	UnknownClient    string // the user agent, cut short, when Browser is unknown
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
	events, next, ok, err := h.history(r.Context(), user.ID, after)
	if err == nil && !ok {
		status, after = http.StatusBadRequest, ""
		d.Error = "That page of your activity does not exist. Here are your latest events."
		events, next, _, err = h.history(r.Context(), user.ID, "")
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d.Events, d.Next, d.Newest = events, next, after != ""
	h.render(w, r, status, "activity", d)
}

// history returns a page of the user's activity, newest first, from the
// cursor after ("" for the newest), and the cursor of the next page, ""
// when this is the last. ok is false, with nothing listed, for a cursor
// no page links to.
func (h *Handler) history(ctx context.Context, userID, after string) (events []eventView, next string, ok bool, err error) {
	auditAfter, ledgerAfter, ok := parseCursor(after)
	if !ok {
		return nil, "", false, nil
	}
	ledger, err := h.ledgerHistory(ctx, userID)
	if err != nil {
		return nil, "", false, err
	}
	if ledgerAfter != "" {
		i := slices.IndexFunc(ledger, func(e *storage.ConsentEvent) bool { return e.ID == ledgerAfter })
		if i < 0 {
			return nil, "", false, nil
		}
		ledger = ledger[i+1:]
	}
	audit, more, err := h.cfg.Audit.ListAudit(ctx, userID, storage.Page{After: auditAfter, Limit: activityPageSize})
	if err != nil {
		return nil, "", false, err
	}
	names := map[string]string{}
	// Newest first from both. A page shows at most as many audit events
	// as were listed, so none listed later is newer than a ledger entry
	// shown here.
	var a, l int // the audit events and ledger entries shown
	for len(events) < activityPageSize && (a < len(audit) || l < len(ledger)) {
		if l == len(ledger) || a < len(audit) && !audit[a].Time.Before(ledger[l].At) {
			events = append(events, viewEvent(audit[a]))
			auditAfter = audit[a].ID
			a++
			continue
		}
		v, err := h.viewLedgerEntry(ctx, ledger[l], names)
		if err != nil {
			return nil, "", false, err
		}
		events = append(events, v)
		ledgerAfter = ledger[l].ID
		l++
	}
	if a < len(audit) || more != "" || l < len(ledger) {
		next = auditAfter + "." + ledgerAfter
	}
	return events, next, true, nil
}

// parseCursor splits the after parameter of the page into the ID to list
// audit events below and the ledger entry to continue after; a bare event
// ID (an older link) starts the ledger from its newest entry. ok is false
// for a value no page links to.
func parseCursor(after string) (audit, ledger string, ok bool) {
	audit, ledger, _ = strings.Cut(after, ".")
	return audit, ledger, validAfter(audit) && validAfter(ledger)
}

// ledgerDescriptions say in plain words what a consent ledger entry
// records, keyed "<kind>:<action>"; %s is the app's name, or the
// purpose's label and the channel's word (channelDescriptions).
var ledgerDescriptions = map[string]string{
	"app:" + storage.ConsentGranted:     "You allowed %s access to your account",
	"purpose:" + storage.ConsentGranted: "You subscribed to %s by %s",
	"purpose:" + storage.ConsentRevoked: "You unsubscribed from %s by %s",
}

// channelDescriptions name the channels of an opt-in inside a sentence.
var channelDescriptions = map[string]string{
	storage.ChannelEmail: "email",
	storage.ChannelSMS:   "text message",
}

// ledgerKey is the key of e in ledgerDescriptions.
func ledgerKey(e *storage.ConsentEvent) string {
	if e.Purpose != "" {
		return "purpose:" + e.Action
	}
	return "app:" + e.Action
}

// ledgerType is the type the account API gives a ledger entry.
func ledgerType(e *storage.ConsentEvent) string {
	if e.Purpose != "" {
		return "opt_in." + e.Action
	}
	return "consent." + e.Action
}

// sentence is what v says in plain English, its %s filled in.
func (v eventView) sentence() string {
	switch {
	case v.Channel != "":
		return fmt.Sprintf(v.What, v.Subject, v.Channel)
	case v.Subject != "":
		return fmt.Sprintf(v.What, v.Subject)
	}
	return v.What
}

// ledgerHistory returns the entries of the user's consent ledger the page
// shows, newest first: an app let in, an opt-in turned on or off. An app's
// access removed is left out, as the audit log holds it
// (storage.AuditConsentRevoked).
func (h *Handler) ledgerHistory(ctx context.Context, userID string) ([]*storage.ConsentEvent, error) {
	if h.cfg.Consents == nil {
		return nil, nil
	}
	all, err := h.cfg.Consents.ListConsentEvents(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []*storage.ConsentEvent
	for _, e := range slices.Backward(all) {
		if _, ok := ledgerDescriptions[ledgerKey(e)]; ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// viewLedgerEntry is e as the page shows it; names caches the apps' names
// by client ID.
func (h *Handler) viewLedgerEntry(ctx context.Context, e *storage.ConsentEvent, names map[string]string) (eventView, error) {
	v := eventView{Type: ledgerType(e), When: e.At.UTC(), Clock: e.At.UTC().Format("15:04"), IP: e.IP, What: ledgerDescriptions[ledgerKey(e)]}
	v.setClient(e.UserAgent)
	if e.Purpose == "" {
		name, ok := names[e.ClientID]
		if !ok {
			name = e.ClientID
			if h.cfg.Clients != nil {
				c, err := h.cfg.Clients.GetClient(ctx, e.ClientID)
				switch {
				case err == nil && c.Name != "":
					name = c.Name
				case err != nil && !errors.Is(err, storage.ErrNotFound):
					return v, err
				}
			}
			names[e.ClientID] = name
		}
		v.Subject = name
		return v, nil
	}
	v.Subject = e.Purpose
	for _, p := range h.cfg.Purposes {
		if p.ID == e.Purpose {
			v.Subject = p.Label
		}
	}
	channel := strings.Join(e.Scopes, ", ")
	if len(e.Scopes) == 1 && channelDescriptions[e.Scopes[0]] != "" {
		channel = channelDescriptions[e.Scopes[0]]
	}
	v.Channel = channel
	return v, nil
}

// viewEvent is e as the page shows it.
func viewEvent(e *storage.AuditEvent) eventView {
	v := eventView{Type: e.Type, When: e.Time.UTC(), Clock: e.Time.UTC().Format("15:04"), IP: e.IP}
	v.What = describe(e)
	v.setClient(e.UserAgent)
	return v
}

// setClient sets the browser and system of v from the user agent ua.
func (v *eventView) setClient(ua string) {
	v.Browser, v.OS = browserOf(ua)
	if v.Browser == "" && ua != "" {
		v.UnknownClient = cut(ua, 60)
	}
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
