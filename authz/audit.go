package authz

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/atrium-id/atrium/internal/clientip"
	"github.com/atrium-id/atrium/storage"
)

// errCSRF is a form whose CSRF token does not match its interaction's.
var errCSRF = errors.New("csrf token mismatch")

// Bounds of what an event keeps of the request, so a client cannot make
// the audit table grow by sending long headers.
const (
	maxAuditUserAgent = 256
	maxAuditDetail    = 256
)

// Audit records an audit event for the request (client address, user
// agent) and logs it; it never fails the request. userID is "" when no
// account is known; detail is small and holds no secret.
func (p *Provider) Audit(r *http.Request, typ, userID string, detail map[string]string) {
	p.audit(r, typ, userID, "", detail)
}

// audit is Audit with the client the request is for.
func (p *Provider) audit(r *http.Request, typ, userID, clientID string, detail map[string]string) {
	p.record(r.Context(), p.auditEvent(r, typ, userID, clientID, detail))
}

// auditEvent is the event of r, for record: what a request's event keeps
// of it is read now, so it can be recorded after the response.
func (p *Provider) auditEvent(r *http.Request, typ, userID, clientID string, detail map[string]string) *storage.AuditEvent {
	e := &storage.AuditEvent{
		Time: p.now(), Type: typ, UserID: userID, ClientID: truncate(clientID, maxAuditDetail),
		IP: p.clientIP(r), UserAgent: truncate(r.UserAgent(), maxAuditUserAgent),
	}
	if len(detail) > 0 {
		e.Detail = make(map[string]string, len(detail))
		for k, v := range detail {
			e.Detail[truncate(k, 64)] = truncate(v, maxAuditDetail)
		}
	}
	return e
}

// record logs e and stores it when there is an audit store; a failure to
// store it is logged.
func (p *Provider) record(ctx context.Context, e *storage.AuditEvent) {
	ctx = context.WithoutCancel(ctx)
	attrs := []any{"type", e.Type, "user_id", e.UserID, "ip", e.IP}
	if e.ClientID != "" {
		attrs = append(attrs, "client_id", e.ClientID)
	}
	for _, k := range slices.Sorted(maps.Keys(e.Detail)) {
		attrs = append(attrs, "detail."+k, e.Detail[k])
	}
	p.log.InfoContext(ctx, "audit", attrs...)
	if p.stores.Audit == nil {
		return
	}
	if err := p.stores.Audit.AppendAudit(ctx, e); err != nil {
		p.log.WarnContext(ctx, "audit event not stored", "type", e.Type, "err", err)
	}
}

// clientAddr is the address of the client that sent r, behind
// Config.TrustedProxies.
func (p *Provider) clientAddr(r *http.Request) netip.Addr {
	return clientip.New(p.cfg.TrustedProxies).Addr(r)
}

func (p *Provider) clientIP(r *http.Request) string {
	a := p.clientAddr(r)
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// truncate cuts s to at most n bytes on a rune boundary, replacing
// invalid UTF-8.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
