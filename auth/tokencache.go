package auth

import (
	"strings"
	"sync"
)

// DefaultTokenCacheSize is the default bound of a Service's cache of
// verified access tokens (Config.TokenCacheSize).
const DefaultTokenCacheSize = 4096

// tokenCacheSweep is how often, at most, an insertion sweeps the cache
// of entries past their token's expiry (seconds of the Clock).
const tokenCacheSweep = 60

// sigCache remembers access tokens whose signature verified, so that a
// Service verifying the same token again skips only the signature
// computation (see Issuer.verify). It is safe for concurrent use.
//
// A key is the exact token string, so an entry can never stand for other
// bytes. Its value is the *Key that verified the signature: an entry
// counts only while the key the token's header names in the current key
// set is that very object (a removed key's tokens are refused by the
// header lookup before the cache is asked; a key replaced by another
// object re-verifies). Entries are dropped once their token has expired
// (on its next use, and by a sweep at most once a minute on insertion),
// and the map never holds more than max entries: an insertion into a
// full cache first sweeps the expired entries, then, if it is still full,
// drops entries in map order (i.e. at random) until it is half full, so
// that the sweep's cost is spread over the next max/2 insertions.
type sigCache struct {
	max int

	mu        sync.RWMutex
	m         map[string]sigEntry
	nextSweep int64 // Clock time (Unix seconds) of the next sweep for expired entries
}

// sigEntry is what the cache knows of a token.
type sigEntry struct {
	key   *Key  // the key that verified the signature
	until int64 // Unix seconds from which Verify refuses the token as expired (exp + leeway)
}

// newSigCache returns a cache of at most max entries, or nil when max is
// not positive (no cache).
func newSigCache(max int) *sigCache {
	if max <= 0 {
		return nil
	}
	return &sigCache{max: max, m: make(map[string]sigEntry)}
}

// verified reports whether token's signature was verified by k, the key
// its header names in the current key set.
func (c *sigCache) verified(token string, k *Key) bool {
	c.mu.RLock()
	e, ok := c.m[token]
	c.mu.RUnlock()
	return ok && e.key == k
}

// add records that k verified token's signature; until is when the
// token expires (exp + leeway), now the current time, both Unix seconds.
func (c *sigCache) add(token string, k *Key, until, now int64) {
	if until <= now {
		return
	}
	e := sigEntry{key: k, until: until}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[token]; ok {
		c.m[token] = e // verified again, e.g. by a key that replaced the old one
		return
	}
	if now >= c.nextSweep || len(c.m) >= c.max {
		c.sweepLocked(now)
	}
	if len(c.m) >= c.max {
		n := len(c.m) - c.max/2
		for t := range c.m {
			if n == 0 {
				break
			}
			delete(c.m, t)
			n--
		}
	}
	// A copy, so that the entry does not pin a larger string (a request's
	// header block) the token may be a slice of.
	c.m[strings.Clone(token)] = e
}

// sweepLocked drops the entries of expired tokens; c.mu is held.
func (c *sigCache) sweepLocked(now int64) {
	for t, e := range c.m {
		if e.until <= now {
			delete(c.m, t)
		}
	}
	c.nextSweep = now + tokenCacheSweep
}

// remove drops token's entry.
func (c *sigCache) remove(token string) {
	c.mu.Lock()
	delete(c.m, token)
	c.mu.Unlock()
}

// size returns the number of entries.
func (c *sigCache) size() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
