package web

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/historiaehr/historia/refserver/internal/syncbuf"
)

// TestMetricsNotPublic: by default the main listener does not serve
// /metrics (they go on their own listener, MetricsHandler); with a token
// it serves them to that bearer token only. The password-spraying alerts
// are a metric.
func TestMetricsNotPublic(t *testing.T) {
	rt, _ := newInfraServer(t, nil)
	if res := do(t, rt, "GET", "/metrics", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the main listener: %d, want 404", res.StatusCode)
	}
	var alerts uint64 = 3
	m := NewMetrics()
	m.WatchSpraying(func() uint64 { return alerts })
	withToken := New(Config{Logger: slog.New(slog.NewJSONHandler(&syncbuf.Buffer{}, nil)), Metrics: m, MetricsToken: "s3cret-token-of-the-scraper"})
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"Basic czNjcmV0", http.StatusUnauthorized},
		{"Bearer s3cret-token-of-the-scraper", http.StatusOK},
	} {
		res := do(t, withToken, "GET", "/metrics", nil, "Authorization", tc.auth)
		if res.StatusCode != tc.want {
			t.Errorf("GET /metrics with %q: %d, want %d", tc.auth, res.StatusCode, tc.want)
		}
	}
	body := readAll(t, do(t, withToken.MetricsHandler(), "GET", "/metrics", nil))
	if !strings.Contains(body, "historia_login_spraying_alerts_total 3") {
		t.Errorf("no spraying alerts metric:\n%s", body)
	}
}

// TestAPIRefusesNonJSONBodies: a request body to /api/v1 that is not
// application/json is refused with 415 and the JSON error shape.
func TestAPIRefusesNonJSONBodies(t *testing.T) {
	rt, _ := newInfraServer(t, nil)
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/jsonx", "text/json"} {
		res := do(t, rt, "POST", "/api/v1/patients", strings.NewReader(`{"a":1}`), "Content-Type", ct, "Sec-Fetch-Site", "same-origin")
		var e APIError
		json.NewDecoder(res.Body).Decode(&e)
		if res.StatusCode != http.StatusUnsupportedMediaType || e.Error != "unsupported_media_type" || e.Message == "" {
			t.Errorf("Content-Type %q: %d %+v, want 415 unsupported_media_type", ct, res.StatusCode, e)
		}
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON"} {
		if res := do(t, rt, "POST", "/api/v1/patients", strings.NewReader(`{"a":1}`), "Content-Type", ct); res.StatusCode == http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q refused", ct)
		}
	}
	// No body (an action such as disable): no type needed.
	if res := do(t, rt, "POST", "/api/v1/users/x/disable", nil); res.StatusCode == http.StatusUnsupportedMediaType {
		t.Error("a POST without a body was refused for its type")
	}
}
