package citus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Outcome says what Apply did with one table.
type Outcome int

// The outcomes of Apply.
const (
	// Created: the table was made a reference or distributed table by
	// this call.
	Created Outcome = iota + 1
	// Skipped: the table was already distributed as the plan asks.
	Skipped
)

// String returns "created" or "skipped".
func (o Outcome) String() string {
	switch o {
	case Created:
		return "created"
	case Skipped:
		return "skipped"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// TableResult is what Apply did with one table of the plan.
type TableResult struct {
	// Table is the table as named in the plan.
	Table string
	// Reference is true for a reference table.
	Reference bool
	// Column and ColocateWith repeat the plan for a distributed table.
	Column       string
	ColocateWith string
	// Outcome says whether the table was distributed now or already was.
	Outcome Outcome
}

// Report is what Apply did, table by table, in the order it did it.
type Report struct {
	// Citus is false when the database has no Citus: nothing was
	// distributed, and Tables is empty.
	Citus bool
	// Version is the citus extension's version.
	Version string
	// Tables lists every table of the plan with its outcome, reference
	// tables first, then distributed tables in dependency order.
	Tables []TableResult
	// Repaired lists the Citus local tables Apply found among the plan's
	// tables and undistributed (with the tables linked to them by foreign
	// keys) before distributing them as planned: what an older Apply, run
	// with the coordinator in the metadata, left behind.
	Repaired []string
}

// Changed reports whether Apply distributed at least one table.
func (r Report) Changed() bool {
	for _, t := range r.Tables {
		if t.Outcome == Created {
			return true
		}
	}
	return false
}

// String describes the report in a few lines, for a command's output.
func (r Report) String() string {
	if !r.Citus {
		return "citus: not installed in this database; nothing distributed"
	}
	var b strings.Builder
	created := 0
	for _, t := range r.Tables {
		if t.Outcome == Created {
			created++
		}
	}
	fmt.Fprintf(&b, "citus %s: %d table(s) distributed, %d already in place", r.Version, created, len(r.Tables)-created)
	for _, t := range r.Repaired {
		fmt.Fprintf(&b, "\n  repaired %s: was a Citus local table; undistributed with the tables linked to it by foreign keys", t)
	}
	for _, t := range r.Tables {
		b.WriteString("\n  ")
		b.WriteString(t.Outcome.String())
		b.WriteString("  ")
		b.WriteString(t.Table)
		switch {
		case t.Reference:
			b.WriteString(": reference table")
		case t.ColocateWith != "":
			fmt.Fprintf(&b, ": distributed by %s, colocated with %s", t.Column, t.ColocateWith)
		default:
			fmt.Fprintf(&b, ": distributed by %s", t.Column)
		}
	}
	return b.String()
}

// Apply carries the plan out on a Citus coordinator: the reference tables
// (create_reference_table), then the distributed tables
// (create_distributed_table with colocate_with), each after the tables it
// is colocated with or has a foreign key to. A table already distributed
// as the plan asks is skipped, so Apply may run at every start; a table
// distributed differently stops Apply before it changes anything.
//
// Apply takes a connection of its own, not a pool, for two reasons.
// Citus refuses several of these calls inside a transaction block, and
// each call commits on its own, so Apply must run outside any caller's
// transaction: it refuses a connection that is inside one. And the calls
// are DDL: a pool serving queries would keep prepared statements planned
// against the old tables ("cached plan must not change result type").
// Open a connection for it with pgx.Connect, before serving, and close it
// after.
//
// Each table is distributed in its own transaction; if Apply fails
// half-way, running it again finishes the job. A database that already
// holds rows (one PostgreSQL becoming a cluster) is distributed as it is:
// Citus copies the rows into the shards, and once every table is in place
// Apply removes the copies left on the coordinator
// (truncate_local_data_after_distributing_table).
//
// With the coordinator in the metadata, Citus would turn local tables
// with foreign keys to a new reference table into Citus local tables and
// then refuse to distribute them; Apply turns that conversion off on its
// connection (citus.enable_local_reference_table_foreign_keys) and puts
// the setting back afterwards. Citus local tables an older Apply left
// among the plan's tables are undistributed first (Report.Repaired).
//
// On plain PostgreSQL, Apply validates the plan and returns a Report with
// Citus false and a nil error: nothing was distributed.
//
// Errors: ErrInTransaction; a *CheckError (ErrViolations) when the plan is
// malformed or, on Citus, when Check finds violations; ErrNotCoordinator
// on a worker; a *ConflictError (ErrConflictingDistribution) for a table
// distributed differently; otherwise the failing call's error, wrapped
// with the table's name. On an error the Report lists what was done.
func Apply(ctx context.Context, conn *pgx.Conn, plan Plan) (Report, error) {
	if conn == nil {
		return Report{}, errors.New("citus: apply: nil connection")
	}
	if s := conn.PgConn().TxStatus(); s != 'I' {
		return Report{}, ErrInTransaction
	}
	if err := plan.Validate(); err != nil {
		return Report{}, err
	}
	info, err := Detect(ctx, conn)
	if err != nil {
		return Report{}, err
	}
	if !info.Installed {
		return Report{}, nil
	}
	rep := Report{Citus: true, Version: info.Version}
	if !info.Coordinator {
		return rep, ErrNotCoordinator
	}
	if _, err := Check(ctx, conn, plan); err != nil {
		return rep, err
	}
	cat, err := loadCatalog(ctx, conn, plan)
	if err != nil {
		return rep, err
	}
	// With the coordinator in the metadata (as real deployments have it)
	// and Citus's default citus.enable_local_reference_table_foreign_keys
	// = on, create_reference_table converts every local table with a
	// foreign key to the new reference table into a Citus local table,
	// and distributing those tables then fails on the foreign keys among
	// them. Apply turns the conversion off on its own connection, and puts
	// the setting back when it is done.
	restore, err := noLocalReferenceConversion(ctx, conn)
	if err != nil {
		return rep, err
	}
	defer restore()
	state, err := loadDistribution(ctx, conn, cat)
	if err != nil {
		return rep, err
	}
	// A database left half-converted (Citus local tables made by that
	// conversion, from an older Apply or by hand) is first turned back
	// into plain tables, with every table linked to them by foreign keys.
	if state, err = repairLocal(ctx, conn, cat, state, &rep); err != nil {
		return rep, err
	}
	actions, err := decide(plan, cat.dependencies(), state)
	if err != nil {
		return rep, err
	}
	for _, a := range actions {
		res := a.result
		if a.run != nil {
			if err := runStep(ctx, conn, *a.run); err != nil {
				return rep, fmt.Errorf("citus: apply: %s: %w", a.result.Table, err)
			}
		}
		rep.Tables = append(rep.Tables, res)
	}
	// Distributing a table that holds rows copies them into the shards
	// and leaves the originals on the coordinator, invisible but on disk.
	// Once every table is in place (no local table refers to them any
	// more), those leftovers are removed.
	for _, a := range actions {
		if a.run == nil {
			continue
		}
		if err := truncateLocalStep(a.result.Table).exec(ctx, conn); err != nil {
			return rep, fmt.Errorf("citus: apply: %s: remove the local copy of its rows: %w", a.result.Table, err)
		}
	}
	return rep, nil
}

// runStep runs one reference or distribution step. A table that holds
// rows is distributed with citus.multi_shard_modify_mode = 'sequential':
// copying its rows checks its foreign keys against the reference tables,
// and Citus refuses to follow that with parallel DDL on the shards in
// the same transaction ("cannot execute parallel DDL ... after DDL
// command on reference table"). An empty table keeps the parallel mode.
func runStep(ctx context.Context, conn *pgx.Conn, s step) error {
	var hasRows bool
	if err := conn.QueryRow(ctx, "SELECT pg_relation_size($1::text::regclass) > 0", s.table).Scan(&hasRows); err != nil {
		return err
	}
	if !hasRows {
		return s.exec(ctx, conn)
	}
	if _, err := conn.Exec(ctx, "SET citus.multi_shard_modify_mode = 'sequential'"); err != nil {
		return err
	}
	err := s.exec(ctx, conn)
	if _, rerr := conn.Exec(context.WithoutCancel(ctx), "RESET citus.multi_shard_modify_mode"); err == nil {
		err = rerr
	}
	return err
}

// noLocalReferenceConversion sets citus.enable_local_reference_table_foreign_keys
// off for the session and returns a function that puts the value it had
// back.
func noLocalReferenceConversion(ctx context.Context, conn *pgx.Conn) (restore func(), err error) {
	var was string
	if err := conn.QueryRow(ctx, "SELECT current_setting('citus.enable_local_reference_table_foreign_keys')").Scan(&was); err != nil {
		return nil, fmt.Errorf("citus: apply: read citus.enable_local_reference_table_foreign_keys: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT set_config('citus.enable_local_reference_table_foreign_keys', 'off', false)"); err != nil {
		return nil, fmt.Errorf("citus: apply: set citus.enable_local_reference_table_foreign_keys: %w", err)
	}
	return func() {
		if conn.IsClosed() || conn.PgConn().TxStatus() != 'I' {
			return
		}
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT set_config('citus.enable_local_reference_table_foreign_keys', $1, false)", was)
	}, nil
}

// repairLocal undistributes the plan's tables that are Citus local tables
// (undistribute_table with cascade_via_foreign_keys, which takes the
// tables linked to them by foreign keys along, reference tables
// included), then reads the distribution again. The tables it acted on
// are listed in rep.Repaired. An error names the tables and what to do.
func repairLocal(ctx context.Context, conn *pgx.Conn, cat *catalog, state map[string]distribution, rep *Report) (map[string]distribution, error) {
	for range len(cat.byOID) + 1 {
		var local []string
		for name, d := range state {
			if d.citusLocal() {
				local = append(local, name)
			}
		}
		if len(local) == 0 {
			return state, nil
		}
		slices.Sort(local)
		s := undistributeStep(local[0])
		if err := s.exec(ctx, conn); err != nil {
			return state, fmt.Errorf("citus: apply: %s are Citus local tables (converted when a reference table was created with the coordinator in the metadata), and undistributing %s failed: %w; run SELECT undistribute_table('%s', cascade_via_foreign_keys => true) by hand, then apply again",
				strings.Join(local, ", "), local[0], err, local[0])
		}
		rep.Repaired = append(rep.Repaired, local[0])
		var err error
		if state, err = loadDistribution(ctx, conn, cat); err != nil {
			return state, err
		}
	}
	return state, errors.New("citus: apply: Citus local tables remain after undistributing them")
}

// distribution is how Citus holds one table now (pg_dist_partition).
type distribution struct {
	method     string // partmethod: h (hash), n (none), a, r
	repmodel   string // t for reference tables
	column     string
	colocation int32
}

func (d distribution) reference() bool { return d.method == "n" && d.repmodel == "t" }
func (d distribution) hash() bool      { return d.method == "h" }

// citusLocal reports a Citus local table: one kept on the coordinator but
// known to Citus, as made by citus_add_local_table_to_metadata or by the
// automatic conversion of tables with foreign keys to reference tables.
func (d distribution) citusLocal() bool { return d.method == "n" && d.repmodel == "s" }

func (d distribution) String() string {
	switch {
	case d.reference():
		return "a reference table"
	case d.hash():
		return fmt.Sprintf("distributed by %s (colocation group %d)", d.column, d.colocation)
	case d.method == "a":
		return "append-distributed"
	case d.method == "r":
		return "range-distributed"
	}
	return "a Citus table"
}

const sqlDistribution = `SELECT logicalrelid::oid, partmethod::text, repmodel::text,
	coalesce(column_to_column_name(logicalrelid, partkey), ''), colocationid
FROM pg_dist_partition
WHERE logicalrelid::oid = ANY($1::oid[])`

// loadDistribution reads how the plan's tables are distributed now, by
// key of their plan name. A table Citus does not know is absent.
func loadDistribution(ctx context.Context, q Querier, cat *catalog) (map[string]distribution, error) {
	oids := make([]uint32, 0, len(cat.byOID))
	for oid := range cat.byOID {
		oids = append(oids, oid)
	}
	rows, err := q.Query(ctx, sqlDistribution, oids)
	if err != nil {
		return nil, fmt.Errorf("citus: read distribution: %w", err)
	}
	defer rows.Close()
	out := map[string]distribution{}
	for rows.Next() {
		var oid uint32
		var d distribution
		if err := rows.Scan(&oid, &d.method, &d.repmodel, &d.column, &d.colocation); err != nil {
			return nil, fmt.Errorf("citus: read distribution: %w", err)
		}
		out[cat.byOID[oid]] = d
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("citus: read distribution: %w", err)
	}
	return out, nil
}

// action is one table's part of an Apply: a step to run, or nil when the
// table is already in place.
type action struct {
	result TableResult
	run    *step
}

// decide turns the plan, the foreign key dependencies between its tables
// (by key) and the current distribution (by key; citus local tables and
// tables Citus does not know count as not distributed) into the actions
// of an Apply, in order. It returns a *ConflictError for the first table
// distributed differently, before any action runs.
func decide(plan Plan, deps map[string][]string, state map[string]distribution) ([]action, error) {
	refs, err := orderReference(plan.Reference, deps)
	if err != nil {
		return nil, err
	}
	dists, err := orderDistributed(plan.Distributed, deps)
	if err != nil {
		return nil, err
	}
	var out []action
	for _, name := range refs {
		res := TableResult{Table: name, Reference: true}
		cur, known := state[key(name)]
		switch {
		case known && cur.reference():
			res.Outcome = Skipped
			out = append(out, action{result: res})
		case known && (cur.hash() || cur.method == "a" || cur.method == "r"):
			return nil, &ConflictError{Table: name, Want: "a reference table", Have: cur.String()}
		default:
			res.Outcome = Created
			s := referenceStep(name)
			out = append(out, action{result: res, run: &s})
		}
	}
	for _, t := range dists {
		res := TableResult{Table: t.Name, Column: t.Column, ColocateWith: t.ColocateWith}
		want := "distributed by " + t.Column
		if t.ColocateWith != "" {
			want += ", colocated with " + t.ColocateWith
		}
		cur, known := state[key(t.Name)]
		if known && (cur.reference() || cur.method == "a" || cur.method == "r") {
			return nil, &ConflictError{Table: t.Name, Want: want, Have: cur.String()}
		}
		if !known || !cur.hash() {
			res.Outcome = Created
			s := distributeStep(t)
			out = append(out, action{result: res, run: &s})
			continue
		}
		if cur.column != t.Column {
			return nil, &ConflictError{Table: t.Name, Want: want, Have: cur.String()}
		}
		if t.ColocateWith != "" {
			tgt, ok := state[key(t.ColocateWith)]
			if !ok || !tgt.hash() || tgt.colocation != cur.colocation {
				have := cur.String()
				if ok && tgt.hash() {
					have += fmt.Sprintf(", while %s is in colocation group %d", t.ColocateWith, tgt.colocation)
				} else {
					have += ", while " + t.ColocateWith + " is not distributed yet"
				}
				return nil, &ConflictError{Table: t.Name, Want: want, Have: have}
			}
		}
		res.Outcome = Skipped
		out = append(out, action{result: res})
	}
	return out, nil
}

// orderReference orders reference tables so that a table comes after the
// reference tables it has a foreign key to, keeping the plan's order
// otherwise.
func orderReference(names []string, deps map[string][]string) ([]string, error) {
	return topo(names, func(n string) string { return n }, func(n string) []string { return deps[key(n)] })
}

// orderDistributed orders distributed tables so that a table comes after
// the table it is colocated with and after the distributed tables it has
// a foreign key to, keeping the plan's order otherwise.
func orderDistributed(tables []Table, deps map[string][]string) ([]Table, error) {
	return topo(tables, func(t Table) string { return t.Name }, func(t Table) []string {
		d := append([]string(nil), deps[key(t.Name)]...)
		if t.ColocateWith != "" {
			d = append(d, key(t.ColocateWith))
		}
		return d
	})
}

// topo is a stable topological sort: it repeatedly takes the first item,
// in the given order, whose dependencies among the items are all taken.
// Dependencies outside the items are ignored.
func topo[T any](items []T, name func(T) string, deps func(T) []string) ([]T, error) {
	index := map[string]int{}
	for i, it := range items {
		index[key(name(it))] = i
	}
	done := make([]bool, len(items))
	out := make([]T, 0, len(items))
	for len(out) < len(items) {
		progressed := false
		for i, it := range items {
			if done[i] {
				continue
			}
			ready := true
			for _, d := range deps(it) {
				if j, ok := index[key(d)]; ok && j != i && !done[j] {
					ready = false
					break
				}
			}
			if ready {
				done[i] = true
				out = append(out, it)
				progressed = true
				break
			}
		}
		if !progressed {
			var stuck []string
			for i, it := range items {
				if !done[i] {
					stuck = append(stuck, name(it))
				}
			}
			return nil, fmt.Errorf("citus: foreign keys or colocation form a cycle among %s", strings.Join(stuck, ", "))
		}
	}
	return out, nil
}
