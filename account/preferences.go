package account

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// The "Preferences" page: the language of the account pages, a currency,
// and for each purpose the operator sends messages for (Config.Purposes)
// the channels the user accepts them on. Every opt-in turned on or off is
// an entry of the consent ledger, with the purpose, the channel as its
// one scope, the client address and the user agent. A save is all or
// nothing: one unknown value and nothing is stored.
//
//	GET  /account/preferences   the form
//	POST /account/preferences   check every value, record the opt-ins changed, store

const pathPreferences = "/account/preferences"

// Purpose is a reason the operator sends users messages (config
// consent.purposes). Label and Description are English; the page shows
// their translation when the catalog has one.
type Purpose struct {
	ID, Label, Description string
}

// ClientAddresser tells the client address of a request; an
// Authenticator that is one (as *authz.Provider is, honouring its trusted
// proxies) gives the address the consent ledger records. Otherwise the
// ledger gets the peer's address.
type ClientAddresser interface {
	ClientIP(r *http.Request) string
}

// maxLedgerUserAgent is the most bytes of a user agent the ledger keeps.
const maxLedgerUserAgent = 512

// prefChannels are the channels of an opt-in, in the page's order.
var prefChannels = []struct{ id, label string }{
	{storage.ChannelEmail, "Email"},
	{storage.ChannelSMS, "Text message (SMS)"},
}

// prefLanguages are the languages the pages can be shown in, each named
// in itself; "" follows the browser.
var prefLanguages = []struct{ tag, name string }{
	{"en", "English"},
	{"de", "Deutsch"},
}

// prefCurrencies are the currencies a user can choose (ISO 4217).
var prefCurrencies = []struct{ code, label string }{
	{"EUR", "Euro"},
	{"USD", "US dollar"},
	{"GBP", "Pound sterling"},
	{"CHF", "Swiss franc"},
	{"JPY", "Japanese yen"},
	{"CAD", "Canadian dollar"},
	{"AUD", "Australian dollar"},
	{"SEK", "Swedish krona"},
}

type preferencesData struct {
	Title      string
	CSRF       string
	Languages  []prefOption
	Currencies []prefOption
	Purposes   []purposeView
	Notice     string
	Error      string
	L          page.Lang
}

// prefOption is an option of a list; Label is translated, Name is not.
type prefOption struct {
	Value, Label, Name string
	Selected           bool
}

type purposeView struct {
	ID, Label, Description string
	Channels               []channelView
}

type channelView struct {
	ID, Label string
	On        bool
}

func (h *Handler) preferencesRoutes(m *http.ServeMux) {
	if h.cfg.Preferences == nil {
		return
	}
	m.HandleFunc("GET "+pathPreferences, h.preferences)
	m.HandleFunc("POST "+pathPreferences, h.preferencesSave)
}

func (h *Handler) preferences(w http.ResponseWriter, r *http.Request) {
	sess, user := h.signedIn(w, r, pathPreferences)
	if sess == nil {
		return
	}
	p, err := h.cfg.Preferences.GetPreferences(r.Context(), user.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	notice := ""
	switch r.URL.Query().Get(savedParam) {
	case "1":
		notice = "Your preferences are saved."
	case "none":
		notice = "Nothing changed: your preferences are as they were."
	}
	h.renderPreferences(w, r, http.StatusOK, sess, p, notice, "")
}

func (h *Handler) renderPreferences(w http.ResponseWriter, r *http.Request, status int, sess *storage.Session,
	p *storage.Preferences, notice, problem string) {
	d := preferencesData{Title: "Preferences", CSRF: h.csrfToken(sess.ID), Notice: notice, Error: problem}
	d.Languages = append(d.Languages, prefOption{Value: "", Label: "The language of your browser", Selected: p.Language == ""})
	for _, l := range prefLanguages {
		d.Languages = append(d.Languages, prefOption{Value: l.tag, Name: l.name, Selected: p.Language == l.tag})
	}
	d.Currencies = append(d.Currencies, prefOption{Value: "", Label: "No preference", Selected: p.Currency == ""})
	for _, c := range prefCurrencies {
		d.Currencies = append(d.Currencies, prefOption{Value: c.code, Label: c.label, Selected: p.Currency == c.code})
	}
	for _, pu := range h.cfg.Purposes {
		v := purposeView{ID: pu.ID, Label: pu.Label, Description: pu.Description}
		for _, c := range prefChannels {
			v.Channels = append(v.Channels, channelView{ID: c.id, Label: c.label, On: slices.Contains(p.OptIns[pu.ID], c.id)})
		}
		d.Purposes = append(d.Purposes, v)
	}
	h.render(w, r, status, "preferences", d)
}

func (h *Handler) preferencesSave(w http.ResponseWriter, r *http.Request) {
	sess, user := h.postSession(w, r)
	if sess == nil {
		return
	}
	ctx := r.Context()
	old, err := h.cfg.Preferences.GetPreferences(ctx, user.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	next, problem := h.readPreferences(r, old)
	if problem != "" {
		h.log.InfoContext(ctx, "preferences refused", "reason", problem, "user_id", user.ID, "request_id", requestID(w, r))
		h.renderPreferences(w, r, http.StatusBadRequest, sess, old, "", problem)
		return
	}
	events := h.optInChanges(r, user.ID, old, next)
	if len(events) == 0 && next.Language == old.Language && next.Currency == old.Currency {
		http.Redirect(w, r, pathPreferences+"?"+savedParam+"=none", http.StatusSeeOther)
		return
	}
	if err := h.storePreferences(ctx, next, events); err != nil {
		h.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, pathPreferences+"?"+savedParam+"=1", http.StatusSeeOther)
}

// storePreferences writes p and the ledger entries of its opt-in
// changes: in one transaction when the store is a
// storage.PreferenceRecorder, else the ledger first, so that an opt-in is
// never stored without its proof.
func (h *Handler) storePreferences(ctx context.Context, p *storage.Preferences, events []*storage.ConsentEvent) error {
	if rec, ok := h.cfg.Preferences.(storage.PreferenceRecorder); ok {
		return rec.PutPreferencesRecorded(ctx, p, events)
	}
	for _, e := range events {
		if err := h.cfg.Consents.AppendConsentEvent(ctx, e); err != nil {
			return err
		}
	}
	return h.cfg.Preferences.PutPreferences(ctx, p)
}

// readPreferences returns the preferences the form of r asks for
// (nextPreferences), or the message for the first value that is not one
// of the page's.
func (h *Handler) readPreferences(r *http.Request, old *storage.Preferences) (*storage.Preferences, string) {
	lang := r.PostFormValue("language")
	if !knownLanguage(lang) {
		return nil, "Nothing was saved: choose a language from the list."
	}
	cur := r.PostFormValue("currency")
	if !knownCurrency(cur) {
		return nil, "Nothing was saved: choose a currency from the list."
	}
	optIns := map[string][]string{}
	for _, v := range r.PostForm["optin"] {
		purpose, channel, _ := strings.Cut(v, ":")
		if !h.knownPurpose(purpose) || !knownChannel(channel) {
			return nil, "Nothing was saved: choose only the messages listed on this page."
		}
		optIns[purpose] = append(optIns[purpose], channel)
	}
	return h.nextPreferences(old, lang, cur, optIns), ""
}

// knownLanguage reports whether tag is one of prefLanguages, or "" (the
// browser's).
func knownLanguage(tag string) bool {
	return tag == "" || slices.ContainsFunc(prefLanguages, func(l struct{ tag, name string }) bool { return l.tag == tag })
}

// knownCurrency reports whether code is one of prefCurrencies, or ""
// (none).
func knownCurrency(code string) bool {
	return code == "" || slices.ContainsFunc(prefCurrencies, func(c struct{ code, label string }) bool { return c.code == code })
}

// knownPurpose reports whether id is a configured purpose.
func (h *Handler) knownPurpose(id string) bool {
	return slices.ContainsFunc(h.cfg.Purposes, func(p Purpose) bool { return p.ID == id })
}

// knownChannel reports whether id is one of prefChannels.
func knownChannel(id string) bool {
	return slices.ContainsFunc(prefChannels, func(c struct{ id, label string }) bool { return c.id == id })
}

// nextPreferences returns old with language lang, currency cur and, for
// each configured purpose, the channels of optIns (none when it has no
// entry); old's opt-ins for purposes no longer configured are kept. The
// caller has checked every value (knownLanguage, ...).
func (h *Handler) nextPreferences(old *storage.Preferences, lang, cur string, optIns map[string][]string) *storage.Preferences {
	next := &storage.Preferences{UserID: old.UserID, Language: lang, Currency: cur, OptIns: map[string][]string{}}
	for purpose, channels := range old.OptIns {
		if !h.knownPurpose(purpose) {
			next.OptIns[purpose] = slices.Clone(channels)
		}
	}
	for _, p := range h.cfg.Purposes {
		for _, c := range optIns[p.ID] {
			if !slices.Contains(next.OptIns[p.ID], c) {
				next.OptIns[p.ID] = append(next.OptIns[p.ID], c)
			}
		}
	}
	return next
}

// optInChanges returns a consent ledger entry for each configured
// purpose and channel turned on or off from old to next.
func (h *Handler) optInChanges(r *http.Request, userID string, old, next *storage.Preferences) []*storage.ConsentEvent {
	ip := ""
	if a, ok := h.cfg.Auth.(ClientAddresser); ok {
		ip = a.ClientIP(r)
	} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ip = host
	}
	ua := strings.ToValidUTF8(r.UserAgent(), "\uFFFD")
	if len(ua) > maxLedgerUserAgent {
		ua = strings.ToValidUTF8(ua[:maxLedgerUserAgent], "")
	}
	var out []*storage.ConsentEvent
	for _, p := range h.cfg.Purposes {
		for _, c := range prefChannels {
			was, is := slices.Contains(old.OptIns[p.ID], c.id), slices.Contains(next.OptIns[p.ID], c.id)
			if was == is {
				continue
			}
			action := storage.ConsentGranted
			if was {
				action = storage.ConsentRevoked
			}
			out = append(out, &storage.ConsentEvent{UserID: userID, Purpose: p.ID, Scopes: []string{c.id}, Action: action,
				PolicyVersion: h.cfg.PolicyVersion, IP: ip, UserAgent: ua})
		}
	}
	return out
}

// prefsKey is the context key of a request's prefsSlot.
type prefsKey struct{}

// prefsSlot carries the signed-in user's language preference from
// signedIn to render within one request.
type prefsSlot struct{ language string }

// withPrefsSlot returns r with an empty prefsSlot.
func withPrefsSlot(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), prefsKey{}, &prefsSlot{}))
}

// notePreferences reads user's language preference into r's prefsSlot,
// for render. Without it the pages follow the browser.
func (h *Handler) notePreferences(r *http.Request, user *storage.User) {
	slot, ok := r.Context().Value(prefsKey{}).(*prefsSlot)
	if !ok || h.cfg.Preferences == nil {
		return
	}
	p, err := h.cfg.Preferences.GetPreferences(r.Context(), user.ID)
	if err != nil {
		h.log.WarnContext(r.Context(), "read preferences", "err", err)
		return
	}
	slot.language = p.Language
}

// preferredLanguage is the language the signed-in user chose, "" for the
// browser's.
func preferredLanguage(r *http.Request) string {
	if slot, ok := r.Context().Value(prefsKey{}).(*prefsSlot); ok {
		return slot.language
	}
	return ""
}
