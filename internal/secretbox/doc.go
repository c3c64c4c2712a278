// Package secretbox encrypts small secrets at rest with AES-256-GCM under
// keys derived from the configured master secret, and derives other
// secrets (HMAC keys, cookie keys) from it with HKDF-SHA256.
//
// It owns only the envelope format and key derivation; what is sealed and
// where it is stored belongs to the callers (signing keys, TOTP secrets).
package secretbox
