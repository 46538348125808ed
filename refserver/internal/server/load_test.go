package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/refserver/internal/loadgen"
	"github.com/historiaehr/historia/refserver/internal/loadgen/baseline"
	"github.com/historiaehr/historia/refserver/internal/syncbuf"
)

// TestLoadDriver runs `historia load`'s driver against the whole server
// for two cycles of its schedule with 2 virtual users (about a second),
// and the baseline comparison: every endpoint of the mix is reached,
// nothing fails, and the server's metrics are read. It keeps the driver
// in step with the routes it drives.
func TestLoadDriver(t *testing.T) {
	const metricsToken = "metrics-token-of-the-load-test"
	f := newFixtureWith(t, func(c *Config) { c.MetricsToken = metricsToken })
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	start := func(audit bool) func(ctx context.Context, tenant string) (http.Handler, error) {
		return func(ctx context.Context, tenant string) (http.Handler, error) {
			if tenant != f.a.TenantID {
				t.Errorf("baseline for tenant %s, want %s", tenant, f.a.TenantID)
			}
			if audit {
				if err := baseline.PrepareAudit(ctx, f.pool); err != nil {
					return nil, err
				}
			}
			return baseline.New(f.pool, baseline.Options{Tenant: tenant, Audit: audit})
		}
	}
	mix := loadgen.Mix{loadgen.RoleMedico: 1, loadgen.RoleAdmisionista: 1, loadgen.RoleSecretaria: 1, loadgen.RolePaciente: 1}
	progress := &syncbuf.Buffer{}
	rep, err := loadgen.Run(t.Context(), loadgen.Config{URL: srv.URL, Password: testPassword, Concurrency: 2,
		// Two cycles of the schedule (its weights add up to 21), within
		// a minute at most.
		Requests: 42, Duration: time.Minute, Mix: mix,
		MetricsURL: srv.URL + "/metrics", MetricsToken: metricsToken,
		Baseline: start(false), BaselineAudited: start(true),
		Progress: progress, ProgressEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ph := range rep.Phases {
		names = append(names, ph.Name)
		for _, e := range ph.Endpoints {
			if e.Count == 0 || e.ErrorCount() > 0 || e.P50 <= 0 || e.P99 < e.P50 {
				t.Errorf("%s: %s: %d requests, errors %v, p50 %v p99 %v", ph.Name, e.Name, e.Count, e.Errors, e.P50, e.P99)
			}
		}
		if n, _, _ := ph.Total(); n != 42 {
			t.Errorf("%s: %d requests, want 42", ph.Name, n)
		}
		// The baselines run in the driver's process: no server figures.
		if s := ph.Server; strings.HasPrefix(ph.Name, "baseline") != (s == nil) || s != nil && (s.RSSAfter <= 0 || s.PoolMax <= 0 || s.Acquires <= 0) {
			t.Errorf("%s: server figures %+v", ph.Name, s)
		}
	}
	if got := strings.Join(names, ","); got != "mix,historia chart,baseline,baseline-audited" {
		t.Errorf("phases %s", got)
	}
	if n := len(rep.Phase("mix").Endpoints); n != 10 {
		t.Errorf("%d endpoints in the mix, want 10", n)
	}
	var text, md strings.Builder
	rep.WriteText(&text)
	rep.WriteMarkdown(&md)
	for _, want := range []string{"medico POST /api/v1/patients/{id}/notes", "the chart, side by side", "baseline-audited"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(md.String(), "| endpoint | count | req/s | p50 | p95 | p99 | max | errors |") {
		t.Errorf("markdown:\n%s", md.String())
	}
	t.Logf("\n%s", text.String())
}

// TestLoadDriverRefusesRemote: a target outside the loopback addresses
// needs AllowRemote.
func TestLoadDriverRefusesRemote(t *testing.T) {
	_, err := loadgen.Run(t.Context(), loadgen.Config{URL: "http://192.0.2.1:8080", Password: "x", Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("remote target: %v", err)
	}
}
