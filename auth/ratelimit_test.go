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

// TestRateLimiterTableIsBounded: the table never grows past maxKeys. A
// full table forgets the keys whose bucket has refilled (they lose
// nothing) and keeps a draining key's count; when every key is draining it
// forgets all.
func TestRateLimiterTableIsBounded(t *testing.T) {
	clock := newFakeClock()
	l := NewRateLimiter(2, time.Minute, clock)
	l.maxKeys = 4
	// A draining key, then keys that refill.
	l.Allow("attacker")
	l.Allow("attacker")
	for i := range 3 {
		l.Allow(fmt.Sprintf("idle-%d", i))
	}
	clock.Advance(40 * time.Second) // the idle keys (1 spent) are full again; the attacker has 1.33
	l.Allow("new")
	if got := len(l.buckets); got != 2 {
		t.Fatalf("table has %d keys after a sweep, want the attacker and the new key", got)
	}
	if !l.Allow("attacker") || l.Allow("attacker") {
		t.Fatal("the sweep lost the draining key's count")
	}
	// Every key draining: the table is cleared rather than grown.
	for i := range 10 {
		key := fmt.Sprintf("busy-%d", i)
		l.Allow(key)
		l.Allow(key)
		if len(l.buckets) > l.maxKeys {
			t.Fatalf("table grew to %d keys, bound %d", len(l.buckets), l.maxKeys)
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
