package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/historiaehr/historia/refserver/internal/syncbuf"
)

func newInfraServer(tb testing.TB, ready func(context.Context) error) (*Router, *syncbuf.Buffer) {
	tb.Helper()
	logs := &syncbuf.Buffer{}
	log := slog.New(NewLogHandler(slog.NewJSONHandler(logs, nil)))
	return New(Config{Logger: log, Metrics: NewMetrics(), Ready: ready}), logs
}

func do(tb testing.TB, h http.Handler, method, target string, body io.Reader, hdr ...string) *http.Response {
	tb.Helper()
	r := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func readAll(tb testing.TB, r *http.Response) string {
	tb.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestSecurityHeaders(t *testing.T) {
	s, _ := newInfraServer(t, nil)
	for _, path := range []string{"/login", "/healthz", "/nowhere", "/static/style.css", "/favicon.ico"} {
		res := do(t, s, "GET", path, nil)
		h := res.Header
		if got := h.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
			t.Errorf("%s: CSP %q", path, got)
		}
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(h.Get("Content-Security-Policy"), want) {
				t.Errorf("%s: CSP lacks %q", path, want)
			}
		}
		if strings.Contains(h.Get("Content-Security-Policy"), "unsafe-inline") {
			t.Errorf("%s: CSP allows unsafe-inline", path)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, h)
		}
		if len(h.Get("X-Request-Id")) != 16 {
			t.Errorf("%s: request id %q", path, h.Get("X-Request-Id"))
		}
	}
}

// TestFavicon: the icon is served where browsers look for it by default
// and where the layout names it, so no page logs a 404 for it.
func TestFavicon(t *testing.T) {
	s, _ := newInfraServer(t, nil)
	res := do(t, s, "GET", "/favicon.ico", nil)
	if b := readAll(t, res); res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/x-icon" || !strings.HasPrefix(b, "\x00\x00\x01\x00") {
		t.Errorf("/favicon.ico: %d %q, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(b))
	}
	body := readAll(t, do(t, s, "GET", "/login", nil))
	const link = `<link rel="icon" href="/static/favicon.svg?v=`
	if !strings.Contains(body, link) {
		t.Fatalf("the login page names no icon (%s)", link)
	}
	res = do(t, s, "GET", "/static/favicon.svg", nil)
	if b := readAll(t, res); res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "image/svg+xml") || !strings.Contains(b, "<svg") {
		t.Errorf("/static/favicon.svg: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

func TestLoginPageHasNoInlineScriptOrStyle(t *testing.T) {
	s, _ := newInfraServer(t, nil)
	for _, lang := range []string{"es", "en"} {
		res := do(t, s, "GET", "/login", nil, "Accept-Language", lang)
		body := readAll(t, res)
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
		if strings.Contains(body, "<style") || strings.Contains(body, "style=") || strings.Contains(body, "onclick") {
			t.Error("inline style or handler in the login page")
		}
		for _, script := range strings.Split(body, "<script")[1:] {
			if !strings.HasPrefix(strings.TrimSpace(script), "src=") {
				t.Errorf("inline script: %.60s", script)
			}
		}
		want := map[string]string{"es": "Iniciar sesión", "en": "Sign in"}[lang]
		if !strings.Contains(body, want) || !strings.Contains(body, `lang="`+lang+`"`) {
			t.Errorf("%s: login page lacks %q", lang, want)
		}
		if !strings.Contains(body, `action="/auth"`) || !strings.Contains(body, `name="username"`) {
			t.Error("login form does not post username to /auth")
		}
	}
}

func TestLangSwitch(t *testing.T) {
	s, _ := newInfraServer(t, nil)
	res := do(t, s, "GET", "/lang/en?next="+url.QueryEscape("/login?x=1"), nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?x=1" {
		t.Fatalf("status %d location %q", res.StatusCode, res.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "lang" {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != "en" {
		t.Fatalf("cookie %v", cookie)
	}
	// The cookie overrides Accept-Language.
	body := readAll(t, do(t, s, "GET", "/login", nil, "Accept-Language", "es", "Cookie", "lang=en"))
	if !strings.Contains(body, "Sign in") {
		t.Error("cookie did not override Accept-Language")
	}
	for _, next := range []string{"https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)"} {
		res := do(t, s, "GET", "/lang/es?next="+url.QueryEscape(next), nil)
		if loc := res.Header.Get("Location"); loc != "/" {
			t.Errorf("next %q redirected to %q", next, loc)
		}
	}
	if res := do(t, s, "GET", "/lang/fr", nil); res.StatusCode != 404 {
		t.Errorf("/lang/fr: %d", res.StatusCode)
	}
}

func TestCrossOriginRefused(t *testing.T) {
	s, _ := newInfraServer(t, nil)
	res := do(t, s, "POST", "/auth", strings.NewReader("username=a&password=b"),
		"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site")
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", res.StatusCode)
	}
	res = do(t, s, "POST", "/logout", nil, "Origin", "https://evil.example")
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin POST: %d", res.StatusCode)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	var fail error
	s, logs := newInfraServer(t, func(context.Context) error { return fail })
	if res := do(t, s, "GET", "/healthz", nil); res.StatusCode != 200 {
		t.Errorf("healthz %d", res.StatusCode)
	}
	if res := do(t, s, "GET", "/readyz", nil); res.StatusCode != 200 {
		t.Errorf("readyz %d", res.StatusCode)
	}
	fail = errors.New("schema behind")
	if res := do(t, s, "GET", "/readyz", nil); res.StatusCode != 503 {
		t.Errorf("readyz when not ready: %d", res.StatusCode)
	}
	do(t, s, "GET", "/no/such/page", nil)
	s.metrics.LoginFailed()
	// Metrics are served apart from the main listener (MetricsHandler).
	body := readAll(t, do(t, s.MetricsHandler(), "GET", "/metrics", nil))
	for _, want := range []string{
		`historia_http_requests_total{code="200",method="GET",route="GET /healthz"} 1`,
		`historia_http_requests_total{code="503",method="GET",route="GET /readyz"} 1`,
		`historia_http_requests_total{code="404",method="GET",route="/"} 1`,
		`historia_http_request_duration_seconds_bucket{route="GET /readyz",le="+Inf"} 2`,
		`historia_login_failures_total 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// One JSON log line per request, each with a request id.
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if id, _ := rec["request_id"].(string); len(id) != 16 {
			t.Errorf("log line without request id: %s", line)
		}
		n++
	}
	if n < 5 {
		t.Errorf("only %d log lines", n)
	}
}

func TestReadyWithoutDatabase(t *testing.T) {
	s, _ := newInfraServer(t, nil)
	if res := do(t, s, "GET", "/readyz", nil); res.StatusCode != 503 {
		t.Errorf("readyz without database: %d", res.StatusCode)
	}
}

func TestErrorsJSONForAPI(t *testing.T) {
	s, _ := newInfraServer(t, nil)
	res := do(t, s, "GET", "/api/v1/nothing", nil)
	if res.StatusCode != 404 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var e APIError
	if err := json.NewDecoder(res.Body).Decode(&e); err != nil || e.Error != "not_found" {
		t.Errorf("body %+v %v", e, err)
	}
}
