// Command atrium-load is a load generator for any OAuth 2.0 / OpenID Connect
// server, Atrium or another. It drives one scenario with -c workers for -d
// (or until -n requests) and prints throughput, errors by HTTP status and
// latency percentiles; -bad adds workers sending bad input alongside, to show
// that bad clients neither slow good ones down nor cause 5xx.
//
//	atrium-load -scenario NAME [-issuer URL] [-token-url URL] [-introspect-url URL]
//	            [-userinfo-url URL] [-authorize-url URL] -client-id ID [-client-secret S]
//	            [-auth basic|post] [-scope "a b"] [-redirect-uri URI] [-username U -password P]
//	            [-c 32] [-d 10s] [-n 0] [-json] [-progress 1s] [-bad NAME:N] [-insecure]
//
// Scenarios (scenarios.go): client_credentials, introspect, refresh,
// userinfo, code-flow, code-flow-sso, and the bad-input scenarios
// bad-secret, unknown-client and malformed.
//
// The browser part of the code flows (flow.go, forms.go) knows no particular
// server: it follows redirects, fills the first form with a password field
// with -username and -password, submits any other form (a consent page)
// preferring an "allow"-like button, and stops at the redirect URI without
// contacting it.
//
// It owns no protocol logic of Atrium and imports no Atrium package.
package main
