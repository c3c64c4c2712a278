package conformance

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// rotationTimeout bounds how long the server may take to sign with a key
// rotated in by the CLI.
const rotationTimeout = 40 * time.Second

// TestOIDCCServerRotateKeys mirrors oidcc-server-rotate-keys: after
// `atrium keys rotate` on the running server's data folder, new id_tokens
// carry the new kid, and the JWKS keeps publishing the old key so tokens
// signed before still verify.
func TestOIDCCServerRotateKeys(t *testing.T) {
	t.Parallel()
	c, u := client(t, "rotate"), account(t, "rotate")
	b := newBrowser(t)
	before := b.signIn(c, u, request{})
	rawBefore, _ := before.token.Extra("id_token").(string)
	kidBefore := headerKID(t, rawBefore)

	var rotated map[string]any
	if err := srv.atrium(&rotated, "keys", "rotate"); err != nil {
		t.Fatal(err)
	}

	// Poll with fresh sign-ins (the SSO session makes them cheap) until the
	// server signs with another key.
	deadline := time.Now().Add(rotationTimeout)
	var rawAfter, kidAfter string
	for {
		l := b.signIn(c, u, request{})
		rawAfter, _ = l.token.Extra("id_token").(string)
		if kidAfter = headerKID(t, rawAfter); kidAfter != kidBefore {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("id_tokens still carry kid %q %v after `atrium keys rotate` (which printed %v)", kidBefore, rotationTimeout, rotated)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !slices.Contains(stringValues(rotated), kidAfter) {
		t.Errorf("the new kid %q is not in what `keys rotate` printed: %v", kidAfter, rotated)
	}

	doc := fetchJSON(t, srv.endpoint(t, "jwks_uri"))
	raw, _ := json.Marshal(doc)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	kids := map[string]int{}
	for _, k := range set.Keys {
		kids[k.KeyID]++
	}
	for kid, n := range kids {
		if n > 1 {
			t.Errorf("kid %q appears %d times in the JWKS", kid, n)
		}
	}
	for _, tok := range []struct{ name, raw, kid string }{
		{"before rotation", rawBefore, kidBefore},
		{"after rotation", rawAfter, kidAfter},
	} {
		keys := set.Key(tok.kid)
		if len(keys) != 1 {
			t.Errorf("the JWKS has %d keys with the kid %q of the id_token signed %s", len(keys), tok.kid, tok.name)
			continue
		}
		verifyWith(t, tok.raw, keys[0])
	}
	// A relying party's verifier, which caches keys, still accepts both.
	for _, raw := range []string{rawBefore, rawAfter} {
		if _, err := srv.verifier(c.ID).Verify(srv.ctx(t), raw); err != nil {
			t.Errorf("go-oidc no longer verifies an id_token: %v", err)
		}
	}

	var list []map[string]any
	if err := srv.atrium(&list, "keys", "list"); err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, k := range list {
		listed = append(listed, stringValues(k)...)
	}
	for _, kid := range []string{kidBefore, kidAfter} {
		if !slices.Contains(listed, kid) {
			t.Errorf("`keys list` does not list kid %q: %v", kid, list)
		}
	}
}

// stringValues returns the string values of a JSON object's members.
func stringValues(m map[string]any) []string {
	var out []string
	for _, v := range m {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
