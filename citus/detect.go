package citus

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Info describes the Citus installation of a database, as Detect finds it.
type Info struct {
	// Installed reports whether the citus extension is created in this
	// database. The rest of Info is empty when it is not.
	Installed bool
	// Version is the extension's version, such as "13.0-1".
	Version string
	// Coordinator reports whether this node is the coordinator (its
	// group is 0), where distributed tables are created.
	Coordinator bool
	// Workers are the primary worker nodes registered in the metadata,
	// in the order they were added.
	Workers []Node
}

// Node is a node of a Citus cluster.
type Node struct {
	// ID is Citus's node id (pg_dist_node.nodeid).
	ID int32
	// Host and Port are how the coordinator reaches the node.
	Host string
	Port int
	// Active is false for a node disabled with citus_disable_node.
	Active bool
	// ShouldHaveShards is false for a node being drained.
	ShouldHaveShards bool
}

// String returns "host:port".
func (n Node) String() string { return fmt.Sprintf("%s:%d", n.Host, n.Port) }

const (
	sqlExtension   = `SELECT extversion FROM pg_extension WHERE extname = 'citus'`
	sqlLocalGroup  = `SELECT groupid FROM pg_dist_local_group`
	sqlWorkerNodes = `SELECT nodeid, nodename, nodeport, isactive, shouldhaveshards
FROM pg_dist_node
WHERE groupid <> 0 AND noderole = 'primary'
ORDER BY nodeid`
)

// Detect reports whether Citus is installed in the database q is
// connected to, its version, whether this is the coordinator, and the
// worker nodes. On plain PostgreSQL it returns an Info with Installed
// false and a nil error; it returns an error only when a query fails.
func Detect(ctx context.Context, q Querier) (Info, error) {
	var info Info
	err := q.QueryRow(ctx, sqlExtension).Scan(&info.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return Info{}, nil
	}
	if err != nil {
		return Info{}, fmt.Errorf("citus: detect: %w", err)
	}
	info.Installed = true
	var group int32
	if err := q.QueryRow(ctx, sqlLocalGroup).Scan(&group); err != nil {
		return Info{}, fmt.Errorf("citus: detect: local group: %w", err)
	}
	info.Coordinator = group == 0
	rows, err := q.Query(ctx, sqlWorkerNodes)
	if err != nil {
		return Info{}, fmt.Errorf("citus: detect: nodes: %w", err)
	}
	info.Workers, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Node, error) {
		var n Node
		var port int32
		err := r.Scan(&n.ID, &n.Host, &port, &n.Active, &n.ShouldHaveShards)
		n.Port = int(port)
		return n, err
	})
	if err != nil {
		return Info{}, fmt.Errorf("citus: detect: nodes: %w", err)
	}
	return info, nil
}

// requireCoordinator returns ErrNotCitus or ErrNotCoordinator unless q is
// connected to a Citus coordinator.
func requireCoordinator(ctx context.Context, q Querier) (Info, error) {
	info, err := Detect(ctx, q)
	if err != nil {
		return info, err
	}
	if !info.Installed {
		return info, ErrNotCitus
	}
	if !info.Coordinator {
		return info, ErrNotCoordinator
	}
	return info, nil
}
