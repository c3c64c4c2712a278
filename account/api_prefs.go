package account

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/atrium-id/atrium/storage"
)

// The account API's preferences: the Preferences page as JSON, with its
// rules (knownLanguage, knownCurrency, knownPurpose, knownChannel) and
// its consent ledger entries (optInChanges, storePreferences).
//
//	{"language": "de", "currency": "EUR",
//	 "opt_ins": {"newsletter": ["email"], "offers": []},
//	 "choices": {...}}
//
// language and currency are null when the user chose none (the browser's
// language, no currency). opt_ins has every configured purpose with the
// channels the user accepts its messages on. choices, which a patch
// cannot change, lists what the page offers: the languages, currencies,
// channels and purposes with their (English) labels. A patch is a merge
// patch (RFC 7396) of language, currency and opt_ins, a purpose's array
// replacing its channels; it is all or nothing.

type apiPreferencesView struct {
	Language *string             `json:"language"`
	Currency *string             `json:"currency"`
	OptIns   map[string][]string `json:"opt_ins"`
	Choices  apiPrefChoices      `json:"choices"`
}

type apiPrefChoices struct {
	Languages  []apiPrefChoice `json:"languages"`
	Currencies []apiPrefChoice `json:"currencies"`
	Channels   []apiPrefChoice `json:"channels"`
	Purposes   []apiPrefChoice `json:"purposes"`
}

// apiPrefChoice is an option: a language (named in itself), a currency,
// a channel or a purpose.
type apiPrefChoice struct {
	ID          string `json:"id"`
	Label       string `json:"label"`
	Description string `json:"description,omitempty"`
}

// apiPreferencesOf is p as the API shows it.
func (h *Handler) apiPreferencesOf(p *storage.Preferences) apiPreferencesView {
	orNull := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	v := apiPreferencesView{Language: orNull(p.Language), Currency: orNull(p.Currency), OptIns: map[string][]string{},
		Choices: apiPrefChoices{Purposes: []apiPrefChoice{}}}
	for _, pu := range h.cfg.Purposes {
		v.OptIns[pu.ID] = []string{}
		for _, c := range prefChannels {
			if slices.Contains(p.OptIns[pu.ID], c.id) {
				v.OptIns[pu.ID] = append(v.OptIns[pu.ID], c.id)
			}
		}
		v.Choices.Purposes = append(v.Choices.Purposes, apiPrefChoice{ID: pu.ID, Label: pu.Label, Description: pu.Description})
	}
	for _, l := range prefLanguages {
		v.Choices.Languages = append(v.Choices.Languages, apiPrefChoice{ID: l.tag, Label: l.name})
	}
	for _, c := range prefCurrencies {
		v.Choices.Currencies = append(v.Choices.Currencies, apiPrefChoice{ID: c.code, Label: c.label})
	}
	for _, c := range prefChannels {
		v.Choices.Channels = append(v.Choices.Channels, apiPrefChoice{ID: c.id, Label: c.label})
	}
	return v
}

func (h *Handler) apiPreferences(w http.ResponseWriter, r *http.Request) {
	c := h.bearer(w, r, scopeRead)
	if c == nil {
		return
	}
	p, err := h.cfg.Preferences.GetPreferences(r.Context(), c.user.ID)
	if err != nil {
		h.apiServerError(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, h.apiPreferencesOf(p))
}

func (h *Handler) apiPreferencesPatch(w http.ResponseWriter, r *http.Request) {
	c := h.bearer(w, r, scopeWrite)
	if c == nil {
		return
	}
	body, ok := readPatchBody(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	old, err := h.cfg.Preferences.GetPreferences(ctx, c.user.ID)
	if err != nil {
		h.apiServerError(w, r, err)
		return
	}
	next, field, problem := h.readPreferencesPatch(body, old)
	if field != "" {
		h.log.InfoContext(ctx, "preferences refused", "reason", field, "user_id", c.user.ID, "request_id", requestID(w, r))
		badField(w, http.StatusBadRequest, field, problem)
		return
	}
	events := h.optInChanges(r, c.user.ID, old, next)
	if len(events) == 0 && next.Language == old.Language && next.Currency == old.Currency {
		apiJSON(w, http.StatusOK, h.apiPreferencesOf(old))
		return
	}
	if err := h.storePreferences(ctx, next, events); err != nil {
		h.apiServerError(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, h.apiPreferencesOf(next))
}

// nullableString decodes a string, or null as "", and reports whether
// raw is one.
func nullableString(raw json.RawMessage) (string, bool) {
	if string(raw) == "null" {
		return "", true
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err == nil
}

// readPreferencesPatch returns old after the merge patch body
// (nextPreferences), or the field that is wrong and why.
func (h *Handler) readPreferencesPatch(body []byte, old *storage.Preferences) (next *storage.Preferences, field, problem string) {
	patch, problem := readJSONObject(body, `{"opt_ins": {"newsletter": ["email"]}}`)
	if problem != "" {
		return nil, "body", problem
	}
	// v names the choices in messages.
	v := h.apiPreferencesOf(old)
	lang, cur := old.Language, old.Currency
	optIns := maps.Clone(old.OptIns)
	if optIns == nil {
		optIns = map[string][]string{}
	}
	for _, k := range slices.Sorted(maps.Keys(patch)) {
		raw := patch[k]
		switch k {
		case "language":
			tag, ok := nullableString(raw)
			if !ok || !knownLanguage(tag) {
				return nil, k, "Use one of " + strings.Join(ids(v.Choices.Languages), ", ") + ", or null to follow the browser."
			}
			lang = tag
		case "currency":
			code, ok := nullableString(raw)
			if !ok || !knownCurrency(code) {
				return nil, k, "Use one of " + strings.Join(ids(v.Choices.Currencies), ", ") + ", or null for none."
			}
			cur = code
		case "opt_ins":
			var purposes map[string]json.RawMessage
			if err := json.Unmarshal(raw, &purposes); err != nil || purposes == nil {
				return nil, k, `Use an object of purposes, each with the channels its messages may use, such as {"newsletter": ["email"]}.`
			}
			for _, id := range slices.Sorted(maps.Keys(purposes)) {
				f := "opt_ins." + id
				switch {
				case len(h.cfg.Purposes) == 0:
					return nil, f, "There is no such purpose: no messages are offered to opt into."
				case !h.knownPurpose(id):
					return nil, f, "There is no such purpose; use one of " + strings.Join(ids(v.Choices.Purposes), ", ") + "."
				}
				var channels []string
				if string(purposes[id]) != "null" {
					if err := json.Unmarshal(purposes[id], &channels); err != nil {
						return nil, f, "Use an array of channels, such as [\"email\"], or [] for none."
					}
				}
				for _, ch := range channels {
					if !knownChannel(ch) {
						return nil, f, "There is no such channel; use " + strings.Join(ids(v.Choices.Channels), ", ") + "."
					}
				}
				optIns[id] = channels
			}
		default:
			return nil, k, "This preference cannot be changed here; use language, currency or opt_ins."
		}
	}
	return h.nextPreferences(old, lang, cur, optIns), "", ""
}

// ids are the IDs of choices.
func ids(choices []apiPrefChoice) []string {
	var out []string
	for _, c := range choices {
		out = append(out, c.ID)
	}
	return out
}
