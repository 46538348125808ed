package views

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/a-h/templ"

	"github.com/historiaehr/historia/refserver/internal/i18n"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var assetVersion = regexp.MustCompile(`\?v=[0-9a-f]{12}`)

// golden renders c in both languages and compares the HTML with
// testdata/<name>.<lang>.golden. With -update it rewrites the files; on a
// mismatch it writes the actual output next to them as .actual.
func golden(t *testing.T, name string, c templ.Component) {
	t.Helper()
	for _, l := range i18n.Langs() {
		var buf bytes.Buffer
		if err := c.Render(i18n.NewContext(context.Background(), l), &buf); err != nil {
			t.Fatalf("%s: render: %v", name, err)
		}
		got := assetVersion.ReplaceAll(buf.Bytes(), []byte("?v=VERSION"))
		path := filepath.Join("testdata", name+"."+string(l)+".golden")
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/views -update)", err)
		}
		if !bytes.Equal(got, want) {
			actual := path + ".actual"
			_ = os.WriteFile(actual, got, 0o644)
			t.Errorf("%s differs from %s; wrote %s (run with -update to accept)", name, path, actual)
		} else {
			_ = os.Remove(path + ".actual")
		}
		if bytes.Contains(got, []byte("[")) && regexp.MustCompile(`\[[a-z]+\.[a-z0-9_.]+\]`).Match(got) {
			t.Errorf("%s (%s) shows an untranslated key: %s", name, l, regexp.MustCompile(`\[[a-z]+\.[a-z0-9_.]+\]`).Find(got))
		}
	}
}

var staffUser = &User{Name: "medico", Role: "medico", Hospital: "Hospital Demo"}

func TestGoldenLogin(t *testing.T) {
	golden(t, "login", Login(Page{TitleKey: "login.title", Path: "/login"}, "", ""))
	golden(t, "login_failed", Login(Page{TitleKey: "login.title", Path: "/login?error=1"}, "medico", "login.failed"))
}

func TestGoldenError(t *testing.T) {
	p := Page{TitleKey: "app.name", Path: "/paciente/x", User: staffUser,
		Nav: []NavItem{{Href: "/medico", TextKey: "role.medico", Current: true}}}
	golden(t, "error_409", Error(p, 409, "error.409"))
}
