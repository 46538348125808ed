// Package citustest gives tests a real Citus cluster: a coordinator and two
// workers started with dockertest on a private Docker network, from a
// local image (internal/pgimage/build-citus.sh builds one from the Citus
// source), or an existing coordinator given by URL.
//
// The cluster is found in this order:
//
//  1. HISTORIA_TEST_CITUS_URL: an existing coordinator with workers, whose
//     coordinator is registered (citus_set_coordinator_host), as real
//     deployments have it. Each test works in a schema of its own in that
//     database. Tests that need a cluster of their own (one without the
//     coordinator registered, a worker added) are skipped there.
//  2. Containers started from HISTORIA_TEST_CITUS_IMAGE (default
//     historia/citus:13-pg15). The image is never pulled. Each test gets a
//     database of its own on every node, with the citus extension and the
//     workers added (and the coordinator registered unless it asks not).
//
// Under CI=true a cluster that cannot be had fails the test; elsewhere it
// skips it with the reason. Test binaries end with the containers gone:
//
//	func TestMain(m *testing.M) { citustest.Main(m) }
package citustest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"

	"github.com/historiaehr/historia/internal/pgtest"
)

// Environment variables read by this package.
const (
	EnvURL       = "HISTORIA_TEST_CITUS_URL"
	EnvImage     = "HISTORIA_TEST_CITUS_IMAGE"
	DefaultImage = "historia/citus:13-pg15"
)

// Node is one PostgreSQL server of a cluster started by the package.
type Node struct {
	// Name is the node's host name on the cluster's network, as the
	// coordinator knows it (port 5432).
	Name string
	// adminURL reaches the node's "postgres" database from the test.
	adminURL string
	res      *dockertest.Resource
}

// URL returns a URL of database db on the node, reachable from the test.
func (n Node) URL(db string) string { return withDB(n.adminURL, db) }

// Cluster is a Citus cluster for tests.
type Cluster struct {
	source      string // "url" or "docker:IMAGE"
	url         string // the coordinator, database "postgres" (or the URL's)
	pool        *dockertest.Pool
	network     *dockertest.Network
	repo, tag   string
	coordinator Node
	workers     []Node
}

var (
	sharedMu  sync.Mutex
	shared    *Cluster
	sharedErr error
)

// Shared returns the cluster of this test binary, starting it on first
// use.
func Shared(ctx context.Context) (*Cluster, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = open(ctx)
	}
	return shared, sharedErr
}

// Close removes the containers of the shared cluster, if any.
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

// Main runs the tests, then closes the shared cluster and the shared
// PostgreSQL server of package pgtest, then exits with the tests' code.
func Main(m *testing.M) {
	code := m.Run()
	if err := Close(); err != nil {
		log.Printf("citustest: %v", err)
	}
	if err := pgtest.Close(); err != nil {
		log.Printf("pgtest: %v", err)
	}
	os.Exit(code)
}

// New returns the shared cluster; without one it fails the test under
// CI=true and skips it elsewhere, naming what to set.
func New(tb testing.TB) *Cluster {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := Shared(ctx)
	if err != nil {
		why := fmt.Sprintf("no Citus cluster: %v; build the local image with internal/pgimage/build-citus.sh (it sets %s's default, %s), or set %s to an existing coordinator with workers",
			err, EnvImage, DefaultImage, EnvURL)
		if pgtest.InCI() {
			tb.Fatalf("%s (CI=true: the Citus suites must run)", why)
		}
		tb.Skip(why)
	}
	return c
}

// Source says where the cluster came from: "url" or "docker:IMAGE".
func (c *Cluster) Source() string { return c.source }

// Started reports whether the package started the cluster (and so can
// give a test a cluster of its own: NewDatabase options, AddWorker).
func (c *Cluster) Started() bool { return c.pool != nil }

// Coordinator returns the coordinator node (zero for a cluster by URL).
func (c *Cluster) Coordinator() Node { return c.coordinator }

// Workers returns the worker nodes started with the cluster.
func (c *Cluster) Workers() []Node { return append([]Node(nil), c.workers...) }

// Options shape the database NewDatabase makes.
type Options struct {
	// NoCoordinator leaves the coordinator out of the database's Citus
	// metadata (only the workers are added). The default registers it,
	// as real deployments do.
	NoCoordinator bool
}

// NewDatabase returns the URL of a fresh Citus database on the coordinator
// for this test, removed when the test ends: a database of its own on
// every node of a started cluster, or a schema of its own (search_path)
// on a cluster given by URL.
func (c *Cluster) NewDatabase(tb testing.TB, opts Options) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if !c.Started() {
		if opts.NoCoordinator {
			tb.Skipf("citustest: a cluster without the coordinator registered needs the cluster started by the suite, not %s", EnvURL)
		}
		schema := "t" + randHex(6)
		if err := execOn(ctx, c.url, "CREATE SCHEMA "+schema); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := execOn(ctx, c.url, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
				tb.Logf("citustest: drop schema %s: %v", schema, err)
			}
		})
		u, _ := url.Parse(c.url)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	db := "c" + randHex(6)
	nodes := append([]Node{c.coordinator}, c.workers...)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, n := range nodes {
			if err := execOn(ctx, n.adminURL, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
				tb.Logf("citustest: drop database %s on %s: %v", db, n.Name, err)
			}
		}
	})
	for _, n := range nodes {
		if err := createCitusDB(ctx, n, db); err != nil {
			tb.Fatal(err)
		}
	}
	u := c.coordinator.URL(db)
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(context.Background())
	if !opts.NoCoordinator {
		if _, err := conn.Exec(ctx, "SELECT citus_set_coordinator_host($1, 5432)", c.coordinator.Name); err != nil {
			tb.Fatalf("citustest: register the coordinator: %v", err)
		}
	}
	for _, w := range c.workers {
		if _, err := conn.Exec(ctx, "SELECT citus_add_node($1, 5432)", w.Name); err != nil {
			tb.Fatalf("citustest: add worker %s: %v", w.Name, err)
		}
	}
	return u
}

// AddWorker starts one more worker, creates the database of dbURL (made by
// NewDatabase) on it and adds it to that database's cluster with
// citus_add_node. The container is removed when the test ends. It skips
// the test on a cluster given by URL.
func (c *Cluster) AddWorker(tb testing.TB, dbURL string) Node {
	tb.Helper()
	if !c.Started() {
		tb.Skipf("citustest: adding a worker needs the cluster started by the suite, not %s", EnvURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n, err := c.startNode(ctx, "worker")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.pool.Purge(n.res) })
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	if err := createCitusDB(ctx, n, db); err != nil {
		tb.Fatal(err)
	}
	if err := execOn(ctx, dbURL, fmt.Sprintf("SELECT citus_add_node('%s', 5432)", n.Name)); err != nil {
		tb.Fatalf("citustest: add worker %s: %v", n.Name, err)
	}
	return n
}

// NodeURL returns a URL the test can reach for the node the coordinator
// knows as host (port 5432), database db: the mapped port of a started
// node, else host itself.
func (c *Cluster) NodeURL(host string, port int, db string) string {
	for _, n := range append([]Node{c.coordinator}, c.workers...) {
		if n.Name == host && n.res != nil {
			return n.URL(db)
		}
	}
	u, _ := url.Parse(c.url)
	u.Host = fmt.Sprintf("%s:%d", host, port)
	return withDB(u.String(), db)
}

func open(ctx context.Context) (*Cluster, error) {
	if u := os.Getenv(EnvURL); u != "" {
		c := &Cluster{source: "url", url: u}
		var registered bool
		err := queryOn(ctx, u, "SELECT EXISTS (SELECT 1 FROM pg_dist_node WHERE groupid = 0)", &registered)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvURL, err)
		}
		if !registered {
			return nil, fmt.Errorf("%s: the coordinator is not in pg_dist_node; register it with citus_set_coordinator_host, as real deployments do", EnvURL)
		}
		return c, nil
	}
	image := os.Getenv(EnvImage)
	if image == "" {
		image = DefaultImage
	}
	pool, err := dockertest.NewPool("")
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	if err := pool.Client.Ping(); err != nil {
		return nil, fmt.Errorf("docker engine: %w", err)
	}
	// A pull would hang or fail without a registry: only a local image.
	if _, err := pool.Client.InspectImage(image); err != nil {
		return nil, fmt.Errorf("image %s is not present locally: %w", image, err)
	}
	pool.MaxWait = 3 * time.Minute
	c := &Cluster{source: "docker:" + image, pool: pool, repo: image, tag: "latest"}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		c.repo, c.tag = image[:i], image[i+1:]
	}
	if c.network, err = pool.CreateNetwork("historia-citus-" + randHex(4)); err != nil {
		return nil, fmt.Errorf("create network: %w", err)
	}
	fail := func(err error) (*Cluster, error) {
		_ = c.close()
		return nil, err
	}
	if c.coordinator, err = c.startNode(ctx, "coord"); err != nil {
		return fail(err)
	}
	for range 2 {
		w, err := c.startNode(ctx, "worker")
		if err != nil {
			return fail(err)
		}
		c.workers = append(c.workers, w)
	}
	c.url = c.coordinator.adminURL
	return c, nil
}

// startNode starts one Citus container on the cluster's network and waits
// until the citus extension answers.
func (c *Cluster) startNode(ctx context.Context, role string) (Node, error) {
	name := "historia-citus-" + role + "-" + randHex(4)
	res, err := c.pool.RunWithOptions(&dockertest.RunOptions{
		Name:       name,
		Repository: c.repo,
		Tag:        c.tag,
		Networks:   []*dockertest.Network{c.network},
		// Trust on a private network of throwaway containers: the
		// coordinator connects to the workers without a password.
		Env: []string{"POSTGRES_PASSWORD=historia", "POSTGRES_HOST_AUTH_METHOD=trust"},
		// Durability is of no use to throwaway nodes; logical replication
		// (wal_level) is the image's, for shard moves in 'auto' mode.
		Cmd:    []string{"postgres", "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=300"},
		Labels: map[string]string{"org.historiaehr.test": "citus"},
	}, func(hc *docker.HostConfig) {
		hc.AutoRemove = true
		hc.RestartPolicy = docker.RestartPolicy{Name: "no"}
	})
	if err != nil {
		return Node{}, fmt.Errorf("start %s from %s:%s: %w", name, c.repo, c.tag, err)
	}
	// A test binary that dies without Close still leaves no container.
	_ = res.Expire(3600)
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", "historia"),
		Host: res.GetHostPort("5432/tcp"), Path: "/postgres", RawQuery: "sslmode=disable"}
	n := Node{Name: name, adminURL: u.String(), res: res}
	// The image restarts PostgreSQL once during init: readiness is a real
	// query, on the citus extension, retried.
	err = c.pool.Retry(func() error {
		var v string
		return queryOn(ctx, n.adminURL, "SELECT extversion FROM pg_extension WHERE extname = 'citus'", &v)
	})
	if err != nil {
		_ = c.pool.Purge(res)
		return Node{}, fmt.Errorf("node %s never became ready: %w", name, err)
	}
	return n, nil
}

func (c *Cluster) close() error {
	if c.pool == nil {
		return nil
	}
	var errs []error
	for _, n := range append([]Node{c.coordinator}, c.workers...) {
		if n.res != nil {
			errs = append(errs, c.pool.Purge(n.res))
		}
	}
	if c.network != nil {
		errs = append(errs, c.network.Close())
	}
	return errors.Join(errs...)
}

// createCitusDB creates database db with the citus extension on node n.
func createCitusDB(ctx context.Context, n Node, db string) error {
	if err := execOn(ctx, n.adminURL, "CREATE DATABASE "+db); err != nil {
		return fmt.Errorf("citustest: create database %s on %s: %w", db, n.Name, err)
	}
	if err := execOn(ctx, n.URL(db), "CREATE EXTENSION citus"); err != nil {
		return fmt.Errorf("citustest: create extension citus in %s on %s: %w", db, n.Name, err)
	}
	return nil
}

func execOn(ctx context.Context, u, sql string) error {
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func queryOn(ctx context.Context, u, sql string, dest ...any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(ctx, sql).Scan(dest...)
}

func withDB(u, db string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Path = "/" + db
	return p.String()
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
