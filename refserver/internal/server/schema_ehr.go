package server

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/citus"
	"github.com/historiaehr/historia/ehr"
)

func migrateEHR(ctx context.Context, conn *pgx.Conn) error { return ehr.Migrate(ctx, conn) }

func ehrPlan() citus.Plan { return ehr.DistributionPlan() }

func ehrSchemaCurrent(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) error {
	return ehr.CheckSchema(ctx, q)
}
