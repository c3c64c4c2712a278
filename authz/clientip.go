package authz

import "net/http"

// ClientIP returns the address of the client that sent r: the peer, or,
// from a trusted proxy, the address it forwarded (Config.TrustedProxies);
// "" when there is none. The account area records it in the consent
// ledger.
func (p *Provider) ClientIP(r *http.Request) string { return p.clientIP(r) }
