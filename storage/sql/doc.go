// Package sql is the durable store: one implementation of every store
// interface in package storage over SQLite (the embedded default, through
// the pure-Go modernc.org/sqlite driver) or PostgreSQL (through pgx).
//
// Both dialects share one schema and one set of queries. Times are stored
// as microseconds since the Unix epoch (0 for the zero time), lists as JSON
// arrays, booleans as integers, so a record reads back the same whichever
// database holds it. Expiry is decided against the store's clock, and
// expired rows are invisible to reads before DeleteExpired removes them.
package sql
