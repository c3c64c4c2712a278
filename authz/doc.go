// Package authz is Atrium's OpenID Provider, built on fosite: the
// authorization, token, userinfo, introspection and revocation endpoints,
// discovery, the interaction a browser goes through between /authorize and
// the authorization response (login, then consent), and SSO sessions.
//
// It owns the adapter from fosite's storage interfaces to Atrium's stores
// (fosite_store.go); fosite types never leave this package. Signing keys are
// managed by authz/keys and reach the provider through the KeySet interface.
// Local password sign-in is authz/login.
package authz
