// Package testlock serializes the heavy test suites of one machine: the
// container suite (which creates Docker networks and stops and starts
// PostgreSQL) and the browser suite (whose Chromium aborts page loads with
// ERR_NETWORK_CHANGED when a Docker network appears or goes). `go test`
// runs packages in parallel; each suite takes the lock in TestMain for its
// whole run.
package testlock

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// Name is the lock file's name in os.TempDir().
const Name = "historia-heavy-tests.lock"

// Acquire waits for the machine-wide lock of the heavy suites and returns
// the function that releases it. It says on w when it has to wait.
func Acquire(suite string, w io.Writer) (release func(), err error) {
	p := filepath.Join(os.TempDir(), Name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(w, "%s: waiting for %s (another heavy suite is running)\n", suite, p)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", p, err)
		}
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
