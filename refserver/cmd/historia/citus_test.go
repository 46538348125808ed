package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/refserver/internal/server"
)

// migratedURL is a fresh database with the server's whole schema.
func migratedURL(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	url := ehrtest.NewURL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := server.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	return url
}

// TestCitusDistributeOnPlainPostgres: `historia migrate` then `historia
// citus distribute` on plain PostgreSQL checks the plan, distributes
// nothing, says so and exits 0 — twice.
func TestCitusDistributeOnPlainPostgres(t *testing.T) {
	ctx := context.Background()
	url := migratedURL(t)
	for i := range 2 {
		var out, errOut bytes.Buffer
		if err := run(ctx, []string{"citus", "distribute", "--database-url", url}, nil, &out, &errOut, noEnv); err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, errOut.String())
		}
		if !strings.Contains(strings.ToLower(out.String()), "not") {
			t.Fatalf("run %d printed %q, want it to say nothing was distributed", i+1, out.String())
		}
	}
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"citus", "status", "--database-url", url}, nil, &out, &errOut, noEnv)
	if err == nil || !strings.Contains(err.Error(), "Citus") {
		t.Fatalf("status on plain PostgreSQL: %v (%q), want an error saying Citus is not installed", err, out.String())
	}
}

// TestCitusDistributeRefusesABrokenSchema: a primary key without the
// distribution column is named, and nothing is changed.
func TestCitusDistributeRefusesABrokenSchema(t *testing.T) {
	ctx := context.Background()
	url := migratedURL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var pk string
	if err := conn.QueryRow(ctx, `SELECT conname FROM pg_constraint WHERE conrelid = 'clinical_notes'::regclass AND contype = 'p'`).Scan(&pk); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ALTER TABLE clinical_notes DROP CONSTRAINT `+pgx.Identifier{pk}.Sanitize()+` CASCADE; ALTER TABLE clinical_notes ADD PRIMARY KEY (id)`); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = run(ctx, []string{"citus", "distribute", "--database-url", url}, nil, &out, &errOut, noEnv)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if !strings.Contains(errOut.String(), "clinical_notes") {
		t.Fatalf("violations not named:\n%s", errOut.String())
	}
}
