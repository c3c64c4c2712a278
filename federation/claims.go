package federation

import (
	"bytes"
	"encoding/json"
	"maps"
	"strconv"
	"strings"
)

// claims is an upstream JSON object, numbers kept as json.Number so that
// large numeric IDs survive.
type claims map[string]any

func parseClaims(b []byte) (claims, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var c claims
	if err := d.Decode(&c); err != nil {
		return nil, err
	}
	if c == nil {
		c = claims{}
	}
	return c, nil
}

// fill copies the keys of o that c lacks (an ID token's claims win over
// userinfo's).
func (c claims) fill(o claims) {
	for k, v := range o {
		if _, ok := c[k]; !ok {
			c[k] = v
		}
	}
}

// lookup follows a dot-separated path; numeric segments index arrays.
func (c claims) lookup(path string) (any, bool) {
	var cur any = map[string]any(c)
	for seg := range strings.SplitSeq(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[seg]
			if !ok {
				return nil, false
			}
			cur = next
		case claims:
			next, ok := v[seg]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, cur != nil
}

// str reads a string or a number (IDs) at path.
func (c claims) str(path string) string {
	v, _ := c.lookup(path)
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// boolean reads a bool at path, accepting the strings "true" and "false"
// that Apple, Cognito and others send.
func (c claims) boolean(path string) bool {
	v, _ := c.lookup(path)
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

func (c claims) json() json.RawMessage {
	b, err := json.Marshal(map[string]any(c))
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

// standardMapping is the OpenID Connect standard claims mapping.
var standardMapping = map[string]string{
	"subject":        "sub",
	"email":          "email",
	"email_verified": "email_verified",
	"name":           "name",
	"given_name":     "given_name",
	"family_name":    "family_name",
	"nickname":       "nickname",
	"picture":        "picture",
	"locale":         "locale",
}

// mergeMapping returns base with the operator's overrides applied.
func mergeMapping(base, overrides map[string]string) map[string]string {
	m := maps.Clone(base)
	maps.Copy(m, overrides)
	return m
}

// identity maps upstream claims to an Identity. An unmapped field stays empty.
func (c claims) identity(provider string, mapping map[string]string) *Identity {
	get := func(field string) string {
		if p := mapping[field]; p != "" {
			return c.str(p)
		}
		return ""
	}
	id := &Identity{
		Provider:   provider,
		Subject:    get("subject"),
		Email:      get("email"),
		Name:       get("name"),
		GivenName:  get("given_name"),
		FamilyName: get("family_name"),
		Nickname:   get("nickname"),
		Picture:    get("picture"),
		Locale:     get("locale"),
	}
	if p := mapping["email_verified"]; p != "" {
		id.EmailVerified = c.boolean(p)
	}
	if id.Email == "" {
		id.EmailVerified = false
	}
	return id
}
