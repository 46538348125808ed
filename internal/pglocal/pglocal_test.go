package pglocal_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/internal/pglocal"
	"github.com/historiaehr/historia/internal/pgtest"
)

func binDir(t *testing.T) string {
	t.Helper()
	dir, err := pglocal.FindBinDir()
	if err != nil {
		pgtest.Unavailable(t, err)
	}
	return dir
}

// TestRestartReusesCluster starts a server, writes a row, stops it, starts
// it again on the same directory and reads the row back with the same
// password.
func TestRestartReusesCluster(t *testing.T) {
	bin := binDir(t)
	ctx := context.Background()
	dir := filepath.Join(tmpDir(t), "cluster")

	inst, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, BinDir: bin})
	if err != nil {
		t.Fatal(err)
	}
	firstURL := inst.URL("postgres")
	exec(t, firstURL, `CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')`)
	if err := inst.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := inst.Stop(); err != nil { // idempotent
		t.Fatal(err)
	}
	select {
	case <-inst.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}

	inst2, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, BinDir: bin})
	if err != nil {
		t.Fatal(err)
	}
	defer inst2.Stop()
	conn, err := pgx.Connect(ctx, inst2.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v); err != nil || v != "still here" {
		t.Fatalf("after restart: %q, %v", v, err)
	}
	// Only 127.0.0.1, and a password is required.
	bad := strings.Replace(inst2.URL("postgres"), ":"+passwordOf(t, dir)+"@", ":wrong@", 1)
	if c, err := pgx.Connect(ctx, bad); err == nil {
		c.Close(ctx)
		t.Fatal("connected with a wrong password")
	}
}

// TestUnreachableDataDir checks the clear error when, as root, the data
// directory sits below a folder the server account cannot search.
func TestUnreachableDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs the server as another account")
	}
	bin := binDir(t)
	parent := t.TempDir()
	if err := os.Chmod(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := pglocal.Start(context.Background(), pglocal.Options{Dir: filepath.Join(parent, "db"), BinDir: bin})
	if err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("err = %v, want a 'not reachable' error", err)
	}
}

func TestStartNeedsDir(t *testing.T) {
	if _, err := pglocal.Start(context.Background(), pglocal.Options{}); err == nil || !strings.Contains(err.Error(), "Dir") {
		t.Fatalf("err = %v, want one naming Options.Dir", err)
	}
}

// tmpDir returns a directory every account can traverse (t.TempDir is 0700).
func tmpDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "pglocal-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func passwordOf(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "password"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func exec(t *testing.T, url, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}
