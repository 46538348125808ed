package citus

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ShardFor returns the id of the shard of table that holds the rows whose
// distribution column equals value (get_shard_id_for_distribution_column).
// value is given as text and converted to the column's type by Citus, so
// a UUID, a number or a string all fit.
//
// Errors: ErrNotCitus, ErrNotCoordinator, ErrNotDistributed for a table
// that is not hash-distributed, or the call's error, wrapped.
func ShardFor(ctx context.Context, db DB, table, value string) (int64, error) {
	if err := requireDistributed(ctx, db, table); err != nil {
		return 0, err
	}
	var id int64
	if err := shardForStep(table, value).queryRow(ctx, db, &id); err != nil {
		return 0, fmt.Errorf("citus: shard of %s = %s: %w", table, value, err)
	}
	return id, nil
}

// IsolateTenant splits the rows whose distribution column equals value
// into a shard of their own, in table and every table colocated with it
// (isolate_tenant_to_new_shard with CASCADE), and returns the new shard's
// id. The new shard stays on the node of the old one; MoveShard then
// moves it to a node of its own.
//
// It isolates by the distribution column and nothing else: with
// Historia's plan, whose patient tables are distributed by patient_id,
// value is one patient (a very large chart), not a hospital. Isolating a
// whole tenant needs a plan distributed by tenant_id; check with
// Plan.DistributionColumn before calling.
//
// Errors: ErrNotCitus, ErrNotCoordinator, ErrNotDistributed, or the call's
// error, wrapped.
func IsolateTenant(ctx context.Context, db DB, table, value string, mode TransferMode) (int64, error) {
	if err := requireDistributed(ctx, db, table); err != nil {
		return 0, err
	}
	var id int64
	if err := isolateStep(table, value, mode).queryRow(ctx, db, &id); err != nil {
		return 0, fmt.Errorf("citus: isolate %s = %s: %w", table, value, err)
	}
	return id, nil
}

// MoveShard moves a shard, with the shards colocated with it, from one
// node to another (citus_move_shard_placement). It blocks until the move
// is done.
//
// Errors: ErrNotCitus, ErrNotCoordinator, or the call's error, wrapped.
func MoveShard(ctx context.Context, db DB, shardID int64, from, to Node, mode TransferMode) error {
	if _, err := requireCoordinator(ctx, db); err != nil {
		return err
	}
	if err := moveShardStep(shardID, from, to, mode).exec(ctx, db); err != nil {
		return fmt.Errorf("citus: move shard %d from %s to %s: %w", shardID, from, to, err)
	}
	return nil
}

// ShardNode returns the node holding the (first) placement of a shard.
//
// Errors: ErrNotCitus, ErrNotCoordinator, or the query's error, wrapped
// (pgx.ErrNoRows for an unknown shard).
func ShardNode(ctx context.Context, db DB, shardID int64) (Node, error) {
	if _, err := requireCoordinator(ctx, db); err != nil {
		return Node{}, err
	}
	var n Node
	var port int32
	err := db.QueryRow(ctx, sqlShardNode, shardID).Scan(&n.ID, &n.Host, &port, &n.Active, &n.ShouldHaveShards)
	if err != nil {
		return Node{}, fmt.Errorf("citus: node of shard %d: %w", shardID, err)
	}
	n.Port = int(port)
	return n, nil
}

const sqlShardNode = `SELECT n.nodeid, n.nodename, n.nodeport, n.isactive, n.shouldhaveshards
FROM pg_dist_placement p JOIN pg_dist_node n ON n.groupid = p.groupid
WHERE p.shardid = $1 AND n.noderole = 'primary'
ORDER BY p.placementid
LIMIT 1`

const sqlPartMethod = `SELECT partmethod::text FROM pg_dist_partition WHERE logicalrelid = $1::text::regclass`

func requireDistributed(ctx context.Context, db DB, table string) error {
	if _, err := requireCoordinator(ctx, db); err != nil {
		return err
	}
	var method string
	err := db.QueryRow(ctx, sqlPartMethod, table).Scan(&method)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && method != "h") {
		return fmt.Errorf("%w: %s", ErrNotDistributed, table)
	}
	if err != nil {
		return fmt.Errorf("citus: %s: %w", table, err)
	}
	return nil
}
