package i18n

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCatalog fails on any key missing in either language, on empty
// messages and on messages whose format verbs differ between languages.
func TestCatalog(t *testing.T) {
	for k, v := range es {
		w, ok := en[k]
		if !ok {
			t.Errorf("key %q is in es but missing in en", k)
			continue
		}
		if strings.TrimSpace(v) == "" || strings.TrimSpace(w) == "" {
			t.Errorf("key %q has an empty message", k)
		}
		if verbs(v) != verbs(w) {
			t.Errorf("key %q: format verbs differ: es %q, en %q", k, verbs(v), verbs(w))
		}
	}
	for k := range en {
		if _, ok := es[k]; !ok {
			t.Errorf("key %q is in en but missing in es", k)
		}
	}
	for _, l := range Langs() {
		if !Has(ES, "lang."+string(l)) {
			t.Errorf("no name for language %s", l)
		}
	}
}

var verbRE = regexp.MustCompile(`%[-+# 0]*[0-9]*[a-zA-Z]`)

func verbs(s string) string { return strings.Join(verbRE.FindAllString(s, -1), " ") }

// keyUse finds the literal catalog keys in the server's source: calls of
// t(ctx, "key"), i18n.T(ctx, "key"), Translate(l, "key") and fields or
// variables named ...Key (TitleKey: "key", errKey = "key").
var keyUse = regexp.MustCompile(`(?:\bt\(ctx, |i18n\.T\([^,()]+, |Translate\([^,()]+, |Key:\s*|Key\s*=\s*|[kK]ey\(")"([a-z0-9_]+(?:\.[a-z0-9_]+)+)"`)

// TestSourceKeys fails when a page or handler uses a key that the catalog
// lacks.
func TestSourceKeys(t *testing.T) {
	root := filepath.Join("..")
	n := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(path, "_templ.go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		if !strings.HasSuffix(path, ".templ") && !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range keyUse.FindAllStringSubmatch(string(b), -1) {
			n++
			if !Has(ES, m[1]) || !Has(EN, m[1]) {
				t.Errorf("%s uses catalog key %q, missing in es or en", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("found only %d key uses in the source; the scanner is broken", n)
	}
}

func TestFromRequest(t *testing.T) {
	tests := []struct {
		accept, cookie string
		want           Lang
	}{
		{"", "", ES},
		{"en-US,en;q=0.9", "", EN},
		{"fr-FR, en;q=0.5, es;q=0.8", "", ES},
		{"de", "", ES},
		{"en", "es", ES},
		{"es", "en", EN},
		{"es", "xx", ES},
		{"en;q=0, es;q=0.1", "", ES},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.accept != "" {
			r.Header.Set("Accept-Language", tc.accept)
		}
		if tc.cookie != "" {
			r.Header.Set("Cookie", CookieName+"="+tc.cookie)
		}
		if got := FromRequest(r); got != tc.want {
			t.Errorf("accept %q cookie %q: got %s, want %s", tc.accept, tc.cookie, got, tc.want)
		}
	}
}

func TestT(t *testing.T) {
	ctx := NewContext(context.Background(), EN)
	if got := T(ctx, "login.title"); got != "Sign in" {
		t.Errorf("en login.title = %q", got)
	}
	if got := T(context.Background(), "login.title"); got != "Iniciar sesión" {
		t.Errorf("default login.title = %q", got)
	}
	if got := T(ctx, "no.such.key"); got != "[no.such.key]" {
		t.Errorf("missing key = %q", got)
	}
}
