package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// The environment of the Chromium tests.
const (
	// envRequireChromium turns the skip for a missing chromium binary into
	// a failure (.ci/run sets it).
	envRequireChromium = "ATRIUM_TEST_REQUIRE_CHROMIUM"
	// envChromium names the browser binary; by default the first of
	// chromiumNames on PATH.
	envChromium = "ATRIUM_TEST_CHROMIUM"
	// envArtifacts is a folder (relative to this package's folder when not
	// absolute) that keeps the screenshots under screenshots/<test>; without
	// it they go to the test's temporary folder, removed at its end.
	envArtifacts = "ATRIUM_TEST_ARTIFACTS"
)

// chromiumNames are the binaries looked for on PATH, Debian's first.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// Time limits of the Chromium tests.
const (
	chromeStartTimeout = 20 * time.Second // to start the browser and open a tab
	chromeTestTimeout  = 40 * time.Second // for everything one test does in the browser
)

// chromiumPath returns the browser binary, or "" when there is none.
func chromiumPath() string {
	if p := os.Getenv(envChromium); p != "" {
		return p
	}
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// chrome is one headless Chromium, with its own profile, driven over the
// DevTools protocol for one test. It records the headers of every document
// it loads and numbers the screenshots it saves.
type chrome struct {
	t   testing.TB
	ctx context.Context // the tab's, ending at chromeTestTimeout

	shots string // the screenshot folder
	n     int    // screenshots taken

	mu   sync.Mutex
	docs []document
}

// document is one response to a navigation, a redirect included.
type document struct {
	URL    string
	Status int64
	Header http.Header
}

// newChrome starts a headless Chromium for t, or skips t (fails it when
// ATRIUM_TEST_REQUIRE_CHROMIUM=1) when there is no browser binary. The
// browser is stopped when t ends.
func newChrome(t testing.TB) *chrome {
	t.Helper()
	bin := chromiumPath()
	if bin == "" {
		need(t, envRequireChromium, "no Chromium found (looked for %s on PATH; %s names another binary; Debian: apt-get install chromium)",
			strings.Join(chromiumNames, ", "), envChromium)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // the suite may run as root, where the sandbox refuses to start
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})

	c := &chrome{t: t, shots: screenshotDir(t)}
	if err := chromedp.Listen(tabCtx, c.record); err != nil {
		t.Fatalf("chromium %s: %v", bin, err)
	}
	// Start the browser under a context without a deadline: a deadline on
	// the first run would end the browser with it.
	start := make(chan error, 1)
	go func() { start <- chromedp.Do(tabCtx) }()
	select {
	case err := <-start:
		if err != nil {
			t.Fatalf("start chromium %s: %v", bin, err)
		}
	case <-time.After(chromeStartTimeout):
		t.Fatalf("chromium %s did not start within %v", bin, chromeStartTimeout)
	}
	ctx, cancel := context.WithTimeout(tabCtx, chromeTestTimeout)
	t.Cleanup(cancel)
	c.ctx = ctx
	return c
}

// record keeps the response headers of every document the tab loads.
func (c *chrome) record(ev any) {
	var d document
	switch ev := ev.(type) {
	case *network.EventResponseReceived:
		if ev.Type != network.ResourceTypeDocument || ev.Response == nil {
			return
		}
		d = document{URL: ev.Response.URL, Status: ev.Response.Status, Header: httpHeader(ev.Response.Headers)}
	case *network.EventRequestWillBeSent:
		if ev.Type != network.ResourceTypeDocument || ev.RedirectResponse == nil {
			return
		}
		r := ev.RedirectResponse
		d = document{URL: r.URL, Status: r.Status, Header: httpHeader(r.Headers)}
	default:
		return
	}
	c.mu.Lock()
	c.docs = append(c.docs, d)
	c.mu.Unlock()
}

// documents returns the responses to the tab's navigations so far.
func (c *chrome) documents() []document {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]document(nil), c.docs...)
}

func httpHeader(h network.Headers) http.Header {
	out := http.Header{}
	for k, v := range h {
		// Chromium joins repeated headers with a newline.
		for _, line := range strings.Split(fmt.Sprint(v), "\n") {
			out.Add(k, line)
		}
	}
	return out
}

// do runs the browser actions, failing the test with what it was doing.
func (c *chrome) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, actions...); err != nil {
		c.fail(what, err)
	}
}

// fail ends the test with a screenshot of where the browser stood.
func (c *chrome) fail(what string, err error) {
	c.t.Helper()
	where := ""
	if loc, lerr := chromedp.Run(c.ctx, chromedp.Location()); lerr == nil {
		where = " at " + loc
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w (the browser test's %v are up)", err, chromeTestTimeout)
	}
	c.screenshot("failed")
	c.t.Fatalf("browser: %s%s: %v", what, where, err)
}

// value runs an action that returns a result.
func value[T any](c *chrome, what string, a chromedp.Action[T]) T {
	c.t.Helper()
	v, err := chromedp.Run(c.ctx, a)
	if err != nil {
		c.fail(what, err)
	}
	return v
}

// navigate loads a URL and waits for the selector to be visible.
func (c *chrome) navigate(u, visible string) {
	c.t.Helper()
	c.do("open "+u, chromedp.Navigate(u), chromedp.WaitVisible(visible))
}

// screenshot saves a PNG of the whole page as NN-name.png in the test's
// screenshot folder. A failure to take one is logged, not fatal.
func (c *chrome) screenshot(name string) {
	c.t.Helper()
	c.n++
	file := filepath.Join(c.shots, fmt.Sprintf("%02d-%s.png", c.n, name))
	png, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(file, png, 0o644)
	}
	if err != nil {
		c.t.Logf("screenshot %s: %v", file, err)
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// screenshotDir is the test's screenshot folder, logged at the test's end.
func screenshotDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "screenshots")
	if root := os.Getenv(envArtifacts); root != "" {
		abs, err := filepath.Abs(root)
		if err != nil {
			t.Fatalf("%s=%q: %v", envArtifacts, root, err)
		}
		dir = filepath.Join(abs, "screenshots", unsafeName.ReplaceAllString(t.Name(), "_"))
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv(envArtifacts) == "" {
			t.Logf("screenshots in %s (removed with the test; set %s to keep them)", dir, envArtifacts)
			return
		}
		t.Logf("screenshots in %s", dir)
	})
	return dir
}

// virtualAuthenticator enables the tab's WebAuthn domain and adds a
// virtual platform authenticator as a phone or laptop has: CTAP 2.1 over
// the internal transport, discoverable credentials (passkeys), and user
// presence and verification that succeed without a prompt. Credentials the
// pages create go to it; credentials reads them back.
func (c *chrome) virtualAuthenticator() webauthn.AuthenticatorID {
	c.t.Helper()
	if _, err := chromedp.Call(c.ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: new(false)}); err != nil {
		c.fail("WebAuthn.enable", err)
	}
	res, err := chromedp.Call(c.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		c.fail("WebAuthn.addVirtualAuthenticator", err)
	}
	return res.AuthenticatorID
}

// credentials returns the credentials a virtual authenticator holds.
func (c *chrome) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	c.t.Helper()
	res, err := chromedp.Call(c.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		c.fail("WebAuthn.getCredentials", err)
	}
	return res.Credentials
}

// onIssuer reports whether a URL is on the issuer's origin.
func onIssuer(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	iss, err := url.Parse(srv.issuer)
	return err == nil && sameOrigin(u, iss)
}
