package conformance

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// The discovery modules of the three logout plans, and the Front-Channel
// Logout plan (oidcc-frontchannel-rp-initiated-logout-certification-test-plan).

// logoutDiscovery checks what the logout plans' discovery modules check:
// end_session_endpoint present, each endpoint on the issuer's origin (so
// https when the issuer is, as CheckDiscEndpointAllEndpointsAreHttps asks
// in production; the suite's issuer is loopback http), and the flags
// given true.
func logoutDiscovery(t *testing.T, flags ...string) {
	t.Parallel()
	doc := fetchJSON(t, srv.issuer+"/.well-known/openid-configuration")
	issuer, _ := url.Parse(srv.issuer)
	if s, _ := doc["end_session_endpoint"].(string); s == "" {
		t.Error("end_session_endpoint missing")
	}
	for k, v := range doc {
		s, isString := v.(string)
		if !isString || !(strings.HasSuffix(k, "_endpoint") || k == "jwks_uri") {
			continue
		}
		if u, err := url.Parse(s); err != nil || !u.IsAbs() || !sameOrigin(u, issuer) {
			t.Errorf("%s = %q, not on the issuer's origin %s", k, s, srv.issuer)
		}
	}
	for _, k := range flags {
		if doc[k] != true {
			t.Errorf("%s = %v, want true", k, doc[k])
		}
	}
}

// TestOIDCCRPInitiatedLogoutDiscoveryEndpointVerification mirrors
// oidcc-rp-initiated-logout-discovery-endpoint-verification.
func TestOIDCCRPInitiatedLogoutDiscoveryEndpointVerification(t *testing.T) {
	logoutDiscovery(t)
}

// TestOIDCCBackchannelLogoutDiscoveryEndpointVerification mirrors
// oidcc-backchannel-logout-discovery-endpoint-verification.
func TestOIDCCBackchannelLogoutDiscoveryEndpointVerification(t *testing.T) {
	logoutDiscovery(t, "backchannel_logout_supported", "backchannel_logout_session_supported")
}

// TestOIDCCFrontchannelLogoutDiscoveryEndpointVerification mirrors
// oidcc-frontchannel-logout-discovery-endpoint-verification.
func TestOIDCCFrontchannelLogoutDiscoveryEndpointVerification(t *testing.T) {
	logoutDiscovery(t, "frontchannel_logout_supported", "frontchannel_logout_session_supported")
}

// TestOIDCCFrontchannelRPInitiatedLogout mirrors
// oidcc-frontchannel-rp-initiated-logout: a client registered with a
// frontchannel_logout_uri and frontchannel_logout_session_required signs
// in, then out at the end_session_endpoint. The signed-out page loads the
// frontchannel_logout_uri in an iframe with iss (the issuer) and sid (the
// id_token's), allowed by the page's Content-Security-Policy, and leads on
// to the post_logout_redirect_uri with state; prompt=none then fails.
func TestOIDCCFrontchannelRPInitiatedLogout(t *testing.T) {
	t.Parallel()
	fcl := "https://frontchannel.dynamic.rp.test/frontchannel_logout"
	b, c, l, postLogout := logoutSignIn(t, "frontchannel", map[string]any{
		"frontchannel_logout_uri": fcl, "frontchannel_logout_session_required": true,
	})
	sid, _ := l.claims["sid"].(string)
	if sid == "" {
		t.Fatalf("the id_token has no sid: %v", l.claims)
	}
	p := b.endSession(t, url.Values{"id_token_hint": {l.rawIDToken(t)}, "post_logout_redirect_uri": {postLogout}, "state": {"fc"}})
	if p.Redirect != nil || p.Status != http.StatusOK {
		t.Fatalf("want the signed-out page with the client's frame, got %s", p.describe())
	}
	frames, refresh, links := frontchannelPage(t, p)
	if len(frames) != 1 {
		t.Fatalf("the signed-out page has %d iframes, want 1 (%v)", len(frames), frames)
	}
	frame, err := url.Parse(frames[0])
	if err != nil {
		t.Fatal(err)
	}
	q := frame.Query()
	frame.RawQuery = ""
	if frame.String() != fcl {
		t.Errorf("iframe loads %s, want the frontchannel_logout_uri", frames[0])
	}
	for k := range q {
		if k != "iss" && k != "sid" {
			t.Errorf("iframe URI has unexpected parameter %s", k)
		}
	}
	if q.Get("iss") != srv.issuer || q.Get("sid") != sid {
		t.Errorf("iframe iss = %q, sid = %q; want %q and the id_token's sid %q", q.Get("iss"), q.Get("sid"), srv.issuer, sid)
	}
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-src https://frontchannel.dynamic.rp.test") {
		t.Errorf("Content-Security-Policy %q does not allow framing the frontchannel_logout_uri", csp)
	}
	want := postLogout + "?state=fc"
	if !strings.HasSuffix(refresh, "url="+want) || !strings.Contains(strings.Join(links, " "), want) {
		t.Errorf("the page leads on with refresh %q and links %v, want %s", refresh, links, want)
	}

	if b.stillSignedIn(t, c) {
		t.Error("prompt=none still gets a code after logout")
	}
}

// frontchannelPage returns the iframe sources, the meta refresh and the
// link targets of the signed-out page.
func frontchannelPage(t testing.TB, p *page) (frames []string, refresh string, links []string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.Body))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Iframe:
				frames = append(frames, attr(n, "src"))
			case atom.Meta:
				if strings.EqualFold(attr(n, "http-equiv"), "refresh") {
					refresh = attr(n, "content")
				}
			case atom.A:
				links = append(links, attr(n, "href"))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return frames, refresh, links
}
