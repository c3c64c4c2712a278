package main

import (
	"slices"
	"strings"
	"testing"
)

// The config's attributes and scopes reach the provider: discovery lists
// them; a bad one stops serve naming its key.
func TestServeCustomScopes(t *testing.T) {
	env := map[string]string{
		"ATRIUM_ATTRIBUTES": `[{name: loyalty_id, label: Loyalty card}, {name: newsletter, label: Newsletter, type: boolean, editable: true}]`,
		"ATRIUM_SCOPES":     `[{name: loyalty, description: Your loyalty card, claims: [loyalty_id, newsletter, email]}]`,
	}
	s := startServer(t, env, "--dev", "--data", t.TempDir())
	disc := getJSON(t, s.base+"/.well-known/openid-configuration")
	has := func(key, want string) bool {
		list, _ := disc[key].([]any)
		return slices.Contains(list, any(want))
	}
	for _, c := range []struct{ key, want string }{
		{"scopes_supported", "loyalty"}, {"scopes_supported", "profile"},
		{"claims_supported", "loyalty_id"}, {"claims_supported", "newsletter"},
	} {
		if !has(c.key, c.want) {
			t.Errorf("discovery %s = %v, want %s in it", c.key, disc[c.key], c.want)
		}
	}

	env["ATRIUM_SCOPES"] = `[{name: email, description: Mail}]`
	_, err := atrium(t, env, "serve", "--dev", "--data", t.TempDir(), "--addr", freePort(t))
	if err == nil || !strings.Contains(err.Error(), `scopes[0].name (from ATRIUM_SCOPES): "email" is a built-in scope`) {
		t.Fatalf("a built-in scope's name: %v, want it refused naming the key", err)
	}
}
