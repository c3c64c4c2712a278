package consent

import (
	"slices"

	"github.com/atrium-id/atrium/storage"
)

// ScopeOpenID is the scope of every OpenID request: it names the user to
// the app and is never optional.
const ScopeOpenID = "openid"

// Request is what the decision to ask for consent depends on.
type Request struct {
	// Requested are the scopes of the authorization request.
	Requested []string
	// Stored is the user's consent to the client, nil when there is none.
	Stored *storage.Consent
	// PolicyVersion is the operator's current consent policy version.
	PolicyVersion string
	// FirstParty marks a client of the operator's own.
	FirstParty bool
	// Prompt are the request's prompt values.
	Prompt []string
}

// Decision is whether to show the consent screen.
type Decision struct {
	// Ask is true when the user must be asked.
	Ask bool
	// New are the requested scopes the user has not granted under the
	// current policy version (openid aside), in request order.
	New []string
}

// Decide applies the consent rules: the user is asked when the request
// has prompt=consent, and otherwise, unless the client is first-party,
// when they have no consent to the client given under the current policy
// version or the request asks for a scope that consent does not grant.
func Decide(r Request) Decision {
	var granted []string
	valid := r.Stored != nil && r.Stored.PolicyVersion == r.PolicyVersion
	if valid {
		granted = r.Stored.Scopes
	}
	var d Decision
	for _, s := range Optional(r.Requested) {
		if !slices.Contains(granted, s) {
			d.New = append(d.New, s)
		}
	}
	switch {
	case slices.Contains(r.Prompt, "consent"):
		d.Ask = true
	case r.FirstParty:
		d.Ask = false
	default:
		d.Ask = !valid || len(d.New) > 0
	}
	return d
}

// Optional returns the requested scopes the user may leave out: every one
// but openid, once each, in request order.
func Optional(requested []string) []string {
	var out []string
	for _, s := range requested {
		if s != ScopeOpenID && s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Granted returns the scopes a consent form grants: openid when
// requested, and the ticked scopes that were requested, in request order.
// A ticked scope the request did not ask for is ignored.
func Granted(requested, ticked []string) []string {
	var out []string
	for _, s := range requested {
		if s == "" || slices.Contains(out, s) {
			continue
		}
		if s == ScopeOpenID || slices.Contains(ticked, s) {
			out = append(out, s)
		}
	}
	return out
}

// descriptions say in plain words what each standard scope lets an app
// have; the English text is the translation key.
var descriptions = map[string]string{
	"openid":         "Know who you are when you sign in",
	"profile":        "Your name and profile details",
	"email":          "Your email address",
	"address":        "Your postal address",
	"phone":          "Your phone number",
	"offline_access": "Stay signed in to the app when you are away",
	"account.read":   "See your account: profile, connected apps, sessions and activity",
	"account.write":  "Change your profile, remove apps' access and sign out your sessions",
}

// Describe returns the plain-words description of scope, "" for a scope
// without one (the screen then names the scope itself).
func Describe(scope string) string { return descriptions[scope] }
