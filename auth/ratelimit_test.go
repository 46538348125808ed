package auth

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRateLimiter: each key spends its burst, then regains one attempt per
// period/burst, never more than the burst; keys are independent.
func TestRateLimiter(t *testing.T) {
	clock := newFakeClock()
	l := NewRateLimiter(3, time.Minute, clock)
	for i := range 3 {
		if !l.Allow("192.0.2.1") {
			t.Fatalf("attempt %d of the burst refused", i+1)
		}
	}
	if l.Allow("192.0.2.1") {
		t.Fatal("4th attempt within the burst allowed")
	}
	if !l.Allow("192.0.2.2") {
		t.Fatal("another key refused")
	}
	clock.Advance(19 * time.Second)
	if l.Allow("192.0.2.1") {
		t.Fatal("allowed before one attempt (20 s) was regained")
	}
	clock.Advance(time.Second)
	if !l.Allow("192.0.2.1") {
		t.Fatal("refused after 20 s regained one attempt")
	}
	if l.Allow("192.0.2.1") {
		t.Fatal("regained more than one attempt in 20 s")
	}
	clock.Advance(time.Hour)
	n := 0
	for l.Allow("192.0.2.1") {
		n++
	}
	if n != 3 {
		t.Fatalf("after a long pause %d attempts, want the burst (3)", n)
	}
	// A refused attempt costs nothing: waiting 20 s still gives one.
	clock.Advance(20 * time.Second)
	if !l.Allow("192.0.2.1") {
		t.Fatal("refused attempts were charged")
	}
}

// TestRateLimiterDefaults: a zero burst and period mean 10 a minute.
func TestRateLimiterDefaults(t *testing.T) {
	l := NewRateLimiter(0, 0, newFakeClock())
	n := 0
	for l.Allow("k") {
		n++
	}
	if n != DefaultRateBurst {
		t.Fatalf("default burst %d, want %d", n, DefaultRateBurst)
	}
}

// TestRateLimiterTableIsBounded: the table never grows past maxKeys; a
// new key evicts the least recently used one only, so a draining key that
// keeps trying keeps its count however many new keys arrive.
func TestRateLimiterTableIsBounded(t *testing.T) {
	clock := newFakeClock()
	l := NewRateLimiter(2, time.Minute, clock)
	l.maxKeys = 4
	l.Allow("attacker")
	l.Allow("attacker")
	for i := range 3 {
		l.Allow(fmt.Sprintf("idle-%d", i))
	}
	l.Allow("new") // evicts "attacker", the least recently used
	if got := l.Len(); got != 4 {
		t.Fatalf("table has %d keys, want 4", got)
	}
	if !l.Allow("attacker") { // a fresh bucket
		t.Fatal("evicted key not started afresh")
	}
	// A flood of new keys, the attacker trying between them: its count
	// survives, and the table stays bounded.
	for i := range 100 {
		l.Allow(fmt.Sprintf("flood-%d", i))
		if i == 0 {
			l.Allow("attacker") // spends its second attempt
		} else if l.Allow("attacker") {
			t.Fatalf("after %d new keys the attacker's spent bucket was forgotten", i)
		}
		if l.Len() > l.maxKeys {
			t.Fatalf("table grew to %d keys, bound %d", l.Len(), l.maxKeys)
		}
	}
}

// TestClientKey: IPv4 by address, IPv6 by its /64.
func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
		{"", ""},
	} {
		if got := ClientKey(tc.in); got != tc.want {
			t.Errorf("ClientKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRateLimiterConcurrent: under concurrent use every key gets exactly
// its burst (run with -race).
func TestRateLimiterConcurrent(t *testing.T) {
	l := NewRateLimiter(5, time.Hour, newFakeClock())
	var allowed [4]atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 20 {
				k := g % len(allowed)
				if l.Allow(fmt.Sprint("key-", k)) {
					allowed[k].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for k := range allowed {
		if n := allowed[k].Load(); n != 5 {
			t.Errorf("key %d: %d attempts allowed, want 5", k, n)
		}
	}
}
