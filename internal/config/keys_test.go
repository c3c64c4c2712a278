package config

import (
	"encoding"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// fullConfigExemptKeys are the keys of Config that testdata/full.good.yaml
// leaves out, each because a valid file cannot hold it together with
// another key the file has.
var fullConfigExemptKeys = map[string]string{
	// Validate refuses master_secret with master_secret_file; the file
	// sets master_secret, which TestEnvOverrides replaces through
	// ATRIUM_MASTER_SECRET.
	"master_secret_file": "excludes master_secret",
	// Validate refuses smtp.password with smtp.password_file; the file
	// reads the password from a file, as a deployment should.
	"smtp.password": "excludes smtp.password_file",
}

// keyPath is a key path as segments: a list's entries add "[]" to the
// list's segment (clients[].id), a map's entries are "*" in a pattern.
type keyPath []string

func (p keyPath) String() string { return strings.Join(p, ".") }

// child is p extended by one key.
func (p keyPath) child(key string) keyPath {
	return append(slices.Clip(p), key)
}

// entries is the path of a list's entries: the list's last segment with
// "[]" appended.
func (p keyPath) entries() keyPath {
	q := slices.Clone(p)
	q[len(q)-1] += "[]"
	return q
}

// matches reports whether p, a path of the Config type ("*" for any map
// key), names the path q of a file.
func (p keyPath) matches(q keyPath) bool {
	if len(p) != len(q) {
		return false
	}
	for i, s := range p {
		if s != "*" && s != q[i] {
			return false
		}
	}
	return true
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
)

// typeKeys appends every key path of a value of type t at path: its own
// (unless path is the document's root), then those below it.
func typeKeys(t reflect.Type, path keyPath, out []keyPath) []keyPath {
	if len(path) > 0 {
		out = append(out, path)
	}
	return keysBelow(t, path, out)
}

// keysBelow appends the key paths of t's fields, its entries' fields
// (lists) and its values' keys (maps). Types that decode themselves
// (Duration) have no keys below them.
func keysBelow(t reflect.Type, path keyPath, out []keyPath) []keyPath {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if p := reflect.PointerTo(t); p.Implements(textUnmarshaler) || p.Implements(yamlUnmarshaler) {
		return out
	}
	switch t.Kind() {
	case reflect.Struct:
		return fieldKeys(t, path, out)
	case reflect.Slice, reflect.Array:
		return keysBelow(t.Elem(), path.entries(), out)
	case reflect.Map:
		return typeKeys(t.Elem(), path.child("*"), out)
	}
	return out
}

// fieldKeys appends the key paths of struct t's fields, keyed as
// gopkg.in/yaml.v3 keys them: by their yaml tag, else their lower-cased
// name; ",inline" fields' keys are the struct's own.
func fieldKeys(t reflect.Type, path keyPath, out []keyPath) []keyPath {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-":
			continue
		case slices.Contains(strings.Split(opts, ","), "inline"):
			out = keysBelow(f.Type, path, out)
			continue
		case name == "":
			name = strings.ToLower(f.Name)
		}
		out = typeKeys(f.Type, path.child(name), out)
	}
	return out
}

// nodeKeys appends every key path of a YAML node at path, the same way.
func nodeKeys(n *yaml.Node, path keyPath, out []keyPath) []keyPath {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			out = nodeKeys(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" && k.Tag == "!!merge" {
				out = nodeKeys(v, path, out)
				continue
			}
			p := path.child(k.Value)
			out = append(out, p)
			out = nodeKeys(v, p, out)
		}
	case yaml.SequenceNode:
		if len(path) == 0 {
			break
		}
		for _, c := range n.Content {
			out = nodeKeys(c, path.entries(), out)
		}
	}
	return out
}

// Every key of Config appears in testdata/full.good.yaml, so the test of
// that file (TestFullGoodConfig) proves each key is read, and the file
// holds no key Config lacks.
func TestFullConfigListsEveryKey(t *testing.T) {
	const file = "testdata/full.good.yaml"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	have := nodeKeys(&root, nil, nil)
	keys := typeKeys(reflect.TypeFor[Config](), nil, nil)
	if len(keys) < 50 {
		t.Fatalf("Config has %d key paths; the walk missed its sections", len(keys))
	}

	for _, k := range keys {
		present := slices.ContainsFunc(have, k.matches)
		reason, exempt := fullConfigExemptKeys[k.String()]
		switch {
		case exempt && present:
			t.Errorf("%s has %s, exempt because it %s: drop the exemption", file, k, reason)
		case !exempt && !present:
			t.Errorf("%s lacks the key %s", file, k)
		}
	}
	for k := range fullConfigExemptKeys {
		if !slices.ContainsFunc(keys, func(p keyPath) bool { return p.String() == k }) {
			t.Errorf("the exempt key %s is not a key of Config", k)
		}
	}
	seen := map[string]bool{}
	for _, p := range have {
		if !seen[p.String()] && !slices.ContainsFunc(keys, func(k keyPath) bool { return k.matches(p) }) {
			t.Errorf("%s has %s, which is not a key of Config", file, p)
		}
		seen[p.String()] = true
	}
}

// The walk of Config's type follows nested structs, pointers, lists and
// maps, keeps self-decoding types whole, and skips what YAML skips.
func TestTypeKeys(t *testing.T) {
	type inner struct {
		A string `yaml:"a"`
	}
	type embedded struct {
		E string `yaml:"e"`
	}
	type sample struct {
		embedded `yaml:",inline"`
		Plain    string
		Nested   inner            `yaml:"nested"`
		Ptr      *inner           `yaml:"ptr"`
		List     []inner          `yaml:"list"`
		Scalars  []string         `yaml:"scalars"`
		Map      map[string]inner `yaml:"map"`
		Strings  map[string]int   `yaml:"strings"`
		D        Duration         `yaml:"d"`
		Skipped  string           `yaml:"-"`
		hidden   string
	}
	var got []string
	for _, k := range typeKeys(reflect.TypeFor[sample](), nil, nil) {
		got = append(got, k.String())
	}
	want := []string{
		"e", "plain", "nested", "nested.a", "ptr", "ptr.a", "list", "list[].a", "scalars",
		"map", "map.*", "map.*.a", "strings", "strings.*", "d",
	}
	if !slices.Equal(got, want) {
		t.Errorf("typeKeys = %q\nwant        %q", got, want)
	}

	var n yaml.Node
	if err := yaml.Unmarshal([]byte("e: x\nlist: [{a: 1}, {a: 2}]\nscalars: [x]\nstrings: {k: 1}\nd: 1h\n"), &n); err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, k := range nodeKeys(&n, nil, nil) {
		got = append(got, k.String())
	}
	want = []string{"e", "list", "list[].a", "list[].a", "scalars", "strings", "strings.k", "d"}
	if !slices.Equal(got, want) {
		t.Errorf("nodeKeys = %q\nwant        %q", got, want)
	}
}
