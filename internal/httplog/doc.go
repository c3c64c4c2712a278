// Package httplog owns the outermost HTTP wrapper of the server: it gives
// every request an ID (set as X-Request-ID on the request and the response)
// and writes one access log line per request with log/slog.
//
// The log line never carries the query string, where authorization codes,
// tokens and state travel.
package httplog
