package ehr_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
)

// tenantWideClients is the number of staff of one hospital that
// BenchmarkTenantWideReads runs at once, each a different user.
const tenantWideClients = 32

// BenchmarkTenantWideReads measures the throughput of tenant-wide reads
// (a patient search, a physician's list) of one hospital when
// tenantWideClients staff, each a different user, read at once: 32
// goroutines, each with its own actor, on a pool with a connection for
// each. Every such read appends its audit event to a tenant-wide chain
// and holds that chain head's row lock until it commits, so concurrent
// staff wait on one another when they share a chain. ns/op is the wall
// time per read across all clients; req/s is its inverse.
//
//	go test -run '^$' -bench TenantWideReads -benchtime 5s ./ehr
func BenchmarkTenantWideReads(b *testing.B) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(ehrtest.NewURL(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = tenantWideClients + 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	h := ehrtest.NewHospital(b, pool)
	var patients []ehr.Patient
	for range 60 {
		patients = append(patients, h.NewPatient(b))
	}
	// Each client is a physician of its own, on the care team of a few
	// patients (MyPatients lists them).
	clients := make([]context.Context, tenantWideClients)
	for i := range clients {
		med, pr := h.NewMedico(b, "Dr. Cliente")
		for j := range 3 {
			h.OnCareTeam(b, patients[(i*3+j)%len(patients)], pr)
		}
		clients[i] = h.As(med)
	}
	reads := []struct {
		name string
		read func(ctx context.Context) error
	}{
		{"SearchPatients", func(ctx context.Context) error {
			_, err := h.Repo.SearchPatients(ctx, ehr.PatientQuery{Family: "Pérez Núñez 1", Limit: 20})
			return err
		}},
		{"MyPatients", func(ctx context.Context) error {
			_, err := h.Repo.MyPatients(ctx)
			return err
		}},
	}
	for _, rd := range reads {
		b.Run(rd.name, func(b *testing.B) {
			for _, c := range clients { // warm the pool's connections
				if err := rd.read(c); err != nil {
					b.Fatal(err)
				}
			}
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((tenantWideClients + procs - 1) / procs)
			var next atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := clients[int(next.Add(1)-1)%len(clients)]
				for pb.Next() {
					if err := rd.read(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
