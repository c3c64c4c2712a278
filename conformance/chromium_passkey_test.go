package conformance

import (
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// Selectors of the passkey forms.
const (
	selPasskeyName   = `#passkey-name`
	selPasskeyNew    = `#passkey-new`
	selPasskeyCreate = `#passkey-create button[type="submit"]`
	selPasskeyList   = `#passkeys`
	selPasskeySignIn = `#passkey-signin button[type="submit"]`
	selPasskeyMFA    = `#passkey-mfa button[type="submit"]`
)

// TestChromiumPasskey registers a passkey in the account area and signs
// in to an app with it alone, in a real browser with a virtual platform
// authenticator (CTAP 2.1, internal transport, discoverable credentials,
// user verification): sign in with the password, add a passkey on
// /account/passkeys, forget the browser's cookies, then sign in to the app
// with "Sign in with a passkey". The ID token says so: amr hwk, user and
// mfa (the authenticator verified the person), acr 2.
func TestChromiumPasskey(t *testing.T) {
	t.Parallel()
	c := newChrome(t)
	client, u, _ := browserRP(t, "chromium-passkey")
	auth := c.virtualAuthenticator()

	c.addPasskey(u, "Test laptop")
	creds := c.credentials(auth)
	if len(creds) != 1 {
		t.Fatalf("the authenticator holds %d credentials, want 1", len(creds))
	}
	if cr := creds[0]; cr.RpID != "localhost" || !cr.IsResidentCredential || string(cr.UserHandle) != u.Sub {
		t.Errorf("credential rpId %q, resident %v, user handle %q; want localhost, true, %s", cr.RpID, cr.IsResidentCredential, cr.UserHandle, u.Sub)
	}

	c.signOut()

	// The app's sign-in: the passkey button, no email, no password.
	req := newPKCERequest(client)
	c.navigate(req.URL, selPasskeySignIn)
	c.screenshot("sign-in-with-passkey")
	c.do("sign in with the passkey", chromedp.Click(selPasskeySignIn))
	c.do("wait for the consent page", chromedp.WaitVisible(selAllow))
	c.screenshot("consent")
	c.do("allow", chromedp.Click(selAllow))
	c.do("wait for the app's callback", chromedp.WaitVisible(selCode))
	c.screenshot("app-callback")
	code := value(c, "read the code", chromedp.Text(selCode))

	sub, amr, acr := idTokenOf(t, client, req, code)
	if sub != u.Sub || !slices.Equal(amr, []string{"hwk", "mfa", "user"}) || acr != "2" {
		t.Errorf("sub %q amr %v acr %q; want %s, [hwk mfa user] (a passkey that verified its user) and 2", sub, amr, acr, u.Sub)
	}
	if creds := c.credentials(auth); len(creds) != 1 || creds[0].SignCount < 1 {
		t.Errorf("the authenticator's credential after the sign-in: %+v", creds)
	}

	// The account area shows the passkey as used.
	c.navigate(srv.issuer+"/account/passkeys", selPasskeyList)
	c.screenshot("passkeys-used")
	if list := value(c, "read the list", chromedp.Text(selPasskeyList)); !strings.Contains(list, "Last used") {
		t.Errorf("the list shows %q, want when the passkey was last used", list)
	}
	checkPageHeaders(t, c.documents(), 5)
}

// addPasskey signs in to the account area with u's password and adds a
// passkey named name.
func (c *chrome) addPasskey(u *user, name string) {
	c.t.Helper()
	// The account area asks for a sign-in first.
	c.navigate(srv.issuer+"/account/passkeys", selEmail)
	c.screenshot("account-sign-in")
	c.signInPage(u.Email, u.Password)
	c.do("wait for the passkeys page", chromedp.WaitVisible(selPasskeyName))
	c.screenshot("passkeys-none")

	// Name the passkey, then create it: the browser asks the authenticator.
	c.do("name the passkey", chromedp.SendKeys(selPasskeyName, name), chromedp.Click(selPasskeyNew))
	c.do("wait for the create button", chromedp.WaitVisible(selPasskeyCreate))
	c.screenshot("passkey-create")
	c.do("create the passkey", chromedp.Click(selPasskeyCreate))
	c.do("wait for the list", chromedp.WaitVisible(selPasskeyList))
	c.screenshot("passkeys-one")
	list := value(c, "read the list", chromedp.Text(selPasskeyList))
	if !strings.Contains(list, name) || !strings.Contains(list, "Not used yet") {
		c.t.Errorf("the list shows %q, want the new passkey, not used yet", list)
	}
}

// signOut makes the browser forget every cookie, the SSO session's too.
func (c *chrome) signOut() {
	c.t.Helper()
	if _, err := chromedp.Call(c.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		c.fail("Network.clearBrowserCookies", err)
	}
}

// idTokenOf exchanges the code of req and returns the verified ID token's
// subject, amr (sorted) and acr.
func idTokenOf(t *testing.T, client *rp, req *pkceRequest, code string) (sub string, amr []string, acr string) {
	t.Helper()
	ctx := srv.ctx(t)
	tok, err := req.cfg.Exchange(ctx, code, oauth2.VerifierOption(req.verifier))
	if err != nil {
		t.Fatalf("exchange the code: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := srv.verifier(client.ID).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify the id_token: %v", err)
	}
	var claims struct {
		ACR string   `json:"acr"`
		AMR []string `json:"amr"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	slices.Sort(claims.AMR)
	return idt.Subject, claims.AMR, claims.ACR
}

// TestChromiumPasskeySecondFactor signs in with the password of a user who
// has a passkey: the two-step page offers "Use a passkey", and the passkey
// completes the sign-in (amr pwd, hwk and mfa; acr 2).
func TestChromiumPasskeySecondFactor(t *testing.T) {
	t.Parallel()
	c := newChrome(t)
	client, u, _ := browserRP(t, "chromium-passkey-2fa")
	c.virtualAuthenticator()
	c.addPasskey(u, "Phone")
	c.signOut()

	req := newPKCERequest(client)
	c.navigate(req.URL, selEmail)
	c.signInPage(u.Email, u.Password)
	c.do("wait for the passkey on the two-step page", chromedp.WaitVisible(selPasskeyMFA))
	c.screenshot("two-step-passkey")
	c.do("use the passkey", chromedp.Click(selPasskeyMFA))
	c.do("wait for the consent page", chromedp.WaitVisible(selAllow))
	c.do("allow", chromedp.Click(selAllow))
	c.do("wait for the app's callback", chromedp.WaitVisible(selCode))
	c.screenshot("app-callback")
	sub, amr, acr := idTokenOf(t, client, req, value(c, "read the code", chromedp.Text(selCode)))
	if sub != u.Sub || !slices.Equal(amr, []string{"hwk", "mfa", "pwd"}) || acr != "2" {
		t.Errorf("sub %q amr %v acr %q; want %s, [hwk mfa pwd] and 2", sub, amr, acr, u.Sub)
	}
}
