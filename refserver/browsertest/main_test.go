package browsertest

import (
	"log"
	"log/slog"
	"os"
	"testing"

	"github.com/historiaehr/historia/internal/pgtest"
	"github.com/historiaehr/historia/refserver/internal/testlock"
)

// TestMain runs the tests, then stops the shared browser and the shared
// PostgreSQL server. It is ehrtest.Main with the browser stopped too
// (ehrtest.Main exits, so it cannot be followed by anything).
func TestMain(m *testing.M) {
	// The seeding code logs each user it creates; keep warnings only.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	// Chromium aborts page loads with ERR_NETWORK_CHANGED when the
	// container suite creates or removes a Docker network: never overlap.
	unlock, err := testlock.Acquire("browsertest", os.Stdout)
	if err != nil {
		log.Fatalf("browsertest: %v", err)
	}
	code := m.Run()
	stopBrowser()
	unlock()
	if err := pgtest.Close(); err != nil {
		log.Printf("pgtest: %v", err)
	}
	os.Exit(code)
}
