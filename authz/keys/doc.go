// Package keys owns the provider's signing keys: it generates them (RS256,
// ES256 or EdDSA), seals their private halves with a secretbox.Box before
// they reach storage.KeyStore, rotates them (by hand, and on a schedule that
// publishes each next key before it signs: schedule.go), caches the
// decrypted keys, signs and verifies JWTs (including fosite's jwt.Signer),
// and serves the JWKS.
//
// It does not own where keys are stored (storage) nor the master secret
// (configuration); nor does it validate claims beyond what fosite's
// jwt.Signer contract asks (exp, iat, nbf).
package keys
