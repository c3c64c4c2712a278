package storage

// Types of an operator-defined user attribute: the JSON type of its value
// in User.Attributes and in the claims that release it.
const (
	AttributeString  = "string"
	AttributeBoolean = "boolean"
	AttributeNumber  = "number"
)

// AttributeDef is an operator-defined user attribute: a claim of the
// user's beyond the standard OpenID Connect ones, held in
// User.Attributes under Name. Its value is a string, a bool or a float64,
// as Type says.
type AttributeDef struct {
	// Name is the key in User.Attributes and the claim's name.
	Name string
	// Label names it on the profile page.
	Label string
	// Type is AttributeString, AttributeBoolean or AttributeNumber.
	Type string
	// Editable lets the user change it on the profile page.
	Editable bool
	// MaxLength is the most characters a string value holds.
	MaxLength int
}

// Value returns the user's value of a, and whether it holds one of a's
// type (a value of another type, stored before the operator changed the
// type, counts as none).
func (a AttributeDef) Value(u *User) (any, bool) {
	v, ok := u.Attributes[a.Name]
	if !ok || v == nil {
		return nil, false
	}
	switch a.Type {
	case AttributeString:
		s, ok := v.(string)
		return s, ok
	case AttributeBoolean:
		b, ok := v.(bool)
		return b, ok
	case AttributeNumber:
		switch n := v.(type) {
		case float64:
			return n, true
		case int:
			return float64(n), true
		case int64:
			return float64(n), true
		}
	}
	return nil, false
}
