package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// The demo runs PostgreSQL in a container with the docker command rather
// than a Docker client library: the command follows the user's Docker
// context (Docker Desktop, colima and rootless Docker put the engine's
// socket where only the context knows it), and the historia binary, which
// also serves production, links no Docker client.

// Images of the demo's container: the one internal/pgimage/build.sh builds
// from Debian's packages when present, else the official one, pulled.
const (
	demoLocalImage    = "historia/postgres:15-bookworm"
	demoOfficialImage = "postgres:16"
)

// demoLabel marks the demo's containers; its value is the data's place.
const demoLabel = "org.historiaehr.demo"

// Inside the container: the mount point of the data (volume or directory),
// the cluster below it, and the demo's own files beside the cluster.
const (
	containerMount  = "/var/lib/postgresql/data"
	containerPGData = containerMount + "/pgdata"
)

// dockerOptions configure startDockerPostgres.
type dockerOptions struct {
	// Volume is the named volume holding the data, unless Dir is set.
	Volume string
	// Dir, when set, is a host directory bind-mounted instead of Volume.
	Dir string
	// Progress receives what the demo says while it prepares (a pull).
	Progress io.Writer
	// ReadyTimeout bounds the wait for the server; zero means 3 minutes.
	ReadyTimeout time.Duration
}

// dockerServer is PostgreSQL in a container of the demo's.
type dockerServer struct {
	name     string // container
	where    string // "Docker volume X" or the directory
	image    string
	password string
	hostPort string

	done     chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// containerName names the container of a data place: one container per
// volume or directory, so two demos never run on the same data.
func containerName(o dockerOptions) string {
	if o.Dir != "" {
		sum := sha256.Sum256([]byte(o.Dir))
		return "historia-demo-postgres-" + hex.EncodeToString(sum[:4])
	}
	return o.Volume + "-postgres"
}

// startDockerPostgres runs PostgreSQL in a new container on the data of
// opts (initialized on first use, reused after) and waits until it answers
// a query. Its superuser gets a new random password on every start. The
// caller must Stop it, which removes the container and keeps the data.
func startDockerPostgres(ctx context.Context, opts dockerOptions) (*dockerServer, error) {
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 3 * time.Minute
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	src, where := opts.Volume, "Docker volume "+opts.Volume
	if opts.Dir != "" {
		dir, err := filepath.Abs(opts.Dir)
		if err != nil {
			return nil, fmt.Errorf("demo: data dir: %w", err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("demo: data dir: %w", err)
		}
		// The container's postgres account must pass through the mount
		// point to reach its cluster (dir/pgdata, which it owns): add the
		// search bits, not the read ones.
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("demo: data dir: %w", err)
		}
		if err := os.Chmod(dir, fi.Mode().Perm()|0o011); err != nil {
			return nil, fmt.Errorf("demo: data dir: %w", err)
		}
		opts.Dir, src, where = dir, dir, dir
	}
	image, err := demoImage(ctx, opts.Progress)
	if err != nil {
		return nil, err
	}
	s := &dockerServer{name: containerName(opts), where: where, image: image, password: randomHex(16), done: make(chan struct{})}
	if err := s.clearLeftover(ctx); err != nil {
		return nil, err
	}
	// The password goes through the docker command's environment (-e NAME
	// without a value), not its arguments, which others can read.
	_, err = docker(ctx, []string{"POSTGRES_PASSWORD=" + s.password}, nil,
		"run", "--detach", "--name", s.name, "--label", demoLabel+"="+where,
		"--publish", "127.0.0.1::5432", "--volume", src+":"+containerMount,
		"--env", "POSTGRES_PASSWORD", "--env", "PGDATA="+containerPGData,
		// SIGINT is PostgreSQL's fast shutdown.
		"--stop-signal", "SIGINT", "--stop-timeout", "30",
		image)
	if err != nil {
		if ctx.Err() != nil {
			// Interrupted while docker run was creating it.
			_, _ = docker(context.WithoutCancel(ctx), nil, nil, "rm", "--force", s.name)
		}
		return nil, fmt.Errorf("demo: start the PostgreSQL container: %w", err)
	}
	go s.wait()
	if err := s.ready(ctx, opts.ReadyTimeout); err != nil {
		// The server logs to the container's standard error.
		logs, _ := dockerCommand(context.WithoutCancel(ctx), nil, "logs", "--tail", "20", s.name).CombinedOutput()
		s.Stop()
		return nil, fmt.Errorf("%w\n%s", err, strings.TrimSpace(string(logs)))
	}
	return s, nil
}

// demoImage returns demoLocalImage when present, else demoOfficialImage,
// pulled when missing.
func demoImage(ctx context.Context, progress io.Writer) (string, error) {
	for _, img := range []string{demoLocalImage, demoOfficialImage} {
		if _, err := docker(ctx, nil, nil, "image", "inspect", "--format", "{{.Id}}", img); err == nil {
			return img, nil
		}
	}
	fmt.Fprintf(progress, "Pulling the PostgreSQL image %s\n", demoOfficialImage)
	cmd := dockerCommand(ctx, nil, "pull", demoOfficialImage)
	cmd.Stdout, cmd.Stderr = progress, progress
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("demo: docker pull %s: %w", demoOfficialImage, err)
	}
	return demoOfficialImage, nil
}

// clearLeftover removes a stopped container of an earlier demo on the same
// data (one that was killed before it could clean up); a running one is
// refused, since another demo may be using the data.
func (s *dockerServer) clearLeftover(ctx context.Context) error {
	out, err := docker(ctx, nil, nil, "container", "inspect", "--format", "{{.State.Running}} {{index .Config.Labels \""+demoLabel+"\"}}", s.name)
	if err != nil {
		return nil // no such container
	}
	running, label, _ := strings.Cut(strings.TrimSpace(out), " ")
	switch {
	case label == "":
		return fmt.Errorf("demo: a container named %s exists and is not the demo's; remove or rename it", s.name)
	case running == "true":
		return fmt.Errorf("demo: the PostgreSQL container %s of another historia demo is running on %s; stop that demo, or remove the container if its demo was killed: docker rm -f %s", s.name, s.where, s.name)
	}
	if _, err := docker(ctx, nil, nil, "rm", s.name); err != nil {
		return fmt.Errorf("demo: remove the stopped container %s of an earlier demo: %w", s.name, err)
	}
	return nil
}

// wait closes s.done when the container stops.
func (s *dockerServer) wait() {
	defer close(s.done)
	_, _ = docker(context.Background(), nil, nil, "wait", s.name)
}

// ready sets the superuser's password through the container's Unix socket
// (trusted inside the container, as in the official image) and waits until
// a query over the published port answers. The entrypoint restarts the
// server once while it initializes new data: readiness is a real query,
// retried.
func (s *dockerServer) ready(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		select {
		case <-s.done:
			return fmt.Errorf("demo: the PostgreSQL container %s exited during start-up", s.name)
		case <-ctx.Done():
			return fmt.Errorf("demo: waiting for PostgreSQL: %w", ctx.Err())
		default:
		}
		if last = s.tryReady(ctx); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: PostgreSQL in container %s did not answer within %s: %w", s.name, timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (s *dockerServer) tryReady(ctx context.Context) error {
	if s.hostPort == "" {
		out, err := docker(ctx, nil, nil, "port", s.name, "5432/tcp")
		if err != nil {
			return err
		}
		line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
		if _, _, err := net.SplitHostPort(line); err != nil {
			return fmt.Errorf("docker port %s: %q", s.name, out)
		}
		s.hostPort = line
	}
	// The password is hex: no quoting to get wrong. It goes on stdin.
	sql := fmt.Sprintf("ALTER ROLE postgres PASSWORD '%s'", s.password)
	if _, err := docker(ctx, nil, strings.NewReader(sql), "exec", "--interactive", s.name,
		"psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "postgres"); err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(pctx, s.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var one int
	return conn.QueryRow(pctx, "SELECT 1").Scan(&one)
}

// URL is the URL of database db as the superuser, at the published port.
func (s *dockerServer) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", s.password),
		Host: s.hostPort, Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// Done is closed when the container has stopped.
func (s *dockerServer) Done() <-chan struct{} { return s.done }

// Where says where the data is.
func (s *dockerServer) Where() string { return s.where }

// Image is the image the container runs.
func (s *dockerServer) Image() string { return s.image }

// Stop stops the container (PostgreSQL's fast shutdown) and removes it; the
// data stays. It is safe to call more than once.
func (s *dockerServer) Stop() error {
	s.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, stopErr := docker(ctx, nil, nil, "stop", "--time", "30", s.name)
		_, rmErr := docker(ctx, nil, nil, "rm", "--force", s.name)
		if rmErr != nil {
			s.stopErr = fmt.Errorf("demo: remove the PostgreSQL container %s: %w", s.name, errors.Join(stopErr, rmErr))
		}
		select {
		case <-s.done:
		case <-ctx.Done():
		}
	})
	return s.stopErr
}

// ReadFile reads the demo's file name beside the cluster, in the container.
func (s *dockerServer) ReadFile(ctx context.Context, name string) ([]byte, error) {
	out, err := docker(ctx, nil, nil, "exec", s.name, "sh", "-c", `test -e "$1" || exit 3; cat "$1"`, "sh", containerMount+"/"+name)
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 {
		return nil, fmt.Errorf("demo: %s in %s: %w", name, s.where, os.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("demo: read %s in %s: %w", name, s.where, err)
	}
	return []byte(out), nil
}

// WriteFile writes the demo's file name beside the cluster (mode 0600).
func (s *dockerServer) WriteFile(ctx context.Context, name string, data []byte) error {
	_, err := docker(ctx, nil, bytes.NewReader(data), "exec", "--interactive", s.name,
		"sh", "-c", `umask 077 && cat >"$1"`, "sh", containerMount+"/"+name)
	if err != nil {
		return fmt.Errorf("demo: write %s in %s: %w", name, s.where, err)
	}
	return nil
}

// dockerCommand is the docker command with args. It runs in a process
// group of its own, so that Ctrl-C in the terminal reaches the demo only,
// which then stops the container itself.
func dockerCommand(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "docker", args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// docker runs the docker command and returns its standard output; its
// error carries the command's last lines of standard error.
func docker(ctx context.Context, env []string, stdin io.Reader, args ...string) (string, error) {
	cmd := dockerCommand(ctx, env, args...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &dockerError{args: args, err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return stdout.String(), nil
}

// dockerError is a failed docker command.
type dockerError struct {
	args   []string
	err    error
	stderr string
}

func (e *dockerError) Error() string {
	verb := e.args[0]
	if len(e.args) > 1 && (verb == "image" || verb == "container" || verb == "volume") {
		verb += " " + e.args[1]
	}
	if e.stderr == "" {
		return fmt.Sprintf("docker %s: %v", verb, e.err)
	}
	return fmt.Sprintf("docker %s: %v: %s", verb, e.err, e.stderr)
}

func (e *dockerError) Unwrap() error { return e.err }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
