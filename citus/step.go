package citus

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is what the read-only functions (Detect, Check, Status) need. A
// *pgx.Conn, a *pgxpool.Pool and a pgx.Tx all satisfy it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DB is what the cluster operations (nodes, rebalancing, shards) need. A
// *pgx.Conn and a *pgxpool.Pool satisfy it. These calls change no table's
// columns, so unlike Apply they may share a pool; most of them refuse to
// run inside a transaction block, so do not pass a pgx.Tx.
type DB interface {
	Querier
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// TransferMode says how Citus copies a shard between nodes (its
// citus.shard_transfer_mode type).
type TransferMode string

// The shard transfer modes.
const (
	// TransferAuto uses logical replication when every table has a
	// replica identity, and fails otherwise. The zero TransferMode means
	// TransferAuto.
	TransferAuto TransferMode = "auto"
	// TransferLogical uses logical replication even for tables without a
	// replica identity (their UPDATE and DELETE fail during the move).
	TransferLogical TransferMode = "force_logical"
	// TransferBlockWrites blocks writes to the shard while it is copied.
	TransferBlockWrites TransferMode = "block_writes"
)

func (m TransferMode) orAuto() string {
	if m == "" {
		return string(TransferAuto)
	}
	return string(m)
}

// step is one SQL statement Historia sends to Citus: its text and
// arguments, built without a database so that tests can compare them with
// golden files.
type step struct {
	table string // the table it acts on, for reports and errors
	sql   string
	args  []any
}

// String renders the step as its SQL followed by its arguments, the form
// of the golden files.
func (s step) String() string {
	var b strings.Builder
	b.WriteString(s.sql)
	if len(s.args) > 0 {
		b.WriteString("\n  -- args:")
		for _, a := range s.args {
			switch v := a.(type) {
			case string:
				fmt.Fprintf(&b, " %q", v)
			default:
				fmt.Fprintf(&b, " %v", v)
			}
		}
	}
	return b.String()
}

// The statements. Table names travel as text cast to regclass, so that
// PostgreSQL resolves them with the connection's search_path exactly as
// the plan's author wrote them, and no name is ever spliced into SQL.

func referenceStep(table string) step {
	return step{table: table, sql: "SELECT create_reference_table($1::text::regclass)", args: []any{table}}
}

// colocateNone starts a new colocation group: each group of the plan is
// its own Citus colocation group, so tables of different groups are never
// colocated by accident because their distribution columns share a type.
const colocateNone = "none"

func distributeStep(t Table) step {
	with := strings.TrimSpace(t.ColocateWith)
	if with == "" {
		with = colocateNone
	}
	return step{table: t.Name,
		sql:  "SELECT create_distributed_table($1::text::regclass, $2, colocate_with => $3)",
		args: []any{t.Name, t.Column, with}}
}

// truncateLocalStep removes the rows a distributed or reference table
// left on the coordinator when it was created from a table with data.
func truncateLocalStep(table string) step {
	return step{table: table, sql: "SELECT truncate_local_data_after_distributing_table($1::text::regclass)", args: []any{table}}
}

// undistributeStep turns a Citus table back into a plain table, with every
// table linked to it by foreign keys.
func undistributeStep(table string) step {
	return step{table: table, sql: "SELECT undistribute_table($1::text::regclass, cascade_via_foreign_keys => true)", args: []any{table}}
}

func addNodeStep(host string, port int) step {
	return step{sql: "SELECT citus_add_node($1, $2)", args: []any{host, int32(port)}}
}

func coordinatorHostStep(host string, port int) step {
	return step{sql: "SELECT citus_set_coordinator_host($1, $2)", args: []any{host, int32(port)}}
}

func removeNodeStep(host string, port int) step {
	return step{sql: "SELECT citus_remove_node($1, $2)", args: []any{host, int32(port)}}
}

func drainNodeStep(host string, port int, mode TransferMode) step {
	return step{sql: "SELECT citus_drain_node($1, $2, shard_transfer_mode => $3::citus.shard_transfer_mode)",
		args: []any{host, int32(port), mode.orAuto()}}
}

func rebalanceStartStep(mode TransferMode) step {
	return step{sql: "SELECT citus_rebalance_start(shard_transfer_mode => $1::citus.shard_transfer_mode)",
		args: []any{mode.orAuto()}}
}

func rebalanceStopStep() step {
	return step{sql: "SELECT citus_rebalance_stop()"}
}

func jobStatusStep(jobID int64) step {
	return step{sql: "SELECT state::text, coalesce(details->'task_state_counts', '{}'::jsonb) FROM citus_job_status($1)",
		args: []any{jobID}}
}

func shardForStep(table string, value string) step {
	return step{table: table, sql: "SELECT get_shard_id_for_distribution_column($1::text::regclass, $2::text)",
		args: []any{table, value}}
}

// isolateStep always cascades: the shard of one value is split out of
// every table of the colocation group at once, which keeps a patient's
// chart together.
func isolateStep(table string, value string, mode TransferMode) step {
	return step{table: table,
		sql:  "SELECT isolate_tenant_to_new_shard($1::text::regclass, $2::text, 'CASCADE', shard_transfer_mode => $3::citus.shard_transfer_mode)",
		args: []any{table, value, mode.orAuto()}}
}

func moveShardStep(shardID int64, from, to Node, mode TransferMode) step {
	return step{
		sql:  "SELECT citus_move_shard_placement($1, $2, $3, $4, $5, shard_transfer_mode => $6::citus.shard_transfer_mode)",
		args: []any{shardID, from.Host, int32(from.Port), to.Host, int32(to.Port), mode.orAuto()}}
}

func (s step) exec(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}) error {
	_, err := db.Exec(ctx, s.sql, s.args...)
	return err
}

func (s step) queryRow(ctx context.Context, q Querier, dest ...any) error {
	return q.QueryRow(ctx, s.sql, s.args...).Scan(dest...)
}
