package citus_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/citus"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/internal/citustest"
	"github.com/historiaehr/historia/rbac"
)

// TestClusterEHR distributes the real ehr schema on the cluster and runs
// the main ehr scenarios on it: Migrate, Check, Apply, Apply again (no
// change), registration of patients, a chart, searches, the audit chains;
// every statement the repository sent for one patient is EXPLAINed and
// must be a single-shard router query, and the rows must be on both
// workers. It skips, like TestCluster, without a cluster.
func TestClusterEHR(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts citustest.Options
	}{{"coordinator registered", citustest.Options{}}, {"coordinator not registered", citustest.Options{NoCoordinator: true}}} {
		t.Run(tc.name, func(t *testing.T) { testClusterEHR(t, tc.opts) })
	}
}

func testClusterEHR(t *testing.T, opts citustest.Options) {
	dbURL, started := citusDB(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	conn := connect(t, dbURL)

	// Migrate, Check, Apply, Apply again, on a connection of their own.
	if err := ehr.Migrate(ctx, conn); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	plan := ehr.DistributionPlan()
	if vs, err := citus.Check(ctx, conn, plan); err != nil {
		t.Fatalf("Check() = %v, %v", vs, err)
	}
	start := time.Now()
	rep, err := citus.Apply(ctx, conn, plan)
	if err != nil {
		t.Fatalf("Apply() = %v\n%v", err, rep)
	}
	t.Logf("first Apply (%v):\n%v", time.Since(start).Round(time.Millisecond), rep)
	want := len(plan.Reference) + len(plan.Distributed)
	if !rep.Citus || len(rep.Tables) != want {
		t.Fatalf("Apply() report = %v; want %d tables", rep, want)
	}
	for _, r := range rep.Tables {
		if r.Outcome != citus.Created {
			t.Errorf("%s: %v, want created", r.Table, r.Outcome)
		}
	}
	if rep, err = citus.Apply(ctx, conn, plan); err != nil || rep.Changed() {
		t.Fatalf("second Apply() = %v, %v; want every table skipped", rep, err)
	}

	// The repository on a pool that records what it sends.
	rec := &ehrtest.Recorder{}
	pool := ehrtest.OpenWith(t, dbURL, func(c *pgxpool.Config) {
		c.ConnConfig.Tracer = rec
	})
	h := ehrtest.NewHospital(t, pool)
	adm, med, aud := h.As(h.Admisionista), h.As(h.Medico), h.As(h.Auditor)
	var patients []ehr.Patient
	for range 24 {
		patients = append(patients, h.NewPatient(t))
	}
	p := patients[0]
	enc, err := h.Repo.Admit(adm, ehr.Admission{PatientID: p.ID, AttendingID: h.Practitioner.ID, Ward: "Medicina", Bed: "4"})
	if err != nil {
		t.Fatal(err)
	}
	note, err := h.Repo.CreateNote(med, ehr.Note{PatientID: p.ID, EncounterID: enc.ID, Title: "Ingreso", Body: "Paciente estable."}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Repo.RecordCondition(med, ehr.Condition{PatientID: p.ID, Code: "I10", Display: "Hipertensión esencial"}); err != nil {
		t.Fatal(err)
	}
	hr := 80.0
	if _, err := h.Repo.RecordObservations(med, p.ID, []ehr.Observation{{Category: ehr.CategoryVitalSigns, Code: ehr.CodeHeartRate, Value: &hr, Unit: "/min"}}); err != nil {
		t.Fatal(err)
	}
	if page, err := h.Repo.SearchPatients(adm, ehr.PatientQuery{DocumentNumber: p.DocumentNumber}); err != nil || len(page.Patients) != 1 {
		t.Fatalf("search by document = %+v, %v", page.Patients, err)
	}
	if page, err := h.Repo.SearchPatients(adm, ehr.PatientQuery{Name: "jose"}); err != nil || len(page.Patients) == 0 {
		t.Fatalf("search by name = %d, %v", len(page.Patients), err)
	}
	// One word goes through the word table (patient_name_words on every
	// shard, the dictionary on one), two through patients' indexes: the
	// same patients in the same order, page after page.
	if byWord, byIndex := searchAll(t, adm, h.Repo, "jose"), searchAll(t, adm, h.Repo, "jose jose"); !slices.Equal(byWord, byIndex) || len(byWord) != 24 {
		t.Fatalf("search by one word = %v\nby two = %v", byWord, byIndex)
	}
	if _, err := h.Repo.ListAdmissions(adm, ""); err != nil {
		t.Fatal(err)
	}
	// Booking claims the practitioner's slots (appointment_slots,
	// distributed by practitioner): a double booking is a conflict, as on
	// one server, not an internal error.
	sec := h.As(h.Secretaria)
	slot := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Hour)
	if _, err := h.Repo.BookAppointment(sec, ehr.Appointment{PatientID: p.ID, PractitionerID: h.Practitioner.ID, Start: slot, End: slot.Add(30 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Repo.BookAppointment(sec, ehr.Appointment{PatientID: patients[1].ID, PractitionerID: h.Practitioner.ID, Start: slot.Add(15 * time.Minute), End: slot.Add(45 * time.Minute)}); !errors.Is(err, ehr.ErrConflict) {
		t.Fatalf("double booking on the cluster = %v; want ErrConflict", err)
	}
	if _, err := h.Repo.ListAppointments(sec, ehr.AppointmentQuery{PractitionerID: h.Practitioner.ID, From: slot.Add(-time.Hour), To: slot.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}

	// GetPatient and the chart: every statement is a router query.
	workflow := rec.Statements()
	rec.Reset()
	if _, err := h.Repo.GetPatient(med, p.ID); err != nil {
		t.Fatal(err)
	}
	getPatient := rec.Statements()
	rec.Reset()
	c, err := h.Repo.Chart(med, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Notes) != 1 || len(c.Conditions) != 1 || len(c.Observations) != 1 {
		t.Fatalf("chart: %d notes, %d conditions, %d observations", len(c.Notes), len(c.Conditions), len(c.Observations))
	}
	chart := rec.Statements()
	for _, set := range []struct {
		name  string
		stmts []ehrtest.Statement
	}{{"GetPatient", getPatient}, {"Chart", chart}} {
		n := 0
		for _, st := range set.stmts {
			if len(ehrtest.PatientTablesIn(st.SQL)) == 0 {
				continue
			}
			n++
			plan := explainArgs(t, conn, st)
			if !singleTask(plan) {
				t.Errorf("%s: statement is not a single-shard router query:\n%s\n%s", set.name, st.SQL, plan)
			}
			if n == 1 {
				t.Logf("%s main read plan:\n%s", set.name, plan)
			}
		}
		if n < 3 {
			t.Errorf("%s sent %d statements on patient tables; want the read and the audit append", set.name, n)
		}
	}

	// A physician outside the care team: the chart's batch, decided with
	// the facts expected of a physician, fails its check on the patient's
	// shard, rolls back there, and is decided and read again with the
	// facts: the demographics, the clinical sections withheld, one event.
	outsider, _ := h.NewMedico(t, "Dra. Fuera")
	octx := h.As(outsider)
	ov, err := h.Repo.ChartView(octx, p.ID, ehr.ChartBounds{})
	if err != nil {
		t.Fatalf("outsider's chart on the cluster: %v", err)
	}
	if !slices.Contains(ov.Withheld, rbac.KindNote) || len(ov.Notes) != 0 || ov.Patient.ID != p.ID {
		t.Fatalf("outsider's chart: withheld %v, %d notes", ov.Withheld, len(ov.Notes))
	}
	if page, err := h.Repo.SearchAudit(aud, ehr.AuditQuery{ChainID: p.ID, UserID: outsider.Principal.UserID}); err != nil || len(page.Events) != 1 {
		t.Fatalf("outsider's chart read: %d events, %v; want 1", len(page.Events), err)
	}

	// The audit chains verify, on the patient's shard and the tenant's.
	for _, chain := range []string{p.ID, h.Tenant.ID} {
		st, err := h.Repo.VerifyChain(aud, chain)
		if err != nil {
			t.Fatalf("VerifyChain(%s): %v", chain, err)
		}
		if st.Events == 0 {
			t.Errorf("VerifyChain(%s): no events", chain)
		}
	}
	// The tenant's own chains, its lanes, opened by CreateTenant on the
	// cluster, are spread over shards; migration 0007 runs on the
	// distributed tables and opens a lane head that is missing.
	lanes, err := ehr.TenantChains(h.Tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	laneShards := map[int64]bool{}
	for _, l := range lanes {
		var shard int64
		if err := conn.QueryRow(ctx, `SELECT get_shard_id_for_distribution_column('audit_heads', $1::text)`, l).Scan(&shard); err != nil {
			t.Fatal(err)
		}
		laneShards[shard] = true
	}
	if len(laneShards) < ehr.AuditLanes/4 {
		t.Errorf("the tenant's %d lanes are on %d shards", len(lanes), len(laneShards))
	}
	var idle string
	if err := conn.QueryRow(ctx, `SELECT patient_id::text FROM audit_heads WHERE tenant_id = $1 AND patient_id <> $1 AND seq = 0 LIMIT 1`, h.Tenant.ID).Scan(&idle); err != nil {
		t.Fatalf("an idle lane: %v", err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM audit_heads WHERE patient_id = $1`, idle); err != nil {
		t.Fatal(err)
	}
	migration, err := os.ReadFile("../ehr/migrations/0007_tenant_audit_lanes.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, string(migration)); err != nil {
		t.Fatalf("migration 0007 on the cluster: %v", err)
	}
	var heads int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM audit_heads WHERE tenant_id = $1 AND patient_id = ANY($2::uuid[])`, h.Tenant.ID, lanes).Scan(&heads); err != nil || heads != ehr.AuditLanes {
		t.Errorf("after migration 0007 on the cluster: %d lane heads, %v", heads, err)
	}
	if _, err := h.Repo.VerifyChain(aud, h.Tenant.ID); err != nil {
		t.Errorf("VerifyChain(tenant) after migration 0007: %v", err)
	}

	// Migration 0009 on a cluster already distributed (an upgrade): its
	// tables are made on the coordinator from the distributed patients,
	// then Apply distributes them; a one-word search finds what it found.
	before := searchAll(t, adm, h.Repo, "jose")
	if _, err := conn.Exec(ctx, `DROP TABLE patient_name_words, patient_name_dictionary`); err != nil {
		t.Fatal(err)
	}
	if migration, err = os.ReadFile("../ehr/migrations/0009_patient_name_words.sql"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, string(migration)); err != nil {
		t.Fatalf("migration 0009 on the cluster: %v", err)
	}
	if rep, err := citus.Apply(ctx, conn, plan); err != nil || !rep.Changed() {
		t.Fatalf("Apply after migration 0009 = %v, %v; want the word tables distributed", rep, err)
	}
	if after := searchAll(t, adm, h.Repo, "jose"); !slices.Equal(before, after) {
		t.Errorf("search by one word after migration 0009 on the cluster = %v, want %v", after, before)
	}

	// Locate finds the patient of a record known by its id alone (a
	// fan-out, checked below); a patient's own id is a router query.
	for _, k := range []rbac.Kind{rbac.KindNote, rbac.KindEncounter, rbac.KindAdmission, rbac.KindContact} {
		id := map[rbac.Kind]string{rbac.KindNote: note.ID, rbac.KindEncounter: enc.ID, rbac.KindAdmission: enc.ID, rbac.KindContact: p.ID}[k]
		if got, err := h.Repo.Locate(med, k, id); err != nil || got != p.ID {
			t.Errorf("Locate(%s) = %q, %v; want %s", k, got, err, p.ID)
		}
	}

	// Every other statement on a distributed table is a router query too,
	// on the cluster's own plans; the documented fan-outs really fan out.
	seen := map[string]bool{}
	fanouts := map[string]string{}
	for _, st := range slices.Concat(workflow, getPatient, chart, rec.Statements()) {
		if seen[st.SQL] || !onDistributed(st.SQL) {
			continue
		}
		seen[st.SQL] = true
		plan := explainArgs(t, conn, st)
		if fanout, _ := ehrtest.Routing(st.SQL); fanout != "" {
			if singleTask(plan) {
				t.Errorf("fan-out %q runs on one shard: drop its marker\n%s", fanout, plan)
			}
			fanouts[fanout] = taskCount(plan)
			continue
		}
		if !singleTask(plan) {
			t.Errorf("statement is not a single-shard router query:\n%s\n%s", st.SQL, plan)
		}
	}
	t.Logf("%d distinct statements on distributed tables EXPLAINed; fan-outs (tasks): %v", len(seen), fanouts)

	// The rows are on the workers, spread over both.
	for _, table := range []string{"patients", "audit_events"} {
		perNode := rowsPerNode(t, conn, table)
		var total int64
		for _, n := range perNode {
			total += n
		}
		if total == 0 {
			t.Errorf("%s: no rows on the shards", table)
		}
		if want := 2; started && len(perNode) < want {
			t.Errorf("%s on %d node(s) %v, want %d", table, len(perNode), perNode, want)
		}
		t.Logf("%s rows per node: %v", table, perNode)
	}
}

// explainArgs EXPLAINs a recorded statement with its arguments, sent with
// the simple protocol so that Citus plans it with the values; arguments
// the simple protocol cannot encode (JSON of Go structs) go through an
// unnamed prepared statement, which PostgreSQL also plans with the values.
func explainArgs(tb testing.TB, conn *pgx.Conn, st ehrtest.Statement) string {
	tb.Helper()
	explain := func(mode pgx.QueryExecMode) ([]string, error) {
		rows, err := conn.Query(context.Background(), "EXPLAIN "+st.SQL, append([]any{mode}, st.Args...)...)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[string])
	}
	lines, err := explain(pgx.QueryExecModeSimpleProtocol)
	if err != nil && strings.Contains(err.Error(), "unable to encode") {
		lines, err = explain(pgx.QueryExecModeDescribeExec)
	}
	if err != nil {
		tb.Fatalf("EXPLAIN %s: %v", st.SQL, err)
	}
	return strings.Join(lines, "\n")
}

// onDistributed reports whether sql touches a table distributed in ehr's
// plan: patient tables, and the uniqueness tables distributed by value.
func onDistributed(sql string) bool {
	if len(ehrtest.PatientTablesIn(sql)) > 0 {
		return true
	}
	for _, t := range ehr.DistributionPlan().Distributed {
		if t.ColocateWith == "" && t.Name != "patients" && strings.Contains(sql, t.Name) {
			return true
		}
	}
	return false
}

// taskCount returns the first "Task Count" of an EXPLAIN, or "?".
func taskCount(plan string) string {
	if m := taskCountRE.FindStringSubmatch(plan); m != nil {
		return m[1]
	}
	return "?"
}

// singleTask reports whether a Citus plan runs as one task on one shard:
// every "Task Count" of the plan is 1 and nothing is pulled through the
// coordinator or repartitioned.
func singleTask(plan string) bool {
	counts := taskCountRE.FindAllStringSubmatch(plan, -1)
	for _, c := range counts {
		if c[1] != "1" {
			return false
		}
	}
	return len(counts) > 0 && !strings.Contains(plan, "pull to coordinator") && !strings.Contains(plan, "repartition")
}

var taskCountRE = regexp.MustCompile(`Task Count: (\d+)`)

// rowsPerNode counts the rows of table on each node holding its shards.
func rowsPerNode(tb testing.TB, conn *pgx.Conn, table string) map[string]int64 {
	tb.Helper()
	rows, err := conn.Query(context.Background(), `SELECT nodename, nodeport, sum(result::bigint)
		FROM run_command_on_placements($1::text::regclass, 'SELECT count(*) FROM %s')
		WHERE success GROUP BY 1, 2 ORDER BY 1, 2`, table)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var host string
		var port int32
		var count int64
		if err := rows.Scan(&host, &port, &count); err != nil {
			tb.Fatal(err)
		}
		if count > 0 {
			out[fmt.Sprintf("%s:%d", host, port)] = count
		}
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// searchAll pages through SearchPatients by name, 5 patients a page, and
// returns the ids found in order.
func searchAll(t *testing.T, ctx context.Context, repo *ehr.Repository, name string) []string {
	t.Helper()
	var ids []string
	q := ehr.PatientQuery{Name: name, Limit: 5}
	for {
		page, err := repo.SearchPatients(ctx, q)
		if err != nil {
			t.Fatalf("search %q: %v", name, err)
		}
		for _, p := range page.Patients {
			ids = append(ids, p.ID)
		}
		if page.Next == "" {
			return ids
		}
		q.Cursor = page.Next
	}
}
