// Package citus distributes a PostgreSQL schema on a Citus cluster, from a
// plan given as data, and wraps the few cluster operations a hospital
// needs afterwards.
//
// A library that owns a schema describes its layout in a Plan: reference
// tables copied to every node, and distributed tables split by one column
// into shards, grouped so that the rows of one patient share a node.
// Check validates the plan against the live catalog and needs only plain
// PostgreSQL, so CI can run it on every migration. Apply carries the plan
// out on a Citus coordinator, skipping what is already in place, and does
// nothing on plain PostgreSQL. Status shows where the shards are.
//
//	conn, err := pgx.Connect(ctx, url) // its own connection: see Apply
//	if err != nil {
//		return err
//	}
//	defer conn.Close(ctx)
//	plan := citus.Plan{
//		Reference:   []string{"tenants"},
//		Distributed: []citus.Table{
//			{Name: "patients", Column: "patient_id"},
//			{Name: "notes", Column: "patient_id", ColocateWith: "patients"},
//		},
//	}
//	if _, err := citus.Check(ctx, conn, plan); err != nil {
//		return err // a *citus.CheckError lists every violation
//	}
//	report, err := citus.Apply(ctx, conn, plan)
//	if err != nil {
//		return err
//	}
//	fmt.Println(report) // "citus: not installed ..." on plain PostgreSQL
//
// Adding a worker and spreading the shards onto it:
//
//	if _, err := citus.AddNode(ctx, conn, "worker-3", 5432); err != nil {
//		return err
//	}
//	job, err := citus.StartRebalance(ctx, conn, citus.TransferAuto)
//	if err != nil {
//		return err
//	}
//	err = citus.WaitRebalance(ctx, conn, job, 5*time.Second, func(p citus.RebalanceProgress) {
//		log.Printf("rebalance %s: %d/%d moves", p.State, p.Done(), p.Total())
//	})
//
// The package imports only pgx. Errors are sentinels (ErrNotCitus,
// ErrNotCoordinator, ErrInTransaction, ErrConflictingDistribution,
// ErrViolations, ErrNotDistributed) or typed errors matching them
// (*CheckError, *ConflictError); pgx errors come wrapped with the
// operation. docs/citus.md explains how Historia's data is laid out and
// how to grow from one machine to a cluster.
package citus
