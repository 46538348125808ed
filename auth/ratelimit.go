package auth

import (
	"container/list"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter decides whether a client may make one more login attempt. The
// key is ClientKey of the client's address. A server with several
// replicas may plug in a shared implementation.
type Limiter interface {
	Allow(key string) bool
}

// ClientKey is the rate-limiting key of a client address: an IPv4
// address (also written IPv4-mapped in IPv6) as itself, an IPv6 address
// as its /64 ("2001:db8:1:2::/64"), since one subscriber usually holds a
// whole /64 and can use any address in it. Anything else is returned
// unchanged.
func ClientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// RateLimiter is an in-memory token-bucket Limiter: each key may make Burst
// attempts at once, and regains Burst attempts per Period. Each key's
// bucket is a golang.org/x/time/rate.Limiter driven by the RateLimiter's
// clock. Its memory is bounded: with 100,000 keys it forgets the least
// recently used key to make room for a new one, one at a time, so a flood
// of new addresses never resets the buckets of the clients just seen. It is
// safe for concurrent use.
type RateLimiter struct {
	limit   rate.Limit
	burst   int
	maxKeys int
	clock   Clock

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket
	lru     list.List                // front: most recently used
}

type bucket struct {
	key string
	lim *rate.Limiter
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
		clock: clockOr(clock), buckets: map[string]*list.Element{}}
}

// Allow takes one attempt from key's bucket and reports whether there was
// one.
func (l *RateLimiter) Allow(key string) bool {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.buckets[key]
	if ok {
		l.lru.MoveToFront(el)
	} else {
		for len(l.buckets) >= l.maxKeys {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.buckets, old.Value.(*bucket).key)
		}
		el = l.lru.PushFront(&bucket{key: strings.Clone(key), lim: rate.NewLimiter(l.limit, l.burst)})
		l.buckets[key] = el
	}
	return el.Value.(*bucket).lim.AllowN(now, 1)
}

// Len returns the number of keys tracked.
func (l *RateLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
