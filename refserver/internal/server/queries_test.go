package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/refserver/internal/demo"
)

// tripTracer records what a pool sends: each statement, and each round
// trip (a statement, or a batch of them).
type tripTracer struct {
	mu    sync.Mutex
	trips int
	sql   []string
}

func (t *tripTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	t.mu.Lock()
	t.trips++
	t.sql = append(t.sql, d.SQL)
	t.mu.Unlock()
	return ctx
}
func (t *tripTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (t *tripTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	t.mu.Lock()
	t.trips++
	t.mu.Unlock()
	return ctx
}
func (t *tripTracer) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	t.mu.Lock()
	t.sql = append(t.sql, d.SQL)
	t.mu.Unlock()
}
func (t *tripTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (t *tripTracer) reset() { t.mu.Lock(); t.trips, t.sql = 0, nil; t.mu.Unlock() }

// TestChartPageRoundTrips: a physician's chart page costs the chart (the
// care-team facts, then one batch) and one statement for every name it
// shows (the user in the header, the notes' authors); the tenant's name
// is read once per server. It no longer reads the user, the tenant and
// the whole practitioner list on every page, nor each author apart.
func TestChartPageRoundTrips(t *testing.T) {
	ctx := t.Context()
	url := ehrtest.NewURL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	err = Migrate(ctx, conn)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tr := &tripTracer{}
	pool := ehrtest.OpenWith(t, url, func(c *pgxpool.Config) { c.ConnConfig.Tracer = tr })
	a, err := demo.Seed(ctx, pool, 3, testPassword, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := Keys("", "")
	if err != nil {
		t.Fatal(err)
	}
	h, err := Handler(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), pool, keys, Config{Issuer: "test", IdleTimeout: time.Minute, LoginLimiter: allowAll{}}, a.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{h: h, a: a, pool: pool}
	cookies, _ := f.browserLogin(t, a.TenantID, "medico")
	page := "/medico/pacientes/" + a.PatientID
	first := body(t, f.get(page, cookies, ""))
	tr.reset()
	res := f.get(page, cookies, "")
	if b := body(t, res); res.StatusCode != http.StatusOK || b != first {
		t.Fatalf("the chart page again: status %d, and it differs from the first: %v", res.StatusCode, b != first)
	}
	if !strings.Contains(first, "Dra. Elena Ruiz Navarro") || !strings.Contains(first, `id="current-user">medico<`) || !strings.Contains(first, demo.HospitalName) {
		t.Error("the chart page lacks the author's name, the user or the hospital")
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.trips > 2 {
		t.Errorf("the chart page took %d round trips, want at most 2 (the chart, its care-team facts checked inside it; names):\n%s", tr.trips, strings.Join(tr.sql, "\n---\n"))
	}
	for _, sql := range tr.sql {
		sql = strings.Join(strings.Fields(sql), " ")
		for _, old := range []string{"FROM tenants", "FROM practitioners WHERE tenant_id", "FROM users WHERE tenant_id = $1 AND id = $2"} {
			if strings.Contains(sql, old) {
				t.Errorf("the chart page still reads %q", sql)
			}
		}
	}
}
