package page

import (
	"embed"
	"html/template"
	"net/http"
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
