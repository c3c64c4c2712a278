package main

import (
	"github.com/atrium-id/atrium/authz"
	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/storage"
)

// attributeDefs are the config's attributes as the provider and the
// account area take them.
func attributeDefs(attrs []config.Attribute) []storage.AttributeDef {
	var out []storage.AttributeDef
	for _, a := range attrs {
		out = append(out, storage.AttributeDef{Name: a.Name, Label: a.Label, Type: a.Type, Editable: a.Editable, MaxLength: a.MaxLength})
	}
	return out
}

// authzScopes are the config's scopes as the provider takes them.
func authzScopes(scopes []config.Scope) []authz.Scope {
	var out []authz.Scope
	for _, s := range scopes {
		out = append(out, authz.Scope{Name: s.Name, Description: s.Description, Claims: s.Claims})
	}
	return out
}
