package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// loadYAML loads doc as a config file, as every command does.
func loadYAML(t *testing.T, doc string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "atrium.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return load(t, path, noEnv)
}

func TestAttributesAndScopes(t *testing.T) {
	c, err := loadYAML(t, `
attributes:
  - {name: loyalty_id, label: Loyalty card}
  - {name: newsletter, label: Newsletter, type: boolean, editable: true}
  - {name: shoe_size, label: Shoe size, type: number, editable: true}
  - {name: nickname2, label: Short name, editable: true, max_length: 20}
scopes:
  - {name: loyalty, description: Your loyalty card number, claims: [loyalty_id, email]}
  - {name: "https://api.example.com/orders", description: Your orders}
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Attribute{
		{Name: "loyalty_id", Label: "Loyalty card", Type: "string", MaxLength: DefaultAttributeMaxLength},
		{Name: "newsletter", Label: "Newsletter", Type: "boolean", Editable: true},
		{Name: "shoe_size", Label: "Shoe size", Type: "number", Editable: true},
		{Name: "nickname2", Label: "Short name", Type: "string", Editable: true, MaxLength: 20},
	}
	if !reflect.DeepEqual(c.Attributes, want) {
		t.Errorf("attributes = %+v, want %+v", c.Attributes, want)
	}
	if len(c.Scopes) != 2 || !reflect.DeepEqual(c.Scopes[0].Claims, []string{"loyalty_id", "email"}) || c.Scopes[1].Name != "https://api.example.com/orders" {
		t.Errorf("scopes = %+v", c.Scopes)
	}

	env := envOf(map[string]string{
		"ATRIUM_ATTRIBUTES": `[{"name": "tier", "label": "Tier", "type": "number"}]`,
		"ATRIUM_SCOPES":     `[{"name": "tier", "description": "Your membership tier", "claims": ["tier", "nope"]}]`,
	})
	if _, err := load(t, "", env); err == nil || !strings.Contains(err.Error(), `scopes[0].claims[1] (from ATRIUM_SCOPES): "nope"`) {
		t.Errorf("unknown claim from the environment: %v, want an error naming the key and the variable", err)
	}
}

func TestBadAttributesAndScopes(t *testing.T) {
	const attrs = "attributes:\n  - {name: loyalty_id, label: Loyalty card}\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"attribute without name", "attributes:\n  - {label: X}\n", "attributes[0].name: required"},
		{"attribute name upper-case", "attributes:\n  - {name: Loyalty, label: X}\n", `attributes[0].name: "Loyalty" must be at most 64 lower-case letters, digits or '_'`},
		{"attribute name with a dash", "attributes:\n  - {name: shoe-size, label: X}\n", `attributes[0].name: "shoe-size" must be`},
		{"attribute name starting with a digit", "attributes:\n  - {name: 1st, label: X}\n", `attributes[0].name: "1st" must be`},
		{"attribute named as a standard claim", "attributes:\n  - {name: birthdate, label: X}\n", `attributes[0].name: "birthdate" is a standard or registered claim`},
		{"attribute named as a registered claim", "attributes:\n  - {name: exp, label: X}\n", `attributes[0].name: "exp" is a standard or registered claim`},
		{"attribute twice", attrs + "  - {name: loyalty_id, label: Y}\n", `attributes[1].name: "loyalty_id" is declared twice`},
		{"attribute without label", "attributes:\n  - {name: tier}\n", "attributes[0].label: required"},
		{"attribute label with a line break", "attributes:\n  - {name: tier, label: \"a\\nb\"}\n", "attributes[0].label: required, at most 100 characters, without control characters"},
		{"attribute of unknown type", "attributes:\n  - {name: tier, label: T, type: date}\n", `attributes[0].type: "date" is not one of string, boolean, number`},
		{"max_length of a boolean", "attributes:\n  - {name: tier, label: T, type: boolean, max_length: 5}\n", "attributes[0].max_length: only string attributes have a length"},
		{"max_length too long", "attributes:\n  - {name: tier, label: T, max_length: 20000}\n", "attributes[0].max_length: must be between 1 and 10000, got 20000"},
		{"max_length negative", "attributes:\n  - {name: tier, label: T, max_length: -1}\n", "attributes[0].max_length: must be between 1 and 10000, got -1"},
		{"attribute unknown key", "attributes:\n  - {name: tier, label: T, editible: true}\n", "attributes[0].editible: unknown key"},
		{"scope without name", "scopes:\n  - {description: D}\n", "scopes[0].name: required"},
		{"scope name with a space", "scopes:\n  - {name: a b, description: D}\n", `scopes[0].name: "a b" must be a scope token`},
		{"scope name built in", "scopes:\n  - {name: profile, description: D}\n", `scopes[0].name: "profile" is a built-in scope`},
		{"scope name of the account API", "scopes:\n  - {name: account.read, description: D}\n", `scopes[0].name: "account.read" is a built-in scope`},
		{"scope twice", "scopes:\n  - {name: a, description: D}\n  - {name: a, description: E}\n", `scopes[1].name: "a" is declared twice`},
		{"scope without description", "scopes:\n  - {name: a}\n", "scopes[0].description: required"},
		{"scope description too long", "scopes:\n  - {name: a, description: " + strings.Repeat("x", 201) + "}\n", "scopes[0].description: required, at most 200 characters"},
		{"scope releasing an unknown claim", attrs + "scopes:\n  - {name: a, description: D, claims: [loyalty]}\n", `scopes[0].claims[0]: "loyalty" is neither an attribute nor one of the standard claims`},
		{"scope releasing a registered claim", "scopes:\n  - {name: a, description: D, claims: [sub]}\n", `scopes[0].claims[0]: "sub" is neither`},
		{"scope releasing a claim twice", attrs + "scopes:\n  - {name: a, description: D, claims: [loyalty_id, loyalty_id]}\n", `scopes[0].claims[1]: "loyalty_id" is listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\ndoes not contain %q", err, tc.want)
			}
		})
	}
}
