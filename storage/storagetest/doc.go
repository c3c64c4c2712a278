// Package storagetest holds the conformance suite every storage backend must
// pass: Run exercises each store interface of package storage (round trips,
// sentinel errors, uniqueness, cascades, pagination, expiry judged against
// a fake Clock) and the guarantees that must hold under concurrent callers.
// RunState runs the part of it that needs only storage.StateStore
// (sessions, interactions, grant state, replay markers, counters), for a
// backend that holds only the short-lived state; Run includes it.
//
// It owns no backend and imports nothing of Atrium but package storage; a
// backend's test file opens a fresh empty store per call of newStore and
// hands Run or RunState the result.
package storagetest
