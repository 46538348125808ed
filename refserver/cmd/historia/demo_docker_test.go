package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/internal/pgtest"
)

// fakeHost is a machine with or without PostgreSQL's server binaries and a
// Docker engine.
func fakeHost(binaries, dockerEngine bool) postgresHost {
	h := postgresHost{volume: "historia-demo-never-used"}
	h.binDir = func() (string, error) {
		if binaries {
			return "/usr/lib/postgresql/15/bin", nil
		}
		return "", errors.New("pglocal: no PostgreSQL server binaries (initdb and postgres) found")
	}
	h.docker = func(context.Context) error {
		if dockerEngine {
			return nil
		}
		return errDockerMissing
	}
	return h
}

// TestDemoChoosePostgres: --postgres auto prefers the installed binaries,
// then Docker; local and docker take only their own, and say what is
// missing.
func TestDemoChoosePostgres(t *testing.T) {
	for _, tc := range []struct {
		mode             string
		binaries, docker bool
		want             string   // the choice, or "" for an error
		says             []string // in the error
	}{
		{postgresAuto, true, true, postgresLocal, nil},
		{postgresAuto, true, false, postgresLocal, nil},
		{postgresAuto, false, true, postgresDocker, nil},
		{postgresAuto, false, false, "", []string{"sudo apt-get install postgresql", "docs.docker.com/engine/install", "--database-url", "no PostgreSQL server binaries", "no docker command"}},
		{postgresLocal, true, true, postgresLocal, nil},
		{postgresLocal, false, true, "", []string{"--postgres local", "no PostgreSQL server binaries"}},
		{postgresDocker, true, true, postgresDocker, nil},
		{postgresDocker, true, false, "", []string{"--postgres docker", "Docker is not installed"}},
	} {
		name := tc.mode + "/binaries=" + strconv.FormatBool(tc.binaries) + "/docker=" + strconv.FormatBool(tc.docker)
		t.Run(name, func(t *testing.T) {
			got, err := fakeHost(tc.binaries, tc.docker).choose(context.Background(), tc.mode)
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Fatalf("choose = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("choose = %q, want an error", got)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q:\n%v", s, err)
				}
			}
		})
	}
}

// TestDemoWithoutPostgres: on a machine with neither PostgreSQL's server
// binaries nor Docker, historia demo stops before doing anything and says
// what to install.
func TestDemoWithoutPostgres(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := runDemo(context.Background(), []string{"--addr", "127.0.0.1:0"}, &stdout, &stderr, noEnv, fakeHost(false, false))
	if !errors.Is(err, errNoPostgres) || exitCode(err) != 1 {
		t.Fatalf("err = %v (exit %d), want errNoPostgres (exit 1)", err, exitCode(err))
	}
	t.Logf("the message:\nhistoria: %v", err)
	for _, want := range []string{
		"neither PostgreSQL's server binaries nor a Docker engine",
		"Debian's postgresql package:  sudo apt-get install postgresql",
		"Docker (https://docs.docker.com/engine/install/), with its engine started",
		"historia demo --database-url URL",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q", want)
		}
	}
	if stdout.Len() > 0 {
		t.Errorf("printed %q before refusing", stdout.String())
	}
}

// TestDemoPostgresUsageErrors: --postgres mistakes, and a demo password the
// accounts would refuse, are usage errors before anything starts.
func TestDemoPostgresUsageErrors(t *testing.T) {
	const unreachable = "postgres://nobody:secret@127.0.0.1:1/none"
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--postgres", "podman"}, "--postgres"},
		{[]string{"--postgres", "docker", "--database-url", unreachable}, "--postgres"},
		{[]string{"--demo-password", "corta"}, "shorter than 12"},
		{[]string{"--demo-password", "medico"}, "--demo-password"},
	} {
		var stdout, stderr bytes.Buffer
		err := runDemo(context.Background(), tc.args, &stdout, &stderr, noEnv, fakeHost(false, false))
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("demo %v: %v, want a usage error naming %s", tc.args, err, tc.says)
		}
		if stdout.Len() > 0 {
			t.Errorf("demo %v printed %q", tc.args, stdout.String())
		}
	}
}

// needDemoDocker returns when a Docker engine answers and the local
// PostgreSQL image is present (the demo would pull the official one
// otherwise); else it skips the test, or fails it under CI=true.
func needDemoDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs PostgreSQL containers")
	}
	ctx := context.Background()
	err := dockerAnswers(ctx)
	if err == nil {
		if _, ierr := docker(ctx, nil, nil, "image", "inspect", demoLocalImage); ierr != nil {
			err = errors.New("image " + demoLocalImage + " is not present (internal/pgimage/build.sh builds it): " + ierr.Error())
		}
	}
	if err != nil {
		if pgtest.InCI() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// startDemoOn is startDemo (demo_db_test.go) with host's lookups.
func startDemoOn(t *testing.T, host postgresHost, args ...string) (*runningDemo, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &runningDemo{out: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	var errOut syncBuffer
	go func() { d.done <- runDemo(ctx, args, d.out, &errOut, noEnv, host) }()
	deadline := time.After(5 * time.Minute)
	for {
		if m := runningAt.FindStringSubmatch(d.out.String()); m != nil {
			d.base = m[1]
			t.Cleanup(func() { d.stop(t) })
			return d, nil
		}
		select {
		case err := <-d.done:
			cancel()
			if err == nil {
				t.Fatalf("demo %v ended without serving:\n%s", args, d.out.String())
			}
			return nil, err
		case <-deadline:
			cancel()
			t.Fatalf("demo %v did not serve within 5 minutes:\n%s\n%s", args, d.out.String(), errOut.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// psqlIn runs a query in the demo's database inside container name and
// returns its single value.
func psqlIn(t *testing.T, name, sql string) string {
	t.Helper()
	out, err := docker(context.Background(), nil, nil, "exec", name, "psql", "-X", "-tA", "-U", "postgres", "-d", "historia", "-c", sql)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func containerExists(name string) bool {
	_, err := docker(context.Background(), nil, nil, "container", "inspect", name)
	return err == nil
}

// TestDemoDocker runs historia demo --postgres docker as a newcomer without
// PostgreSQL's binaries would (auto chooses the same path there): a
// container of the local image on a named volume, seeded on the first run
// (tenant, users, patients; a login works), the container removed on
// Ctrl-C and the data kept; a stopped leftover container of a killed demo
// is cleared, a running one refused; the second run reuses the volume
// without re-seeding and prints the stored password; --data-dir keeps the
// data in a directory instead.
func TestDemoDocker(t *testing.T) {
	needDemoDocker(t)
	ctx := context.Background()
	host := hostPostgres()
	host.volume = "historia-demo-test-" + randomHex(4)
	name := containerName(dockerOptions{Volume: host.volume})
	t.Cleanup(func() {
		_, _ = docker(ctx, nil, nil, "rm", "--force", name)
		if _, err := docker(ctx, nil, nil, "volume", "rm", host.volume); err != nil {
			t.Logf("remove volume: %v", err)
		}
	})
	const pw = "demo-password-123"
	args := []string{"--postgres", "docker", "--addr", "127.0.0.1:0", "--patients", "3"}

	// First run: a new volume, seeded.
	d, err := startDemoOn(t, host, append(args, "--demo-password", pw)...)
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	out := d.out.String()
	for _, want := range []string{"container " + name, "image " + demoLocalImage, "data in Docker volume " + host.volume, "Seeding", pw} {
		if !strings.Contains(out, want) {
			t.Errorf("first run output lacks %q:\n%s", want, out)
		}
	}
	if n := psqlIn(t, name, `SELECT count(*) FROM tenants WHERE name = 'Hospital Demo'`); n != "1" {
		t.Errorf("demo tenants: %s, want 1", n)
	}
	if n := psqlIn(t, name, demoUsers); n != "7" {
		t.Errorf("demo users: %s, want 7", n)
	}
	if n := psqlIn(t, name, `SELECT count(*) FROM patients`); n != "3" {
		t.Errorf("patients: %s, want 3", n)
	}
	if port, err := docker(ctx, nil, nil, "port", name, "5432/tcp"); err != nil || !strings.HasPrefix(port, "127.0.0.1:") {
		t.Errorf("published port %q (%v), want one on 127.0.0.1 only", port, err)
	}
	if code, loc := login(t, d.base, "medico", pw); code != http.StatusSeeOther || loc != "/medico" {
		t.Errorf("login as medico: %d %q", code, loc)
	}
	d.stop(t)
	if containerExists(name) {
		t.Error("the container is still there after Ctrl-C")
	}
	if !strings.Contains(d.out.String(), "stopped; the demo's data is in Docker volume "+host.volume) {
		t.Errorf("the demo did not say where the data stays:\n%s", d.out.String())
	}
	if _, err := docker(ctx, nil, nil, "volume", "inspect", host.volume); err != nil {
		t.Fatalf("the volume is gone after Ctrl-C: %v", err)
	}

	// A demo killed outright leaves its container: a running one is
	// refused (another demo may use the data), a stopped one cleared.
	if _, err := docker(ctx, nil, nil, "run", "--detach", "--name", name, "--label", demoLabel+"=test", demoLocalImage, "sleep", "300"); err != nil {
		t.Fatal(err)
	}
	err = runDemo(ctx, args, &bytes.Buffer{}, &bytes.Buffer{}, noEnv, host)
	if err == nil || !strings.Contains(err.Error(), "docker rm -f "+name) {
		t.Errorf("with the container of another demo running: %v, want a refusal naming docker rm -f", err)
	}
	if _, err := docker(ctx, nil, nil, "rm", "--force", name); err != nil {
		t.Fatal(err)
	}
	if _, err := docker(ctx, nil, nil, "create", "--name", name, "--label", demoLabel+"=test", demoLocalImage); err != nil {
		t.Fatal(err)
	}

	// Second run: the same volume, no re-seed, the stored password.
	d, err = startDemoOn(t, host, args...)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	out = d.out.String()
	if !strings.Contains(out, "no re-seed") || !strings.Contains(out, pw) {
		t.Errorf("second run did not reuse the hospital with its password:\n%s", out)
	}
	if n := psqlIn(t, name, `SELECT count(*) FROM tenants`); n != "1" {
		t.Errorf("tenants after the second run: %s, want 1", n)
	}
	if code, loc := login(t, d.base, "medico", pw); code != http.StatusSeeOther || loc != "/medico" {
		t.Errorf("second run: login as medico: %d %q", code, loc)
	}
	d.stop(t)

	// --data-dir: the data in a directory, bind-mounted.
	dir, err := os.MkdirTemp("", "historia-demo-docker-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The cluster's files belong to the container's postgres account:
		// remove them from a container.
		_, _ = docker(ctx, nil, nil, "run", "--rm", "--volume", dir+":/d", "--entrypoint", "rm", demoLocalImage, "-rf", "/d/pgdata")
		os.RemoveAll(dir)
	})
	dirName := containerName(dockerOptions{Dir: dir})
	t.Cleanup(func() { _, _ = docker(ctx, nil, nil, "rm", "--force", dirName) })
	d, err = startDemoOn(t, host, append(args, "--data-dir", dir, "--demo-password", pw)...)
	if err != nil {
		t.Fatalf("--data-dir: %v", err)
	}
	if !strings.Contains(d.out.String(), "data in "+dir) {
		t.Errorf("--data-dir output does not name the directory:\n%s", d.out.String())
	}
	// pgdata belongs to the container's postgres account: only its
	// presence can be checked from here.
	for _, f := range []string{"pgdata", "demo-password"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("the data dir lacks %s: %v", f, err)
		}
	}
	if code, loc := login(t, d.base, "admin", pw); code != http.StatusSeeOther || loc == "/login" {
		t.Errorf("--data-dir: login as admin: %d %q", code, loc)
	}
	d.stop(t)
	if containerExists(dirName) {
		t.Error("the --data-dir container is still there after Ctrl-C")
	}
}
