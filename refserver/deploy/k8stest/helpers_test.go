package k8stest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Paths, relative to this package's directory (refserver/deploy/k8stest).
const (
	deployDir = ".."
	k8sDir    = "../k8s"
	repoRoot  = "../../.."
)

// overlays are the installations under k8s/overlays.
var overlays = []string{"postgres", "citus"}

// externalSecrets are the Secrets the manifests use but do not hold (an
// operator makes them, docs/deploy.md says how), with the keys the pods
// read from them.
var externalSecrets = map[string][]string{
	"historia-database":    {"url"},
	"historia-signing-key": {"signing-key.pem"},
	"historia-postgres":    {"password"},
	"historia-tls":         {"tls.crt", "tls.key"},
}

// historiaImage is the image name of the server (without its tag).
const historiaImage = "historia/historia"

// defaultImage returns the image build-image.sh tags by default.
func defaultImage(tb testing.TB) string {
	tb.Helper()
	data := readFile(tb, filepath.Join(deployDir, "build-image.sh"))
	m := regexp.MustCompile(`(?m)^image="\$\{1:-([^}]+)\}"`).FindStringSubmatch(data)
	if m == nil {
		tb.Fatal("build-image.sh: no default image (image=\"${1:-...}\")")
	}
	return m[1]
}

func readFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// envName is the environment variable of a flag, as the server derives it
// (refserver/internal/server.EnvName): --database-url is
// HISTORIA_DATABASE_URL.
func envName(flag string) string {
	return "HISTORIA_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// flagDefs maps the flag.FlagSet methods that define a flag to the index
// of their name argument.
var flagDefs = map[string]int{
	"String": 0, "Bool": 0, "Int": 0, "Int64": 0, "Uint": 0, "Uint64": 0, "Float64": 0, "Duration": 0,
	"Func": 0, "BoolFunc": 0, "TextVar": 1, "Var": 1,
	"StringVar": 1, "BoolVar": 1, "IntVar": 1, "Int64Var": 1, "UintVar": 1, "Uint64Var": 1, "Float64Var": 1, "DurationVar": 1,
}

// serverEnv returns the HISTORIA_* variable of every flag the historia
// binary defines, read from its sources (refserver/cmd/historia and
// refserver/internal/server), so the deploy files cannot drift from the
// server's real flags.
func serverEnv(tb testing.TB) map[string]bool {
	tb.Helper()
	names := map[string]bool{}
	fset := token.NewFileSet()
	for _, dir := range []string{"cmd/historia", "internal/server"} {
		files, err := filepath.Glob(filepath.Join(repoRoot, "refserver", dir, "*.go"))
		if err != nil || len(files) == 0 {
			tb.Fatalf("no Go files in refserver/%s (%v)", dir, err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				tb.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				i, ok := flagDefs[sel.Sel.Name]
				if !ok || len(call.Args) <= i {
					return true
				}
				lit, ok := call.Args[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				if s, err := strconv.Unquote(lit.Value); err == nil && regexp.MustCompile(`^[a-z][a-z0-9-]*$`).MatchString(s) {
					names[envName(s)] = true
				}
				return true
			})
		}
	}
	if !names["HISTORIA_DATABASE_URL"] || !names["HISTORIA_ADDR"] {
		tb.Fatalf("flag scan found no --database-url or --addr: %v", names)
	}
	return names
}

// ciRequired reports whether a missing tool is a failure (CI=true) rather
// than a reason to skip.
func ciRequired() bool { return os.Getenv("CI") == "true" }
