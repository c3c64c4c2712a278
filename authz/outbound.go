package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// errPrivateTarget refuses a connection to an address that is not on the
// public internet.
var errPrivateTarget = errors.New("the address is not a public one")

// publicAddress reports whether ip is on the public internet: not
// loopback, private (RFC 1918, RFC 4193), link-local (cloud metadata
// services live there), unspecified, multicast, CGNAT (RFC 6598) or
// another special-purpose range.
func publicAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range specialPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// specialPrefixes are the special-purpose ranges the netip predicates do
// not cover.
var specialPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // shared address space (CGNAT)
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// publicOnly is a net.Dialer Control function that lets a connection go
// only to a public address. It runs after name resolution, on the address
// actually dialled, so a name that resolves to a private address is
// refused too.
func publicOnly(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%s: %w", address, errPrivateTarget)
	}
	if !publicAddress(ap.Addr()) {
		return fmt.Errorf("%s: %w", ap.Addr(), errPrivateTarget)
	}
	return nil
}

// publicOnly reports whether the URLs c registered may be fetched from
// public addresses only: c registered itself over HTTP, or is described
// by a metadata document, and the configuration does not allow private
// addresses for such clients. The operator's clients are trusted as the
// configuration is.
func (p *Provider) publicOnly(c *storage.Client) bool {
	return c.Registration == registrationDynamic && !p.cfg.Registration.AllowPrivateNetwork ||
		c.Registration == registrationDocument && !p.cfg.ClientIDMetadata.AllowPrivateNetwork
}

// outboundClient returns an HTTP client for requests to URLs a client
// registered (back-channel logout), with timeout and no redirects
// followed; with public, only to public addresses, so that a client
// registered over HTTP cannot make the provider reach into the network it
// runs in.
func outboundClient(timeout time.Duration, public bool) *http.Client {
	d := &net.Dialer{Timeout: timeout}
	if public {
		d.Control = publicOnly
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // a proxy would dial the address for us, unchecked
	t.DialContext = d.DialContext
	return &http.Client{
		Timeout:       timeout,
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// outboundGet fetches u with hc, asking for accept: a 200 answer only (a
// redirect is not followed), its body read up to max bytes. Its errors
// are sentences for the people who registered u.
func outboundGet(ctx context.Context, hc *http.Client, u, accept string, max int64) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, errors.New("the URL cannot be fetched")
	}
	req.Header.Set("Accept", accept)
	resp, err := hc.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, errPrivateTarget):
			return nil, nil, errors.New("the URL is not on a public address")
		case timedOut(err):
			return nil, nil, errors.New("fetching it timed out")
		}
		return nil, nil, errors.New("it could not be fetched")
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, nil, errors.New("the server answered with a redirect, which is not followed")
	case resp.StatusCode != http.StatusOK:
		return nil, nil, fmt.Errorf("the server answered with HTTP status %d", resp.StatusCode)
	case resp.ContentLength > max:
		return nil, nil, fmt.Errorf("the document is larger than %d bytes", max)
	}
	// Read up to the limit and one more byte, not past it.
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	switch {
	case err != nil && timedOut(err):
		return nil, nil, errors.New("fetching it timed out")
	case err != nil:
		return nil, nil, errors.New("it could not be read")
	case int64(len(body)) > max:
		return nil, nil, fmt.Errorf("the document is larger than %d bytes", max)
	}
	return body, resp.Header, nil
}

func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}
