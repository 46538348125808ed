package citus_test

// Cluster operations on the real ehr schema: repairing a database that an
// older Apply left half-converted, the atomicity of an audited read
// through the coordinator, rebalancing onto a new worker while writes run,
// moving and isolating a patient's shard.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/citus"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/internal/citustest"
)

// distributedEHR migrates a fresh cluster database, distributes ehr's plan
// on it and returns its URL, a connection for checks and a hospital whose
// repository works on a pool of that database.
//
// shards sets citus.shard_count for the distribution (0: Citus's default,
// 32): tests that move every shard keep the count small.
func distributedEHR(t *testing.T, opts citustest.Options, shards int) (dbURL string, conn *pgx.Conn, h *ehrtest.Hospital) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dbURL, _ = citusDB(t, opts)
	conn = connect(t, dbURL)
	if shards > 0 {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET citus.shard_count = %d", shards)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ehr.Migrate(ctx, conn); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if rep, err := citus.Apply(ctx, conn, ehr.DistributionPlan()); err != nil {
		t.Fatalf("Apply() = %v\n%v", err, rep)
	}
	pool := ehrtest.OpenWith(t, dbURL, nil)
	return dbURL, conn, ehrtest.NewHospital(t, pool)
}

// TestClusterRepairsHalfConverted recreates what Apply did before it
// turned citus.enable_local_reference_table_foreign_keys off: reference
// tables made with the coordinator registered, which converted the tables
// pointing at them into Citus local tables, after which distributing
// patients failed. Apply must finish the job from there, and say what it
// repaired.
func TestClusterRepairsHalfConverted(t *testing.T) {
	dbURL, _ := citusDB(t, citustest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn := connect(t, dbURL)
	if err := ehr.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	plan := ehr.DistributionPlan()
	for _, ref := range plan.Reference {
		if _, err := conn.Exec(ctx, "SELECT create_reference_table($1::text::regclass)", ref); err != nil {
			t.Fatalf("create_reference_table(%s): %v", ref, err)
		}
	}
	var locals int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_dist_partition WHERE partmethod = 'n' AND repmodel = 's'`).Scan(&locals); err != nil {
		t.Fatal(err)
	}
	if locals == 0 {
		t.Fatal("no table was converted into a Citus local table: the scenario did not happen")
	}
	_, err := conn.Exec(ctx, "SELECT create_distributed_table('patients', 'patient_id')")
	if err == nil || !strings.Contains(err.Error(), "foreign key") {
		t.Fatalf("distributing patients in the half-converted database = %v; want the foreign key error of the old Apply", err)
	}

	rep, err := citus.Apply(ctx, conn, plan)
	if err != nil {
		t.Fatalf("Apply() on a half-converted database = %v\n%v", err, rep)
	}
	if len(rep.Repaired) == 0 || !strings.Contains(rep.String(), "repaired") {
		t.Errorf("Apply() report does not say what it repaired:\n%v", rep)
	}
	t.Logf("%d Citus local tables found; Apply:\n%v", locals, rep)
	if rep, err := citus.Apply(ctx, conn, plan); err != nil || rep.Changed() || len(rep.Repaired) != 0 {
		t.Fatalf("second Apply() = %v, %v; want nothing to do", rep, err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_dist_partition WHERE partmethod = 'n' AND repmodel = 's'`).Scan(&locals); err != nil || locals != 0 {
		t.Fatalf("%d Citus local tables left (%v)", locals, err)
	}
	// The setting Apply turned off for itself is back.
	var setting string
	if err := conn.QueryRow(ctx, "SHOW citus.enable_local_reference_table_foreign_keys").Scan(&setting); err != nil || setting != "on" {
		t.Errorf("citus.enable_local_reference_table_foreign_keys after Apply = %q, %v; want on again", setting, err)
	}
}

// lockShard locks the shard of table that holds patientID, on its worker,
// in a transaction that blocks every write to it, until the returned
// function is called.
func lockShard(t *testing.T, conn *pgx.Conn, dbURL, table, patientID string) (release func()) {
	t.Helper()
	ctx := context.Background()
	shard, err := citus.ShardFor(ctx, conn, table, patientID)
	if err != nil {
		t.Fatal(err)
	}
	node, err := citus.ShardNode(ctx, conn, shard)
	if err != nil {
		t.Fatal(err)
	}
	var shardName string
	if err := conn.QueryRow(ctx, "SELECT shard_name($1::regclass, $2)", table, shard).Scan(&shardName); err != nil {
		t.Fatal(err)
	}
	c := citustest.New(t)
	db := dbURL[strings.LastIndex(dbURL, "/")+1:]
	if i := strings.IndexByte(db, '?'); i >= 0 {
		db = db[:i]
	}
	wconn, err := pgx.Connect(ctx, c.NodeURL(node.Host, node.Port, db))
	if err != nil {
		if !c.Started() {
			// A cluster given by URL: its workers may be out of the
			// test's reach (the suite's own cluster always is in reach).
			t.Skipf("worker %s is not reachable from the test: %v", node, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { wconn.Close(context.Background()) })
	tx, err := wconn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Citus refuses changes to a shard by hand unless told to.
	if _, err := tx.Exec(ctx, "SET LOCAL citus.enable_manual_changes_to_shards = on"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+shardName+" IN EXCLUSIVE MODE"); err != nil {
		t.Fatalf("lock %s on %s: %v", shardName, node, err)
	}
	return func() { _ = tx.Rollback(ctx) }
}

// cancelWaiting cancels the coordinator backends of conn's database that
// are still running a statement on audit_events, and waits until they
// have stopped.
func cancelWaiting(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	const waiting = `FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
		AND state = 'active' AND query LIKE '%audit_events%' AND backend_type = 'client backend'`
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(pg_cancel_backend(pid)) "+waiting).Scan(&n); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := conn.QueryRow(ctx, "SELECT count(*) "+waiting).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%d backends still run the abandoned statement", n)
}

// TestClusterAuditAtomic is the scenario that broke audit chains on Citus:
// the patient's audit_events shard is locked on its worker, an audited
// read is abandoned by its caller while it waits, and the chain must
// still verify, with the head's seq equal to the events stored. With
// the audit append sent as a pipeline without BEGIN, the head advanced on
// its own (each single-shard statement commits on its own through the
// coordinator) and the chain was broken.
func TestClusterAuditAtomic(t *testing.T) {
	dbURL, conn, h := distributedEHR(t, citustest.Options{}, 0)
	p := h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	med, aud := h.As(h.Medico), h.As(h.Auditor)
	if _, err := h.Repo.GetPatient(med, p.ID); err != nil {
		t.Fatal(err)
	}
	reads := map[string]func(ctx context.Context) error{
		"GetPatient": func(ctx context.Context) error { _, err := h.Repo.GetPatient(ctx, p.ID); return err },
		"Chart":      func(ctx context.Context) error { _, err := h.Repo.Chart(ctx, p.ID); return err },
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			release := lockShard(t, conn, dbURL, "audit_events", p.ID)
			ctx, cancel := context.WithTimeout(med, 2*time.Second)
			err := read(ctx)
			cancel()
			if err == nil {
				release()
				t.Fatalf("%s succeeded while the audit shard was locked", name)
			}
			// The caller is gone, but the coordinator's backend still
			// waits on the worker: PostgreSQL notices a vanished client
			// only at its next check (a cancel request, a timeout,
			// client_connection_check_interval). Cancel it, as that
			// check would, then let the worker go.
			cancelWaiting(t, conn)
			release()
			st, err := h.Repo.VerifyChain(aud, p.ID)
			if err != nil {
				t.Fatalf("VerifyChain after an abandoned %s: %v", name, err)
			}
			var head, events int64
			if err := conn.QueryRow(context.Background(), `SELECT (SELECT seq FROM audit_heads WHERE patient_id = $1),
				(SELECT count(*) FROM audit_events WHERE patient_id = $1)`, p.ID).Scan(&head, &events); err != nil {
				t.Fatal(err)
			}
			if head != events || st.Events != events {
				t.Fatalf("after an abandoned %s: head at seq %d, %d events stored, %d verified", name, head, events, st.Events)
			}
			// And the next read is audited normally.
			if err := read(med); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestClusterRebalanceUnderWrites adds a third worker and rebalances
// (logical replication, the 'auto' mode) while physicians write notes
// and read charts; afterwards every acknowledged note is there, every
// chain verifies, and the new worker holds shards.
func TestClusterRebalanceUnderWrites(t *testing.T) {
	dbURL, conn, h := distributedEHR(t, citustest.Options{}, 4)
	c := citustest.New(t)
	var patients []ehr.Patient
	for range 12 {
		p := h.NewPatient(t)
		h.OnCareTeam(t, p, h.Practitioner)
		patients = append(patients, p)
	}
	med, aud := h.As(h.Medico), h.As(h.Auditor)

	newWorker := c.AddWorker(t, dbURL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Writers: each acknowledged note is remembered; an error is
	// allowed only as a conflict-free failure that wrote nothing (a
	// write blocked by the move's final lock and cancelled is not
	// acknowledged).
	var (
		mu      sync.Mutex
		acked   = map[string]string{} // note id -> patient id
		failed  atomic.Int64
		stop    = make(chan struct{})
		writers sync.WaitGroup
	)
	for w := range 3 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := patients[(w*5+i)%len(patients)]
				wctx, wcancel := context.WithTimeout(med, 30*time.Second)
				n, err := h.Repo.CreateNote(wctx, ehr.Note{PatientID: p.ID, Title: "Evolución", Body: fmt.Sprintf("Nota %d-%d", w, i)}, true)
				if err == nil {
					_, err = h.Repo.Chart(wctx, p.ID)
				}
				wcancel()
				if err != nil {
					failed.Add(1)
					t.Logf("writer %d: %v", w, err)
					continue
				}
				mu.Lock()
				acked[n.ID] = p.ID
				mu.Unlock()
				// A clinic's pace, not a flood: the moves must catch up.
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second)
	start := time.Now()
	job, err := citus.StartRebalance(ctx, conn, citus.TransferAuto)
	if err != nil {
		close(stop)
		writers.Wait()
		t.Fatalf("StartRebalance: %v", err)
	}
	var last citus.RebalanceProgress
	err = citus.WaitRebalance(ctx, conn, job, 500*time.Millisecond, func(p citus.RebalanceProgress) { last = p })
	time.Sleep(time.Second)
	close(stop)
	writers.Wait()
	if err != nil {
		t.Fatalf("rebalance job %d: %v (last progress %+v)", job, err, last)
	}
	t.Logf("rebalance job %d: %d of %d shard moves done in %v; %d notes acknowledged during it, %d writes failed", job, last.Done(), last.Total(), time.Since(start).Round(time.Millisecond), len(acked), failed.Load())
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged while the rebalance ran")
	}

	// The new worker holds shards of patients.
	st, err := citus.Status(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	onNew := 0
	for _, s := range st {
		if strings.HasSuffix(s.Table, "patients") {
			for _, n := range s.Nodes {
				if n.Host == newWorker.Name {
					onNew = n.Shards
				}
			}
		}
	}
	if onNew == 0 {
		t.Errorf("after the rebalance the new worker %s holds no patient shard: %+v", newWorker.Name, st)
	}

	// Every acknowledged note is there; every chain verifies.
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for id, pid := range acked {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM clinical_notes WHERE patient_id = $1 AND id = $2", pid, id).Scan(&n); err != nil || n != 1 {
			t.Errorf("acknowledged note %s of patient %s: %d rows (%v)", id, pid, n, err)
		}
	}
	for _, p := range append(patients, ehr.Patient{ID: h.Tenant.ID}) {
		if _, err := h.Repo.VerifyChain(aud, p.ID); err != nil {
			t.Errorf("VerifyChain(%s) after the rebalance: %v", p.ID, err)
		}
	}
}

// TestClusterMoveAndIsolate moves one patient's shard group to the other
// worker (block_writes) and isolates another patient into shards of their
// own (auto: logical replication), then reads both charts and verifies
// their chains.
func TestClusterMoveAndIsolate(t *testing.T) {
	_, conn, h := distributedEHR(t, citustest.Options{}, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a, b := h.NewPatient(t), h.NewPatient(t)
	for _, p := range []ehr.Patient{a, b} {
		h.OnCareTeam(t, p, h.Practitioner)
		if _, err := h.Repo.CreateNote(h.As(h.Medico), ehr.Note{PatientID: p.ID, Title: "Ingreso", Body: "Estable."}, true); err != nil {
			t.Fatal(err)
		}
	}
	info, err := citus.Detect(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}

	// Move a's shard to a worker that does not hold it.
	shard, err := citus.ShardFor(ctx, conn, "patients", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	from, err := citus.ShardNode(ctx, conn, shard)
	if err != nil {
		t.Fatal(err)
	}
	var to citus.Node
	for _, w := range info.Workers {
		if w.String() != from.String() {
			to = w
			break
		}
	}
	if to.Host == "" {
		t.Fatalf("no worker other than %v among %v", from, info.Workers)
	}
	start := time.Now()
	if err := citus.MoveShard(ctx, conn, shard, from, to, citus.TransferBlockWrites); err != nil {
		t.Fatalf("MoveShard(%d, %v -> %v): %v", shard, from, to, err)
	}
	t.Logf("moved a patient's shard group (block_writes) in %v", time.Since(start).Round(time.Millisecond))
	if now, err := citus.ShardNode(ctx, conn, shard); err != nil || now.String() != to.String() {
		t.Fatalf("shard %d after the move is on %v (%v); want %v", shard, now, err, to)
	}
	// Colocated shards moved along: a's notes are on the same node.
	noteShard, err := citus.ShardFor(ctx, conn, "clinical_notes", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := citus.ShardNode(ctx, conn, noteShard); err != nil || n.String() != to.String() {
		t.Errorf("clinical_notes shard of the moved patient on %v (%v); want %v", n, err, to)
	}

	// Isolate b.
	before, err := citus.ShardFor(ctx, conn, "patients", b.ID)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	isolated, err := citus.IsolateTenant(ctx, conn, "patients", b.ID, citus.TransferAuto)
	if err != nil {
		t.Fatalf("IsolateTenant: %v", err)
	}
	t.Logf("isolated a patient (auto) in %v", time.Since(start).Round(time.Millisecond))
	if now, err := citus.ShardFor(ctx, conn, "patients", b.ID); err != nil || now != isolated || now == before {
		t.Fatalf("patient b's shard after isolation = %d (%v); want the new shard %d, not %d", now, err, isolated, before)
	}
	var rows int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM patients WHERE patient_id <> $1 AND get_shard_id_for_distribution_column('patients', patient_id) = $2", b.ID, isolated).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("the isolated shard holds %d other patients (%v)", rows, err)
	}

	for _, p := range []ehr.Patient{a, b} {
		c, err := h.Repo.Chart(h.As(h.Medico), p.ID)
		if err != nil || len(c.Notes) != 1 {
			t.Fatalf("chart of %s after move/isolate: %d notes, %v", p.ID, len(c.Notes), err)
		}
		if _, err := h.Repo.VerifyChain(h.As(h.Auditor), p.ID); err != nil {
			t.Errorf("VerifyChain(%s): %v", p.ID, err)
		}
	}
	if _, err := h.Repo.CreateNote(h.As(h.Medico), ehr.Note{PatientID: b.ID, Title: "Control", Body: "Sin cambios."}, true); err != nil && !errors.Is(err, ehr.ErrConflict) {
		t.Fatalf("write after isolation: %v", err)
	}
}

// TestClusterDistributesExistingData is the operator's path from one
// PostgreSQL to a cluster: a hospital works on the coordinator's local
// tables first (patients, notes, audit chains), then Apply distributes
// the database as it is. Every record and chain is intact afterwards,
// the rows live on the workers, and no copy is left on the coordinator.
func TestClusterDistributesExistingData(t *testing.T) {
	dbURL, _ := citusDB(t, citustest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn := connect(t, dbURL)
	if err := ehr.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	pool := ehrtest.OpenWith(t, dbURL, nil)
	h := ehrtest.NewHospital(t, pool)
	var patients []ehr.Patient
	for range 10 {
		p := h.NewPatient(t)
		h.OnCareTeam(t, p, h.Practitioner)
		if _, err := h.Repo.CreateNote(h.As(h.Medico), ehr.Note{PatientID: p.ID, Title: "Ingreso", Body: "Estable."}, true); err != nil {
			t.Fatal(err)
		}
		patients = append(patients, p)
	}
	var before int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM audit_events").Scan(&before); err != nil {
		t.Fatal(err)
	}
	// The pool's prepared statements were planned on local tables.
	pool.Reset()

	start := time.Now()
	rep, err := citus.Apply(ctx, conn, ehr.DistributionPlan())
	if err != nil {
		t.Fatalf("Apply() on a database with data = %v\n%v", err, rep)
	}
	t.Logf("distributed a database of %d patients and %d audit events in %v", len(patients), before, time.Since(start).Round(time.Millisecond))

	var after, local int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM audit_events").Scan(&after); err != nil || after != before {
		t.Fatalf("audit events after distributing: %d (%v), before %d", after, err, before)
	}
	// No copy stays behind in the coordinator's shell tables.
	if err := conn.QueryRow(ctx, `SELECT coalesce(sum(pg_relation_size(logicalrelid)), 0) FROM pg_dist_partition
		WHERE partmethod = 'h'`).Scan(&local); err != nil {
		t.Fatal(err)
	}
	if local != 0 {
		t.Errorf("%d bytes of local rows left on the coordinator after distributing", local)
	}
	perNode := rowsPerNode(t, conn, "patients")
	if len(perNode) < 2 {
		t.Errorf("patients on %d node(s) after distributing: %v", len(perNode), perNode)
	}
	for _, p := range patients {
		c, err := h.Repo.Chart(h.As(h.Medico), p.ID)
		if err != nil || len(c.Notes) != 1 {
			t.Fatalf("chart after distributing: %d notes, %v", len(c.Notes), err)
		}
		if _, err := h.Repo.VerifyChain(h.As(h.Auditor), p.ID); err != nil {
			t.Errorf("VerifyChain(%s) after distributing: %v", p.ID, err)
		}
	}
	if _, err := h.Repo.VerifyChain(h.As(h.Auditor), h.Tenant.ID); err != nil {
		t.Errorf("tenant chain after distributing: %v", err)
	}
}
