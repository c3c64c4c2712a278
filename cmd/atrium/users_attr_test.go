package main

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/atrium-id/atrium/internal/config"
)

// users set-attribute sets the configured attributes with the profile
// page's rules, read-only ones too, and refuses the rest changing
// nothing.
func TestUsersSetAttribute(t *testing.T) {
	data := t.TempDir()
	env := map[string]string{"ATRIUM_ATTRIBUTES": `[{name: loyalty_id, label: Loyalty card, max_length: 8},
		{name: newsletter, label: Newsletter, type: boolean, editable: true}, {name: shoe_size, label: Shoe size, type: number, editable: true}]`}
	run := func(args ...string) map[string]any {
		t.Helper()
		return decode[map[string]any](t, mustRun(t, env, append([]string{"users", "set-attribute", "--data", data}, args...)...))
	}
	id, _ := decode[map[string]any](t, mustRun(t, env, "users", "create", "--data", data,
		"--email", "ada@example.com", "--password", "correct horse battery staple"))["id"].(string)
	stored := func() map[string]any {
		t.Helper()
		st, err := openStore(context.Background(), &config.Config{DataDir: data})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		u, err := st.GetUser(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return u.Attributes
	}

	run("--email", "ADA@example.com", "--attribute", "loyalty_id", "--value", " L-1815 ")
	run("--id", id, "--attribute", "newsletter", "--value", "true")
	out := run("--id", id, "--attribute", "shoe_size", "--value", "38.5")
	want := map[string]any{"loyalty_id": "L-1815", "newsletter": true, "shoe_size": 38.5}
	if out["id"] != id || !reflect.DeepEqual(out["attributes"], want) {
		t.Fatalf("set-attribute: %v, want %v", out, want)
	}
	if got := stored(); !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	run("--id", id, "--attribute", "newsletter", "--value", "false")
	run("--id", id, "--attribute", "shoe_size", "--unset")
	want = map[string]any{"loyalty_id": "L-1815", "newsletter": false}
	if got := stored(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after false and --unset: stored %v, want %v", got, want)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown user", []string{"--email", "nobody@example.com", "--attribute", "newsletter", "--value", "true"}, `no user "nobody@example.com"`},
		{"unknown user ID", []string{"--id", "nope", "--attribute", "newsletter", "--unset"}, `no user "nope"`},
		{"unknown attribute", []string{"--id", id, "--attribute", "is_admin", "--value", "true"},
			`--attribute: no attribute "is_admin" in the configuration (configured: loyalty_id, newsletter, shoe_size)`},
		{"no number", []string{"--id", id, "--attribute", "shoe_size", "--value", "large"}, `--value: "large": Enter a number, such as 42 or 7.5.`},
		{"not finite", []string{"--id", id, "--attribute", "shoe_size", "--value", "Inf"}, `--value: "Inf": Enter a number`},
		{"neither true nor false", []string{"--id", id, "--attribute", "newsletter", "--value", "yes"}, `--value: "yes" is not true or false`},
		{"too long", []string{"--id", id, "--attribute", "loyalty_id", "--value", "L-1234567"}, "Use at most 8 characters."},
		{"control character", []string{"--id", id, "--attribute", "loyalty_id", "--value", "L-\t1"}, "such as tabs or line breaks"},
		{"empty", []string{"--id", id, "--attribute", "loyalty_id", "--value", " "}, "--value: empty: to remove the attribute, use --unset"},
		{"value and unset", []string{"--id", id, "--attribute", "loyalty_id", "--value", "L-1", "--unset"}, "give exactly one of --value and --unset"},
		{"neither value nor unset", []string{"--id", id, "--attribute", "loyalty_id"}, "give exactly one of --value and --unset"},
		{"no user given", []string{"--attribute", "loyalty_id", "--unset"}, "give exactly one of --id and --email"},
		{"no attribute given", []string{"--id", id, "--unset"}, "--attribute: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := atrium(t, env, append([]string{"users", "set-attribute", "--data", data}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant %q", err, tc.want)
			}
			if got := stored(); !reflect.DeepEqual(got, want) {
				t.Fatalf("a refused set-attribute changed the attributes: %v", got)
			}
		})
	}
}
