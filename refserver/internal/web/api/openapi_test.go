package api

import (
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// TestOpenAPICoversRoutes fails when a JSON route (and /auth, /logout,
// /healthz, /readyz, /metrics) is missing from openapi.yaml, or the spec
// names an operation that is not routed.
func TestOpenAPICoversRoutes(t *testing.T) {
	b, err := os.ReadFile("../../../openapi.yaml")
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
	a := app.New(app.Config{})
	// With a metrics token, /metrics is routed on the main listener too.
	s := web.New(web.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: web.NewMetrics(), App: a,
		MetricsToken: "a-token-for-the-scraper"})
	Mount(s, a)
	routed := map[string]bool{}
	for _, r := range s.Routes() {
		method, path, _ := strings.Cut(r, " ")
		if strings.HasPrefix(path, "/api/") || path == "/auth" || strings.HasPrefix(path, "/auth/") || path == "/logout" || path == "/healthz" || path == "/readyz" || path == "/metrics" {
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

// TestOpenAPIErrors: every error answer of every API operation is the one
// Error schema (a response of components/responses whose body is it),
// and every operation names it for the errors it does not list (default).
func TestOpenAPIErrors(t *testing.T) {
	b, err := os.ReadFile("../../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type response struct {
		Ref     string `yaml:"$ref"`
		Content map[string]struct {
			Schema struct {
				Ref string `yaml:"$ref"`
			} `yaml:"schema"`
		} `yaml:"content"`
	}
	var spec struct {
		Paths      map[string]map[string]struct{ Responses map[string]response } `yaml:"paths"`
		Components struct {
			Responses map[string]response `yaml:"responses"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	for name, r := range spec.Components.Responses {
		if r.Content["application/json"].Schema.Ref != "#/components/schemas/Error" {
			t.Errorf("response %s is not the Error schema", name)
		}
	}
	n := 0
	for path, ops := range spec.Paths {
		if !strings.HasPrefix(path, "/api/") {
			continue
		}
		for method, op := range ops {
			if _, ok := op.Responses["default"]; !ok {
				t.Errorf("%s %s has no default (Error) response", method, path)
			}
			for status, r := range op.Responses {
				if status != "default" && status < "400" {
					continue
				}
				n++
				name, ok := strings.CutPrefix(r.Ref, "#/components/responses/")
				if _, known := spec.Components.Responses[name]; !ok || !known {
					t.Errorf("%s %s: response %s is not one of components/responses (%q)", method, path, status, r.Ref)
				}
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d error responses found", n)
	}
}
