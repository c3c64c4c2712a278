package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Helpers of the browser tests that walk through several of Atrium's
// pages: sign-up, mailed links, second factors, the account area.

// extend gives the rest of the browser test d, in place of what is left
// of chromeTestTimeout, for tests that wait for mails or a new TOTP step.
func (c *chrome) extend(d time.Duration) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), d)
	c.t.Cleanup(cancel)
	c.ctx = ctx
}

// fill replaces the value of an input by typing into it.
func (c *chrome) fill(sel, v string) {
	c.t.Helper()
	c.do("find "+sel, chromedp.WaitVisible(sel))
	// chromedp.Clear empties the value attribute, not what was typed.
	q, err := json.Marshal(sel)
	if err != nil {
		c.t.Fatal(err)
	}
	value(c, "empty "+sel, chromedp.Evaluate[bool](`(e => { e.value = ""; return true; })(document.querySelector(`+string(q)+`))`))
	c.do("type into "+sel, chromedp.SendKeys(sel, v))
}

// submit clicks a button (or link) that loads a page and waits for the
// page, returning the response to its document.
func (c *chrome) submit(what, sel string) *network.Response {
	c.t.Helper()
	resp, err := chromedp.RunResponse(c.ctx, chromedp.WaitVisible(sel), chromedp.Click(sel))
	if err != nil {
		c.fail(what, err)
	}
	return resp
}

// open loads a URL and returns the response to its document.
func (c *chrome) open(u string) *network.Response {
	c.t.Helper()
	resp, err := chromedp.RunResponse(c.ctx, chromedp.Navigate(u))
	if err != nil {
		c.fail("open "+u, err)
	}
	return resp
}

// which returns the first of the selectors that matches an element of the
// loaded page, or "" when none does.
func (c *chrome) which(sels ...string) string {
	c.t.Helper()
	list, err := json.Marshal(sels)
	if err != nil {
		c.t.Fatal(err)
	}
	return value(c, "look for "+strings.Join(sels, ", "), chromedp.Evaluate[string](
		`(() => { for (const s of `+string(list)+`) { if (document.querySelector(s)) return s; } return ""; })()`))
}

// text returns the text of the first element the selector matches, or ""
// when there is none.
func (c *chrome) text(sel string) string {
	c.t.Helper()
	s, err := json.Marshal(sel)
	if err != nil {
		c.t.Fatal(err)
	}
	return value(c, "read "+sel, chromedp.Evaluate[string](
		`(() => { const e = document.querySelector(`+string(s)+`); return e ? e.innerText.trim() : ""; })()`))
}

// pageText is the visible text of the page's body.
func (c *chrome) pageText() string {
	c.t.Helper()
	return value(c, "read the page", chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
}

// brokenImages returns the src of each image of the page that did not
// load.
func (c *chrome) brokenImages() []string {
	c.t.Helper()
	return value(c, "look for broken images", chromedp.Evaluate[[]string](
		`Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute("src") || "")`))
}

// location is the URL of the page.
func (c *chrome) location() string {
	c.t.Helper()
	return value(c, "read the location", chromedp.Location())
}

// toApp answers the consent page, when one is shown, and returns the code
// the browser brought to the app's callback.
func (c *chrome) toApp(app *rpApp) string {
	c.t.Helper()
	switch c.which(selAllow, selCode) {
	case selAllow:
		c.screenshot("consent")
		c.submit("allow", selAllow)
	case selCode:
	default:
		c.fail("expected the consent page or the app's callback", errors.New(tail(c.pageText(), 300)))
	}
	if loc := c.location(); !strings.HasPrefix(loc, app.Callback+"?") {
		c.fail("expected the app's callback", errors.New(tail(c.pageText(), 300)))
	}
	c.screenshot("app-callback")
	return value(c, "read the code", chromedp.Text(selCode))
}

// idClaims are the claims of an ID token the tests look at.
type idClaims struct {
	Subject       string   `json:"sub"`
	Email         string   `json:"email"`
	EmailVerified *bool    `json:"email_verified"`
	Name          string   `json:"name"`
	Nonce         string   `json:"nonce"`
	ACR           string   `json:"acr"`
	AMR           []string `json:"amr"`
}

// redeem exchanges the code of req for tokens and returns the verified
// ID token's claims and the token.
func redeem(t testing.TB, client *rp, req *pkceRequest, code string) (*idClaims, *oauth2.Token) {
	t.Helper()
	ctx := srv.ctx(t)
	tok, err := req.cfg.Exchange(ctx, code, oauth2.VerifierOption(req.verifier))
	if err != nil {
		t.Fatalf("exchange the code: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("the token response has no id_token")
	}
	idt, err := srv.verifier(client.ID).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify the id_token: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Nonce != req.nonce {
		t.Errorf("nonce = %q, want %q", c.Nonce, req.nonce)
	}
	return &c, tok
}

// userinfoOf fetches the userinfo of an access token.
func userinfoOf(t testing.TB, tok *oauth2.Token) *oidc.UserInfo {
	t.Helper()
	ui, err := srv.provider.UserInfo(srv.ctx(t), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	return ui
}

// newAppClient registers a client for a new app, without a user.
func newAppClient(t testing.TB, name string) (*rp, *rpApp) {
	t.Helper()
	app := newRPApp(t)
	c, err := srv.createClient(t.TempDir(), name+"-"+randomString(3), clientSpec{
		redirectURIs: []string{app.Callback},
		scopes:       []string{"openid", "profile", "email"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, app
}

// newAddress is an email address no account has yet.
func newAddress(prefix string) string {
	return prefix + "-" + randomString(4) + "@conformance.test"
}
