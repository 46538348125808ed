package containertest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"

	"github.com/historiaehr/historia/refserver/internal/testlock"
)

// Environment variables of the suite.
const (
	// EnvImage names the historia image to test. When unset the suite
	// builds historia/historia:dev with build-image.sh (reused when the
	// sources have not changed); when set, the image must be present.
	EnvImage = "HISTORIA_TEST_IMAGE"
	// EnvPGImage names the PostgreSQL image (official interface), as for
	// the other database tests.
	EnvPGImage = "HISTORIA_TEST_PG_IMAGE"
)

const defaultPGImage = "historia/postgres:15-bookworm"

// env is what TestMain sets up for the tests: a private network, a
// PostgreSQL container, a migrated database with a tenant and one user
// per role, and the historia server, published on the loopback only.
var env *suite

type suite struct {
	pool    *dockertest.Pool
	network *dockertest.Network
	image   string // historia image, repo:tag
	pgImage string
	dir     string // secret files, bind-mounted read-only
	prefix  string // container names

	db     *dockertest.Resource
	server *dockertest.Resource
	base   string // http://127.0.0.1:PORT
	// metrics is the metrics listener (HISTORIA_METRICS_ADDR), http://127.0.0.1:PORT.
	metrics string
	tenant  string

	password string            // of every user
	users    map[string]string // role -> username
	patient  string            // the paciente user's patient id

	cleanup []func()
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("containertest: skipped in -short mode")
		return m.Run()
	}
	unlock, err := testlock.Acquire("containertest", os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "containertest:", err)
		return 1
	}
	defer unlock()
	s, err := setup()
	if s != nil {
		defer s.close()
	}
	if err != nil {
		if errors.Is(err, errNoDocker) && os.Getenv("CI") != "true" {
			fmt.Println("containertest: skipped:", err)
			return m.Run()
		}
		fmt.Fprintln(os.Stderr, "containertest: setup:", err)
		if s != nil && s.server != nil {
			fmt.Fprintln(os.Stderr, "containertest: server log:\n"+s.logs(s.server.Container.ID))
		}
		return 1
	}
	env = s
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "containertest: server log (tail, request lines left out):\n"+tail(s.logs(s.server.Container.ID), 60))
	}
	return code
}

var errNoDocker = errors.New("no Docker engine")

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func splitImage(image string) (repo, tag string) {
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[:i], image[i+1:]
	}
	return image, "latest"
}

// repoRoot is the repository's root, from this package's directory.
const repoRoot = "../../.."

func setup() (*suite, error) {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoDocker, err)
	}
	if err := pool.Client.Ping(); err != nil {
		return nil, fmt.Errorf("%w: %v", errNoDocker, err)
	}
	pool.MaxWait = 2 * time.Minute
	s := &suite{pool: pool, prefix: "historia-ct-" + randHex(4), password: "contenedor-" + randHex(8),
		users: map[string]string{}}

	// Images.
	s.image = os.Getenv(EnvImage)
	if s.image == "" {
		s.image = "historia/historia:dev"
		cmd := exec.Command(filepath.Join(repoRoot, "refserver", "deploy", "build-image.sh"), s.image)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return s, fmt.Errorf("build-image.sh: %w", err)
		}
	}
	s.pgImage = os.Getenv(EnvPGImage)
	if s.pgImage == "" {
		s.pgImage = defaultPGImage
	}
	for _, img := range []string{s.image, s.pgImage} {
		if _, err := pool.Client.InspectImage(img); err != nil {
			return s, fmt.Errorf("image %s is not present (no registry here: build it; see docs/testing.md and docs/deploy.md): %w", img, err)
		}
	}

	// Secret files.
	if s.dir, err = os.MkdirTemp("", "historia-ct-"); err != nil {
		return s, err
	}
	s.cleanup = append(s.cleanup, func() { os.RemoveAll(s.dir) })
	dbPassword := randHex(12)
	dbName := s.prefix + "-db"
	dbURL := (&url.URL{Scheme: "postgres", User: url.UserPassword("historia", dbPassword), Host: dbName + ":5432",
		Path: "/historia", RawQuery: "sslmode=disable&connect_timeout=5"}).String()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return s, err
	}
	for name, content := range map[string]string{
		"database_url":    dbURL + "\n",
		"signing_key.pem": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"password":        s.password + "\n",
	} {
		// The server runs as uid 65532: the files must be readable by it.
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(content), 0o644); err != nil {
			return s, err
		}
	}
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return s, err
	}

	// Network and database.
	if s.network, err = pool.CreateNetwork(s.prefix); err != nil {
		return s, fmt.Errorf("network: %w", err)
	}
	s.cleanup = append(s.cleanup, func() { _ = pool.RemoveNetwork(s.network) })
	repo, tag := splitImage(s.pgImage)
	s.db, err = pool.RunWithOptions(&dockertest.RunOptions{
		Name: dbName, Repository: repo, Tag: tag, NetworkID: s.network.Network.ID,
		Env:          []string{"POSTGRES_PASSWORD=" + dbPassword, "POSTGRES_USER=historia", "POSTGRES_DB=historia"},
		ExposedPorts: []string{"5432/tcp"},
		PortBindings: map[docker.Port][]docker.PortBinding{"5432/tcp": {{HostIP: "127.0.0.1"}}},
		Labels:       map[string]string{"org.historiaehr.test": "containertest"},
	}, func(hc *docker.HostConfig) {
		// Stopped and started again by the outage test: no auto-removal.
		hc.AutoRemove = false
		hc.PublishAllPorts = false
		hc.RestartPolicy = docker.RestartPolicy{Name: "no"}
	})
	if err != nil {
		return s, fmt.Errorf("postgres container: %w", err)
	}
	s.cleanup = append(s.cleanup, func() { _ = pool.Purge(s.db) })
	_ = s.db.Expire(1800)
	hostURL := (&url.URL{Scheme: "postgres", User: url.UserPassword("historia", dbPassword), Host: s.db.GetHostPort("5432/tcp"),
		Path: "/historia", RawQuery: "sslmode=disable"}).String()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := pool.Retry(func() error {
		p, err := pgxpool.New(ctx, hostURL)
		if err != nil {
			return err
		}
		defer p.Close()
		_, err = p.Exec(ctx, "SELECT 1")
		return err
	}); err != nil {
		return s, fmt.Errorf("postgres never became ready: %w", err)
	}

	// historia migrate, in a one-shot container.
	if out, err := s.runOnce(ctx, "migrate"); err != nil {
		return s, fmt.Errorf("historia migrate: %w\n%s", err, out)
	}
	// The server can check the schema against the Citus plan even on
	// plain PostgreSQL, where it changes nothing: the Kubernetes Job runs
	// it on both.
	if out, err := s.runOnce(ctx, "citus", "distribute"); err != nil {
		return s, fmt.Errorf("historia citus distribute on plain PostgreSQL: %w\n%s", err, out)
	}

	// A tenant, with `historia tenant add` in a one-shot container: the
	// id is the last line it prints.
	out, err := s.runOnce(ctx, "tenant", "add", "Hospital de Contenedores")
	if err != nil {
		return s, fmt.Errorf("historia tenant add: %w\n%s", err, out)
	}
	lines := strings.Fields(strings.TrimSpace(out))
	if len(lines) == 0 {
		return s, fmt.Errorf("historia tenant add printed nothing")
	}
	s.tenant = lines[len(lines)-1]

	// One user per staff role; the paciente user comes in TestSmoke, after
	// the admisionista registers the patient.
	for _, role := range []string{"medico", "admisionista", "secretaria", "admin", "auditor"} {
		if err := s.addUser(ctx, role, ""); err != nil {
			return s, err
		}
	}

	// The server.
	repo, tag = splitImage(s.image)
	s.server, err = pool.RunWithOptions(&dockertest.RunOptions{
		Name: s.prefix + "-historia", Repository: repo, Tag: tag, NetworkID: s.network.Network.ID,
		Cmd: []string{"serve"},
		Env: []string{"HISTORIA_DATABASE_URL_FILE=/run/secrets/database_url", "HISTORIA_SIGNING_KEY_FILE=/run/secrets/signing_key.pem",
			"HISTORIA_LOG_LEVEL=info", "HISTORIA_SHUTDOWN_TIMEOUT=5s", "HISTORIA_METRICS_ADDR=:9090"},
		ExposedPorts: []string{"8080/tcp", "9090/tcp"},
		PortBindings: map[docker.Port][]docker.PortBinding{"8080/tcp": {{HostIP: "127.0.0.1"}}, "9090/tcp": {{HostIP: "127.0.0.1"}}},
		Labels:       map[string]string{"org.historiaehr.test": "containertest"},
	}, s.hardened(false))
	if err != nil {
		return s, fmt.Errorf("historia container: %w", err)
	}
	s.cleanup = append(s.cleanup, func() { _ = pool.Purge(s.server) })
	_ = s.server.Expire(1800)
	s.base = "http://" + s.server.GetHostPort("8080/tcp")
	s.metrics = "http://" + s.server.GetHostPort("9090/tcp")
	deadline := time.Now().Add(time.Minute)
	for {
		if !s.running(s.server) {
			return s, errors.New("the server exited")
		}
		code, _, err := get(ctx, s.base+"/readyz", "")
		if err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("the server never became ready: /readyz %d, %v", code, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return s, nil
}

// hardened configures a container as in production: read-only root,
// a tmpfs /tmp, no capabilities, no privilege escalation, secrets
// read-only; published ports on the loopback only.
func (s *suite) hardened(autoRemove bool) func(*docker.HostConfig) {
	return func(hc *docker.HostConfig) {
		hc.AutoRemove = autoRemove
		hc.PublishAllPorts = false
		hc.ReadonlyRootfs = true
		hc.Tmpfs = map[string]string{"/tmp": "rw,noexec,nosuid,size=16m"}
		hc.CapDrop = []string{"ALL"}
		hc.SecurityOpt = []string{"no-new-privileges:true"}
		hc.Binds = []string{s.dir + ":/run/secrets:ro"}
		hc.RestartPolicy = docker.RestartPolicy{Name: "no"}
	}
}

// runOnce runs historia with args in a one-shot container on the
// network and returns its output; a non-zero exit is an error.
func (s *suite) runOnce(ctx context.Context, args ...string) (string, error) {
	repo, tag := splitImage(s.image)
	res, err := s.pool.RunWithOptions(&dockertest.RunOptions{
		Repository: repo, Tag: tag, NetworkID: s.network.Network.ID, Cmd: args,
		Env:    []string{"HISTORIA_DATABASE_URL_FILE=/run/secrets/database_url"},
		Labels: map[string]string{"org.historiaehr.test": "containertest"},
	}, s.hardened(false))
	if err != nil {
		return "", err
	}
	defer s.pool.Purge(res)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	code, err := s.pool.Client.WaitContainerWithContext(res.Container.ID, wctx)
	out := s.logs(res.Container.ID)
	if err != nil {
		return out, err
	}
	if code != 0 {
		return out, fmt.Errorf("historia %s: exit status %d", strings.Join(args, " "), code)
	}
	return out, nil
}

// addUser creates the user of role (named after it) with `historia user
// add` in a one-shot container.
func (s *suite) addUser(ctx context.Context, role, patient string) error {
	args := []string{"user", "add", "--tenant", s.tenant, "--username", role, "--role", role, "--password-file", "/run/secrets/password"}
	if patient != "" {
		args = append(args, "--patient", patient)
	}
	if role == "medico" {
		args = append(args, "--name", "Dra. Contenedor")
	}
	if out, err := s.runOnce(ctx, args...); err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	s.users[role] = role
	return nil
}

func (s *suite) logs(id string) string {
	var b strings.Builder
	_ = s.pool.Client.Logs(docker.LogsOptions{Container: id, OutputStream: &b, ErrorStream: &b, Stdout: true, Stderr: true})
	return b.String()
}

func (s *suite) running(r *dockertest.Resource) bool {
	c, err := s.pool.Client.InspectContainer(r.Container.ID)
	return err == nil && c.State.Running
}

func (s *suite) close() {
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
}

func tail(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if !strings.Contains(l, `"msg":"request"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
