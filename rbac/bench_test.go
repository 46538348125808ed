package rbac_test

import (
	"strings"
	"testing"

	"github.com/historiaehr/historia/rbac"
)

// BenchmarkDecide measures Decide on each path of the request mix (allow and
// deny, conditions, bad input). Every case must report 0 allocs/op;
// TestDecideAllocs asserts it.
func BenchmarkDecide(b *testing.B) {
	e := newEngine(b, nil)
	for _, c := range decideCases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var d rbac.Decision
			for b.Loop() {
				d = e.Decide(c.p, c.a, c.k, c.t)
			}
			if d.Allowed != c.allow {
				b.Fatalf("Decide = %+v", d)
			}
		})
	}
}

// BenchmarkDecideParallel runs the allow path from all Ps at once: the
// engine is shared and has no locks.
func BenchmarkDecideParallel(b *testing.B) {
	e := newEngine(b, nil)
	c := decideCases[3] // careteam
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !e.Decide(c.p, c.a, c.k, c.t).Allowed {
				b.Error("denied")
				return
			}
		}
	})
}

// BenchmarkLoadPolicy measures parsing and compiling the default policy.
func BenchmarkLoadPolicy(b *testing.B) {
	data := defaultJSON(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rbac.LoadPolicy(strings.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
