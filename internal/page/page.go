package page

import (
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/atrium-id/atrium/storage"
)

//go:embed layout.html
var layoutFS embed.FS

// Templates returns the layout's "head" and "foot" templates, to parse a
// package's page templates into.
func Templates() *template.Template {
	return template.Must(template.New("layout").ParseFS(layoutFS, "layout.html"))
}

// CSP is every page's Content-Security-Policy: no scripts.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'none'; base-uri 'none'"

// SecureHeaders are set on every HTML page: no caching, no framing, no
// sniffing, no referrer, no scripts.
func SecureHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", CSP)
}

// RequestID is the ID the request logger assigned (set on the response).
func RequestID(w http.ResponseWriter, r *http.Request) string {
	if id := w.Header().Get("X-Request-ID"); id != "" {
		return id
	}
	return r.Header.Get("X-Request-ID")
}

// ServerError logs err and answers with show: 503 with unavailable as the
// message when a store is unavailable, 500 otherwise, and nothing when the
// browser has gone away.
func ServerError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, unavailable string,
	show func(status int, title, message string)) {
	ctx := r.Context()
	if ctx.Err() != nil {
		log.DebugContext(ctx, "request abandoned", "path", r.URL.Path, "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if errors.Is(err, storage.ErrUnavailable) {
		log.WarnContext(ctx, "store unavailable", "path", r.URL.Path, "err", err, "request_id", RequestID(w, r))
		w.Header().Set("Retry-After", "5")
		show(http.StatusServiceUnavailable, "Temporarily unavailable", unavailable)
		return
	}
	log.ErrorContext(ctx, "internal error", "path", r.URL.Path, "err", err, "request_id", RequestID(w, r))
	show(http.StatusInternalServerError, "Something went wrong", "Please try again in a moment.")
}
