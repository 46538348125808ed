package citus_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/citus"
	"github.com/historiaehr/historia/internal/pgtest"
)

var (
	_ citus.Querier = (*pgx.Conn)(nil)
	_ citus.Querier = pgx.Tx(nil)
	_ citus.DB      = (*pgx.Conn)(nil)
)

func connect(tb testing.TB, url string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestCheckFixture: the fixture schema fits its plan.
func TestCheckFixture(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, pgtest.NewDB(t, "citus-fixture", setupFixture))
	vs, err := citus.Check(ctx, conn, fixturePlan)
	if err != nil || len(vs) != 0 {
		t.Fatalf("Check(fixture) = %v, %v; want no violation", vs, err)
	}
	// The same through a transaction: Check only reads.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := citus.Check(ctx, tx, fixturePlan); err != nil {
		t.Fatalf("Check in a transaction: %v", err)
	}
}

// brokenSchema adds one table per kind of violation to the fixture.
const brokenSchema = `
CREATE TABLE bad_pk (id uuid PRIMARY KEY, patient_id uuid NOT NULL);
CREATE TABLE bad_unique (
	patient_id uuid NOT NULL, email text, code text,
	CONSTRAINT bad_unique_email UNIQUE (email)
);
CREATE UNIQUE INDEX bad_unique_code ON bad_unique (code);
CREATE TABLE bad_fk_group (
	patient_id uuid NOT NULL,
	CONSTRAINT bad_fk_group_patient FOREIGN KEY (patient_id) REFERENCES patients (patient_id)
);
CREATE TABLE bad_fk_columns (
	patient_id uuid NOT NULL, other_patient_id uuid,
	CONSTRAINT bad_fk_columns_other FOREIGN KEY (other_patient_id) REFERENCES patients (patient_id)
);
CREATE TABLE bad_fk_swapped (
	patient_id uuid NOT NULL, note_id uuid NOT NULL,
	CONSTRAINT bad_fk_swapped_note FOREIGN KEY (note_id, patient_id) REFERENCES notes (patient_id, note_id)
);
CREATE TABLE local_lookup (id int PRIMARY KEY);
CREATE TABLE bad_fk_local (
	patient_id uuid NOT NULL, lookup int,
	CONSTRAINT bad_fk_local_lookup FOREIGN KEY (lookup) REFERENCES local_lookup (id)
);
CREATE TABLE bad_fk_action (
	patient_id uuid,
	CONSTRAINT bad_fk_action_patient FOREIGN KEY (patient_id) REFERENCES patients (patient_id) ON DELETE SET NULL ON UPDATE CASCADE
);
CREATE TABLE local_log (
	id int PRIMARY KEY, patient_id uuid,
	CONSTRAINT local_log_patient FOREIGN KEY (patient_id) REFERENCES patients (patient_id)
);
CREATE TABLE bad_ref (
	code text PRIMARY KEY, patient_id uuid,
	CONSTRAINT bad_ref_patient FOREIGN KEY (patient_id) REFERENCES patients (patient_id)
);
CREATE TABLE bad_type (patient_id text NOT NULL);
CREATE TABLE bad_column (id int);
CREATE VIEW bad_view AS SELECT 1 AS patient_id;
`

var brokenPlan = citus.Plan{
	Reference: append(append([]string(nil), fixturePlan.Reference...), "bad_ref"),
	Distributed: append(append([]citus.Table(nil), fixturePlan.Distributed...),
		citus.Table{Name: "bad_pk", Column: "patient_id", ColocateWith: "patients"},
		citus.Table{Name: "bad_unique", Column: "patient_id", ColocateWith: "patients"},
		citus.Table{Name: "bad_fk_group", Column: "patient_id"},
		citus.Table{Name: "bad_fk_columns", Column: "patient_id", ColocateWith: "patients"},
		citus.Table{Name: "bad_fk_swapped", Column: "patient_id", ColocateWith: "patients"},
		citus.Table{Name: "bad_fk_local", Column: "patient_id", ColocateWith: "patients"},
		citus.Table{Name: "bad_fk_action", Column: "patient_id", ColocateWith: "patients"},
		citus.Table{Name: "bad_type", Column: "patient_id", ColocateWith: "patients"},
		citus.Table{Name: "bad_column", Column: "patient_id"},
		citus.Table{Name: "no_such_table", Column: "patient_id"},
		citus.Table{Name: "bad_view", Column: "patient_id"},
		citus.Table{Name: "bad_order", Column: "patient_id", ColocateWith: "later"},
	),
}

// TestCheckViolations: each deliberately broken table yields exactly its
// violation, naming the table and the constraint.
func TestCheckViolations(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, pgtest.NewDB(t, "citus-fixture", setupFixture))
	if _, err := conn.Exec(ctx, brokenSchema); err != nil {
		t.Fatal(err)
	}
	vs, err := citus.Check(ctx, conn, brokenPlan)
	var ce *citus.CheckError
	if !errors.As(err, &ce) || !errors.Is(err, citus.ErrViolations) {
		t.Fatalf("Check() error = %v, want a *CheckError", err)
	}
	if len(ce.Violations) != len(vs) {
		t.Fatalf("error carries %d violations, result %d", len(ce.Violations), len(vs))
	}
	var got []string
	for _, v := range vs {
		got = append(got, fmt.Sprintf("%s %s %s", v.Rule, v.Table, v.Constraint))
		if v.Detail == "" {
			t.Errorf("%v: empty detail", v)
		}
	}
	want := []string{
		"colocation-order bad_order ",
		"table-exists no_such_table ",
		"table-exists bad_view ",
		"table-exists bad_order ",
		"column-exists bad_column ",
		"column-type bad_type ",
		"primary-key bad_pk bad_pk_pkey",
		"unique bad_unique bad_unique_email",
		"unique bad_unique bad_unique_code",
		"foreign-key-colocated bad_fk_group bad_fk_group_patient",
		"foreign-key-columns bad_fk_columns bad_fk_columns_other",
		"foreign-key-columns bad_fk_swapped bad_fk_swapped_note",
		"foreign-key-target bad_fk_local bad_fk_local_lookup",
		"foreign-key-action bad_fk_action bad_fk_action_patient",
		"foreign-key-action bad_fk_action bad_fk_action_patient",
		"foreign-key-target local_log local_log_patient",
		"foreign-key-target bad_ref bad_ref_patient",
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("violations:\n%s\n\nwant:\n%s\n\nerror:\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"), err)
	}
	t.Logf("%v", err)
}

// TestApplyPlainPostgres: without Citus, Apply distributes nothing and
// says so, without error.
func TestApplyPlainPostgres(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, pgtest.NewDB(t, "citus-fixture", setupFixture))

	info, err := citus.Detect(ctx, conn)
	if err != nil || info.Installed {
		t.Fatalf("Detect() = %+v, %v; want not installed", info, err)
	}
	rep, err := citus.Apply(ctx, conn, fixturePlan)
	if err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	if rep.Citus || rep.Changed() || len(rep.Tables) != 0 {
		t.Fatalf("Apply() report = %+v, want nothing done", rep)
	}
	if !strings.Contains(rep.String(), "nothing distributed") {
		t.Errorf("report text %q", rep.String())
	}
	// A malformed plan is refused everywhere.
	_, err = citus.Apply(ctx, conn, citus.Plan{Distributed: []citus.Table{{Name: "notes", Column: "patient_id", ColocateWith: "patients"}}})
	if !errors.Is(err, citus.ErrViolations) {
		t.Fatalf("Apply(malformed plan) = %v, want ErrViolations", err)
	}
}

// TestApplyRefusesTransaction: Apply does not run inside a caller's
// transaction.
func TestApplyRefusesTransaction(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, pgtest.NewDB(t, "citus-fixture", setupFixture))
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := citus.Apply(ctx, conn, fixturePlan); !errors.Is(err, citus.ErrInTransaction) {
		t.Fatalf("Apply() in a transaction = %v, want ErrInTransaction", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := citus.Apply(ctx, conn, fixturePlan); err != nil {
		t.Fatalf("Apply() after rollback = %v", err)
	}
}

// TestNeedsCitus: the cluster operations say plainly that there is no
// Citus.
func TestNeedsCitus(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, pgtest.NewDB(t, "citus-fixture", setupFixture))
	calls := map[string]func() error{
		"Status":             func() error { _, err := citus.Status(ctx, conn); return err },
		"AddNode":            func() error { _, err := citus.AddNode(ctx, conn, "w", 5432); return err },
		"SetCoordinatorHost": func() error { return citus.SetCoordinatorHost(ctx, conn, "c", 5432) },
		"RemoveNode":         func() error { return citus.RemoveNode(ctx, conn, "w", 5432) },
		"DrainNode":          func() error { return citus.DrainNode(ctx, conn, "w", 5432, citus.TransferAuto) },
		"StartRebalance":     func() error { _, err := citus.StartRebalance(ctx, conn, ""); return err },
		"StopRebalance":      func() error { return citus.StopRebalance(ctx, conn) },
		"ShardFor":           func() error { _, err := citus.ShardFor(ctx, conn, "patients", "x"); return err },
		"IsolateTenant":      func() error { _, err := citus.IsolateTenant(ctx, conn, "patients", "x", ""); return err },
		"MoveShard": func() error {
			return citus.MoveShard(ctx, conn, 1, citus.Node{Host: "a", Port: 1}, citus.Node{Host: "b", Port: 1}, "")
		},
		"ShardNode": func() error { _, err := citus.ShardNode(ctx, conn, 1); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, citus.ErrNotCitus) {
			t.Errorf("%s() = %v, want ErrNotCitus", name, err)
		}
	}
}

func errorsIsConflict(err error) bool { return errors.Is(err, citus.ErrConflictingDistribution) }
