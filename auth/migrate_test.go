package auth

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/internal/pgtest"
)

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDB(t, "empty", nil)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = migrateURL(ctx, url)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := migrateURL(ctx, url); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n, max int
	if err := conn.QueryRow(ctx, "SELECT count(*), max(version) FROM "+MigrationsTable).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != SchemaVersion() || max != SchemaVersion() || n < 3 {
		t.Fatalf("%d migrations recorded, max %d, code has %d", n, max, SchemaVersion())
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	if _, err := pool.Exec(ctx, "INSERT INTO "+MigrationsTable+" (version, name) VALUES ($1, 'future.sql')", SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := Migrate(ctx, conn); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("got %v, want ErrSchemaTooNew", err)
	}
}

func TestPlanNamesMigratedTables(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	p := Plan()
	names := append([]string(nil), p.Reference...)
	seen := map[string]bool{}
	for _, r := range p.Reference {
		seen[r] = true
	}
	for _, d := range p.Distributed {
		if d.ColocateWith != "" && !seen[d.ColocateWith] {
			t.Fatalf("%s colocated with %s, which comes later", d.Name, d.ColocateWith)
		}
		seen[d.Name] = true
		names = append(names, d.Name)
		var ok bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = $2)`,
			d.Name, d.Column).Scan(&ok); err != nil || !ok {
			t.Fatalf("%s.%s missing (%v)", d.Name, d.Column, err)
		}
	}
	var tables []string
	rows, _ := pool.Query(ctx, `SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> $1`, MigrationsTable)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != len(names) {
		t.Fatalf("plan covers %v, schema has %v", names, tables)
	}
}
