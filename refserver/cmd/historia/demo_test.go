package main

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/historiaehr/historia/internal/pglocal"
)

// TestDemoSubprocess builds historia, runs `historia demo --postgres local`
// (the installed server binaries) with a few patients, signs in as the
// medico and stops it with SIGINT; a second run on the same data dir reuses
// the hospital. TestDemoDocker covers --postgres docker.
func TestDemoSubprocess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if _, err := pglocal.FindBinDir(); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	bin := filepath.Join(t.TempDir(), "historia")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dataDir, err := os.MkdirTemp("", "historia-demo-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dataDir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	for run := 1; run <= 2; run++ {
		cmd := exec.Command(bin, "demo", "--postgres", "local", "--addr", "127.0.0.1:0", "--patients", "3", "--demo-password", "demo-password-123", "--data-dir", dataDir)
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		base, reused := "", false
		deadline := time.After(3 * time.Minute)
	wait:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("demo exited before serving")
				}
				reused = reused || strings.Contains(l, "no re-seed")
				if m := regexp.MustCompile(`running at (http://\S+)/login`).FindStringSubmatch(l); m != nil {
					base = m[1]
					break wait
				}
			case <-deadline:
				cmd.Process.Kill()
				t.Fatal("demo did not start within 3 minutes")
			}
		}
		if run == 2 && !reused {
			t.Error("second run re-seeded instead of reusing the data dir")
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest("POST", base+"/auth", strings.NewReader(url.Values{"username": {"medico"}, "password": {"demo-password-123"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/medico" {
			t.Errorf("run %d: login as medico: %d %q", run, res.StatusCode, res.Header.Get("Location"))
		}
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run %d: demo exited with %v after SIGINT", run, err)
			}
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			t.Fatalf("run %d: demo did not stop on SIGINT", run)
		}
		// The database stopped too: its pid file is gone.
		if _, err := os.Stat(filepath.Join(dataDir, "pgdata", "postmaster.pid")); err == nil {
			t.Errorf("run %d: PostgreSQL still running after the demo stopped", run)
		}
	}
}
