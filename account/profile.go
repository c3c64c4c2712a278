package account

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// The "Profile" page: the user's standard OpenID Connect claims, as the
// userinfo endpoint releases them. A save is all or nothing: one bad
// field and nothing is stored. A new email address needs a recent sign-in
// (RecentSignIn), must be no other account's, and is unconfirmed until
// the person opens the link mailed to it; the old address is told of the
// change (EmailChangeNotifier).
//
//	GET  /account/profile   the form
//	POST /account/profile   check every field, then store them

const pathProfile = "/account/profile"

// maxProfileField is the most characters a profile field holds.
const maxProfileField = 200

// msgNothingSaved heads the form when a field is wrong.
const msgNothingSaved = "Nothing was saved. Correct the marked fields and try again."

// savedParam is the query parameter a save returns with: "1", or
// "email" when the address changed, "email-limited" when its link could
// not be sent yet.
const savedParam = "saved"

// profileField is a field of the form: its name (the claim's, the
// address's parts named as in the address claim), label, input type and
// autocomplete token, and how it reads and writes a user.
type profileField struct {
	name, label, typ, autocomplete string
	get                            func(*storage.User) string
	set                            func(*storage.User, string)
}

var profileFields = []profileField{
	{name: "name", label: "Full name", typ: "text", autocomplete: "name",
		get: func(u *storage.User) string { return u.Name }, set: func(u *storage.User, v string) { u.Name = v }},
	{name: "given_name", label: "Given name", typ: "text", autocomplete: "given-name",
		get: func(u *storage.User) string { return u.GivenName }, set: func(u *storage.User, v string) { u.GivenName = v }},
	{name: "family_name", label: "Family name", typ: "text", autocomplete: "family-name",
		get: func(u *storage.User) string { return u.FamilyName }, set: func(u *storage.User, v string) { u.FamilyName = v }},
	{name: "nickname", label: "Nickname", typ: "text", autocomplete: "nickname",
		get: func(u *storage.User) string { return u.Nickname }, set: func(u *storage.User, v string) { u.Nickname = v }},
	{name: "email", label: "Email address", typ: "email", autocomplete: "email",
		get: func(u *storage.User) string { return u.Email }, set: func(u *storage.User, v string) { u.Email = v }},
	{name: "phone_number", label: "Phone number", typ: "tel", autocomplete: "tel",
		get: func(u *storage.User) string { return u.PhoneNumber }, set: func(u *storage.User, v string) { u.PhoneNumber = v }},
	{name: "picture", label: "Picture (a link starting with https://)", typ: "url", autocomplete: "photo",
		get: func(u *storage.User) string { return u.Picture }, set: func(u *storage.User, v string) { u.Picture = v }},
	{name: "locale", label: "Language (such as en-US or de-DE)", typ: "text", autocomplete: "language",
		get: func(u *storage.User) string { return u.Locale }, set: func(u *storage.User, v string) { u.Locale = v }},
	{name: "zoneinfo", label: "Time zone (such as Europe/Berlin)", typ: "text", autocomplete: "off",
		get: func(u *storage.User) string { return u.Zoneinfo }, set: func(u *storage.User, v string) { u.Zoneinfo = v }},
	{name: "street_address", label: "Street address", typ: "text", autocomplete: "street-address",
		get: func(u *storage.User) string { return u.Address.StreetAddress }, set: func(u *storage.User, v string) { u.Address.StreetAddress = v }},
	{name: "postal_code", label: "Postal code", typ: "text", autocomplete: "postal-code",
		get: func(u *storage.User) string { return u.Address.PostalCode }, set: func(u *storage.User, v string) { u.Address.PostalCode = v }},
	{name: "locality", label: "City", typ: "text", autocomplete: "address-level2",
		get: func(u *storage.User) string { return u.Address.Locality }, set: func(u *storage.User, v string) { u.Address.Locality = v }},
	{name: "region", label: "Region or state", typ: "text", autocomplete: "address-level1",
		get: func(u *storage.User) string { return u.Address.Region }, set: func(u *storage.User, v string) { u.Address.Region = v }},
	{name: "country", label: "Country", typ: "text", autocomplete: "country-name",
		get: func(u *storage.User) string { return u.Address.Country }, set: func(u *storage.User, v string) { u.Address.Country = v }},
}

// profileData is the profile page's.
type profileData struct {
	Title  string
	User   *storage.User
	CSRF   string
	Fields []fieldView
	// Attributes are the operator-defined ones (attributes.go).
	Attributes []attributeView
	// EmailVerified is the stored address's state.
	EmailVerified bool
	Notice        string
	Error         string
	L             page.Lang
}

type fieldView struct {
	Name, Label, Type, Autocomplete, Value string
	// Error is what is wrong with Value.
	Error string
}

// fieldProblem is what is wrong with one field.
type fieldProblem struct {
	Field, Error string
}

func (h *Handler) profileRoutes(m *http.ServeMux) {
	if h.cfg.Users == nil {
		return
	}
	m.HandleFunc("GET "+pathProfile, h.profile)
	m.HandleFunc("POST "+pathProfile, h.profileSave)
}

func (h *Handler) profile(w http.ResponseWriter, r *http.Request) {
	sess, user := h.signedIn(w, r, pathProfile)
	if sess == nil {
		return
	}
	notice := ""
	switch r.URL.Query().Get(savedParam) {
	case "1":
		notice = "Your profile is saved."
	case "email":
		notice = "Your profile is saved. We sent a link to your new email address: open it to confirm the address."
	case "email-limited":
		notice = "Your profile is saved. We have sent several links to your new address already: ask for a new one in an hour on the Two-step verification page."
	}
	h.renderProfile(w, r, http.StatusOK, sess, user, nil, nil, notice, "")
}

// renderProfile shows the form with values (the user's when nil) and
// problems.
func (h *Handler) renderProfile(w http.ResponseWriter, r *http.Request, status int, sess *storage.Session, user *storage.User,
	values url.Values, problems []fieldProblem, notice, problem string) {
	d := profileData{Title: "Profile", User: user, CSRF: h.csrfToken(sess.ID), EmailVerified: user.EmailVerified,
		Notice: notice, Error: problem}
	for _, f := range profileFields {
		v := f.get(user)
		if values != nil {
			v = values.Get(f.name)
		}
		fv := fieldView{Name: f.name, Label: f.label, Type: f.typ, Autocomplete: f.autocomplete, Value: v}
		for _, p := range problems {
			if p.Field == f.name {
				fv.Error = p.Error
			}
		}
		d.Fields = append(d.Fields, fv)
	}
	d.Attributes = attributeViews(h.cfg.Attributes, user, values, problems)
	h.render(w, r, status, "profile", d)
}

func (h *Handler) profileSave(w http.ResponseWriter, r *http.Request) {
	sess, user := h.postSession(w, r)
	if sess == nil {
		return
	}
	values := url.Values{}
	for _, f := range profileFields {
		values.Set(f.name, strings.TrimSpace(r.PostFormValue(f.name)))
	}
	problems := checkProfile(values, user)
	attrs, attrProblems, foreign := checkAttributes(h.cfg.Attributes, r.PostForm, user)
	if foreign {
		h.log.InfoContext(r.Context(), "profile refused", "reason", "an attribute that is unknown or not editable", "user_id", user.ID, "request_id", requestID(w, r))
		h.renderProfile(w, r, http.StatusBadRequest, sess, user, nil, nil, "", msgFieldNotEditable)
		return
	}
	problems = append(problems, attrProblems...)
	for _, a := range h.cfg.Attributes {
		values.Set(attrField(a), strings.TrimSpace(r.PostForm.Get(attrField(a))))
	}
	if len(problems) > 0 {
		problem := msgNothingSaved
		h.renderProfile(w, r, http.StatusBadRequest, sess, user, values, problems, "", problem)
		return
	}
	next, changed := nextProfile(user, values)
	changed = append(changed, setAttributes(h.cfg.Attributes, user, next, attrs)...)
	if len(changed) == 0 {
		notice := "Nothing changed: your profile is as it was."
		h.renderProfile(w, r, http.StatusOK, sess, user, nil, nil, notice, "")
		return
	}
	emailChanged := !strings.EqualFold(next.Email, user.Email)
	// A stolen session alone must not move the account to an attacker's
	// address (from which a password reset takes it).
	if emailChanged && !h.recentlySignedIn(w, r, sess, pathProfile) {
		return
	}
	limited, err := h.storeProfile(r, user, next, changed)
	if errors.Is(err, errEmailTaken) {
		h.emailTaken(w, r, sess, user, values)
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	saved := "1"
	switch {
	case emailChanged && limited:
		saved = "email-limited"
	case emailChanged:
		saved = "email"
	}
	http.Redirect(w, r, pathProfile+"?"+savedParam+"="+saved, http.StatusSeeOther)
}

// nextProfile returns user with the checked values (checkProfile) as
// stored: the language tag canonical, the address lower case, what a
// changed field vouched for (verified flags, the formatted address)
// reset. It also returns the names of the fields that changed.
func nextProfile(user *storage.User, values url.Values) (*storage.User, []string) {
	next := *user
	var changed []string
	for _, f := range profileFields {
		v := values.Get(f.name)
		switch {
		case f.name == "locale" && v != "":
			v = language.Make(v).String()
		case f.name == "email":
			v = strings.ToLower(v) // as stored
		}
		if f.get(user) != v {
			f.set(&next, v)
			changed = append(changed, f.name)
		}
	}
	if !strings.EqualFold(next.Email, user.Email) {
		next.EmailVerified = false
	}
	if next.PhoneNumber != user.PhoneNumber {
		next.PhoneNumberVerified = false
	}
	if next.Address.StreetAddress != user.Address.StreetAddress || next.Address.PostalCode != user.Address.PostalCode ||
		next.Address.Locality != user.Address.Locality || next.Address.Region != user.Address.Region ||
		next.Address.Country != user.Address.Country {
		// The formatted address, which this form does not edit, would
		// still say the old one.
		next.Address.Formatted = ""
	}
	return &next, changed
}

// errEmailTaken: the new email address is another account's.
var errEmailTaken = errors.New("email address of another account")

// storeProfile stores next, user's profile with the fields changed
// edited (nextProfile), records the audit events, and mails a link to a
// new email address; limited reports that the address has had its hour's
// links. A new address that is another account's is errEmailTaken. The
// caller has checked that an email change comes with a recent sign-in.
func (h *Handler) storeProfile(r *http.Request, user, next *storage.User, changed []string) (limited bool, err error) {
	ctx := r.Context()
	emailChanged := !strings.EqualFold(next.Email, user.Email)
	if emailChanged {
		other, err := h.cfg.Users.GetUserByEmail(ctx, next.Email)
		switch {
		case err == nil && other.ID != user.ID:
			return false, errEmailTaken
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return false, err
		}
	}
	next.UpdatedAt = time.Now().UTC()
	err = h.cfg.Users.UpdateUser(ctx, next)
	if errors.Is(err, storage.ErrAlreadyExists) {
		return false, errEmailTaken
	}
	if err != nil {
		return false, err
	}
	h.audit(r, storage.AuditProfileUpdated, user.ID, map[string]string{"fields": strings.Join(changed, " ")})
	if !emailChanged {
		return false, nil
	}
	h.audit(r, storage.AuditEmailChanged, user.ID, nil)
	r = inPageLang(r)
	if n, ok := h.cfg.Auth.(EmailChangeNotifier); ok && user.Email != "" {
		// The change takes effect now: the old address hears of it now.
		n.NotifyEmailChanged(r, next, user.Email)
	}
	if v, ok := h.cfg.Auth.(Verifier); ok && next.Email != "" {
		return v.ResendVerification(r, next)
	}
	return false, nil
}

// EmailChangeNotifier tells an old email address of its account's new
// one; an Authenticator that is one (as *authz.Provider is) mails the
// old address when the Profile page changes it, in the language of r, so
// that a person whose account was taken over learns of it.
type EmailChangeNotifier interface {
	// NotifyEmailChanged mails oldEmail that u's address is now u.Email.
	NotifyEmailChanged(r *http.Request, u *storage.User, oldEmail string)
}

// emailTaken answers a new address that is another account's, as
// sign-up does: no more said than that it cannot be used.
func (h *Handler) emailTaken(w http.ResponseWriter, r *http.Request, sess *storage.Session, user *storage.User, values url.Values) {
	h.log.InfoContext(r.Context(), "profile refused", "reason", "email address of another account", "user_id", user.ID, "request_id", requestID(w, r))
	h.renderProfile(w, r, http.StatusConflict, sess, user, values, []fieldProblem{{Field: "email",
		Error: "This email address cannot be used. If it is yours, you may already have an account with it: sign in with it instead."}},
		"", msgNothingSaved)
}

var phoneRe = regexp.MustCompile(`^\+?[0-9][0-9 ().-]*$`)

// checkProfile returns what is wrong with the form's values, each field's
// first problem. user is the account as stored.
func checkProfile(values url.Values, user *storage.User) []fieldProblem {
	var out []fieldProblem
	for _, f := range profileFields {
		if p := checkField(f.name, values.Get(f.name), user); p != nil {
			out = append(out, *p)
		}
	}
	return out
}

func checkField(name, v string, user *storage.User) *fieldProblem {
	switch {
	case !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl):
		return &fieldProblem{Field: name, Error: "Remove the characters this field cannot hold, such as tabs or line breaks."}
	case utf8.RuneCountInString(v) > maxProfileField:
		return &fieldProblem{Field: name, Error: "Use at most 200 characters."}
	case v == "" && name == "email" && user.Email != "":
		return &fieldProblem{Field: name, Error: "Enter your email address: you sign in with it."}
	case v == "":
		return nil
	}
	switch name {
	case "email":
		if !plausibleEmail(v) {
			return &fieldProblem{Field: name, Error: "Enter a valid email address, such as name@example.com."}
		}
	case "phone_number":
		digits := 0
		for _, c := range v {
			if '0' <= c && c <= '9' {
				digits++
			}
		}
		if !phoneRe.MatchString(v) || digits < 5 || digits > 15 {
			return &fieldProblem{Field: name, Error: "Enter a phone number in digits, with the country code, such as +49 30 1234567."}
		}
	case "locale":
		if _, err := language.Parse(v); err != nil {
			return &fieldProblem{Field: name, Error: "Enter a language tag such as en, en-US or de-DE."}
		}
	case "zoneinfo":
		if _, err := time.LoadLocation(v); err != nil || v == "Local" {
			return &fieldProblem{Field: name, Error: "Enter a time zone name such as Europe/Berlin or America/New_York."}
		}
	case "picture":
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || strings.ContainsAny(v, " \"'<>\\") {
			return &fieldProblem{Field: name, Error: "Enter a link to a picture that starts with https://."}
		}
	}
	return nil
}

// plausibleEmail reports whether s looks like an email address: one
// part either side of the last @, no spaces or separators.
func plausibleEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && len(s) <= 254 && !strings.ContainsAny(s, " \t\r\n<>,;\"()[]\\") &&
		strings.Count(s, "@") == 1 && !strings.HasPrefix(s[at+1:], ".") && !strings.HasSuffix(s, ".")
}
