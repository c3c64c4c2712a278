package clientip

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds client addresses behind a set of trusted proxies.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a resolver that trusts the X-Forwarded-For header of peers
// whose address is in one of trusted; nil trusts none.
func New(trusted []netip.Prefix) *Resolver {
	out := make([]netip.Prefix, len(trusted))
	for i, p := range trusted {
		out[i] = p.Masked()
	}
	return &Resolver{trusted: out}
}

// ParsePrefixes parses CIDR prefixes ("10.0.0.0/8", "2001:db8::/32"); a
// bare address stands for itself alone. The error names every bad entry.
func ParsePrefixes(ss []string) ([]netip.Prefix, error) {
	var (
		out []netip.Prefix
		bad []string
	)
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		bad = append(bad, fmt.Sprintf("%q", s))
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("not a CIDR prefix or an IP address: %s", strings.Join(bad, ", "))
	}
	return out, nil
}

// Trusted reports whether a is in a trusted prefix.
func (r *Resolver) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr returns the client address of req: its peer's (RemoteAddr),
// unless the peer is trusted; then the right-most X-Forwarded-For entry
// that is not a trusted proxy, walking back from the peer. An entry that
// is not an address ends the walk at the trusted hop before it, as does
// the start of the header. The zero Addr when RemoteAddr is not an
// address (as for a request that did not come from the network).
func (r *Resolver) Addr(req *http.Request) netip.Addr {
	peer, ok := parse(req.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !r.Trusted(peer) {
		return peer
	}
	hops := forwarded(req.Header.Values("X-Forwarded-For"))
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parse(hops[i])
		if !ok {
			return client
		}
		client = a
		if !r.Trusted(a) {
			return a
		}
	}
	return client
}

// String returns Addr(req) as text, "" when unknown.
func (r *Resolver) String(req *http.Request) string {
	a := r.Addr(req)
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// forwarded splits the X-Forwarded-For headers into their entries, in
// order (several headers count as one list, RFC 9110 section 5.3).
func forwarded(values []string) []string {
	var out []string
	for _, v := range values {
		for e := range strings.SplitSeq(v, ",") {
			out = append(out, strings.TrimSpace(e))
		}
	}
	return out
}

// parse reads an address with or without a port ("192.0.2.1",
// "192.0.2.1:443", "[2001:db8::1]:443", "2001:db8::1"), unmapping
// IPv4-mapped IPv6 addresses and dropping IPv6 zones.
func parse(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}
