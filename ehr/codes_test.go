package ehr

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEveryFieldErrorHasACode reads the package's source: every place that
// makes a FieldError (a FieldError literal, validator.add and check, and
// invalid) must pass one of the Code constants, so no FieldError the
// package produces lacks a code or carries one outside Codes(). The
// helpers of errors.go pass their code parameter through.
func TestEveryFieldErrorHasACode(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	constants := map[string]string{}
	fset := token.NewFileSet()
	var parsed []*ast.File
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
		for _, d := range f.Decls {
			if name != "errors.go" {
				break // the codes are declared there (clinical.go's Code* are LOINC codes)
			}
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if strings.HasPrefix(n.Name, "Code") && i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
							constants[n.Name] = strings.Trim(lit.Value, `"`)
						}
					}
				}
			}
		}
	}
	for name, value := range constants {
		if !slices.Contains(Codes(), value) {
			t.Errorf("constant %s = %q is missing from Codes()", name, value)
		}
	}
	if len(constants) != len(Codes()) {
		t.Errorf("%d Code constants, %d codes in Codes()", len(constants), len(Codes()))
	}

	sites := 0
	checkCode := func(pos token.Pos, e ast.Expr) {
		sites++
		id, ok := e.(*ast.Ident)
		if ok && (constants[id.Name] != "" || id.Name == "code" && fset.Position(pos).Filename == "errors.go") {
			return
		}
		t.Errorf("%s: a FieldError made without a Code constant", fset.Position(pos))
	}
	for _, f := range parsed {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				if id, ok := n.Type.(*ast.Ident); ok && id.Name == "FieldError" {
					var code ast.Expr = ast.NewIdent("missing")
					for _, el := range n.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok && kv.Key.(*ast.Ident).Name == "Code" {
							code = kv.Value
						}
					}
					checkCode(n.Pos(), code)
				}
			case *ast.CallExpr:
				arg := -1
				switch fn := n.Fun.(type) {
				case *ast.SelectorExpr:
					if x, ok := fn.X.(*ast.Ident); ok && x.Name == "v" {
						switch fn.Sel.Name {
						case "add":
							arg = 1
						case "check":
							arg = 2
						}
					}
				case *ast.Ident:
					if fn.Name == "invalid" {
						arg = 1
					}
				}
				if arg >= 0 {
					if arg >= len(n.Args) {
						t.Errorf("%s: call with too few arguments", fset.Position(n.Pos()))
						return true
					}
					checkCode(n.Pos(), n.Args[arg])
				}
			}
			return true
		})
	}
	if sites < 100 {
		t.Fatalf("found %d places that make a FieldError: the check no longer sees them", sites)
	}
}
