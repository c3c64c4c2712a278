// Package redis keeps the short-lived state nodes share (storage.StateStore)
// in Redis: SSO sessions, interactions, authorization codes, PKCE and
// OpenID request state, access and refresh token state, replay markers and
// rate-limit counters. It works against one Redis, a Sentinel-managed
// primary or a Redis Cluster, through go-redis's UniversalClient.
//
// # Key schema
//
// Every key starts with the configured prefix (default "atrium:") and
// carries a hash tag, the part in braces, so that the keys of one user live
// in one Cluster slot:
//
//	{s:<session id>}                   SSO session
//	{u:<user id>}:sessions             sorted set: the user's session IDs, scored by expiry
//	{i:<interaction id>}               pending authorization request
//	{t:<kind>:<signature>}             code or token state, kind in one letter (c code,
//	                                   a access, r refresh, o OpenID, p PKCE);
//	                                   byte 0 is '1' while active,
//	                                   and a spent token keeps only its header
//	{g:<request id>}                   sorted set: "<kind letter>:<signature>" of every token of a grant
//	{u:<subject>}:grants               sorted set: request IDs of the grants of a subject, and,
//	                                   for those issued under an SSO session, a member
//	                                   "\x00<len(sid)>:<sid>:<request id>" (RevokeSessionTokens)
//	{c:<client id>}:grants             sorted set: request IDs of the grants of a client
//	{o:<key>}                          replay marker (client assertion jti), holds its expiry
//	{n:<key>}                          rate-limit counter: hash of n (count) and exp
//
// A token written with NoIndex (the access token of a client_credentials
// grant) is in no index: it is found by its signature only.
//
// Values are a compact binary encoding (see codec.go), not JSON. Every
// record has a TTL equal to its remaining lifetime, and every index a TTL
// equal to that of its longest-lived member; indexes shed expired members
// whenever one is added, so they stay as small as the live state.
//
// # Atomicity
//
// Operations that must have one winner touch one key each: redeeming a code
// or rotating a refresh token is a Lua script that flips the active byte
// only if it is still '1' (DeactivateToken), so of two nodes racing exactly
// one succeeds and the other sees storage.ErrConflict, which the provider
// treats as reuse. Replay markers and counters are single-key scripts too.
// Revocation across a grant, a user or a client is a pipeline of
// single-key deletes; it is idempotent, so it needs no transaction and
// works across Cluster slots.
//
// Expiry is judged by the store's clock when reading (Redis removes the
// key soon after); a value never outlives its ExpiresAt.
package redis
