package authz

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/atrium-id/atrium/storage"
)

// testAttributes and testScopes are an operator's attributes and scopes.
var testAttributes = []storage.AttributeDef{
	{Name: "loyalty_id", Label: "Loyalty card", Type: storage.AttributeString, MaxLength: 20},
	{Name: "newsletter", Label: "Newsletter", Type: storage.AttributeBoolean, Editable: true},
	{Name: "shoe_size", Label: "Shoe size", Type: storage.AttributeNumber, Editable: true},
	{Name: "motto", Label: "Motto", Type: storage.AttributeString, Editable: true, MaxLength: 10},
}

var testScopes = []Scope{
	{Name: "loyalty", Description: "Your loyalty card and shoe size", Claims: []string{"loyalty_id", "newsletter", "shoe_size", "phone_number"}},
	{Name: "motto", Description: "Your motto", Claims: []string{"motto"}},
}

// newClaimsEnv is a provider with testScopes whose "app" client may ask
// for them, and a user holding attributes.
func newClaimsEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newTestEnvWith(t, func(c *Config) {
		c.Scopes, c.Attributes = testScopes, testAttributes
		c.ClientCacheTTL = -1
	})
	ctx := t.Context()
	cl, err := e.store.GetClient(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	cl.Scopes = append(cl.Scopes, "loyalty", "motto")
	if err := e.store.UpdateClient(ctx, cl); err != nil {
		t.Fatal(err)
	}
	u, err := e.store.GetUser(ctx, e.userID)
	if err != nil {
		t.Fatal(err)
	}
	u.PhoneNumber = "+44 20 7946 0958"
	u.Attributes = map[string]any{"loyalty_id": "L-1815", "newsletter": false, "shoe_size": 38.5, "motto": "Poetry", "retired": "gone"}
	if err := e.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return e
}

// The operator's scopes are in the discovery document, their claims too.
func TestCustomScopesDiscovery(t *testing.T) {
	e := newClaimsEnv(t)
	resp, err := http.Get(e.srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Scopes []string `json:"scopes_supported"`
		Claims []string `json:"claims_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"openid", "profile", "loyalty", "motto"} {
		if !slices.Contains(doc.Scopes, s) {
			t.Errorf("scopes_supported = %q, want %s in it", doc.Scopes, s)
		}
	}
	for _, c := range []string{"email", "loyalty_id", "newsletter", "shoe_size", "motto"} {
		if !slices.Contains(doc.Claims, c) {
			t.Errorf("claims_supported = %q, want %s in it", doc.Claims, c)
		}
	}
	for i, c := range doc.Claims {
		if slices.Index(doc.Claims, c) != i {
			t.Errorf("claims_supported lists %s twice: %q", c, doc.Claims)
		}
	}
}

// A custom scope requested and consented releases exactly its claims in
// the ID token and at userinfo; without it, none of them.
func TestCustomScopeReleasesItsClaims(t *testing.T) {
	e := newClaimsEnv(t)
	b := e.consentBrowser()
	verifier, challenge := pkcePair()
	custom := []string{"loyalty_id", "newsletter", "shoe_size", "phone_number", "motto", "retired"}

	tests := []struct {
		name   string
		scope  string
		ticked []string
		want   map[string]any // the custom claims released
	}{
		{"loyalty granted", "openid loyalty", []string{"loyalty"},
			map[string]any{"loyalty_id": "L-1815", "newsletter": false, "shoe_size": 38.5, "phone_number": "+44 20 7946 0958"}},
		{"both granted", "openid loyalty motto", []string{"loyalty", "motto"},
			map[string]any{"loyalty_id": "L-1815", "newsletter": false, "shoe_size": 38.5, "phone_number": "+44 20 7946 0958", "motto": "Poetry"}},
		{"loyalty left out", "openid loyalty motto", []string{"motto"}, map[string]any{"motto": "Poetry"}},
		{"not requested", "openid email", []string{"email"}, map[string]any{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := codeParams("app", tc.scope, challenge)
			v.Set("prompt", "consent")
			run := e.consentFlow(b, v, allowOnly(tc.ticked...))
			if strings.Contains(tc.scope, "loyalty") {
				mustContain(t, "consent page", run.page, `value="loyalty" checked> Your loyalty card and shoe size`,
					"Shares: loyalty_id, newsletter, shoe_size, phone_number")
			}
			tok := e.tokens(run, verifier)
			id := jwtClaims(t, tok["id_token"].(string))
			status, info := e.userinfo(tok["access_token"].(string))
			if status != 200 {
				t.Fatalf("userinfo: %d %v", status, info)
			}
			for what, claims := range map[string]map[string]any{"ID token": id, "userinfo": info} {
				got := map[string]any{}
				for _, c := range custom {
					if v, ok := claims[c]; ok {
						got[c] = v
					}
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%s releases %v, want exactly %v", what, got, tc.want)
				}
			}
		})
	}
}

// An attribute whose stored value is not of its configured type is not
// released; the others are.
func TestCustomClaimOfAnotherType(t *testing.T) {
	e := newClaimsEnv(t)
	u, err := e.store.GetUser(t.Context(), e.userID)
	if err != nil {
		t.Fatal(err)
	}
	u.Attributes["shoe_size"] = "large"
	if err := e.store.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	got := e.p.userClaims(u, []string{"openid", "loyalty"})
	if _, ok := got["shoe_size"]; ok || got["loyalty_id"] != "L-1815" || got["newsletter"] != false {
		t.Errorf("claims = %v, want loyalty_id and newsletter without the mistyped shoe_size", got)
	}
}

func TestNewRejectsBadScopes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scopes []Scope
		attrs  []storage.AttributeDef
		want   string
	}{
		{"built-in scope", []Scope{{Name: "email", Description: "x"}}, nil, `scope "email": defined twice or built in`},
		{"scope twice", []Scope{{Name: "a", Description: "x"}, {Name: "a", Description: "y"}}, nil, `scope "a": defined twice or built in`},
		{"unknown claim", []Scope{{Name: "a", Description: "x", Claims: []string{"nope"}}}, nil, `scope "a": unknown claim "nope"`},
		{"attribute named as a standard claim", nil, []storage.AttributeDef{{Name: "email", Type: storage.AttributeString}}, `attribute "email": a standard claim's name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newClaimSet(tc.scopes, tc.attrs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("newClaimSet = %v, want %q", err, tc.want)
			}
		})
	}
}
