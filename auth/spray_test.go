package auth

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestPasswordSprayingRaisesOneEventPerWindow: 20 distinct usernames
// failing within a minute in a tenant, from 20 addresses, raise one
// login.spraying event and one OnSpraying call; more failures in the same
// window raise nothing more; the next window raises again. 19 do not.
func TestPasswordSprayingRaisesOneEventPerWindow(t *testing.T) {
	ctx := context.Background()
	var calls []int
	e := newEnv(t, func(c *Config) {
		c.Limiter = allowAll{}
		c.OnSpraying = func(tn string, n int) {
			if tn != tenant {
				t.Errorf("OnSpraying tenant %q", tn)
			}
			calls = append(calls, n)
		}
	})
	e.createUser(t, "ana")
	spray := func(round, n int) {
		for i := range n {
			user := fmt.Sprintf("user%d-%d", round, i)
			if i == 0 {
				user = "ana" // a real account among them
			}
			_, _ = e.svc.Login(ctx, tenant, user, "Verano2025!!", fmt.Sprintf("203.0.113.%d", i+1))
			e.clock.Advance(2 * time.Second)
		}
	}
	spray(0, DefaultSprayThreshold-1)
	if n := countKind(kinds(e.events(t, tenant)), EventLoginSpraying); n != 0 || len(calls) != 0 {
		t.Fatalf("%d events, %d calls below the threshold", n, len(calls))
	}
	e.clock.Advance(DefaultSprayWindow)
	spray(1, DefaultSprayThreshold+5) // the 20th within the window alerts
	if n := countKind(kinds(e.events(t, tenant)), EventLoginSpraying); n != 1 || len(calls) != 1 || calls[0] != DefaultSprayThreshold {
		t.Fatalf("%d events, calls %v", n, calls)
	}
	if e.svc.SprayingAlerts() != 1 {
		t.Fatalf("counter %d", e.svc.SprayingAlerts())
	}
	e.clock.Advance(DefaultSprayWindow)
	spray(2, DefaultSprayThreshold)
	if n := countKind(kinds(e.events(t, tenant)), EventLoginSpraying); n != 2 || e.svc.SprayingAlerts() != 2 {
		t.Fatalf("next window: %d events, counter %d", n, e.svc.SprayingAlerts())
	}
	// Another tenant's failures are not counted with these.
	if n := countKind(kinds(e.events(t, "clinica-norte")), EventLoginSpraying); n != 0 {
		t.Fatal(n)
	}
	if _, err := VerifyEvents(ctx, e.pool, tenant); err != nil {
		t.Fatal(err)
	}
}
