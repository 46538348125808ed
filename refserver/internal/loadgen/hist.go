package loadgen

import (
	"math/bits"
	"time"
)

// Latencies are kept in a log-linear histogram of microseconds, as HDR
// histograms do: values below 2^subBits µs each have a bucket of their
// own, and every later power of two is cut into 2^subBits equal buckets,
// so a percentile is read within 1/2^subBits (1.6 %) of the true value
// whatever the run's length, in a fixed 18 KiB per endpoint.
const (
	subBits  = 6
	subCount = 1 << subBits
	// maxExp covers 2^(maxExp+subBits) µs, about 9 hours.
	maxExp   = 29
	nBuckets = subCount * (maxExp + 2)
)

// histogram counts latencies. It is not safe for concurrent use.
type histogram struct {
	counts [nBuckets]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

// bucketOf returns the bucket of v µs.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1 // v>>e is in [subCount, 2*subCount)
	if e > maxExp {
		return nBuckets - 1
	}
	return subCount + e*subCount + int(v>>e) - subCount
}

// bucketHigh returns the largest value, in µs, of bucket i.
func bucketHigh(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	e := (i - subCount) / subCount
	m := uint64(subCount + (i-subCount)%subCount)
	return (m+1)<<e - 1
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d/time.Microsecond))]++
	h.n++
	h.sum += d
	h.max = max(h.max, d)
}

// merge adds the counts of o.
func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the latency under which a fraction q (0 < q ≤ 1) of
// the recorded values fall: the top of the bucket holding the rank
// ceil(q·n), never more than the largest value recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return min(time.Duration(bucketHigh(i))*time.Microsecond, h.max)
		}
	}
	return h.max
}

// mean returns the mean latency.
func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}
