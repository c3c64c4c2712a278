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
	// Resources are the resources (the URIs of the operator's APIs) the
	// request asks for: its requested audience.
	Resources []string
	// Stored is the user's consent to the client, nil when there is none.
	Stored *storage.Consent
	// PolicyVersion is the operator's current consent policy version.
	PolicyVersion string
	// FirstParty marks a client of the operator's own.
	FirstParty bool
	// Prompt are the request's prompt values.
	Prompt []string
}

// Decision is whether to show the consent screen, and how.
type Decision struct {
	// Ask is true when the user must be asked.
	Ask bool
	// New are the requested scopes the user has neither granted nor
	// declined under the current policy version (openid aside), in
	// request order.
	New []string
	// Declined are the requested scopes the user declined under the
	// current policy version, in request order: the screen shows them
	// unticked, and a request that goes on without it is not granted
	// them (Grant).
	Declined []string
	// NewResources are the requested resources the user has not let the
	// app reach under the current policy version, in request order, once
	// each. Resources are not optional: allowing the screen allows them.
	NewResources []string
	// Answered is true when the user has a consent to the client under
	// the current policy version: the screen then marks what it does not
	// cover as new.
	Answered bool
}

// Decide applies the consent rules: the user is asked when the request
// has prompt=consent, and otherwise, unless the client is first-party,
// when they have no consent to the client given under the current policy
// version, or the request asks for a scope that consent neither grants nor
// declines or for a resource it does not let the app reach. A declined
// scope is remembered as an answer: asking for it again does not ask the
// user again.
func Decide(r Request) Decision {
	var granted, declined, reached []string
	valid := r.Stored != nil && r.Stored.PolicyVersion == r.PolicyVersion
	if valid {
		granted, declined, reached = r.Stored.Scopes, r.Stored.Declined, r.Stored.Resources
	}
	d := Decision{Answered: valid}
	for _, res := range distinct(r.Resources) {
		if !slices.Contains(reached, res) {
			d.NewResources = append(d.NewResources, res)
		}
	}
	for _, s := range Optional(r.Requested) {
		switch {
		case slices.Contains(granted, s):
		case slices.Contains(declined, s):
			d.Declined = append(d.Declined, s)
		default:
			d.New = append(d.New, s)
		}
	}
	switch {
	case slices.Contains(r.Prompt, "consent"):
		d.Ask = true
	case r.FirstParty:
		d.Ask = false
	default:
		d.Ask = !valid || len(d.New) > 0 || len(d.NewResources) > 0
	}
	return d
}

// Grant returns the scopes a request that goes on without the consent
// screen is granted: the requested ones but those d declines, in request
// order.
func (d Decision) Grant(requested []string) []string {
	ticked := slices.DeleteFunc(Optional(requested), func(s string) bool { return slices.Contains(d.Declined, s) })
	return Granted(requested, ticked)
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

// Resources returns the resources a request names (its requested
// audience), once each, in order: those the consent screen lists and
// allowing it allows.
func Resources(requested []string) []string { return distinct(requested) }

// distinct returns the non-empty values of vs, once each, in order.
func distinct(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
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

// Answer updates c, the user's consent to a client (stored, or new with
// its user and client set), with their answer to the consent screen under
// policyVersion: the scopes of requested they ticked are granted, the
// other optional ones declined, and resources (those the request named)
// are added to the resources the app may reach. The decisions of a consent given under another policy version
// are dropped; those of the same version about scopes not requested now
// are kept. A ticked scope that was not requested changes nothing. It
// returns the scopes the answer grants, as Granted.
func Answer(c *storage.Consent, policyVersion string, requested, ticked, resources []string) []string {
	granted := Granted(requested, ticked)
	if c.PolicyVersion != policyVersion {
		c.Scopes, c.Declined, c.Resources = nil, nil, nil
	}
	c.Resources = slices.Clone(c.Resources)
	for _, res := range distinct(resources) {
		if !slices.Contains(c.Resources, res) {
			c.Resources = append(c.Resources, res)
		}
	}
	asked := func(s string) bool { return slices.Contains(requested, s) }
	c.Scopes = slices.DeleteFunc(slices.Clone(c.Scopes), asked)
	c.Declined = slices.DeleteFunc(slices.Clone(c.Declined), asked)
	for _, s := range Optional(requested) {
		if slices.Contains(granted, s) {
			c.Scopes = append(c.Scopes, s)
		} else {
			c.Declined = append(c.Declined, s)
		}
	}
	c.PolicyVersion = policyVersion
	return granted
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
