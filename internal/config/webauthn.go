package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// WebAuthn configures passkeys: the WebAuthn relying party. Passkeys are
// on when rp_id is set or can be taken from the issuer; an issuer whose
// host is an IP address (the loopback default) leaves them off, since
// WebAuthn refuses an IP address as relying party ID.
type WebAuthn struct {
	// RPID is the relying party ID passkeys are bound to: the issuer's
	// host name (the default) or a registrable suffix of it. Changing it
	// later strands every passkey registered under the old one.
	RPID string `yaml:"rp_id"`
	// RPName is the name authenticators show; default "Atrium". At most
	// maxRPName bytes, which every authenticator keeps whole.
	RPName string `yaml:"rp_name"`
	// Origins are the origins (scheme://host[:port]) of the pages that run
	// passkey ceremonies; default the issuer's origin.
	Origins []string `yaml:"origins"`
}

// maxRPName is the longest webauthn.rp_name, in bytes: WebAuthn has
// authenticators store at least 64 bytes of the relying party's name.
const maxRPName = 64

// Passkeys returns the relying party of passkeys with the defaults
// filled in: rp_id the issuer's host name, rp_name "Atrium", origins the
// issuer's origin. rpID is "" when passkeys are off (the issuer's host is
// an IP address and rp_id is not set).
func (c *Config) Passkeys() (rpID, rpName string, origins []string) {
	w := c.WebAuthn
	rpID, rpName, origins = strings.ToLower(w.RPID), w.RPName, w.Origins
	if rpName == "" {
		rpName = "Atrium"
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Host == "" {
		return rpID, rpName, origins
	}
	if rpID == "" && net.ParseIP(u.Hostname()) == nil {
		rpID = strings.ToLower(u.Hostname())
	}
	if len(origins) == 0 && rpID != "" {
		origins = []string{u.Scheme + "://" + u.Host}
	}
	return rpID, rpName, origins
}

func (c *Config) validateWebAuthn() []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{c.key(path)}, args...)...))
	}
	w := c.WebAuthn
	switch n := w.RPName; {
	case len(n) > maxRPName:
		bad("webauthn.rp_name", "%d bytes; at most %d, the length authenticators must keep (they may cut a longer name)", len(n), maxRPName)
	case !utf8.ValidString(n) || strings.ContainsFunc(n, unicode.IsControl):
		bad("webauthn.rp_name", "%q has a control character or is not UTF-8", n)
	case n != "" && strings.TrimSpace(n) == "":
		bad("webauthn.rp_name", "is blank; leave it out for the default, Atrium")
	}
	w.RPID, _, w.Origins = c.Passkeys()
	if w.RPID == "" {
		if len(w.Origins) > 0 {
			bad("webauthn.origins", "set, but passkeys are off: the issuer's host is an IP address; set webauthn.rp_id to a host name")
		}
		return errs
	}
	if net.ParseIP(w.RPID) != nil || strings.ContainsAny(w.RPID, ":/ ") {
		bad("webauthn.rp_id", "%q must be a host name (WebAuthn refuses IP addresses, ports and paths)", w.RPID)
		return errs
	}
	for i, o := range w.Origins {
		u, err := url.Parse(o)
		path := fmt.Sprintf("webauthn.origins[%d]", i)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
			bad(path, "%q is not an origin (scheme://host[:port])", o)
		case u.Scheme == "http" && u.Hostname() != "localhost" && !strings.HasSuffix(u.Hostname(), ".localhost"):
			bad(path, "%q: browsers allow passkeys over http only on localhost; use https", o)
		case u.Hostname() != w.RPID && !strings.HasSuffix(u.Hostname(), "."+w.RPID):
			bad(path, "%q is not on webauthn.rp_id %q or a subdomain of it", o, w.RPID)
		}
	}
	return errs
}
