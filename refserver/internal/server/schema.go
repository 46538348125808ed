package server

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/citus"
)

// Migrate applies every migration the server needs (auth's and ehr's), on
// one dedicated connection.
func Migrate(ctx context.Context, conn *pgx.Conn) error {
	if err := auth.Migrate(ctx, conn); err != nil {
		return err
	}
	return migrateEHR(ctx, conn)
}

// DistributionPlan is the Citus plan of the whole database: ehr's plan
// followed by auth's.
func DistributionPlan() citus.Plan {
	plan := ehrPlan()
	ap := auth.Plan()
	plan.Reference = append(plan.Reference, ap.Reference...)
	for _, t := range ap.Distributed {
		plan.Distributed = append(plan.Distributed, citus.Table{Name: t.Name, Column: t.Column, ColocateWith: t.ColocateWith})
	}
	return plan
}

// SchemaCurrent reports an error unless the database schema is exactly
// what this code expects.
func SchemaCurrent(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) error {
	var v int
	if err := q.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+auth.MigrationsTable).Scan(&v); err != nil {
		return fmt.Errorf("auth schema: %w", err)
	}
	if v != auth.SchemaVersion() {
		return fmt.Errorf("auth schema at version %d, code expects %d", v, auth.SchemaVersion())
	}
	return ehrSchemaCurrent(ctx, q)
}
