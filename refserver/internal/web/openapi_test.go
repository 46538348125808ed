package web

import (
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOpenAPICoversRoutes fails when a JSON route (and /auth, /logout,
// /healthz, /readyz, /metrics) is missing from openapi.yaml, or the spec
// names an operation that is not routed.
func TestOpenAPICoversRoutes(t *testing.T) {
	b, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	inSpec := map[string]bool{}
	for path, ops := range spec.Paths {
		for method := range ops {
			inSpec[strings.ToUpper(method)+" "+path] = true
		}
	}
	s := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: NewMetrics(), App: &App{}})
	routed := map[string]bool{}
	for _, r := range s.Routes() {
		method, path, _ := strings.Cut(r, " ")
		if strings.HasPrefix(path, "/api/") || path == "/auth" || path == "/logout" || path == "/healthz" || path == "/readyz" || path == "/metrics" {
			routed[method+" "+path] = true
		}
	}
	var missing, extra []string
	for r := range routed {
		if !inSpec[r] {
			missing = append(missing, r)
		}
	}
	for r := range inSpec {
		if !routed[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, r := range missing {
		t.Errorf("route %s is not in openapi.yaml", r)
	}
	for _, r := range extra {
		t.Errorf("openapi.yaml names %s, which is not routed", r)
	}
	if len(routed) < 10 {
		t.Fatalf("only %d routes found", len(routed))
	}
}
