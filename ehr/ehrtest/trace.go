package ehrtest

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Statement is one SQL statement sent to the server, with its arguments.
type Statement struct {
	SQL  string
	Args []any
}

// Recorder is a pgx tracer (pgx.QueryTracer and pgx.BatchTracer) that
// records every statement a pool sends, including each statement of a
// batch. Set it as the ConnConfig.Tracer of a pool (see OpenWith). It is
// safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	stmts []Statement
	trips int
}

func (r *Recorder) add(sql string, args []any) {
	r.mu.Lock()
	r.stmts = append(r.stmts, Statement{SQL: sql, Args: append([]any(nil), args...)})
	r.mu.Unlock()
}

// TraceQueryStart records the statement.
func (r *Recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	r.trips++
	r.mu.Unlock()
	r.add(d.SQL, d.Args)
	return ctx
}

// TraceQueryEnd does nothing.
func (r *Recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart counts a round trip: the statements are recorded one by
// one.
func (r *Recorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.mu.Lock()
	r.trips++
	r.mu.Unlock()
	return ctx
}

// TraceBatchQuery records one statement of a batch.
func (r *Recorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.add(d.SQL, d.Args)
}

// TraceBatchEnd does nothing.
func (r *Recorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// Statements returns the statements recorded so far, in order.
func (r *Recorder) Statements() []Statement {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Statement(nil), r.stmts...)
}

// Trips returns how many round trips were recorded so far: each
// statement sent on its own and each batch counts one.
func (r *Recorder) Trips() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.trips
}

// Reset forgets the statements and round trips recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.stmts, r.trips = nil, 0
	r.mu.Unlock()
}

// OpenWith opens a pool on url after configure has adjusted its
// configuration (for example to set a tracer), closed when the test ends.
func OpenWith(tb testing.TB, url string, configure func(*pgxpool.Config)) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatalf("ehrtest: parse pool config: %v", err)
	}
	if configure != nil {
		configure(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("ehrtest: open pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// NewRecordedDB returns a pool on a fresh, migrated database whose every
// statement is recorded by the returned Recorder.
func NewRecordedDB(tb testing.TB) (*pgxpool.Pool, *Recorder) {
	tb.Helper()
	rec := &Recorder{}
	pool := OpenWith(tb, NewURL(tb), func(c *pgxpool.Config) { c.ConnConfig.Tracer = rec })
	return pool, rec
}
