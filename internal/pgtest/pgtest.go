// Package pgtest gives tests a real PostgreSQL server and a fresh database
// per test, cloned from a template that is prepared (migrated) once per
// test binary.
//
// The server is found in this order:
//
//  1. HISTORIA_TEST_DATABASE_URL: an existing server; the URL's user must
//     be allowed to create databases.
//  2. A container started with dockertest from HISTORIA_TEST_PG_IMAGE
//     (default the official "postgres:16" image). An image present
//     locally is used without pulling; internal/pgimage/build.sh builds
//     one from Debian's packages for machines without a registry.
//  3. A private server from the installed binaries (package pglocal).
//
// When HISTORIA_TEST_PG_IMAGE is set, a container that cannot be started
// is an error: the tester asked for that path. Under CI=true a server that
// cannot be had fails the test; elsewhere it skips it with the reason.
//
// The servers this package starts (2 and 3) run with fsync, synchronous
// commit and full-page writes off: durability is of no use to a throwaway
// server, and tests run faster. HISTORIA_TEST_PG_DURABLE=1 starts them with
// the production settings instead (fsync=on, synchronous_commit=on,
// full_page_writes=on), so that benchmarks can measure what a commit
// really costs. A server given by URL keeps its own settings.
//
// Test binaries that use it end with the shared server stopped:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"

	"github.com/historiaehr/historia/internal/pglocal"
)

// Environment variables read by this package.
const (
	EnvDatabaseURL = "HISTORIA_TEST_DATABASE_URL"
	EnvImage       = "HISTORIA_TEST_PG_IMAGE"
	// EnvDurable, when true (strconv.ParseBool), makes the servers this
	// package starts durable: see Settings.
	EnvDurable   = "HISTORIA_TEST_PG_DURABLE"
	DefaultImage = "postgres:16"
)

// Settings returns the server settings of a container or private server
// started by this package: fsync, synchronous_commit and full_page_writes
// off, unless HISTORIA_TEST_PG_DURABLE is true (then on, as in
// production), and room for 300 connections. An invalid value of
// HISTORIA_TEST_PG_DURABLE is an error, not a silent "off".
func Settings() (map[string]string, error) {
	durable := false
	if v := os.Getenv(EnvDurable); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("pgtest: %s=%q: want true or false", EnvDurable, v)
		}
		durable = b
	}
	mode := "off"
	if durable {
		mode = "on"
	}
	return map[string]string{"fsync": mode, "synchronous_commit": mode, "full_page_writes": mode, "max_connections": "300"}, nil
}

// Server is a PostgreSQL server for tests.
type Server struct {
	adminURL string // database "postgres" as a superuser or a CREATEDB role
	source   string
	stop     func() error

	mu        sync.Mutex
	templates map[string]*template
	created   []string // databases to drop when the server is shared
	prefix    string
}

type template struct {
	once sync.Once
	name string
	err  error
}

var (
	sharedMu  sync.Mutex
	shared    *Server
	sharedErr error
)

// Shared returns the server of this test binary, finding or starting it on
// first use. Call Close (or use Main) when the tests are done.
func Shared(ctx context.Context) (*Server, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = open(ctx)
	}
	return shared, sharedErr
}

// Close stops the shared server if this process started it, and drops the
// databases it created on a server given by URL.
func Close() error {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil {
		return nil
	}
	err := shared.close()
	shared, sharedErr = nil, nil
	return err
}

// Main runs the tests, then Close, then exits with the tests' code.
func Main(m *testing.M) {
	code := m.Run()
	if err := Close(); err != nil {
		log.Printf("pgtest: %v", err)
	}
	os.Exit(code)
}

// InCI reports whether CI=true is set: then a missing database fails.
func InCI() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

func open(ctx context.Context) (*Server, error) {
	s := &Server{templates: map[string]*template{}, prefix: "t" + randHex(4)}
	if u := os.Getenv(EnvDatabaseURL); u != "" {
		s.adminURL, s.source, s.stop = u, "url", func() error { return nil }
		if err := ping(ctx, u); err != nil {
			return nil, fmt.Errorf("pgtest: %s: %w", EnvDatabaseURL, err)
		}
		return s, nil
	}
	settings, err := Settings()
	if err != nil {
		return nil, err
	}
	image, explicit := os.Getenv(EnvImage), true
	if image == "" {
		image, explicit = DefaultImage, false
	}
	dockerErr := s.startDocker(ctx, image, settings)
	if dockerErr == nil {
		return s, nil
	}
	if explicit {
		return nil, fmt.Errorf("pgtest: %s=%s: %w", EnvImage, image, dockerErr)
	}
	localErr := s.startLocal(ctx, settings)
	if localErr == nil {
		return s, nil
	}
	return nil, fmt.Errorf("pgtest: no PostgreSQL: set %s, or a Docker engine with image %s (%v), or install the server binaries (%v)",
		EnvDatabaseURL, image, dockerErr, localErr)
}

func (s *Server) startDocker(ctx context.Context, image string, settings map[string]string) error {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return err
	}
	if err := pool.Client.Ping(); err != nil {
		return fmt.Errorf("docker engine: %w", err)
	}
	pool.MaxWait = 2 * time.Minute
	repo, tag := image, "latest"
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		repo, tag = image[:i], image[i+1:]
	}
	password := randHex(12)
	cmd := []string{"postgres"}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		cmd = append(cmd, "-c", k+"="+settings[k])
	}
	res, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: repo,
		Tag:        tag,
		Env:        []string{"POSTGRES_PASSWORD=" + password, "POSTGRES_USER=postgres", "POSTGRES_DB=postgres"},
		Cmd:        cmd,
		Labels:     map[string]string{"org.historiaehr.test": "pgtest"},
	}, func(hc *docker.HostConfig) {
		hc.AutoRemove = true
		hc.RestartPolicy = docker.RestartPolicy{Name: "no"}
	})
	if err != nil {
		return err
	}
	// A test binary that dies without Close still leaves no container behind.
	_ = res.Expire(1800)
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", password),
		Host: res.GetHostPort("5432/tcp"), Path: "/postgres", RawQuery: "sslmode=disable"}
	// PostgreSQL's image restarts the server once during init: readiness is
	// a real query, retried.
	if err := pool.Retry(func() error { return ping(ctx, u.String()) }); err != nil {
		_ = pool.Purge(res)
		return fmt.Errorf("container never became ready: %w", err)
	}
	s.adminURL, s.source = u.String(), "docker:"+image
	s.stop = func() error { return pool.Purge(res) }
	return nil
}

func (s *Server) startLocal(ctx context.Context, settings map[string]string) error {
	dir, err := os.MkdirTemp("", "historia-pgtest-")
	if err != nil {
		return err
	}
	inst, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Settings: settings})
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	s.adminURL, s.source = inst.URL("postgres"), "local:"+dir
	s.stop = func() error {
		err := inst.Stop()
		os.RemoveAll(dir)
		return err
	}
	return nil
}

func (s *Server) close() error {
	if strings.HasPrefix(s.source, "url") {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s.mu.Lock()
		names := append([]string(nil), s.created...)
		for _, t := range s.templates {
			if t.err == nil && t.name != "" {
				names = append(names, t.name)
			}
		}
		s.mu.Unlock()
		for _, n := range names {
			_ = s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)")
		}
	}
	return s.stop()
}

// Source says where the server came from: "url", "docker:IMAGE" or
// "local:DIR".
func (s *Server) Source() string { return s.source }

// AdminURL is a URL of the server's "postgres" database as a role that may
// create databases.
func (s *Server) AdminURL() string { return s.adminURL }

// URL returns the URL of database db on this server.
func (s *Server) URL(db string) string {
	u, _ := url.Parse(s.adminURL)
	u.Path = "/" + db
	return u.String()
}

// Setup prepares a template database; it gets the database's URL and may
// open connections, which must all be closed when it returns.
type Setup func(ctx context.Context, url string) error

// Template creates the template database called name once per test binary
// and runs setup on it (migrations, seed data). Later calls with the same
// name return the first call's result.
func (s *Server) Template(ctx context.Context, name string, setup Setup) (string, error) {
	s.mu.Lock()
	t, ok := s.templates[name]
	if !ok {
		t = &template{}
		s.templates[name] = t
	}
	s.mu.Unlock()
	t.once.Do(func() {
		db := s.prefix + "_tpl_" + sanitize(name)
		if err := s.exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			t.err = fmt.Errorf("pgtest: create template %s: %w", name, err)
			return
		}
		t.name = db
		if setup != nil {
			if err := setup(ctx, s.URL(db)); err != nil {
				t.err = fmt.Errorf("pgtest: set up template %s: %w", name, err)
			}
		}
	})
	return t.name, t.err
}

// CreateDatabase makes a new database as a copy of the template database
// (empty for a plain one) and returns its name.
func (s *Server) CreateDatabase(ctx context.Context, templateDB string) (string, error) {
	name := s.prefix + "_" + randHex(6)
	q := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if templateDB != "" {
		q += " TEMPLATE " + pgx.Identifier{templateDB}.Sanitize()
	}
	// CREATE DATABASE ... TEMPLATE fails while another session is connected
	// to the template; creations are serialized per binary, and a
	// concurrent binary on a shared server is waited out.
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = s.exec(ctx, q); err == nil || !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	s.created = append(s.created, name)
	return name, nil
}

// DropDatabase drops a database made by CreateDatabase, closing any
// connections still open to it.
func (s *Server) DropDatabase(ctx context.Context, name string) error {
	s.mu.Lock()
	for i, n := range s.created {
		if n == name {
			s.created = append(s.created[:i], s.created[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	return s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// NewDB returns the URL of a fresh database for this test, cloned from the
// template called name (prepared once by setup); the database is dropped
// when the test ends. With no server, the test fails under CI=true and is
// skipped elsewhere, with the reason.
func NewDB(tb testing.TB, name string, setup Setup) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := Shared(ctx)
	if err != nil {
		Unavailable(tb, err)
	}
	tpl, err := s.Template(ctx, name, setup)
	if err != nil {
		tb.Fatal(err)
	}
	db, err := s.CreateDatabase(ctx, tpl)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.DropDatabase(ctx, db); err != nil {
			tb.Logf("pgtest: drop %s: %v", db, err)
		}
	})
	return s.URL(db)
}

// Unavailable ends a test that cannot have a database: a failure under
// CI=true, a skip elsewhere.
func Unavailable(tb testing.TB, err error) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("no database under CI=true: %v", err)
	}
	tb.Skipf("no database (set %s, or run Docker, or install PostgreSQL): %v", EnvDatabaseURL, err)
}

func ping(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

func sanitize(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() > 40 {
		return b.String()[:40]
	}
	return b.String()
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
