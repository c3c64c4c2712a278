package authz

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/atrium-id/atrium/storage"
)

// SignupField is a profile field the sign-up page asks for, named by its
// OpenID claim: name, given_name, family_name, nickname or phone_number.
type SignupField struct {
	Claim    string
	Required bool
}

// signupClaim describes a claim the sign-up page can ask for.
type signupClaim struct {
	label        string // English; the page translates it
	autocomplete string // the input's autocomplete token
	inputType    string
	set          func(u *storage.User, v string)
	get          func(u *storage.User) string
}

var signupClaims = map[string]signupClaim{
	"name": {label: "Name", autocomplete: "name", inputType: "text",
		set: func(u *storage.User, v string) { u.Name = v }, get: func(u *storage.User) string { return u.Name }},
	"given_name": {label: "First name", autocomplete: "given-name", inputType: "text",
		set: func(u *storage.User, v string) { u.GivenName = v }, get: func(u *storage.User) string { return u.GivenName }},
	"family_name": {label: "Last name", autocomplete: "family-name", inputType: "text",
		set: func(u *storage.User, v string) { u.FamilyName = v }, get: func(u *storage.User) string { return u.FamilyName }},
	"nickname": {label: "Nickname", autocomplete: "nickname", inputType: "text",
		set: func(u *storage.User, v string) { u.Nickname = v }, get: func(u *storage.User) string { return u.Nickname }},
	"phone_number": {label: "Phone number", autocomplete: "tel", inputType: "tel",
		set: func(u *storage.User, v string) { u.PhoneNumber = v }, get: func(u *storage.User) string { return u.PhoneNumber }},
}

// SignupClaims are the claims SignupField may name.
func SignupClaims() []string {
	return []string{"name", "given_name", "family_name", "nickname", "phone_number"}
}

// defaultSignupFields is the sign-up form without configuration: an
// optional name.
var defaultSignupFields = []SignupField{{Claim: "name"}}

func validateSignupFields(fields []SignupField) error {
	seen := map[string]bool{}
	for _, f := range fields {
		if _, ok := signupClaims[f.Claim]; !ok {
			return fmt.Errorf("sign-up field %q is not one of %s", f.Claim, strings.Join(SignupClaims(), ", "))
		}
		if seen[f.Claim] {
			return fmt.Errorf("sign-up field %q is listed twice", f.Claim)
		}
		seen[f.Claim] = true
	}
	return nil
}

// fieldView is one profile input of the sign-up page.
type fieldView struct {
	Name, Label, Value, Autocomplete, Type string
	Required                               bool
}

func (p *Provider) signupFieldViews(u *storage.User) []fieldView {
	out := make([]fieldView, 0, len(p.cfg.SignupFields))
	for _, f := range p.cfg.SignupFields {
		c := signupClaims[f.Claim]
		out = append(out, fieldView{Name: f.Claim, Label: c.label, Value: c.get(u),
			Autocomplete: c.autocomplete, Type: c.inputType, Required: f.Required})
	}
	return out
}

var phoneRe = regexp.MustCompile(`^\+?[0-9][0-9 ().-]{3,30}$`)

// Messages of bad profile fields.
const (
	msgFieldMissing = "Fill in every required field."
	msgFieldTooLong = "One of the fields is too long."
	msgFieldInvalid = "One of the fields has characters it cannot hold."
	msgPhoneInvalid = "Enter a phone number in digits, with the country code."
)

// readSignupFields sets the configured profile fields of u from form
// values (get) and returns the page's message for the first bad one. The
// values are kept on u either way, to show the form again.
func (p *Provider) readSignupFields(u *storage.User, get func(string) string) string {
	problem := ""
	for _, f := range p.cfg.SignupFields {
		c := signupClaims[f.Claim]
		v := strings.TrimSpace(get(f.Claim))
		msg := ""
		switch {
		case !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl):
			msg, v = msgFieldInvalid, ""
		case utf8.RuneCountInString(v) > maxNameLength:
			msg, v = msgFieldTooLong, ""
		case v == "" && f.Required:
			msg = msgFieldMissing
		case v != "" && f.Claim == "phone_number" && !phoneRe.MatchString(v):
			msg = msgPhoneInvalid
		}
		c.set(u, v)
		if problem == "" {
			problem = msg
		}
	}
	return problem
}
