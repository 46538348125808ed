package citus

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// TableStatus is how one Citus table is laid out on the cluster.
type TableStatus struct {
	// Table is the table's name as PostgreSQL prints it
	// (schema-qualified when not on the search_path).
	Table string
	// Type is "distributed", "reference", "single-shard" (schema-based
	// sharding) or "local" (a Citus local table on the coordinator).
	Type string
	// Column is the distribution column, empty for the other types.
	Column string
	// Colocation is the colocation group id; tables of one group keep
	// matching shards on the same node.
	Colocation int32
	// Shards is the number of shards.
	Shards int
	// Size is the bytes on disk of all its shard placements, replicas
	// of reference tables included.
	Size int64
	// Nodes lists, node by node, how many shard placements of the table
	// it holds and their size.
	Nodes []NodeShards
}

// NodeShards is the part of one table held by one node.
type NodeShards struct {
	Host   string
	Port   int
	Shards int
	Size   int64
}

const sqlStatusTables = `SELECT p.logicalrelid::regclass::text,
	CASE WHEN p.partmethod = 'h' THEN 'distributed'
		WHEN p.repmodel = 't' THEN 'reference'
		WHEN p.colocationid <> 0 THEN 'single-shard'
		ELSE 'local' END,
	coalesce(column_to_column_name(p.logicalrelid, p.partkey), ''),
	p.colocationid,
	(SELECT count(*) FROM pg_dist_shard s WHERE s.logicalrelid = p.logicalrelid)
FROM pg_dist_partition p
ORDER BY 1`

// sqlStatusShards reads the citus_shards view (pg_dist_shard joined with
// pg_dist_placement and pg_dist_node, with each shard's size as measured
// on its worker).
const sqlStatusShards = `SELECT table_name::text, nodename, nodeport, count(*), coalesce(sum(shard_size), 0)::bigint
FROM citus_shards
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3`

// Status lists every Citus table of the database with its distribution
// column, colocation group, shard count, and the shards and bytes each
// node holds. Shard sizes are measured on the workers, so Status contacts
// every node.
//
// Errors: ErrNotCitus on a database without Citus; otherwise a failed
// query, wrapped.
func Status(ctx context.Context, q Querier) ([]TableStatus, error) {
	info, err := Detect(ctx, q)
	if err != nil {
		return nil, err
	}
	if !info.Installed {
		return nil, ErrNotCitus
	}
	rows, err := q.Query(ctx, sqlStatusTables)
	if err != nil {
		return nil, fmt.Errorf("citus: status: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TableStatus, error) {
		var t TableStatus
		var shards int64
		err := r.Scan(&t.Table, &t.Type, &t.Column, &t.Colocation, &shards)
		t.Shards = int(shards)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("citus: status: %w", err)
	}
	index := make(map[string]int, len(tables))
	for i, t := range tables {
		index[t.Table] = i
	}
	rows, err = q.Query(ctx, sqlStatusShards)
	if err != nil {
		return nil, fmt.Errorf("citus: status: shards: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		var n NodeShards
		var port int32
		var count int64
		if err := rows.Scan(&table, &n.Host, &port, &count, &n.Size); err != nil {
			return nil, fmt.Errorf("citus: status: shards: %w", err)
		}
		n.Port, n.Shards = int(port), int(count)
		if i, ok := index[table]; ok {
			tables[i].Nodes = append(tables[i].Nodes, n)
			tables[i].Size += n.Size
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("citus: status: shards: %w", err)
	}
	return tables, nil
}

// String formats the status as one line per table and node.
func (t TableStatus) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", t.Table, t.Type)
	if t.Column != "" {
		fmt.Fprintf(&b, " by %s", t.Column)
	}
	fmt.Fprintf(&b, ", colocation %d, %d shard(s), %d bytes", t.Colocation, t.Shards, t.Size)
	for _, n := range t.Nodes {
		fmt.Fprintf(&b, "\n  %s:%d: %d shard(s), %d bytes", n.Host, n.Port, n.Shards, n.Size)
	}
	return b.String()
}
