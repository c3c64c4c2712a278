// Package login owns local sign-in: the rules a new password must meet
// (CheckNewPassword, after NIST SP 800-63B, with a list of common
// passwords shipped in the binary), password hashing and verification with
// argon2id in PHC strings that carry their parameters, the upgrade of a
// hash made with older parameters (VerifyPasswordUpgrade, Rehash), the
// WebAuthn ceremonies of passkeys and their stored form (passkey.go), and
// the credential checks behind the login page. It does not own the interaction
// or the SSO session (package authz does).
package login
