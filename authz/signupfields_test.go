package authz

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSignupFields(t *testing.T) {
	e := newTestEnvWith(t, func(c *Config) {
		c.SignupFields = []SignupField{{Claim: "given_name", Required: true}, {Claim: "family_name", Required: true}, {Claim: "phone_number"}}
	})
	ctx := context.Background()
	b := e.browser()
	_, challenge := pkcePair()
	resp, err := b.Get(e.authorizeURL(codeParams("app", "openid profile", challenge)))
	if err != nil {
		t.Fatal(err)
	}
	login := readBody(t, resp)
	signupURL := e.srv.URL + pathSignup + "?interaction=" + url.QueryEscape(hiddenValue(login, "interaction"))
	resp, err = b.Get(signupURL)
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	for _, want := range []string{
		`name="given_name" value="" autocomplete="given-name" maxlength="200" required>`,
		`name="family_name" value="" autocomplete="family-name" maxlength="200" required>`,
		`type="tel" name="phone_number" value="" autocomplete="tel" maxlength="200">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-up page lacks %s", want)
		}
	}
	if strings.Contains(page, `name="name"`) {
		t.Error("sign-up page asks for a name it was not configured to")
	}

	base := url.Values{"email": {"grace@example.com"}, "password": {"a long passphrase"},
		"given_name": {"Grace"}, "family_name": {"Hopper"}, "phone_number": {"+1 202 555 0100"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vs := range base {
			f[key] = vs
		}
		f.Set(k, v)
		return f
	}
	for _, tc := range []struct {
		name   string
		fields url.Values
		want   string
	}{
		{"required field missing", with("family_name", "  "), msgFieldMissing},
		{"too long", with("given_name", strings.Repeat("g", maxNameLength+1)), msgFieldTooLong},
		{"control character", with("given_name", "Gr\x00ace"), msgFieldInvalid},
		{"bad phone", with("phone_number", "call me"), msgPhoneInvalid},
		{"invalid UTF-8", with("family_name", "Hop\xffper"), msgFieldInvalid},
	} {
		resp := submitForm(t, b, signupURL, page, "signup", tc.fields)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, template.HTMLEscapeString(tc.want)) {
			t.Errorf("%s: %d, want 400 with %q: %s", tc.name, resp.StatusCode, tc.want, body)
		}
		if tc.name == "bad phone" && !strings.Contains(body, `value="Grace"`) {
			t.Errorf("%s: the form lost what was typed", tc.name)
		}
	}
	if _, err := e.store.GetUserByEmail(ctx, "grace@example.com"); err == nil {
		t.Fatal("a refused sign-up created the account")
	}

	resp = submitForm(t, b, signupURL, page, "signup", base)
	resp.Body.Close()
	u, err := e.store.GetUserByEmail(ctx, "grace@example.com")
	if err != nil {
		t.Fatalf("sign-up (%d): %v", resp.StatusCode, err)
	}
	if u.GivenName != "Grace" || u.FamilyName != "Hopper" || u.PhoneNumber != "+1 202 555 0100" || u.Name != "" {
		t.Fatalf("stored user %+v", u)
	}
}

func TestSignupFieldsConfig(t *testing.T) {
	for _, fields := range [][]SignupField{
		{{Claim: "password"}},
		{{Claim: "email"}},
		{{Claim: "name"}, {Claim: "name", Required: true}},
	} {
		if err := validateSignupFields(fields); err == nil {
			t.Errorf("%v accepted", fields)
		}
	}
	if err := validateSignupFields([]SignupField{{Claim: "nickname"}, {Claim: "phone_number", Required: true}}); err != nil {
		t.Error(err)
	}
}
