package server

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable auth.Clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// TestIdleTimeoutSendsBackToLogin: a browser session whose access token has
// expired is refreshed without the user noticing while they are active,
// and sent back to /login once they have been idle longer than the
// time-out.
func TestIdleTimeoutSendsBackToLogin(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	f := newFixtureWith(t, func(c *Config) { c.IdleTimeout = 30 * time.Minute; c.Clock = clock })
	cookies, home := f.browserLogin(t, f.a.TenantID, "medico")

	// Active: ten minutes later the access token (minutes of life) has
	// expired, the refresh token has not idled out.
	clock.Add(10 * time.Minute)
	res := f.get(home, cookies, "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("after 10 active minutes: status %d (location %q), want 200", res.StatusCode, res.Header.Get("Location"))
	}
	if len(res.Cookies()) == 0 {
		t.Fatal("the expired access token was not refreshed (no new cookies)")
	}
	cookies = merge(cookies, res.Cookies())

	// Idle for longer than the time-out: back to the login page.
	clock.Add(31 * time.Minute)
	res = f.get(home, cookies, "")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") == "" || res.Header.Get("Location")[:6] != "/login" {
		t.Fatalf("after 31 idle minutes: status %d, location %q, want a redirect to /login", res.StatusCode, res.Header.Get("Location"))
	}
}

// merge returns the cookies of a with those of b replacing same-named ones.
func merge(a, b []*http.Cookie) []*http.Cookie {
	byName := map[string]*http.Cookie{}
	var order []string
	for _, c := range append(append([]*http.Cookie{}, a...), b...) {
		if _, ok := byName[c.Name]; !ok {
			order = append(order, c.Name)
		}
		byName[c.Name] = c
	}
	out := make([]*http.Cookie, 0, len(order))
	for _, n := range order {
		if c := byName[n]; c.MaxAge >= 0 && c.Value != "" {
			out = append(out, c)
		}
	}
	return out
}
