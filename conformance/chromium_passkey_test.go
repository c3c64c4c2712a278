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

	// The account area asks for a sign-in first.
	c.navigate(srv.issuer+"/account/passkeys", selEmail)
	c.screenshot("account-sign-in")
	c.signInPage(u.Email, u.Password)
	c.do("wait for the passkeys page", chromedp.WaitVisible(selPasskeyName))
	c.screenshot("passkeys-none")

	// Name the passkey, then create it: the browser asks the authenticator.
	c.do("name the passkey", chromedp.SendKeys(selPasskeyName, "Test laptop"), chromedp.Click(selPasskeyNew))
	c.do("wait for the create button", chromedp.WaitVisible(selPasskeyCreate))
	c.screenshot("passkey-create")
	c.do("create the passkey", chromedp.Click(selPasskeyCreate))
	c.do("wait for the list", chromedp.WaitVisible(selPasskeyList))
	c.screenshot("passkeys-one")
	list := value(c, "read the list", chromedp.Text(selPasskeyList))
	if !strings.Contains(list, "Test laptop") || !strings.Contains(list, "Not used yet") {
		t.Errorf("the list shows %q, want the new passkey, not used yet", list)
	}
	creds := c.credentials(auth)
	if len(creds) != 1 {
		t.Fatalf("the authenticator holds %d credentials, want 1", len(creds))
	}
	if cr := creds[0]; cr.RpID != "localhost" || !cr.IsResidentCredential || string(cr.UserHandle) != u.Sub {
		t.Errorf("credential rpId %q, resident %v, user handle %q; want localhost, true, %s", cr.RpID, cr.IsResidentCredential, cr.UserHandle, u.Sub)
	}

	// Sign out: the browser forgets every cookie, the SSO session's too.
	if _, err := chromedp.Call(c.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		c.fail("Network.clearBrowserCookies", err)
	}

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
	if idt.Subject != u.Sub {
		t.Errorf("sub = %q, want %q", idt.Subject, u.Sub)
	}
	slices.Sort(claims.AMR)
	if !slices.Equal(claims.AMR, []string{"hwk", "mfa", "user"}) || claims.ACR != "2" {
		t.Errorf("amr %v acr %q; want [hwk mfa user] (a passkey that verified its user) and 2", claims.AMR, claims.ACR)
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
