package page

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// root is the repository's root, from this package's folder.
const root = "../.."

// templateDirs hold every page template of the repository.
var templateDirs = []string{"internal/page", "authz/templates", "account/templates"}

// goDirs hold the Go code that passes messages to pages.
var goDirs = []string{"authz", "account", "internal/page"}

// extraMessages are messages pages show that the scan of goDirs does not
// see: built in other packages, or from a value the scan cannot follow.
var extraMessages = []string{
	// federation.Error.Message (see federationMessages for the scan).
	// login.CheckNewPassword's errors, shown with a full stop.
	"Use at least %d characters.",
	"Use at most %d characters.",
	"Don't use your email address as password.",
	"Don't use your name or account details as password.",
	"This password is too common; choose another.",
	// The default label of an upstream sign-in button.
	"Continue with %s",
	// authz.retryAfter's hints, the end of "Too many ... attempts. %s".
	"Try again in 1 minute.",
	"Try again in %d minutes.",
}

// pageCalls are the functions whose string arguments are page messages.
var pageCalls = map[string]bool{
	"errorPage": true, "notice": true, "renderLogin": true, "renderSignup": true, "renderReset": true,
	"fail": true, "upstreamFailure": true, "ServerError": true, "interactionGone": true,
	"renderMFA": true, "renderIdentities": true, "show": true,
}

// messageFields are the page data fields that hold messages (and the
// labels of the sign-up fields).
var messageFields = map[string]bool{"Title": true, "Error": true, "Message": true, "Notice": true, "label": true}

// messageVars are variable names that hold messages on their way to a page.
var messageVars = map[string]bool{"msg": true, "message": true, "title": true, "notice": true, "problem": true}

var tLiteral = regexp.MustCompile(`\.L\.(?:T|HTML)\s+("(?:[^"\\]|\\.)*")`)

// templateMessages returns every literal of {{.L.T "..."}} (and .L.HTML) in the
// repository's templates, with the file it is in.
func templateMessages(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, dir := range templateDirs {
		files, err := filepath.Glob(filepath.Join(root, dir, "*.html"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tLiteral.FindAllStringSubmatch(string(b), -1) {
				s, err := strconv.Unquote(m[1])
				if err != nil {
					t.Fatalf("%s: %s: %v", f, m[1], err)
				}
				out[s] = filepath.Join(dir, filepath.Base(f))
			}
		}
	}
	return out
}

// goMessages returns the messages the Go code of goDirs passes to pages:
// string arguments of pageCalls, values of messageFields and of
// messageVars. A message built with + becomes a format, its non-literal
// parts %s.
func goMessages(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, dir := range goDirs {
		fset := token.NewFileSet()
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		consts := map[string]string{}
		var parsed []*ast.File
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			parsed = append(parsed, af)
			for _, d := range af.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
					for _, spec := range g.Specs {
						vs := spec.(*ast.ValueSpec)
						for i, n := range vs.Names {
							if i < len(vs.Values) {
								if s, ok := message(vs.Values[i], nil); ok {
									consts[n.Name] = s
								}
							}
						}
					}
				}
			}
		}
		for _, af := range parsed {
			add := func(e ast.Expr) {
				if s, ok := message(e, consts); ok {
					out[s] = fset.Position(e.Pos()).String()
				}
			}
			ast.Inspect(af, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					// Methods by name (h.fail, p.notice); of plain functions
					// only ServerError's show, as local helpers of the same
					// names may take a reason for the log.
					name := ""
					switch f := n.Fun.(type) {
					case *ast.SelectorExpr:
						name = f.Sel.Name
					case *ast.Ident:
						if f.Name == "show" {
							name = f.Name
						}
					}
					if pageCalls[name] {
						for _, a := range n.Args {
							add(a)
						}
					}
				case *ast.KeyValueExpr:
					if k, ok := n.Key.(*ast.Ident); ok && messageFields[k.Name] {
						add(n.Value)
					}
				case *ast.ValueSpec:
					// Tables of messages: var scopeDescriptions = map[string]string{...}
					for i, name := range n.Names {
						if !strings.HasSuffix(name.Name, "Descriptions") || i >= len(n.Values) {
							continue
						}
						if cl, ok := n.Values[i].(*ast.CompositeLit); ok {
							for _, el := range cl.Elts {
								if kv, ok := el.(*ast.KeyValueExpr); ok {
									add(kv.Value)
								}
							}
						}
					}
				case *ast.AssignStmt:
					if len(n.Lhs) == len(n.Rhs) {
						for i, l := range n.Lhs {
							if id, ok := l.(*ast.Ident); ok && messageVars[id.Name] {
								add(n.Rhs[i])
							}
						}
					}
				}
				return true
			})
		}
	}
	return out
}

// message returns the message e spells: a string literal, a constant, or
// a sum of them and other values (each another value a %s). It must have
// a letter outside its %s.
func message(e ast.Expr, consts map[string]string) (string, bool) {
	var b strings.Builder
	var walk func(e ast.Expr) bool
	walk = func(e ast.Expr) bool {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind != token.STRING {
				return false
			}
			s, err := strconv.Unquote(e.Value)
			if err != nil {
				return false
			}
			b.WriteString(s)
			return true
		case *ast.BinaryExpr:
			return e.Op == token.ADD && walk(e.X) && walk(e.Y)
		case *ast.ParenExpr:
			return walk(e.X)
		case *ast.Ident:
			if s, ok := consts[e.Name]; ok {
				b.WriteString(s)
				return true
			}
		}
		b.WriteString("%s")
		return true
	}
	switch e.(type) {
	case *ast.BasicLit, *ast.BinaryExpr, *ast.Ident:
	default:
		return "", false
	}
	if !walk(e) {
		return "", false
	}
	s := b.String()
	if !strings.ContainsFunc(strings.ReplaceAll(s, "%s", ""), func(r rune) bool {
		return 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z'
	}) {
		return "", false
	}
	return s, true
}

// federationMessages returns the messages of federation.Error.Message.
func federationMessages(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	fset := token.NewFileSet()
	f := filepath.Join(root, "federation", "errors.go")
	af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range af.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "Message" {
			continue
		}
		ast.Inspect(fn, func(n ast.Node) bool {
			if r, ok := n.(*ast.ReturnStmt); ok && len(r.Results) == 1 {
				if s, ok := message(r.Results[0], nil); ok {
					out[s] = fset.Position(r.Pos()).String()
				}
			}
			return true
		})
	}
	if len(out) == 0 {
		t.Fatalf("%s: no messages found in (*Error).Message", f)
	}
	return out
}

// TestEveryMessageIsTranslated fails naming every message of a page
// without a German translation: the templates' {{.L.T "..."}} literals,
// the messages the Go code passes to pages, and extraMessages.
func TestEveryMessageIsTranslated(t *testing.T) {
	all := templateMessages(t)
	if len(all) < 50 {
		t.Fatalf("found only %d template messages: is the scan broken?", len(all))
	}
	goMsgs := goMessages(t)
	if len(goMsgs) < 20 {
		t.Fatalf("found only %d Go messages: is the scan broken?", len(goMsgs))
	}
	for k, v := range goMsgs {
		all[k] = v
	}
	for k, v := range federationMessages(t) {
		all[k] = v
	}
	for _, s := range extraMessages {
		all[s] = "extraMessages"
	}
	c := catalogs()[German]
	var missing []string
	for s, where := range all {
		if !c.has(s) {
			missing = append(missing, where+": "+strconv.Quote(s))
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("no German translation (locales/de.json): %s", m)
	}
}

// TestCatalogs checks every catalog parses, has no duplicate or empty
// entry, and that each translation has the verbs of its key.
func TestCatalogs(t *testing.T) {
	for i, l := range langs {
		if Lang(i) == English {
			continue
		}
		b, err := localesFS.ReadFile("locales/" + l.tag + ".json")
		if err != nil {
			t.Fatal(err)
		}
		entries, err := decodeCatalog(b)
		if err != nil {
			t.Fatalf("locales/%s.json: %v", l.tag, err)
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if seen[e[0]] {
				t.Errorf("locales/%s.json: %q: duplicate key", l.tag, e[0])
			}
			seen[e[0]] = true
			if e[1] == "" {
				t.Errorf("locales/%s.json: %q: empty translation", l.tag, e[0])
			}
			if got, want := verbCount(e[1]), verbCount(e[0]); got != want {
				t.Errorf("locales/%s.json: %q: translation has %d verbs, key %d", l.tag, e[0], got, want)
			}
		}
	}
}

func verbCount(s string) int { return len(verb.FindAllString(s, -1)) }
