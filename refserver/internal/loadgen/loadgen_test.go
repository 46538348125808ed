package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	var all []time.Duration
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		// Log-uniform from 10 µs to 10 s.
		d := time.Duration(10e3 * math.Pow(10, rng.Float64()*6))
		h.record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		want := all[int(q*float64(len(all))+0.999999)-1]
		got := h.quantile(q)
		if diff := float64(got-want) / float64(want); diff < -1.0/subCount-1e-3 || diff > 1.0/subCount+1e-3 {
			t.Errorf("p%v = %v, want %v within %.1f %%", q*100, got, want, 100.0/subCount)
		}
	}
	if h.max != all[len(all)-1] || h.n != uint64(len(all)) {
		t.Errorf("max %v n %d, want %v %d", h.max, h.n, all[len(all)-1], len(all))
	}
	var m histogram
	m.merge(&h)
	if m.quantile(0.5) != h.quantile(0.5) || m.n != h.n {
		t.Error("merge changed the counts")
	}
}

func TestBuckets(t *testing.T) {
	for v := uint64(0); v < 1<<20; v += 7 {
		b := bucketOf(v)
		if v > bucketHigh(b) || (b > 0 && v <= bucketHigh(b-1)) {
			t.Fatalf("%d µs in bucket %d of (%d, %d]", v, b, bucketHigh(b-1), bucketHigh(b))
		}
	}
	if bucketOf(1<<62) != nBuckets-1 {
		t.Error("a huge value is not in the last bucket")
	}
}

func TestParseMix(t *testing.T) {
	m, err := ParseMix("medico=5, paciente=1,admisionista=0")
	if err != nil || m[RoleMedico] != 5 || m[RolePaciente] != 1 || m.String() != "medico=5,paciente=1" {
		t.Errorf("ParseMix: %v %v", m, err)
	}
	for _, bad := range []string{"", "medico=0", "medico", "medico=-1", "cirujano=3", "medico=x"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) accepted", bad)
		}
	}
	if got, err := ParseMix(DefaultMix.String()); err != nil || got.String() != DefaultMix.String() {
		t.Errorf("the default mix does not round-trip: %v %v", got, err)
	}
}

// TestSchedulerCycle: over one cycle of the weights (divided by their
// greatest common divisor) every action is picked exactly its weight's
// share of times.
func TestSchedulerCycle(t *testing.T) {
	s := newScheduler([]action{{weight: 200}, {weight: 150}, {weight: 50}, {weight: 20}, {weight: 10}})
	if s.total != 43 {
		t.Fatalf("cycle %d, want 43", s.total)
	}
	for round := range 3 {
		got := make([]int, 5)
		for range s.total {
			got[s.next()]++
		}
		if want := []int{20, 15, 5, 2, 1}; !slices.Equal(got, want) {
			t.Errorf("round %d: %v, want %v", round, got, want)
		}
	}
}
