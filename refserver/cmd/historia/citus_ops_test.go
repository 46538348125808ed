package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/citus"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/internal/citustest"
)

// connectT opens a connection closed when the test ends.
func connectT(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// historia runs a command that must succeed and returns its output.
func historia(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), args, nil, &out, &errOut, noEnv); err != nil {
		t.Fatalf("historia %s: %v\n%s\n%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// TestCitusOpsUsageErrors: every flag mistake of rebalance, move and
// isolate is a usage error naming the flag, found before connecting (the
// URL leads nowhere) and with nothing printed.
func TestCitusOpsUsageErrors(t *testing.T) {
	const db = "postgres://nobody:secret@127.0.0.1:1/none"
	const id = "0190a3c4-0000-7000-8000-000000000001"
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"citus"}, "command"},
		{[]string{"citus", "shuffle", "--database-url", db}, "shuffle"},
		{[]string{"citus", "rebalance"}, "--database-url"},
		{[]string{"citus", "rebalance", "--database-url", db, "--mode", "fast"}, "mode"},
		{[]string{"citus", "rebalance", "--database-url", db, "--interval", "0s"}, "--interval"},
		{[]string{"citus", "rebalance", "--database-url", db, "--interval", "soon"}, "interval"},
		{[]string{"citus", "rebalance", "--database-url", db, "now"}, "argument"},
		{[]string{"citus", "rebalance", "--database-url", db, "--table", "patients"}, "table"},
		{[]string{"citus", "move", "--database-url", db, "--value", id, "--to", "w1:5432"}, "--table"},
		{[]string{"citus", "move", "--database-url", db, "--table", "patients", "--to", "w1:5432"}, "--value"},
		{[]string{"citus", "move", "--database-url", db, "--table", "patients", "--value", "  ", "--to", "w1:5432"}, "--value"},
		{[]string{"citus", "move", "--database-url", db, "--table", "patients", "--value", id}, "--to"},
		{[]string{"citus", "move", "--database-url", db, "--table", "patients", "--value", id, "--to", "w1"}, "--to"},
		{[]string{"citus", "move", "--database-url", db, "--table", "patients", "--value", id, "--to", ":5432"}, "--to"},
		{[]string{"citus", "move", "--database-url", db, "--table", "patients", "--value", id, "--to", "w1:0"}, "--to"},
		{[]string{"citus", "move", "--database-url", db, "--table", "patients", "--value", id, "--to", "w1:65536"}, "--to"},
		{[]string{"citus", "move", "--database-url", db, "--table", "patients", "--value", id, "--to", "w1:pg"}, "--to"},
		{[]string{"citus", "move", "--database-url", db, "--table", "patients", "--value", id, "--to", "w1:5432", "--mode", "copy"}, "mode"},
		{[]string{"citus", "move", "--table", "patients", "--value", id, "--to", "w1:5432"}, "--database-url"},
		{[]string{"citus", "isolate", "--database-url", db, "--value", id}, "--table"},
		{[]string{"citus", "isolate", "--database-url", db, "--table", "patients"}, "--value"},
		{[]string{"citus", "isolate", "--database-url", db, "--table", "patients", "--value", id, "--mode", "auto "}, "mode"},
		{[]string{"citus", "isolate", "--database-url", db, "--table", "patients", "--value", id, "--to", "w1:5432"}, "to"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), tc.args, nil, &out, &errOut, noEnv)
		if !errors.Is(err, errUsage) || exitCode(err) != 2 || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%v: %v (exit %d), want a usage error naming %s", tc.args, err, exitCode(err), tc.flag)
		}
		if out.Len() > 0 {
			t.Errorf("%v printed %q", tc.args, out.String())
		}
	}
	// The help of each command says what it does.
	for sub, want := range map[string]string{"rebalance": "keeps running", "move": "HOST:PORT", "isolate": "CASCADE"} {
		var out, errOut bytes.Buffer
		run(context.Background(), []string{"citus", sub, "-h"}, nil, &out, &errOut, noEnv)
		if !strings.Contains(errOut.String(), want) || !strings.Contains(errOut.String(), "-mode") {
			t.Errorf("citus %s -h lacks %q or -mode:\n%s", sub, want, errOut.String())
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, nil, &out, &out, noEnv); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"citus rebalance", "citus move", "citus isolate", "demo --database-url"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("historia help lacks %q", want)
		}
	}
}

// TestCitusOpsOnPlainPostgres: on plain PostgreSQL rebalance, move and
// isolate answer that Citus is not installed (exit 1), and change nothing.
func TestCitusOpsOnPlainPostgres(t *testing.T) {
	url := migratedURL(t)
	const id = "0190a3c4-0000-7000-8000-000000000001"
	for _, args := range [][]string{
		{"citus", "rebalance", "--database-url", url},
		{"citus", "rebalance", "--database-url", url, "--mode", "block_writes"},
		{"citus", "move", "--database-url", url, "--table", "patients", "--value", id, "--to", "worker-1:5432"},
		{"citus", "isolate", "--database-url", url, "--table", "patients", "--value", id},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, nil, &out, &errOut, noEnv)
		if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "Citus is not installed in this database") {
			t.Errorf("%v: %v (exit %d), want the not-Citus error", args[:2], err, exitCode(err))
		}
	}
}

// nodeOf is the node holding the shard of table where the distribution
// column is value.
func nodeOf(t *testing.T, conn *pgx.Conn, table, value string) (int64, citus.Node) {
	t.Helper()
	ctx := context.Background()
	shard, err := citus.ShardFor(ctx, conn, table, value)
	if err != nil {
		t.Fatal(err)
	}
	n, err := citus.ShardNode(ctx, conn, shard)
	if err != nil {
		t.Fatal(err)
	}
	return shard, n
}

// TestCitusOpsOnCluster runs the operator commands on a real Citus
// cluster (internal/citustest): migrate and distribute with the commands,
// patients written through the ehr API, then a third worker and `citus
// rebalance` (shards reach it), `citus move` of one patient's shard (its
// placement and its colocated shards change node), `citus isolate` of one
// patient (its shard holds that patient alone).
func TestCitusOpsOnCluster(t *testing.T) {
	c := citustest.New(t)
	dbURL := c.NewDatabase(t, citustest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	conn := connectT(t, dbURL)
	// Four shards a table instead of 32: the same moves, fewer of them.
	var db string
	if err := conn.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{db}.Sanitize()+` SET citus.shard_count = 4`); err != nil {
		t.Fatal(err)
	}

	historia(t, "migrate", "--database-url", dbURL)
	if out := historia(t, "citus", "distribute", "--database-url", dbURL); !strings.Contains(out, "distributed by patient_id") {
		t.Fatalf("citus distribute printed:\n%s", out)
	}
	h := ehrtest.NewHospital(t, ehrtest.Open(t, dbURL))
	var patients []ehr.Patient
	for range 12 {
		patients = append(patients, h.NewPatient(t))
	}

	// Rebalance onto a third worker.
	w3 := c.AddWorker(t, dbURL)
	out := historia(t, "citus", "rebalance", "--database-url", dbURL, "--mode", "block_writes", "--interval", "200ms")
	t.Logf("citus rebalance:\n%s", out)
	if !strings.Contains(out, "finished") || !strings.Contains(out, "shard moves done") {
		t.Errorf("citus rebalance printed:\n%s", out)
	}
	st, err := citus.Status(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	onNew := map[string]int{}
	for _, ts := range st {
		for _, n := range ts.Nodes {
			if n.Host == w3.Name {
				onNew[ts.Table] += n.Shards
			}
		}
	}
	if onNew["patients"] == 0 || onNew["audit_events"] != onNew["patients"] {
		t.Errorf("shards on the new worker %s after the rebalance: %v; want patients, with their audit events", w3.Name, onNew)
	}
	if out := historia(t, "citus", "rebalance", "--database-url", dbURL); !strings.Contains(out, "nothing to rebalance") {
		t.Errorf("second rebalance printed:\n%s", out)
	}

	// Move one patient's shard to another worker.
	info, err := citus.Detect(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	p := patients[0]
	shard, from := nodeOf(t, conn, "patients", p.ID)
	var to citus.Node
	for _, w := range info.Workers {
		if w.Host != from.Host {
			to = w
			break
		}
	}
	out = historia(t, "citus", "move", "--database-url", dbURL, "--table", "patients", "--value", p.ID, "--to", to.String())
	t.Logf("citus move:\n%s", out)
	if got, now := nodeOf(t, conn, "patients", p.ID); got != shard || now.Host != to.Host {
		t.Errorf("after the move shard %d is on %s (shard now %d), want %s (was %s)", shard, now, got, to, from)
	}
	if _, now := nodeOf(t, conn, "clinical_notes", p.ID); now.Host != to.Host {
		t.Errorf("the patient's colocated clinical_notes shard is on %s, want %s", now, to)
	}
	if out := historia(t, "citus", "move", "--database-url", dbURL, "--table", "patients", "--value", p.ID, "--to", to.String()); !strings.Contains(out, "already on") {
		t.Errorf("moving to where it is printed:\n%s", out)
	}
	if _, err := h.Repo.GetPatient(h.As(h.Admisionista), p.ID); err != nil {
		t.Errorf("the moved patient cannot be read: %v", err)
	}

	// Isolate a patient who shares a shard with a neighbour.
	byShard := map[int64][]string{}
	for _, q := range patients {
		s, _ := nodeOf(t, conn, "patients", q.ID)
		byShard[s] = append(byShard[s], q.ID)
	}
	var lone, neighbour string
	for _, ids := range byShard {
		if len(ids) > 1 {
			lone, neighbour = ids[0], ids[1]
			break
		}
	}
	if lone == "" {
		t.Fatalf("no two of %d patients share one of the shards: %v", len(patients), byShard)
	}
	out = historia(t, "citus", "isolate", "--database-url", dbURL, "--table", "patients", "--value", lone)
	t.Logf("citus isolate:\n%s", out)
	loneShard, _ := nodeOf(t, conn, "patients", lone)
	nbShard, _ := nodeOf(t, conn, "patients", neighbour)
	if loneShard == nbShard {
		t.Fatalf("after isolate, the patient and a neighbour still share shard %d", loneShard)
	}
	if !strings.Contains(out, fmt.Sprintf("shard %d", loneShard)) {
		t.Errorf("isolate did not print the new shard %d:\n%s", loneShard, out)
	}
	var lo, hi string
	if err := conn.QueryRow(ctx, `SELECT shardminvalue, shardmaxvalue FROM pg_dist_shard WHERE shardid = $1`, loneShard).Scan(&lo, &hi); err != nil {
		t.Fatal(err)
	}
	if lo != hi {
		t.Errorf("the isolated shard %d covers hashes %s..%s, want one value", loneShard, lo, hi)
	}
	notesShard, _ := nodeOf(t, conn, "clinical_notes", lone)
	if notesShard == loneShard {
		t.Errorf("clinical_notes and patients share shard id %d", notesShard)
	}
	var isolatedNotes bool
	if err := conn.QueryRow(ctx, `SELECT s.shardminvalue = s.shardmaxvalue FROM pg_dist_shard s WHERE s.shardid = $1`, notesShard).Scan(&isolatedNotes); err != nil || !isolatedNotes {
		t.Errorf("the patient's clinical_notes shard %d was not isolated too (CASCADE): %v", notesShard, err)
	}

	// Ctrl-C while a rebalance runs: the command stops waiting and names
	// the job, which goes on to the end on the cluster.
	w4 := c.AddWorker(t, dbURL)
	rctx, stop := context.WithCancel(ctx)
	var rout syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(rctx, []string{"citus", "rebalance", "--database-url", dbURL, "--mode", "block_writes"}, nil, &rout, &rout, noEnv)
	}()
	started := regexp.MustCompile(`rebalance job (\d+) started`)
	var job int64
	for m := started.FindStringSubmatch(rout.String()); m == nil; m = started.FindStringSubmatch(rout.String()) {
		select {
		case err := <-done:
			t.Fatalf("rebalance onto a fourth worker ended before starting a job: %v\n%s", err, rout.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	stop()
	err = <-done
	job, _ = strconv.ParseInt(started.FindStringSubmatch(rout.String())[1], 10, 64)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("job %d keeps running", job)) || !strings.Contains(err.Error(), "citus_rebalance_stop") {
		t.Fatalf("rebalance interrupted: %v, want it to name job %d, still running", err, job)
	}
	t.Logf("interrupted: %v", err)
	if err := citus.WaitRebalance(ctx, conn, job, 200*time.Millisecond, nil); err != nil {
		t.Fatalf("the interrupted job %d did not finish on its own: %v", job, err)
	}
	if st, err = citus.Status(ctx, conn); err != nil {
		t.Fatal(err)
	}
	for _, ts := range st {
		if ts.Table != "patients" {
			continue
		}
		if !slices.ContainsFunc(ts.Nodes, func(n citus.NodeShards) bool { return n.Host == w4.Name && n.Shards > 0 }) {
			t.Errorf("after the interrupted rebalance finished, no patients shard on %s: %v", w4.Name, ts.Nodes)
		}
	}

	// Mistakes found on the cluster: exit 1, and no document number in
	// the error.
	const document = "DNI-12345678Z"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"citus", "move", "--table", "tenants", "--value", p.ID, "--to", to.String()}, "not a hash-distributed table"},
		{[]string{"citus", "move", "--table", "patients", "--value", p.ID, "--to", "nowhere:5432"}, "not a worker"},
		{[]string{"citus", "isolate", "--table", "patients", "--value", document}, "isolate"},
		{[]string{"citus", "move", "--table", "patients", "--value", document, "--to", to.String()}, "move"},
	} {
		var out, errOut bytes.Buffer
		err := run(ctx, append(tc.args, "--database-url", dbURL), nil, &out, &errOut, noEnv)
		if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %q", tc.args, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error()+out.String(), document) {
			t.Errorf("%v: the error shows the value: %v", tc.args, err)
		}
	}
}

// TestDemoOnCitus: `historia demo --database-url` on a Citus coordinator
// distributes the schema (as citus distribute does) before seeding, and
// serves the demo hospital from the cluster.
func TestDemoOnCitus(t *testing.T) {
	c := citustest.New(t)
	dbURL := c.NewDatabase(t, citustest.Options{})
	const pw = "demo-password-123"
	d, err := startDemo(t, "--database-url", dbURL, "--addr", "127.0.0.1:0", "--patients", "3", "--demo-password", pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.out.String(), "distributed by patient_id") {
		t.Errorf("demo did not distribute the schema:\n%s", d.out.String())
	}
	conn := connectT(t, dbURL)
	st, err := citus.Status(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, ts := range st {
		types[ts.Table] = ts.Type
	}
	if types["patients"] != "distributed" || types["tenants"] != "reference" {
		t.Errorf("citus status after demo: %v", types)
	}
	if n := count(t, dbURL, demoUsers); n != 7 {
		t.Errorf("demo users: %d, want 7", n)
	}
	if n := count(t, dbURL, `SELECT count(*) FROM patients`); n != 3 {
		t.Errorf("patients: %d, want 3", n)
	}
	if code, loc := login(t, d.base, "medico", pw); code != http.StatusSeeOther || loc != "/medico" {
		t.Errorf("login as medico: %d %q", code, loc)
	}
	d.stop(t)
	// Served again with --reuse: the distribution is skipped, no re-seed.
	d, err = startDemo(t, "--database-url", dbURL, "--addr", "127.0.0.1:0", "--reuse")
	if err != nil {
		t.Fatal(err)
	}
	if out := d.out.String(); !strings.Contains(out, "no re-seed") || !strings.Contains(out, "0 table(s) distributed") {
		t.Errorf("--reuse on Citus printed:\n%s", out)
	}
}
