package authz

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/account"
)

// newAttributesEnv is newClaimsEnv serving the account area, whose
// Profile page edits testAttributes.
func newAttributesEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newClaimsEnv(t)
	e.serveAccount(account.Config{Users: e.store, Attributes: testAttributes})
	return e
}

// A user's edit of their attributes shows in the next userinfo answer.
func TestProfileAttributesEdit(t *testing.T) {
	e := newAttributesEnv(t)
	verifier, challenge := pkcePair()
	tok := e.tokens(e.consentFlow(e.consentBrowser(), codeParams("app", "openid loyalty motto", challenge), allow), verifier)
	access := tok["access_token"].(string)

	b := e.browser()
	e.session(b, time.Now())
	_, page := e.get(b, "/account/profile")
	mustContain(t, "profile page", page,
		`Loyalty card:</span> L-1815`,
		`<input id="f-attr.newsletter" name="attr.newsletter" type="checkbox" value="true">`,
		`<input id="f-attr.shoe_size" name="attr.shoe_size" type="number" value="38.5" step="any">`,
		`<input id="f-attr.motto" name="attr.motto" type="text" value="Poetry" maxlength="10">`)
	if strings.Contains(page, `name="attr.loyalty_id"`) {
		t.Errorf("the read-only attribute is a form field: %s", page)
	}

	resp, body := postProfile(t, e, b, url.Values{"attr.newsletter": {"true"}, "attr.shoe_size": {" 41 "}, "attr.motto": {"Carpe diem"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %s", resp.StatusCode, body)
	}
	want := map[string]any{"loyalty_id": "L-1815", "newsletter": true, "shoe_size": 41.0, "motto": "Carpe diem", "retired": "gone"}
	if got := e.user(e.userID).Attributes; !reflect.DeepEqual(got, want) {
		t.Errorf("stored attributes = %v, want %v", got, want)
	}
	status, info := e.userinfoOf(access)
	if status != 200 || info["newsletter"] != true || info["shoe_size"] != 41.0 || info["motto"] != "Carpe diem" || info["loyalty_id"] != "L-1815" {
		t.Fatalf("userinfo after the edit: %d %v", status, info)
	}
	_, page = e.get(b, "/account/profile?saved=1")
	mustContain(t, "profile page after the save", page, `name="attr.newsletter" type="checkbox" value="true" checked>`, `value="41"`)

	// Unticked and emptied: the box is off, the number and text gone.
	resp, body = postProfile(t, e, b, url.Values{"attr.shoe_size": {""}, "attr.motto": {""}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %s", resp.StatusCode, body)
	}
	want = map[string]any{"loyalty_id": "L-1815", "newsletter": false, "retired": "gone"}
	if got := e.user(e.userID).Attributes; !reflect.DeepEqual(got, want) {
		t.Errorf("stored attributes after emptying = %v, want %v", got, want)
	}
	if _, info := e.userinfoOf(access); info["newsletter"] != false || info["shoe_size"] != nil || info["motto"] != nil {
		t.Errorf("userinfo after emptying: %v", info)
	}
}

// Bad attribute input: a clear message, nothing changed.
func TestProfileAttributesRefused(t *testing.T) {
	e := newAttributesEnv(t)
	b := e.browser()
	e.session(b, time.Now())
	for _, tc := range []struct {
		name   string
		fields url.Values
		want   string
	}{
		{"number that is no number", url.Values{"attr.shoe_size": {"large"}}, "Enter a number, such as 42 or 7.5."},
		{"number that is not finite", url.Values{"attr.shoe_size": {"NaN"}}, "Enter a number, such as 42 or 7.5."},
		{"boolean that is neither", url.Values{"attr.newsletter": {"maybe"}}, "Choose yes or no"},
		{"string too long", url.Values{"attr.motto": {strings.Repeat("é", 11)}}, "Use at most 10 characters."},
		{"string with a tab", url.Values{"attr.motto": {"Carpe\tdiem"}}, "such as tabs or line breaks"},
		{"a good field, a bad attribute", url.Values{"name": {"Someone Else"}, "attr.shoe_size": {"4 2"}}, "Enter a number"},
		{"read-only attribute", url.Values{"attr.loyalty_id": {"L-9999"}}, "a field that cannot be changed here"},
		{"unknown attribute", url.Values{"attr.is_admin": {"true"}}, "a field that cannot be changed here"},
		{"unknown attribute beside good ones", url.Values{"attr.motto": {"Fine"}, "attr.retired": {"back"}}, "a field that cannot be changed here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.user(e.userID)
			resp, body := postProfile(t, e, b, tc.fields)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			mustContain(t, "refused profile", body, "Nothing was saved", tc.want)
			if after := e.user(e.userID); !reflect.DeepEqual(after, before) {
				t.Errorf("a refused save changed the user:\n%+v\n%+v", before, after)
			}
		})
	}
}
