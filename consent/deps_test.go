package consent_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/atrium-id/atrium"

// TestLayering keeps package consent above storage only: of Atrium it may
// import storage and internal plumbing, never authz, account or cmd.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", module+"/consent").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if !strings.HasPrefix(dep, module+"/") {
			continue
		}
		switch rest := strings.TrimPrefix(dep, module+"/"); {
		case rest == "consent", rest == "storage", strings.HasPrefix(rest, "internal/"):
		default:
			t.Errorf("consent depends on %s; it may import only storage and internal of Atrium", dep)
		}
	}
}
