package containertest

import (
	"testing"
	"time"
)

// TestContainerHealthy: the image's HEALTHCHECK (`historia healthcheck`,
// the binary probing its own /healthz, since the image has no shell or
// curl) turns the running server container healthy.
func TestContainerHealthy(t *testing.T) {
	if env == nil {
		t.Skip("no container environment (see TestMain's message)")
	}
	deadline := time.Now().Add(90 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		c, err := env.pool.Client.InspectContainer(env.server.Container.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Config.Healthcheck == nil || len(c.Config.Healthcheck.Test) == 0 {
			t.Fatal("the historia image has no HEALTHCHECK")
		}
		last = c.State.Health.Status
		switch last {
		case "healthy":
			return
		case "unhealthy":
			for _, l := range c.State.Health.Log {
				t.Logf("health check exit %d: %s", l.ExitCode, l.Output)
			}
			t.Fatal("the server container is unhealthy")
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("the server container is still %q after 90s", last)
}
