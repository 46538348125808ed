package citus_test

// The cluster suite runs the plan on a real Citus cluster: a coordinator
// and two workers started with dockertest on a private Docker network, or
// an existing coordinator. It is the package's only test that may skip:
// Citus cannot be built from Debian's packages, and no image can be pulled
// on a machine without a registry.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/citus"
	"github.com/historiaehr/historia/internal/citustest"
)

// citusDB returns the URL of a fresh database on the suite's Citus
// cluster (internal/citustest), and whether the suite started the cluster
// itself (it then knows exactly two workers).
func citusDB(tb testing.TB, opts citustest.Options) (dbURL string, started bool) {
	tb.Helper()
	c := citustest.New(tb)
	return c.NewDatabase(tb, opts), c.Started()
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
// rows reached both workers and that a one-patient read is a router query,
// on a cluster with the coordinator registered (as real deployments have
// it) and on one without.
func TestCluster(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts citustest.Options
	}{{"coordinator registered", citustest.Options{}}, {"coordinator not registered", citustest.Options{NoCoordinator: true}}} {
		t.Run(tc.name, func(t *testing.T) { testCluster(t, tc.opts) })
	}
}

func testCluster(t *testing.T, opts citustest.Options) {
	dbURL, started := citusDB(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	conn := connect(t, dbURL)

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
		byName[s.Table[strings.LastIndex(s.Table, ".")+1:]] = s
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
