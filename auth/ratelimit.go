package auth

import (
	"sync"
	"time"
)

// Limiter decides whether a client may make one more login attempt. The
// key is the client's address. A server with several replicas may plug in a
// shared implementation.
type Limiter interface {
	Allow(key string) bool
}

// RateLimiter is an in-memory token-bucket Limiter: each key may make Burst
// attempts at once, and regains Burst attempts per Period. Its memory is
// bounded by MaxKeys. It is safe for concurrent use.
type RateLimiter struct {
	burst   float64
	rate    float64 // tokens per second
	maxKeys int
	clock   Clock

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
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
	return &RateLimiter{burst: float64(burst), rate: float64(burst) / period.Seconds(), maxKeys: defaultMaxKeys,
		clock: clockOr(clock), buckets: map[string]*bucket{}}
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
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt*l.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep forgets buckets that have refilled; if that frees nothing, it
// forgets all (bounded memory over perfect accounting).
func (l *RateLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= l.maxKeys {
		clear(l.buckets)
	}
}
