// Package storage owns Atrium's domain types and the small store interfaces
// that every backend implements. It imports nothing else of Atrium and knows
// nothing of OAuth libraries: grant and interaction state reach it as opaque
// bytes with an expiry.
//
// Durable data (clients, users, credentials, identities, consents, signing
// keys) lives behind ClientStore, UserStore, CredentialStore, IdentityStore,
// ConsentStore and KeyStore. Short-lived state (SSO sessions, interactions,
// authorization codes, token state, replay caches) lives behind SessionStore
// and TokenStore; every record there carries an expiry and reads never return
// an expired record.
//
// Backends live in subpackages (sql for SQLite and PostgreSQL); storagetest
// holds the suites every backend must pass.
package storage
