// Package storagetest holds the conformance suite every storage backend must
// pass: Run exercises each store interface of package storage (round trips,
// sentinel errors, uniqueness, cascades, pagination, expiry judged against
// a fake Clock) and the guarantees that must hold under concurrent callers.
//
// It owns no backend and imports nothing of Atrium but package storage; a
// backend's test file opens a fresh empty store per call of newStore and
// hands Run the result.
package storagetest
