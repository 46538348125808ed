package ehr_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/internal/pgtest"
)

var _ ehr.DB = (*pgxpool.Pool)(nil)
var _ ehr.DB = (*pgx.Conn)(nil)
var _ ehr.DB = (pgx.Tx)(nil)

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestMigrateIsIdempotent(t *testing.T) {
	conn := connect(t, ehrtest.NewURL(t))
	ctx := context.Background()
	for range 2 {
		if err := ehr.Migrate(ctx, conn); err != nil {
			t.Fatal(err)
		}
	}
	var n, max int
	if err := conn.QueryRow(ctx, `SELECT count(*), max(version) FROM ehr_schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != ehr.SchemaVersion() || max != ehr.SchemaVersion() {
		t.Fatalf("recorded %d migrations up to %d, want %d", n, max, ehr.SchemaVersion())
	}
	if err := ehr.CheckSchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	conn := connect(t, ehrtest.NewURL(t))
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `INSERT INTO ehr_schema_migrations (version, name, checksum) VALUES (999, 'future', 'x')`); err != nil {
		t.Fatal(err)
	}
	err := ehr.Migrate(ctx, conn)
	if !errors.Is(err, ehr.ErrSchemaTooNew) {
		t.Fatalf("Migrate = %v, want ErrSchemaTooNew", err)
	}
	if !errors.Is(ehr.CheckSchema(ctx, conn), ehr.ErrSchemaTooNew) {
		t.Fatal("CheckSchema does not report the newer schema")
	}
}

// TestMigrateConcurrently migrates empty databases from several
// connections at once, in one database (advisory lock) and in several
// (the role creation races across databases).
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	urls := []string{pgtest.NewDB(t, "empty", nil), pgtest.NewDB(t, "empty", nil), pgtest.NewDB(t, "empty", nil)}
	if !errors.Is(ehr.CheckSchema(ctx, connect(t, urls[0])), ehr.ErrSchemaOutdated) {
		t.Fatal("CheckSchema on an empty database is not ErrSchemaOutdated")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 9)
	for i := range 9 {
		conn := connect(t, urls[i%3])
		wg.Go(func() { errs <- ehr.Migrate(ctx, conn) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range urls {
		if err := ehr.CheckSchema(ctx, connect(t, u)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDistributionPlanMatchesCatalog checks the Citus plan against the
// live schema: every table is in the plan, and every primary key, unique
// index and foreign key of a distributed table includes its distribution
// column; colocated tables share the column type.
func TestDistributionPlanMatchesCatalog(t *testing.T) {
	conn := connect(t, ehrtest.NewURL(t))
	ctx := context.Background()
	plan := ehr.DistributionPlan()

	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	inPlan := map[string]bool{}
	for _, r := range plan.Reference {
		inPlan[r] = true
	}
	dist := map[string]string{}
	for _, d := range plan.Distributed {
		if inPlan[d.Name] || dist[d.Name] != "" {
			t.Errorf("table %s is in the plan twice", d.Name)
		}
		dist[d.Name] = d.Column
		if d.ColocateWith != "" && dist[d.ColocateWith] == "" {
			t.Errorf("%s colocates with %s, which is not distributed before it", d.Name, d.ColocateWith)
		}
	}
	for _, tb := range tables {
		if !inPlan[tb] && dist[tb] == "" {
			t.Errorf("table %s is not in the distribution plan", tb)
		}
	}
	for name := range dist {
		if !slices.Contains(tables, name) {
			t.Errorf("plan names %s, which does not exist", name)
		}
	}
	for name := range inPlan {
		if !slices.Contains(tables, name) {
			t.Errorf("plan names reference table %s, which does not exist", name)
		}
	}

	// Unique indexes (primary keys and unique constraints included).
	rows, err = conn.Query(ctx, `
SELECT c.relname, i.relname, array_agg(a.attname::text)
FROM pg_index x
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (x.indkey)
WHERE x.indisunique
GROUP BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	var checked int
	for rows.Next() {
		var table, index string
		var cols []string
		if err := rows.Scan(&table, &index, &cols); err != nil {
			t.Fatal(err)
		}
		if col := dist[table]; col != "" {
			checked++
			if !slices.Contains(cols, col) {
				t.Errorf("unique index %s of distributed table %s lacks distribution column %s (has %v)", index, table, col, cols)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// Foreign keys: from a distributed table, the key must include the
	// distribution column unless it points to a reference table.
	rows, err = conn.Query(ctx, `
SELECT c.relname, r.relname, k.conname,
  (SELECT array_agg(a.attname::text) FROM pg_attribute a WHERE a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey))
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_class r ON r.oid = k.confrelid
WHERE k.contype = 'f'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, ref, name string
		var cols []string
		if err := rows.Scan(&table, &ref, &name, &cols); err != nil {
			t.Fatal(err)
		}
		col := dist[table]
		switch {
		case col == "" && dist[ref] != "":
			t.Errorf("reference table %s has foreign key %s to distributed table %s", table, name, ref)
		case col == "" || inPlan[ref]:
		case !slices.Contains(cols, col):
			t.Errorf("foreign key %s of %s lacks distribution column %s (has %v)", name, table, col, cols)
		case dist[ref] != col:
			t.Errorf("foreign key %s of %s points to %s, not colocated on %s", name, table, ref, col)
		}
		checked++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("checked only %d keys: the catalog queries found too little", checked)
	}
}

// TestAppRole proves that historia_app cannot change or delete audit
// events or versions, yet can do everything the repository needs.
func TestAppRole(t *testing.T) {
	url := ehrtest.NewURL(t)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `SET ROLE historia_app`)
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	// Everything the library does, as the application role.
	h := ehrtest.NewHospital(t, pool)
	fullWorkflow(t, h)
	if err := ehr.CheckSchema(ctx, pool); err != nil {
		t.Fatal(err)
	}

	for _, stmt := range []string{
		`UPDATE audit_events SET reason = 'x'`,
		`DELETE FROM audit_events`,
		`TRUNCATE audit_events`,
		`UPDATE record_versions SET reason = 'x'`,
		`DELETE FROM record_versions`,
		`DELETE FROM patients`,
		`DELETE FROM clinical_notes`,
		`UPDATE break_glass_grants SET reason = 'x'`,
		`DELETE FROM ehr_schema_migrations`,
	} {
		_, err := pool.Exec(ctx, stmt)
		var pg *pgconn.PgError
		if !errors.As(err, &pg) || pg.Code != "42501" {
			t.Errorf("%s as historia_app: err = %v, want insufficient_privilege", stmt, err)
		}
	}
}
