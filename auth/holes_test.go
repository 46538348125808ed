package auth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestLoginLimiterKeysIPv6BySlash64 (reported hole): two addresses of
// one IPv6 /64 are one client for the login limiter.
func TestLoginLimiterKeysIPv6BySlash64(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limiter = NewRateLimiter(2, time.Hour, nil) })
	e.createUser(t, "ana")
	ctx := context.Background()
	for i := range 2 {
		_, _ = e.svc.Login(ctx, tenant, "ana", "wrong password!!", fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	if _, err := e.svc.Login(ctx, tenant, "ana", password, "2001:db8:1:2:ffff::9"); err != ErrRateLimited {
		t.Fatalf("third address of the same /64: %v, want ErrRateLimited", err)
	}
}

// TestLimiterFullTableKeepsRecentBuckets (reported hole): a full
// table does not forget a draining key that was just used.
func TestLimiterFullTableKeepsRecentBuckets(t *testing.T) {
	l := NewRateLimiter(2, time.Hour, newFakeClock())
	l.maxKeys = 4
	for i := range 10 {
		l.Allow("attacker")
		l.Allow(fmt.Sprint("other-", i))
	}
	if l.Allow("attacker") {
		t.Fatal("the attacker's spent bucket was forgotten when the table filled")
	}
}

// TestAccessTokenRefusedAfterLogout (reported hole): an access token is
// refused at once after its session ends.
func TestAccessTokenRefusedAfterLogout(t *testing.T) {
	e := newEnv(t)
	e.createUser(t, "ana")
	ctx := context.Background()
	tok, err := e.svc.Login(ctx, tenant, "ana", password, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Logout(ctx, tok.RefreshToken, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/api/v1/x", nil)
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	w := httptest.NewRecorder()
	e.svc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})).ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("access token after logout: %d", w.Code)
	}
}
