package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// openRedirects are redirect targets an attacker sends in next= or
// back=: each must land on this server.
var openRedirects = []string{
	`/x/../\evil.example`, // the probe: http.Redirect cleans x/.. into /\evil.example
	`/x/..%5Cevil.example`,
	`/x/../%5cevil.example`,
	`/%5Cevil.example`,
	`/\evil.example`,
	`\\evil.example`,
	`/\/evil.example`,
	`//evil.example`,
	`/%2Fevil.example`,
	`/%2f%2fevil.example`,
	`/x/..//evil.example`,
	`/./\evil.example`,
	"/\t/evil.example",
	"/\n/evil.example",
	"/\r\n/evil.example",
	"/%09/evil.example",
	"/x/../%0d%0a/evil.example",
	`https://evil.example/`,
	`http:/\evil.example`,
	`javascript:alert(1)`,
	`/secretaria/../\evil.example`,
	`/secretaria/..%5c%5cevil.example`,
	`/secretaria/../../evil.example`,
	`/secretaria/%2e%2e/%5cevil.example`,
}

// landsHere reports whether a browser on https://historia.example
// following Location loc stays on that host. Browsers read a backslash
// as a slash, and drop tabs and newlines.
func landsHere(loc string) bool {
	for _, c := range []string{"\\", "\t", "\n", "\r"} {
		if containsRaw(loc, c) {
			return false
		}
	}
	base, _ := url.Parse("https://historia.example/a/b")
	u, err := base.Parse(loc)
	return err == nil && u.Host == "historia.example"
}

func containsRaw(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestNoOpenRedirect: /lang/{lang}?next= and the forms' back= go to a
// path of this server, whatever http.Redirect makes of them.
func TestNoOpenRedirect(t *testing.T) {
	rt, _ := newInfraServer(t, nil)
	for _, p := range openRedirects {
		r := httptest.NewRequest("GET", "/lang/en?next="+url.QueryEscape(p), nil)
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, r)
		if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || !landsHere(loc) {
			t.Errorf("next=%q: %d Location %q", p, w.Code, loc)
		}
		// The secretaria's back= field, redirected the same way.
		w = httptest.NewRecorder()
		http.Redirect(w, httptest.NewRequest("POST", "/secretaria/citas", nil), BackTo(p, "/secretaria", "/secretaria"), http.StatusSeeOther)
		if loc := w.Header().Get("Location"); !landsHere(loc) {
			t.Errorf("back=%q: Location %q", p, loc)
		}
	}
	// Good targets survive.
	for in, want := range map[string]string{
		"/secretaria?fecha=2026-01-02#agenda": "/secretaria?fecha=2026-01-02#agenda",
		"/medico":                             "/medico",
		"/paciente/abc/":                      "/paciente/abc/",
		"/a/./b/../c":                         "/a/c",
	} {
		if got := LocalPath(in); got != want {
			t.Errorf("LocalPath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := BackTo("/secretaria?fecha=2026-01-02", "/secretaria", "/x"); got != "/secretaria?fecha=2026-01-02" {
		t.Errorf("BackTo kept %q", got)
	}
}
