package authz

import (
	"net/http"
	"net/netip"
	"net/url"
	"testing"

	"github.com/atrium-id/atrium/storage"
)

func TestPublicAddress(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.215.14": true, "2606:4700::1111": true, "8.8.8.8": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fd00::1": false, "0.0.0.0": false, "::": false,
		"100.64.0.1": false, "224.0.0.1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false,
		"240.0.0.1": false, "198.18.0.1": false,
	} {
		if got := publicAddress(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddress(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestBackchannelLogoutPrivateNetwork: a client registered over HTTP
// whose back-channel logout URI is on this host gets nothing (the
// connection is refused before it is made); the same client gets its
// logout token when the operator allows the private network, and a
// client the operator registered always does.
func TestBackchannelLogoutPrivateNetwork(t *testing.T) {
	for _, allow := range []bool{false, true} {
		e := newLogoutEnv(t)
		e.p.cfg.Registration.AllowPrivateNetwork = allow
		dynamic := newLogoutRP(t, e.srv.URL+pathJWKS)
		operator := newLogoutRP(t, e.srv.URL+pathJWKS)
		e.addClient("dyn", func(c *storage.Client) {
			c.Registration, c.BackchannelLogoutURI = registrationDynamic, dynamic.srv.URL+"/bcl"
		})
		e.addClient("op", func(c *storage.Client) { c.BackchannelLogoutURI = operator.srv.URL + "/bcl" })
		b := e.browser()
		g := e.idGrantIn(b, "dyn")
		e.idGrantIn(b, "op")
		resp, err := noRedirects(b).Get(e.logoutURL(url.Values{"id_token_hint": {g.idToken}}))
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		e.p.logouts.wait()
		if _, tokens, _ := operator.received(); len(tokens) != 1 {
			t.Errorf("allow_private_network=%v: the operator's client got %d logout tokens, want 1", allow, len(tokens))
		}
		want := 0
		if allow {
			want = 1
		}
		if calls, _, _ := dynamic.received(); calls != want {
			t.Errorf("allow_private_network=%v: the registered client's loopback URI got %d calls, want %d", allow, calls, want)
		}
	}
}
