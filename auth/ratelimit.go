package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter decides whether a client may make one more login attempt. The
// key is the client's address. A server with several replicas may plug in a
// shared implementation.
type Limiter interface {
	Allow(key string) bool
}

// RateLimiter is an in-memory token-bucket Limiter: each key may make Burst
// attempts at once, and regains Burst attempts per Period. Each key's
// bucket is a golang.org/x/time/rate.Limiter driven by the RateLimiter's
// clock. Its memory is bounded: past 100,000 keys it forgets the keys whose
// bucket is full again (as if new), and if all are still draining, all of
// them. It is safe for concurrent use.
type RateLimiter struct {
	limit   rate.Limit
	burst   int
	maxKeys int
	clock   Clock

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// Default login rate limit: 10 attempts per client per minute.
const (
	DefaultRateBurst  = 10
	DefaultRatePeriod = time.Minute
	defaultMaxKeys    = 100_000
)

// NewRateLimiter returns a limiter allowing burst attempts per period per
// key; clock may be nil for the system clock.
func NewRateLimiter(burst int, period time.Duration, clock Clock) *RateLimiter {
	if burst <= 0 {
		burst = DefaultRateBurst
	}
	if period <= 0 {
		period = DefaultRatePeriod
	}
	return &RateLimiter{limit: rate.Limit(float64(burst) / period.Seconds()), burst: burst, maxKeys: defaultMaxKeys,
		clock: clockOr(clock), buckets: map[string]*rate.Limiter{}}
}

// Allow takes one attempt from key's bucket and reports whether there was
// one.
func (l *RateLimiter) Allow(key string) bool {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxKeys {
			l.sweep(now)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	return b.AllowN(now, 1)
}

// sweep forgets buckets that have refilled; if that frees nothing, it
// forgets all (bounded memory over perfect accounting).
func (l *RateLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= l.maxKeys {
		clear(l.buckets)
	}
}
