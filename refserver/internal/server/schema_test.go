package server

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/ehr"
)

// queryRowOnly has nothing but QueryRow: SchemaCurrent must check ehr's
// schema through it too (it used to skip the check for anything that was
// not a whole ehr.DB, and call an outdated schema current).
type queryRowOnly struct {
	q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}
}

func (o queryRowOnly) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return o.q.QueryRow(ctx, sql, args...)
}

func TestSchemaCurrentChecksEveryPart(t *testing.T) {
	ctx := context.Background()
	pool := testDB(t)
	if err := SchemaCurrent(ctx, pool); err != nil {
		t.Fatalf("fresh schema: %v", err)
	}
	if err := SchemaCurrent(ctx, queryRowOnly{pool}); err != nil {
		t.Fatalf("fresh schema through QueryRow only: %v", err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM ehr_schema_migrations WHERE version = (SELECT max(version) FROM ehr_schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}{"pool": pool, "QueryRow only": queryRowOnly{pool}} {
		if err := SchemaCurrent(ctx, q); !errors.Is(err, ehr.ErrSchemaOutdated) {
			t.Errorf("%s: SchemaCurrent on a schema one ehr migration behind = %v; want ErrSchemaOutdated", name, err)
		}
	}
}
