package auth

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEveryInputErrorHasACode reads the package's source: every
// InvalidError and PasswordError literal sets Code to one of the Code
// constants, and those constants are exactly Codes().
func TestEveryInputErrorHasACode(t *testing.T) {
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
		if name != "errors.go" {
			continue
		}
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, s := range g.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && strings.HasPrefix(n.Name, "Code") {
							constants[n.Name] = strings.Trim(lit.Value, `"`)
						}
					}
				}
			}
		}
	}
	var values []string
	for _, v := range constants {
		values = append(values, v)
	}
	slices.Sort(values)
	want := Codes()
	slices.Sort(want)
	if !slices.Equal(values, want) {
		t.Errorf("Code constants %v, Codes() %v", values, want)
	}
	sites := 0
	for _, f := range parsed {
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			id, ok := lit.Type.(*ast.Ident)
			if !ok || id.Name != "InvalidError" && id.Name != "PasswordError" {
				return true
			}
			sites++
			for _, el := range lit.Elts {
				if kv, ok := el.(*ast.KeyValueExpr); ok && kv.Key.(*ast.Ident).Name == "Code" {
					if c, ok := kv.Value.(*ast.Ident); ok && constants[c.Name] != "" {
						return true
					}
				}
			}
			t.Errorf("%s: %s without a Code constant", fset.Position(lit.Pos()), id.Name)
			return true
		})
	}
	if sites < 10 {
		t.Fatalf("found %d InvalidError and PasswordError literals: the check no longer sees them", sites)
	}
}

// TestCreateUserErrorCodes: what CreateUser refuses, with which code.
func TestCreateUserErrorCodes(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	st := e.svc.Users()
	many := make([]string, 33)
	for i := range many {
		many[i] = "rol"
	}
	for _, tc := range []struct {
		nu   NewUser
		code string
	}{
		{NewUser{Tenant: tenant, Username: "bob/../x", Password: password}, CodeInvalid},
		{NewUser{Tenant: "", Username: "bob", Password: password}, CodeInvalid},
		{NewUser{Tenant: tenant, Username: "bob", Password: password, Roles: []string{"Admin Role"}}, CodeInvalid},
		{NewUser{Tenant: tenant, Username: "bob", Password: password, Roles: many}, CodeTooMany},
		{NewUser{Tenant: tenant, Username: "bob", Password: "short"}, CodeTooShort},
		{NewUser{Tenant: tenant, Username: "bob", Password: "password1234"}, CodeCommon},
		{NewUser{Tenant: tenant, Username: "roberto.diaz", Password: "roberto.diaz-clave"}, CodeContainsName},
	} {
		_, err := st.CreateUser(ctx, tc.nu)
		var ie *InvalidError
		var pe *PasswordError
		switch {
		case errors.As(err, &ie) && errors.Is(err, ErrInvalid):
			if ie.Code != tc.code {
				t.Errorf("%+v: code %q, want %q", tc.nu, ie.Code, tc.code)
			}
		case errors.As(err, &pe) && errors.Is(err, ErrWeakPassword):
			if pe.Code != tc.code {
				t.Errorf("%+v: code %q, want %q", tc.nu, pe.Code, tc.code)
			}
		default:
			t.Errorf("%+v: %v, want an InvalidError or a PasswordError", tc.nu, err)
		}
	}
	var ie *InvalidError
	if _, err := NewIssuer(e.keys, IssuerConfig{}); !errors.As(err, &ie) || ie.Code != CodeRequired {
		t.Errorf("NewIssuer without issuer and audience: %v, want code %q", err, CodeRequired)
	}
}
