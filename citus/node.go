package citus

import (
	"context"
	"fmt"
)

// AddNode registers a worker with the coordinator (citus_add_node) and
// returns its node id. The worker must run PostgreSQL with the citus
// extension created in this database, and the coordinator must be able
// to connect to host:port. Reference tables are copied to it; distributed
// shards move to it only when the cluster is rebalanced (StartRebalance).
// Adding a node already registered returns its id.
//
// Errors: ErrNotCitus, ErrNotCoordinator, or the call's error, wrapped.
func AddNode(ctx context.Context, db DB, host string, port int) (int32, error) {
	if _, err := requireCoordinator(ctx, db); err != nil {
		return 0, err
	}
	var id int32
	if err := addNodeStep(host, port).queryRow(ctx, db, &id); err != nil {
		return 0, fmt.Errorf("citus: add node %s:%d: %w", host, port, err)
	}
	return id, nil
}

// DrainNode moves every shard off a worker (citus_drain_node) and marks it
// as holding none, so that it can be removed. It blocks until the moves
// are done; cancel ctx to stop waiting (the move in progress is rolled
// back by Citus).
//
// Errors: ErrNotCitus, ErrNotCoordinator, or the call's error, wrapped.
func DrainNode(ctx context.Context, db DB, host string, port int, mode TransferMode) error {
	if _, err := requireCoordinator(ctx, db); err != nil {
		return err
	}
	if err := drainNodeStep(host, port, mode).exec(ctx, db); err != nil {
		return fmt.Errorf("citus: drain node %s:%d: %w", host, port, err)
	}
	return nil
}

// RemoveNode removes a worker from the cluster (citus_remove_node). Citus
// refuses while the node still holds shard placements: drain it first
// (DrainNode).
//
// Errors: ErrNotCitus, ErrNotCoordinator, or the call's error, wrapped.
func RemoveNode(ctx context.Context, db DB, host string, port int) error {
	if _, err := requireCoordinator(ctx, db); err != nil {
		return err
	}
	if err := removeNodeStep(host, port).exec(ctx, db); err != nil {
		return fmt.Errorf("citus: remove node %s:%d: %w", host, port, err)
	}
	return nil
}

// SetCoordinatorHost records how workers reach the coordinator
// (citus_set_coordinator_host) and adds the coordinator to the metadata.
// Run it once when building a cluster, before Apply: Citus needs the
// coordinator in its metadata to keep foreign keys from tables that are
// still local to reference tables while a schema is being distributed.
//
// Errors: ErrNotCitus, ErrNotCoordinator, or the call's error, wrapped.
func SetCoordinatorHost(ctx context.Context, db DB, host string, port int) error {
	if _, err := requireCoordinator(ctx, db); err != nil {
		return err
	}
	if err := coordinatorHostStep(host, port).exec(ctx, db); err != nil {
		return fmt.Errorf("citus: set coordinator host %s:%d: %w", host, port, err)
	}
	return nil
}
