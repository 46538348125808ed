package citus_test

// The cluster suite runs the plan on a real Citus cluster: a coordinator
// and two workers started with dockertest on a private Docker network, or
// an existing coordinator. It is the package's only test that may skip:
// Citus cannot be built from Debian's packages, and no image can be pulled
// on a machine without a registry.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"

	"github.com/historiaehr/historia/citus"
)

// Environment variables read by the cluster suite.
const (
	envCitusURL       = "HISTORIA_TEST_CITUS_URL"
	envCitusImage     = "HISTORIA_TEST_CITUS_IMAGE"
	defaultCitusImage = "citusdata/citus:13.0"
)

func randName(prefix string) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b)
}

// citusCoordinator returns the URL of a Citus coordinator with workers:
// HISTORIA_TEST_CITUS_URL, or a cluster started from a local image. It
// skips the test, naming both variables, when neither is available.
func citusCoordinator(tb testing.TB) (coordinatorURL string, started bool) {
	tb.Helper()
	if u := os.Getenv(envCitusURL); u != "" {
		return u, false
	}
	image := os.Getenv(envCitusImage)
	if image == "" {
		image = defaultCitusImage
	}
	skip := func(why string) {
		tb.Skipf("citus cluster suite skipped: %s; set %s to a Citus image present locally (default %s; it is not pulled), or %s to the URL of an existing coordinator with workers",
			why, envCitusImage, defaultCitusImage, envCitusURL)
	}
	pool, err := dockertest.NewPool("")
	if err != nil {
		skip("no Docker engine: " + err.Error())
	}
	if err := pool.Client.Ping(); err != nil {
		skip("no Docker engine: " + err.Error())
	}
	// A pull would hang or fail without a registry: only a local image is
	// used.
	if _, err := pool.Client.InspectImage(image); err != nil {
		skip(fmt.Sprintf("image %s is not present locally", image))
	}
	pool.MaxWait = 3 * time.Minute
	repo, tag := image, "latest"
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		repo, tag = image[:i], image[i+1:]
	}

	network, err := pool.CreateNetwork(randName("historia-citus-"))
	if err != nil {
		tb.Fatalf("create network: %v", err)
	}
	tb.Cleanup(func() { _ = network.Close() })

	start := func(name string) (*dockertest.Resource, string) {
		res, err := pool.RunWithOptions(&dockertest.RunOptions{
			Name:       name,
			Repository: repo,
			Tag:        tag,
			Networks:   []*dockertest.Network{network},
			// Trust on a private network of throwaway containers: the
			// coordinator connects to the workers without a password.
			Env:    []string{"POSTGRES_PASSWORD=historia", "POSTGRES_HOST_AUTH_METHOD=trust", "HOME=/var/lib/postgresql"},
			Cmd:    []string{"postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "wal_level=logical"},
			Labels: map[string]string{"org.historiaehr.test": "citus"},
		}, func(hc *docker.HostConfig) {
			hc.AutoRemove = true
			hc.RestartPolicy = docker.RestartPolicy{Name: "no"}
		})
		if err != nil {
			tb.Fatalf("start %s from %s: %v", name, image, err)
		}
		tb.Cleanup(func() { _ = pool.Purge(res) })
		_ = res.Expire(1800)
		u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", "historia"),
			Host: res.GetHostPort("5432/tcp"), Path: "/postgres", RawQuery: "sslmode=disable"}
		return res, u.String()
	}
	ready := func(u string) {
		// The image restarts PostgreSQL once during init: readiness is a
		// real query, on the citus extension, retried.
		err := pool.Retry(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, u)
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			var v string
			return conn.QueryRow(ctx, "SELECT extversion FROM pg_extension WHERE extname = 'citus'").Scan(&v)
		})
		if err != nil {
			tb.Fatalf("node never became ready: %v", err)
		}
	}
	coordName := randName("historia-citus-coord-")
	_, coordURL := start(coordName)
	var workers []string
	for i := 0; i < 2; i++ {
		name := randName(fmt.Sprintf("historia-citus-worker%d-", i+1))
		_, u := start(name)
		workers = append(workers, name)
		ready(u)
	}
	ready(coordURL)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, coordURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := citus.SetCoordinatorHost(ctx, conn, coordName, 5432); err != nil {
		tb.Fatal(err)
	}
	for _, w := range workers {
		if _, err := citus.AddNode(ctx, conn, w, 5432); err != nil {
			tb.Fatal(err)
		}
	}
	return coordURL, true
}

// fixtureData fills the fixture with two hospitals, 40 patients and a
// note and a condition each: enough rows that both workers get some.
const fixtureData = `
INSERT INTO tenants (tenant_id, name) VALUES
	('00000000-0000-7000-8000-000000000001', 'Hospital Uno'),
	('00000000-0000-7000-8000-000000000002', 'Clínica Dos');
INSERT INTO icd10_codes (code, title) VALUES ('I10', 'Hipertensión esencial');
INSERT INTO patients (patient_id, tenant_id, name)
	SELECT gen_random_uuid(), CASE WHEN i % 2 = 0 THEN '00000000-0000-7000-8000-000000000001'::uuid
		ELSE '00000000-0000-7000-8000-000000000002'::uuid END, 'Paciente ' || i
	FROM generate_series(1, 40) AS i;
INSERT INTO notes (patient_id, note_id, tenant_id, body)
	SELECT patient_id, gen_random_uuid(), tenant_id, 'Consulta inicial' FROM patients;
INSERT INTO conditions (patient_id, condition_id, note_id, code)
	SELECT patient_id, gen_random_uuid(), note_id, 'I10' FROM notes;
INSERT INTO patient_documents (document_number, tenant_id, patient_id)
	SELECT 'CC' || row_number() OVER (), tenant_id, patient_id FROM patients;
`

// TestCluster runs Check, Apply, Apply again, Status, and checks that the
// rows reached both workers and that a one-patient read is a router query.
func TestCluster(t *testing.T) {
	coordURL, started := citusCoordinator(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// Each run works in a schema of its own, so an existing coordinator
	// is left as it was found.
	schema := randName("historia_citus_")
	admin := connect(t, coordURL)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	cfg, err := pgx.ParseConfig(coordURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })

	info, err := citus.Detect(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Installed || !info.Coordinator || len(info.Workers) == 0 {
		t.Fatalf("Detect() = %+v; want a coordinator with workers", info)
	}
	if started && len(info.Workers) != 2 {
		t.Fatalf("Detect() found workers %v; want the 2 started", info.Workers)
	}
	t.Logf("citus %s, workers %v", info.Version, info.Workers)

	if _, err := conn.Exec(ctx, fixtureSchema); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, fixtureData); err != nil {
		t.Fatal(err)
	}

	// Check, then Apply.
	if vs, err := citus.Check(ctx, conn, fixturePlan); err != nil {
		t.Fatalf("Check() = %v, %v", vs, err)
	}
	rep, err := citus.Apply(ctx, conn, fixturePlan)
	if err != nil {
		t.Fatalf("Apply() = %v\n%v", err, rep)
	}
	t.Logf("first Apply:\n%v", rep)
	if !rep.Citus || len(rep.Tables) != 6 {
		t.Fatalf("Apply() report = %v; want 6 tables", rep)
	}
	for _, r := range rep.Tables {
		if r.Outcome != citus.Created {
			t.Errorf("%s: %v, want created", r.Table, r.Outcome)
		}
	}

	// Apply again: nothing to do.
	rep, err = citus.Apply(ctx, conn, fixturePlan)
	if err != nil {
		t.Fatalf("second Apply() = %v", err)
	}
	if rep.Changed() || len(rep.Tables) != 6 {
		t.Fatalf("second Apply() = %v; want every table skipped", rep)
	}
	// The catalog still fits the plan once distributed.
	if _, err := citus.Check(ctx, conn, fixturePlan); err != nil {
		t.Fatalf("Check() after Apply = %v", err)
	}
	// A plan asking for another layout is refused, and changes nothing.
	// (patient_documents by tenant_id passes Check, but it is distributed
	// by document_number.)
	other := citus.Plan{Reference: fixturePlan.Reference,
		Distributed: append(append([]citus.Table(nil), fixturePlan.Distributed[:3]...),
			citus.Table{Name: "patient_documents", Column: "tenant_id"})}
	if _, err := citus.Apply(ctx, conn, other); !errorsIsConflict(err) {
		t.Fatalf("Apply(conflicting plan) = %v; want ErrConflictingDistribution", err)
	}

	// Status.
	st, err := citus.Status(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]citus.TableStatus{}
	for _, s := range st {
		byName[strings.TrimPrefix(s.Table, schema+".")] = s
	}
	p, n := byName["patients"], byName["notes"]
	if p.Type != "distributed" || p.Column != "patient_id" || p.Shards == 0 {
		t.Fatalf("patients status = %+v", p)
	}
	if n.Colocation != p.Colocation || byName["conditions"].Colocation != p.Colocation {
		t.Errorf("notes/conditions not colocated with patients: %+v %+v", n, byName["conditions"])
	}
	if d := byName["patient_documents"]; d.Type != "distributed" || d.Column != "document_number" || d.Colocation == p.Colocation {
		t.Errorf("patient_documents status = %+v; want its own colocation group", d)
	}
	if r := byName["tenants"]; r.Type != "reference" {
		t.Errorf("tenants status = %+v", r)
	}
	if started && len(p.Nodes) != 2 {
		t.Errorf("patients shards on %d nodes, want 2: %+v", len(p.Nodes), p.Nodes)
	}
	t.Logf("status of patients:\n%v", p)

	// The rows are on the workers, spread over them.
	rows, err := conn.Query(ctx, `SELECT nodename, nodeport, sum(result::bigint)
		FROM run_command_on_placements($1::text::regclass, 'SELECT count(*) FROM %s')
		WHERE success GROUP BY 1, 2 ORDER BY 1, 2`, "patients")
	if err != nil {
		t.Fatal(err)
	}
	perNode := map[string]int64{}
	var total int64
	for rows.Next() {
		var host string
		var port int32
		var count int64
		if err := rows.Scan(&host, &port, &count); err != nil {
			t.Fatal(err)
		}
		perNode[fmt.Sprintf("%s:%d", host, port)] = count
		total += count
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if total != 40 {
		t.Errorf("patients on the shards: %d rows, want 40 (%v)", total, perNode)
	}
	if want := min(len(info.Workers), 2); len(perNode) < want {
		t.Errorf("patients on %d node(s) %v, want at least %d", len(perNode), perNode, want)
	}
	for node, count := range perNode {
		if count == 0 {
			t.Errorf("node %s holds no patient", node)
		}
	}

	// A one-patient chart read goes to one shard (a router query); a
	// tenant-wide search goes to all of them.
	var patientID string
	if err := conn.QueryRow(ctx, `SELECT patient_id::text FROM patients ORDER BY name LIMIT 1`).Scan(&patientID); err != nil {
		t.Fatal(err)
	}
	chart := explain(t, conn, fmt.Sprintf(`SELECT p.name, n.body, c.code
		FROM patients p JOIN notes n USING (patient_id) LEFT JOIN conditions c USING (patient_id)
		WHERE p.patient_id = '%s'`, patientID))
	if !strings.Contains(chart, "Task Count: 1\n") && !strings.HasSuffix(chart, "Task Count: 1") {
		t.Errorf("chart read is not a single-shard router query:\n%s", chart)
	}
	search := explain(t, conn, `SELECT patient_id FROM patients
		WHERE tenant_id = '00000000-0000-7000-8000-000000000001' AND name LIKE 'Paciente 1%'`)
	if strings.Contains(search, "Task Count: 1\n") || !strings.Contains(search, "Task Count: ") {
		t.Errorf("tenant-wide search should fan out to every shard:\n%s", search)
	}
	t.Logf("chart read plan:\n%s", chart)
}

func explain(tb testing.TB, conn *pgx.Conn, query string) string {
	tb.Helper()
	rows, err := conn.Query(context.Background(), "EXPLAIN "+query)
	if err != nil {
		tb.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
