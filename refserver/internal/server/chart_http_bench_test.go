package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/demo"
	"github.com/historiaehr/historia/refserver/internal/loadgen/baseline"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// chartBench is the hospital of the chart-over-HTTP comparison: the demo
// seeded with its patients, the whole server (server.Handler, logging at
// info to nowhere, as `historia serve` logs) behind a real HTTP listener,
// and the medico's token and patients (the care team's).
type chartBench struct {
	url      string
	pool     *pgxpool.Pool
	tenant   string
	token    string
	patients []string
	client   *http.Client
}

// chartBenchPatients is how many patients the demo seeds: 12 are all in
// the medico's care, so parallel readers rarely read the same chart (and
// queue on its audit chain head).
const chartBenchPatients = 12

func newChartBench(tb testing.TB) *chartBench {
	tb.Helper()
	ctx := tb.Context()
	pool := testDB(tb)
	log := slog.New(web.NewLogHandler(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})))
	slog.SetDefault(log)
	res, err := demo.Seed(ctx, pool, chartBenchPatients, testPassword, io.Discard)
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := Keys("", "")
	if err != nil {
		tb.Fatal(err)
	}
	h, err := Handler(ctx, log, pool, keys, Config{Issuer: "test", IdleTimeout: time.Hour, LoginLimiter: allowAll{}}, res.TenantID)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost, t.DisableCompression = 64, 64, true
	cb := &chartBench{url: srv.URL, pool: pool, tenant: res.TenantID, client: &http.Client{Transport: t, Timeout: time.Minute}}
	tb.Cleanup(t.CloseIdleConnections)

	form := url.Values{"username": {app.RoleMedico}, "password": {testPassword}}
	r, err := cb.client.Post(srv.URL+"/auth", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(r.Body).Decode(&tok)
	r.Body.Close()
	if err != nil || tok.AccessToken == "" {
		tb.Fatalf("medico token: status %d %v", r.StatusCode, err)
	}
	cb.token = tok.AccessToken
	var mine struct {
		Patients []struct {
			ID string `json:"id"`
		} `json:"patients"`
	}
	if status := cb.getJSON(tb, srv.URL+"/api/v1/my-patients", cb.token, &mine); status != http.StatusOK {
		tb.Fatalf("my-patients: status %d", status)
	}
	for _, p := range mine.Patients {
		cb.patients = append(cb.patients, p.ID)
	}
	if len(cb.patients) != chartBenchPatients {
		tb.Fatalf("the medico has %d patients in care, want %d", len(cb.patients), chartBenchPatients)
	}
	return cb
}

// getJSON gets u (with bearer, if any) into v and returns the status.
func (cb *chartBench) getJSON(tb testing.TB, u, bearer string, v any) int {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := cb.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(v); err != nil {
			tb.Fatal(err)
		}
	}
	return res.StatusCode
}

// baseline serves the baseline server (with its audit append when
// audited) on the bench's database and returns its URL.
func (cb *chartBench) baseline(tb testing.TB, audited bool) string {
	tb.Helper()
	if audited {
		if err := baseline.PrepareAudit(tb.Context(), cb.pool); err != nil {
			tb.Fatal(err)
		}
	}
	h, err := baseline.New(cb.pool, baseline.Options{Tenant: cb.tenant, Audit: audited})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv.URL
}

// BenchmarkChartHTTP compares the chart over real HTTP: "historia" is GET
// /api/v1/patients/{id}/chart on the whole server as the medico
// (authentication, rbac with the care-team facts, the audited read in one
// transaction, the access log); "baseline" is package baseline's GET
// /chart/{id} on the same database and patients (the same SQL and JSON,
// nothing else); "baseline-audited" is the baseline with the audit
// append, so baseline-audited − baseline is what the audit itself costs
// and historia − baseline-audited the rest (auth, rbac, facts, logging,
// middleware). Each request reads the next patient in turn; allocations
// count client and server (one process).
//
//	HISTORIA_TEST_PG_IMAGE=historia/postgres:15-bookworm \
//	  go test -run '^$' -bench ChartHTTP -benchtime 3s -count 3 ./internal/server
func BenchmarkChartHTTP(b *testing.B) {
	cb := newChartBench(b)
	run := func(b *testing.B, base, path, bearer string) {
		var next atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := cb.patients[next.Add(1)%uint64(len(cb.patients))]
				req, _ := http.NewRequest(http.MethodGet, base+strings.Replace(path, "{id}", id, 1), nil)
				if bearer != "" {
					req.Header.Set("Authorization", "Bearer "+bearer)
				}
				res, err := cb.client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Errorf("status %d", res.StatusCode)
					return
				}
			}
		})
	}
	b.Run("historia", func(b *testing.B) { run(b, cb.url, "/api/v1/patients/{id}/chart", cb.token) })
	plain := cb.baseline(b, false)
	b.Run("baseline", func(b *testing.B) { run(b, plain, "/chart/{id}", "") })
	audited := cb.baseline(b, true)
	b.Run("baseline-audited", func(b *testing.B) { run(b, audited, "/chart/{id}", "") })
}

// TestBaselineChartMatchesAPI: the baseline's chart is the API's, field
// for field, for every patient of the medico (so the benchmark compares
// the same work), audited or not.
func TestBaselineChartMatchesAPI(t *testing.T) {
	cb := newChartBench(t)
	for _, audited := range []bool{false, true} {
		base := cb.baseline(t, audited)
		for _, id := range cb.patients {
			var want, got map[string]any
			if s := cb.getJSON(t, cb.url+"/api/v1/patients/"+id+"/chart", cb.token, &want); s != http.StatusOK {
				t.Fatalf("historia chart %s: %d", id, s)
			}
			if s := cb.getJSON(t, base+"/chart/"+id, "", &got); s != http.StatusOK {
				t.Fatalf("baseline chart %s (audited %v): %d", id, audited, s)
			}
			// The sections' cursors are ehr's, which the baseline cannot
			// make (it gives a placeholder), and their windows start at
			// each server's now: compare whether there is a next, and
			// the counts.
			for _, c := range []map[string]any{want, got} {
				ss, _ := c["sections"].(map[string]any)
				for _, v := range ss {
					m, _ := v.(map[string]any)
					m["next"] = m["next"] != nil
					delete(m, "since")
				}
			}
			for k := range want {
				if !reflect.DeepEqual(want[k], got[k]) {
					t.Errorf("chart %s, audited %v: section %q differs", id, audited, k)
				}
			}
			if len(got) != len(want) {
				t.Errorf("chart %s: %d sections, want %d", id, len(got), len(want))
			}
		}
	}
	// Not found and malformed ids, as the API answers them.
	base := cb.baseline(t, false)
	for path, want := range map[string]int{"/chart/" + cb.tenant: http.StatusNotFound, "/chart/x": http.StatusBadRequest} {
		if s := cb.getJSON(t, base+path, "", nil); s != want {
			t.Errorf("baseline %s: %d, want %d", path, s, want)
		}
	}
}
