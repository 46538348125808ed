package ehr_test

import (
	"testing"

	"github.com/historiaehr/historia/ehr/ehrtest"
)

// Allocation budgets of the hot paths, against a real database: today's
// count (2026-12-01/02, pgx v5.13.0, Go 1.26) with a little headroom, so a
// change that makes them allocate more fails here rather than in a
// benchmark nobody reads. Lower a budget when a change saves allocations.
// BenchmarkGetPatient and BenchmarkChart measure the same paths. Under
// the race detector sync.Pool drops items at random, so pgx's buffer
// pools allocate a little more (113 and about 1,253): the budgets hold
// for both, as CI runs the tests with -race.
const (
	// getPatientAllocs: a physician's audited read of one patient, the
	// care-team facts read with the row (the contact rule): 112 (130 when
	// the facts were a statement of their own, before 2026-12-02).
	getPatientAllocs = 116
	// chartAllocs: a physician's chart of seedChart's patient: 1,231
	// (1,646 before the sections scanned ids as pgtype.UUID, 2026-12-02).
	chartAllocs = 1300
)

// TestReadAllocationBudgets holds GetPatient and Chart to their budgets.
func TestReadAllocationBudgets(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	p := h.NewPatient(t)
	seedChart(t, h, p)
	ctx := h.As(h.Medico)
	for _, tc := range []struct {
		name   string
		budget float64
		read   func() error
	}{
		{"GetPatient", getPatientAllocs, func() error { _, err := h.Repo.GetPatient(ctx, p.ID); return err }},
		{"Chart", chartAllocs, func() error { _, err := h.Repo.Chart(ctx, p.ID); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			n := testing.AllocsPerRun(100, func() {
				if e := tc.read(); e != nil {
					err = e
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if n > tc.budget {
				t.Errorf("%s makes %.0f allocations, budget %.0f", tc.name, n, tc.budget)
			}
			t.Logf("%s: %.0f allocations (budget %.0f)", tc.name, n, tc.budget)
		})
	}
}
