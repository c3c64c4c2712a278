package account_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering keeps the account area off the provider's internals: of
// Atrium it may import storage, shared plumbing (internal) and the
// credential rules of authz/login and the scope words of consent (leaves:
// they import only storage and internal),
// never authz itself, federation or cmd.
func TestLayering(t *testing.T) {
	const module = "github.com/atrium-id/atrium"
	out, err := exec.Command("go", "list", "-deps", module+"/account").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if !strings.HasPrefix(dep, module+"/") {
			continue
		}
		rest := strings.TrimPrefix(dep, module+"/")
		if rest != "account" && rest != "storage" && rest != "authz/login" && rest != "consent" && !strings.HasPrefix(rest, "internal/") {
			t.Errorf("account depends on %s, want only storage, consent, authz/login and internal/ of Atrium", dep)
		}
	}
}
