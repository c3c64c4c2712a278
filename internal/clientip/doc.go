// Package clientip finds the address of the client that sent a request:
// the peer's address, or, when the peer is a trusted reverse proxy, the
// address the proxies recorded in X-Forwarded-For. It is what the rate
// limits and audit events of the server key on.
package clientip
