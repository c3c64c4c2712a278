package storage_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/atrium-id/atrium"

// TestLayering keeps package storage at the bottom of the project: it
// imports nothing of Atrium, its backend imports only it, and the
// conformance suite imports only it.
func TestLayering(t *testing.T) {
	for _, tc := range []struct {
		pkg string
		// allowed reports whether pkg may depend on a package of ours.
		allowed func(dep string) bool
		want    string
	}{
		{
			pkg:     module + "/storage",
			allowed: func(dep string) bool { return dep == module+"/storage" },
			want:    "nothing of Atrium",
		},
		{
			pkg: module + "/storage/sql",
			allowed: func(dep string) bool {
				return dep == module+"/storage" || dep == module+"/storage/sql" || strings.HasPrefix(dep, module+"/storage/sql/")
			},
			want: "only " + module + "/storage of Atrium",
		},
		{
			pkg: module + "/storage/storagetest",
			allowed: func(dep string) bool {
				return dep == module+"/storage" || dep == module+"/storage/storagetest"
			},
			want: "only " + module + "/storage of Atrium",
		},
	} {
		t.Run(strings.TrimPrefix(tc.pkg, module+"/"), func(t *testing.T) {
			importers := deps(t, tc.pkg)
			if _, ok := importers[tc.pkg]; !ok {
				t.Fatalf("go list -deps %s did not list the package itself, want it among its deps", tc.pkg)
			}
			for dep, by := range importers {
				if (dep == module || strings.HasPrefix(dep, module+"/")) && !tc.allowed(dep) {
					t.Errorf("%s depends on %s (imported by %s), want it to import %s", tc.pkg, dep, strings.Join(by, ", "), tc.want)
				}
			}
		})
	}
}

// deps returns every package pkg depends on (pkg included), each with the
// packages among them that import it.
func deps(t *testing.T, pkg string) map[string][]string {
	t.Helper()
	out, err := exec.Command(goTool(t), "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, pkg).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps %s = %v, want its dependencies:\n%s", pkg, err, stderr)
	}
	importers := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if _, ok := importers[fields[0]]; !ok {
			importers[fields[0]] = nil
		}
		for _, imp := range fields[1:] {
			importers[imp] = append(importers[imp], fields[0])
		}
	}
	for dep := range importers {
		slices.Sort(importers[dep])
	}
	return importers
}

// goTool finds the go command that is running the tests.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(p); err != nil {
		t.Fatalf("no go command in PATH or at %s, want one to list package dependencies", p)
	}
	return p
}
