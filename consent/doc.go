// Package consent owns the rules of consent: when a user must be asked
// before an app receives what it requests (scopes, and resources it would
// reach on the user's behalf), which scopes a submitted consent form
// grants and which resources it allows, and how each scope is described
// to the user in plain words.
//
// It does not render the consent screen nor store anything: authz shows
// the screen inside its interaction and keeps consents and the consent
// ledger through storage.ConsentStore. The scopes' claims are authz's
// (the claims it releases in ID tokens and userinfo).
package consent
