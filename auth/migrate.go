package auth

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// MigrationsTable records the auth migrations applied to a database.
const MigrationsTable = "auth_schema_migrations"

// migrationLock is the advisory-lock key of auth migrations: the first 8
// bytes of sha256("historia/auth"), distinct from ehr's key.
var migrationLock = func() int64 {
	h := sha256.Sum256([]byte("historia/auth"))
	return int64(binary.BigEndian.Uint64(h[:8]))
}()

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("auth: migration file %q: want NNNN_name.sql", e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("auth: migrations not numbered 1..n: %s", m.name)
		}
	}
	return ms, nil
}

// SchemaVersion is the newest migration this code knows.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// Beginner starts a transaction; a *pgx.Conn is one.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Migrate brings the auth schema up to date: the embedded SQL migrations
// not yet recorded in MigrationsTable are applied in order, in one
// transaction, under a transaction-level advisory lock, so concurrent
// callers wait for each other and re-running is a no-op. A database already
// migrated beyond SchemaVersion is refused with ErrSchemaTooNew.
//
// Run it on a dedicated connection (a *pgx.Conn), before serving: DDL
// invalidates the prepared statements a pool caches.
func Migrate(ctx context.Context, db Beginner) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("auth: migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("auth: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+MigrationsTable+` (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("auth: migrate: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+MigrationsTable).Scan(&current); err != nil {
		return fmt.Errorf("auth: migrate: %w", err)
	}
	if latest := ms[len(ms)-1].version; current > latest {
		return fmt.Errorf("%w: database at version %d, code knows %d", ErrSchemaTooNew, current, latest)
	}
	for _, m := range ms[current:] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("auth: migrate %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+MigrationsTable+" (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return fmt.Errorf("auth: migrate %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("auth: migrate: commit: %w", err)
	}
	return nil
}
