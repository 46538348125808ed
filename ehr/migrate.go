package ehr

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLockKey is the advisory lock key Migrate holds ("ehr" schema).
const migrationLockKey int64 = 0x6568725f6d6967 // "ehr_mig"

// migration is one embedded SQL file, NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
	sum     string
}

// migrations returns the embedded migrations in order.
func migrations() ([]migration, error) {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, f := range files {
		base := path.Base(f)
		num, name, ok := strings.Cut(strings.TrimSuffix(base, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("ehr: migration file %s: name must be NNNN_name.sql", base)
		}
		b, err := migrationFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out = append(out, migration{version: v, name: name, sql: string(b), sum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("ehr: migrations are not numbered 1..n (found %d at position %d)", m.version, i+1)
		}
	}
	return out, nil
}

// SchemaVersion is the schema version this code needs: the number of the
// last embedded migration.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS ehr_schema_migrations (
    version    integer     NOT NULL PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`

// Migrate brings the database schema up to SchemaVersion. The migrations
// are plain SQL embedded in the binary, each applied in its own
// transaction and recorded in ehr_schema_migrations, all under a
// session advisory lock so concurrent callers (several replicas starting
// at once) apply each migration once. Re-running is a no-op.
//
// Run it on a connection of its own, before serving: DDL invalidates the
// statements a live pool has cached. The connection's role must own the
// schema (and may create roles: migration 2 creates the historia_app role
// if it does not exist).
//
// It returns an error wrapping ErrSchemaTooNew when the database has
// migrations this code does not know (a newer release migrated it), and
// an error naming the migration when one fails.
func Migrate(ctx context.Context, conn *pgx.Conn) (err error) {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("ehr: migrate: lock: %w", dbError("migrate", err))
	}
	defer func() {
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey); uerr != nil && err == nil {
			err = dbError("migrate: unlock", uerr)
		}
	}()
	if _, err := conn.Exec(ctx, createMigrationsTable); err != nil {
		return dbError("migrate: create ehr_schema_migrations", err)
	}
	applied := map[int]string{}
	maxApplied := 0
	rows, err := conn.Query(ctx, `SELECT version, checksum FROM ehr_schema_migrations`)
	if err != nil {
		return dbError("migrate: read ehr_schema_migrations", err)
	}
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			rows.Close()
			return dbError("migrate", err)
		}
		applied[v] = sum
		maxApplied = max(maxApplied, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return dbError("migrate", err)
	}
	if latest := len(ms); maxApplied > latest {
		return fmt.Errorf("ehr: migrate: database is at version %d, this code knows up to %d: %w", maxApplied, latest, ErrSchemaTooNew)
	}
	for _, m := range ms {
		if _, ok := applied[m.version]; ok {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO ehr_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`, m.version, m.name, m.sum)
			return err
		})
		if err != nil {
			return fmt.Errorf("ehr: migrate: migration %04d_%s: %w", m.version, m.name, dbErrorVerbose(err))
		}
	}
	return nil
}

// dbErrorVerbose keeps the server's message: migrations carry no personal
// data, and an operator needs the message to fix a failed migration.
func dbErrorVerbose(err error) error {
	return fmt.Errorf("%s", err.Error())
}

// CheckSchema reports whether the database's schema is the one this code
// needs: nil when current, an error wrapping ErrSchemaOutdated when
// migrations are pending, ErrSchemaTooNew when the database is newer. A
// server's readiness probe calls it. It needs only QueryRow: a pool, a
// connection or a transaction all fit.
func CheckSchema(ctx context.Context, db interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) error {
	var v int
	if err := db.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM ehr_schema_migrations`).Scan(&v); err != nil {
		return fmt.Errorf("ehr: check schema: %w: %w", ErrSchemaOutdated, dbError("check schema", err))
	}
	switch latest := SchemaVersion(); {
	case v < latest:
		return fmt.Errorf("ehr: check schema: database at version %d, code needs %d: %w", v, latest, ErrSchemaOutdated)
	case v > latest:
		return fmt.Errorf("ehr: check schema: database at version %d, code knows up to %d: %w", v, latest, ErrSchemaTooNew)
	}
	return nil
}
