package conformance

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// allowedImports are the modules the suite may use besides the standard
// library: relying-party libraries, never Atrium's own packages.
var allowedImports = []string{
	"golang.org/x/oauth2",
	"github.com/coreos/go-oidc/v3",
	"github.com/go-jose/go-jose/v4",
	"golang.org/x/net/html",
	"github.com/chromedp/chromedp", // drives a real Chromium
	"github.com/chromedp/cdproto",
	// The SMTP server Atrium sends its mails to: a stand-in for the
	// operator's mail relay, no part of Atrium's surface.
	"github.com/atrium-id/atrium/internal/smtptest",
	// The authenticator app of the TOTP tests.
	"github.com/pquerna/otp",
}

// TestImports keeps the suite black-box: it imports nothing of Atrium.
func TestImports(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no Go files found")
	}
	fset := token.NewFileSet()
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed(path) {
				t.Errorf("%s imports %s: the suite may only use the standard library and %v", name, path, allowedImports)
			}
		}
	}
}

func allowed(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	if !strings.Contains(first, ".") {
		return true // standard library
	}
	for _, a := range allowedImports {
		if path == a || strings.HasPrefix(path, a+"/") {
			return true
		}
	}
	return false
}
