package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/historiaehr/historia/internal/pglocal"
)

// Where the demo's private PostgreSQL comes from (--postgres).
const (
	postgresAuto   = "auto"   // the installed server binaries, else Docker
	postgresLocal  = "local"  // the installed server binaries (pglocal)
	postgresDocker = "docker" // a container
)

// defaultVolume is the Docker volume that keeps the demo's data when
// PostgreSQL runs in a container and no --data-dir is given.
const defaultVolume = "historia-demo"

// privateServer is the demo's own PostgreSQL: pglocal's server or a
// container.
type privateServer interface {
	// URL is the URL of database db as the superuser.
	URL(db string) string
	// Done is closed when the server has exited.
	Done() <-chan struct{}
	// Stop stops the server (and removes its container); it may be called
	// more than once.
	Stop() error
	// Where says where the data is, for messages.
	Where() string
	// ReadFile and WriteFile keep the demo's own small files (the demo
	// password) beside the data. ReadFile returns an error wrapping
	// os.ErrNotExist when there is no such file.
	ReadFile(ctx context.Context, name string) ([]byte, error)
	WriteFile(ctx context.Context, name string, data []byte) error
}

// postgresHost is what the demo looks for on this machine to run its
// private PostgreSQL. hostPostgres returns the real lookups; tests replace
// them to stand for a machine without PostgreSQL or Docker.
type postgresHost struct {
	// binDir finds PostgreSQL's server binaries (initdb and postgres).
	binDir func() (string, error)
	// docker reports whether a Docker engine answers, and if not, why.
	docker func(ctx context.Context) error
	// volume is the Docker volume of the data when no --data-dir is given.
	volume string
}

// hostPostgres looks on this machine: pglocal.FindBinDir and the docker
// command.
func hostPostgres() postgresHost {
	return postgresHost{binDir: pglocal.FindBinDir, docker: dockerAnswers, volume: defaultVolume}
}

// errNoPostgres is returned when the demo finds neither PostgreSQL's server
// binaries nor a Docker engine.
var errNoPostgres = errors.New("demo: found neither PostgreSQL's server binaries nor a Docker engine")

// installHint says what to install for the demo to run.
const installHint = `Install one of them:
  - PostgreSQL's server, Debian's postgresql package:  sudo apt-get install postgresql
  - Docker (https://docs.docker.com/engine/install/), with its engine started:
    the demo then runs PostgreSQL in a container
or run the demo on a database you have:  historia demo --database-url URL`

// choose picks how to run PostgreSQL for mode (--postgres): postgresLocal
// or postgresDocker. With postgresAuto, the installed binaries win, then
// Docker; when neither is there the error wraps errNoPostgres and says what
// to install.
func (h postgresHost) choose(ctx context.Context, mode string) (string, error) {
	switch mode {
	case postgresLocal:
		if _, err := h.binDir(); err != nil {
			return "", fmt.Errorf("demo: --postgres local: %w", err)
		}
		return postgresLocal, nil
	case postgresDocker:
		if err := h.docker(ctx); err != nil {
			return "", fmt.Errorf("demo: --postgres docker: %w", err)
		}
		return postgresDocker, nil
	}
	binErr := error(nil)
	if _, binErr = h.binDir(); binErr == nil {
		return postgresLocal, nil
	}
	dockerErr := h.docker(ctx)
	if dockerErr == nil {
		return postgresDocker, nil
	}
	return "", fmt.Errorf("%w.\n%s\n(server binaries: %v;\n docker: %v)", errNoPostgres, installHint, binErr, dockerErr)
}

// errDockerMissing: there is no docker command.
var errDockerMissing = errors.New("no docker command on PATH: Docker is not installed")

// dockerAnswers reports whether the docker command is installed and its
// engine answers; the error says which of the two is missing.
func dockerAnswers(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return errDockerMissing
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err != nil {
		return fmt.Errorf("the docker command is installed but the Docker engine does not answer (start it, or make sure you may use it): %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// localServer is pglocal's server in dir.
type localServer struct {
	*pglocal.Instance
	dir string
}

func (s localServer) Where() string { return s.dir }

func (s localServer) ReadFile(_ context.Context, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.dir, name))
}

func (s localServer) WriteFile(_ context.Context, name string, data []byte) error {
	return os.WriteFile(filepath.Join(s.dir, name), data, 0o600)
}
