// Package login owns local sign-in: password hashing and verification with
// argon2id, and the credential checks behind the login page. It does not
// own the interaction or the SSO session (package authz does).
package login
