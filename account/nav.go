package account

import (
	"net/http"
	"reflect"
	"strings"
)

// The navigation between the account pages: the template fragment
// "account-nav" (templates/nav.html), which every page includes, lists
// the pages this Handler serves. render adds the links to any page's
// data as the field Nav.

// navLink is a link of the navigation.
type navLink struct {
	Path, Title string
	Current     bool
}

// navField is the field of page data the navigation reads.
const navField = "Nav"

// nav returns the links of the pages this Handler serves, the one of r
// marked current.
func (h *Handler) nav(r *http.Request) []navLink {
	var out []navLink
	add := func(on bool, path, title string) {
		if on {
			out = append(out, navLink{Path: path, Title: title,
				Current: r.URL.Path == path || strings.HasPrefix(r.URL.Path, path+"/")})
		}
	}
	add(h.cfg.Users != nil, pathProfile, "Profile")
	add(h.cfg.Factors != nil, pathSecurity, "Two-step verification")
	add(h.cfg.Passkeys != nil, pathPasskeys, "Passkeys")
	add(true, pathIdentities, "Sign-in methods")
	add(h.appsOn(), pathApps, "Connected apps")
	add(h.cfg.Sessions != nil, pathSessions, "Sessions")
	add(h.cfg.Audit != nil, pathActivity, "Activity")
	add(h.cfg.Preferences != nil, pathPreferences, "Preferences")
	add(h.cfg.Data != nil, pathData, "Your data")
	return out
}

// withNav returns d, a page's data, with the navigation's links in its
// field Nav. Page data types have no such field: withNav makes a struct
// type of d's fields plus Nav and copies d into it. d is returned as it
// is when it is not a struct with exported, named fields only.
func withNav(d any, links []navLink) any {
	v := reflect.ValueOf(d)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return d
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return d
	}
	t := v.Type()
	fields := make([]reflect.StructField, 0, t.NumField()+1)
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Anonymous || f.Name == navField {
			return d
		}
		fields = append(fields, reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag})
	}
	fields = append(fields, reflect.StructField{Name: navField, Type: reflect.TypeFor[[]navLink]()})
	c := reflect.New(reflect.StructOf(fields)).Elem()
	for i := range t.NumField() {
		c.Field(i).Set(v.Field(i))
	}
	c.Field(t.NumField()).Set(reflect.ValueOf(links))
	return c.Interface()
}
