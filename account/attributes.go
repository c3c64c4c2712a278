package account

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/atrium-id/atrium/storage"
)

// The operator-defined attributes (Config.Attributes) on the profile
// page: each shown, the editable ones as form fields named attrField(a).
// A boolean is a checkbox; a number must parse; a string holds at most
// its MaxLength characters and no control characters. An empty string or
// number removes the attribute.

// attrPrefix starts the form field of an attribute, so that an attribute
// never shares a name with another field of the form.
const attrPrefix = "attr."

// msgFieldNotEditable heads the form when it sent an attribute that is
// unknown or not editable: nothing is saved.
const msgFieldNotEditable = "Nothing was saved: the form sent a field that cannot be changed here. Reload the page and try again."

func attrField(a storage.AttributeDef) string { return attrPrefix + a.Name }

// attributeView is an attribute on the profile page.
type attributeView struct {
	Field, Label, Value string
	// Input is the input's type: text, number or checkbox.
	Input     string
	Checked   bool
	Editable  bool
	MaxLength int
	// Error is what is wrong with Value.
	Error string
}

// CheckAttributeValue checks v, a value of attribute a as JSON decodes
// it (a string, a bool or a float64; a number may also come as a
// string), and returns it as stored: nil to remove the attribute. The
// problem is a message for the person, "" when v is fine. The profile
// page, the account API and the CLI's users set-attribute apply it.
func CheckAttributeValue(a storage.AttributeDef, v any) (any, string) {
	if v == nil {
		return nil, ""
	}
	switch a.Type {
	case storage.AttributeBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, "Choose yes or no: tick the box or leave it empty."
		}
		return b, ""
	case storage.AttributeNumber:
		var n float64
		switch x := v.(type) {
		case float64:
			n = x
		case string:
			x = strings.TrimSpace(x)
			if x == "" {
				return nil, ""
			}
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return nil, "Enter a number, such as 42 or 7.5."
			}
			n = f
		default:
			return nil, "Enter a number, such as 42 or 7.5."
		}
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, "Enter a number, such as 42 or 7.5."
		}
		return n, ""
	default:
		s, ok := v.(string)
		switch {
		case !ok:
			return nil, "Enter text."
		case !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl):
			return nil, "Remove the characters this field cannot hold, such as tabs or line breaks."
		case utf8.RuneCountInString(s) > a.MaxLength:
			return nil, fmt.Sprintf("Use at most %d characters.", a.MaxLength)
		case s == "":
			return nil, ""
		}
		return s, ""
	}
}

// parseAttribute reads the form value of attribute a: for a boolean
// "true" ticks it and no value unticks it.
func parseAttribute(a storage.AttributeDef, form url.Values) (any, string) {
	raw, sent := form[attrField(a)]
	v := ""
	if sent && len(raw) > 0 {
		v = strings.TrimSpace(raw[len(raw)-1])
	}
	if a.Type == storage.AttributeBoolean {
		switch v {
		case "true":
			return true, ""
		case "":
			return false, ""
		}
		return nil, "Choose yes or no: tick the box or leave it empty."
	}
	return CheckAttributeValue(a, v)
}

// checkAttributes reads the editable attributes of the form and returns
// the user's attributes after them, the problems of each field, and
// whether the form sent an attribute that is unknown or not editable
// (refused as a whole). user is the account as stored.
func checkAttributes(defs []storage.AttributeDef, form url.Values, user *storage.User) (map[string]any, []fieldProblem, bool) {
	editable := map[string]bool{}
	for _, a := range defs {
		editable[attrField(a)] = a.Editable
	}
	for k := range form {
		if strings.HasPrefix(k, attrPrefix) && !editable[k] {
			return nil, nil, true
		}
	}
	next := maps.Clone(user.Attributes)
	if next == nil {
		next = map[string]any{}
	}
	var problems []fieldProblem
	for _, a := range defs {
		if !a.Editable {
			continue
		}
		v, problem := parseAttribute(a, form)
		switch {
		case problem != "":
			problems = append(problems, fieldProblem{Field: attrField(a), Error: problem})
		case v == nil, v == false && next[a.Name] == nil:
			// An unticked box the user never ticked stays unset.
			delete(next, a.Name)
		default:
			next[a.Name] = v
		}
	}
	return next, problems, false
}

// attributeViews are the attributes of the profile page: the user's
// values, or those of form when the page shows a refused save.
func attributeViews(defs []storage.AttributeDef, user *storage.User, form url.Values, problems []fieldProblem) []attributeView {
	var out []attributeView
	for _, a := range defs {
		av := attributeView{Field: attrField(a), Label: a.Label, Editable: a.Editable, MaxLength: a.MaxLength, Input: "text"}
		switch a.Type {
		case storage.AttributeBoolean:
			av.Input = "checkbox"
		case storage.AttributeNumber:
			av.Input = "number"
		}
		if v, ok := a.Value(user); ok {
			av.Value = formatAttribute(v)
			av.Checked = v == true
		}
		if form != nil && a.Editable {
			av.Value = strings.TrimSpace(form.Get(av.Field))
			av.Checked = av.Value == "true"
		}
		for _, p := range problems {
			if p.Field == av.Field {
				av.Error = p.Error
			}
		}
		out = append(out, av)
	}
	return out
}

// formatAttribute writes a value as the form shows it.
func formatAttribute(v any) string {
	switch x := v.(type) {
	case bool:
		if x {
			return "true"
		}
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return x
	}
	return ""
}

// setAttributes gives next the attributes attrs (checkAttributes) and
// returns the names of the editable ones that changed from user's.
func setAttributes(defs []storage.AttributeDef, user, next *storage.User, attrs map[string]any) []string {
	var changed []string
	for _, a := range defs {
		if a.Editable && !reflect.DeepEqual(user.Attributes[a.Name], attrs[a.Name]) {
			changed = append(changed, a.Name)
		}
	}
	next.Attributes = attrs
	return changed
}

// patchAttributes returns the user's attributes after patch, the
// "attributes" member of an account API merge patch: an object of
// editable attributes' values, null removing one. Else it returns the
// field that is wrong ("attributes" or "attributes.<name>") and why: an
// attribute that is unknown or not editable, or a value
// CheckAttributeValue refuses.
func patchAttributes(defs []storage.AttributeDef, user *storage.User, patch json.RawMessage) (next map[string]any, field, problem string) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(patch, &members); err != nil || members == nil {
		return nil, "attributes", "Use an object of the attributes to change, such as {\"newsletter\": true}."
	}
	next = maps.Clone(user.Attributes)
	if next == nil {
		next = map[string]any{}
	}
	for _, name := range slices.Sorted(maps.Keys(members)) {
		field := "attributes." + name
		i := slices.IndexFunc(defs, func(a storage.AttributeDef) bool { return a.Name == name })
		if i < 0 {
			return nil, field, "There is no such attribute."
		}
		a := defs[i]
		if !a.Editable {
			return nil, field, "This attribute cannot be changed here."
		}
		var v any
		if err := json.Unmarshal(members[name], &v); err != nil {
			return nil, field, "Use a string, true or false, a number, or null to remove the value."
		}
		v, problem := CheckAttributeValue(a, v)
		switch {
		case problem != "" && a.Type == storage.AttributeBoolean:
			return nil, field, "Use true or false, or null to remove the value."
		case problem != "":
			return nil, field, problem
		case v == nil:
			delete(next, name)
		default:
			next[name] = v
		}
	}
	return next, "", ""
}

// attributeValues are the user's values of the attributes defs, by
// name, as the account API shows them.
func attributeValues(defs []storage.AttributeDef, user *storage.User) map[string]any {
	out := map[string]any{}
	for _, a := range defs {
		if v, ok := a.Value(user); ok {
			out[a.Name] = v
		}
	}
	return out
}
