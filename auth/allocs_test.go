package auth

import "testing"

// TestVerifyAllocationBudget holds a full access-token verification (the
// middleware's work on every request) to today's allocation count
// (2026-12-01, Go 1.26): EdDSA 6 (ed25519.Verify itself makes 1), HS256
// 12. BenchmarkVerify measures the same; docs/performance.md says where
// the allocations go. Lower a budget when a change saves allocations.
func TestVerifyAllocationBudget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		alg    Algorithm
		budget float64
	}{{"eddsa", EdDSA, 6}, {"hs256", HS256, 12}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTokenEnv(t, tc.alg)
			tok := e.issue(t)
			var err error
			n := testing.AllocsPerRun(200, func() {
				if _, verr := e.iss.Verify(tok); verr != nil {
					err = verr
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if n > tc.budget {
				t.Errorf("Verify (%s) makes %.0f allocations, budget %.0f", tc.name, n, tc.budget)
			}
			t.Logf("Verify (%s): %.0f allocations (budget %.0f)", tc.name, n, tc.budget)
		})
	}
}
