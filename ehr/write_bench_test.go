package ehr_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
)

// BenchmarkRegisterPatient measures the write path: RegisterPatient (one
// transaction: the document identifier, the patient row and its first
// version, the name index, the audit append, COMMIT) with and without the
// audit append (a test-only option), so that audited / unaudited is what
// the audit costs a write. With HISTORIA_TEST_PG_DURABLE=1
// (internal/pgtest) each COMMIT waits for its WAL flush, as in
// production.
//
// Each run of a sub-benchmark registers into a database of its own, so
// that both sides start from the same empty tables and grow them alike
// (later sub-benchmarks would otherwise insert into bigger indexes). The
// trigram index of patient names is a GIN index, whose pending list is
// merged by whichever insert finds it full, a pause of milliseconds every
// few hundred registrations; here it is built without one (fastupdate
// off), so every insert pays its own share.
func BenchmarkRegisterPatient(b *testing.B) {
	var n atomic.Int64
	for _, bc := range []struct {
		name string
		opts []ehr.Option
	}{{"audited", nil}, {"unaudited", []ehr.Option{ehr.WithoutAudit()}}} {
		b.Run(bc.name, func(b *testing.B) {
			pool := ehrtest.NewDB(b)
			logDurability(b, pool)
			if _, err := pool.Exec(context.Background(), `ALTER INDEX patients_search_name_trgm_idx SET (fastupdate = off)`); err != nil {
				b.Fatal(err)
			}
			h := ehrtest.NewHospital(b, pool, bc.opts...)
			ctx := h.As(h.Admisionista)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Repo.RegisterPatient(ctx, ehr.Patient{
					DocumentType:   "CC",
					DocumentNumber: fmt.Sprintf("W%09d", n.Add(1)),
					GivenNames:     "María José",
					FamilyNames:    "Núñez Pérez",
					BirthDate:      time.Date(1975, 3, 9, 0, 0, 0, 0, time.UTC),
					Sex:            ehr.SexFemale,
					Contact:        ehr.Contact{Phone: "+57 300 000 0000", Email: "paciente@example.org", Address: "Calle 1 # 2-3"},
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// logDurability logs the server's fsync, synchronous_commit and
// full_page_writes, so that a benchmark's output says which settings it
// measured.
func logDurability(b *testing.B, pool *pgxpool.Pool) {
	b.Helper()
	var fsync, syncCommit, fpw string
	if err := pool.QueryRow(context.Background(), `SELECT current_setting('fsync'), current_setting('synchronous_commit'),
  current_setting('full_page_writes')`).Scan(&fsync, &syncCommit, &fpw); err != nil {
		b.Fatal(err)
	}
	b.Logf("server: fsync=%s synchronous_commit=%s full_page_writes=%s", fsync, syncCommit, fpw)
}
