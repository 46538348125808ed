package demo

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/auth"
)

// Survey is what an existing database holds, as far as `historia demo
// --database-url` must know before it writes anything: the demo seeds
// accounts whose password it prints, so it goes only into a database that
// is empty or holds nothing but an earlier demo.
type Survey struct {
	// Schema reports whether the Historia schema is there (a tenants
	// table on the search_path).
	Schema bool
	// DemoTenants counts the tenants named HospitalName.
	DemoTenants int
	// OtherTenants counts every other tenant: hospitals in use.
	OtherTenants int
	// Tables counts the tables outside extensions and system schemas
	// when Schema is false: another application's database.
	Tables int
}

// Empty reports whether the database holds no tenant and no foreign
// table: the demo may migrate and seed it.
func (s Survey) Empty() bool { return s.DemoTenants == 0 && s.OtherTenants == 0 && s.Tables == 0 }

const (
	sqlHasTenants = `SELECT to_regclass('tenants') IS NOT NULL`
	sqlTenants    = `SELECT count(*) FILTER (WHERE name = $1), count(*) FILTER (WHERE name <> $1) FROM tenants`
	// Tables of the database's own: not system catalogs, not members of
	// an extension (Citus's metadata is).
	sqlUserTables = `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'f')
	AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
	AND NOT EXISTS (SELECT 1 FROM pg_depend d
		WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`
)

// SurveyDatabase reads what the database q is connected to holds. It
// only reads.
func SurveyDatabase(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (Survey, error) {
	var s Survey
	if err := q.QueryRow(ctx, sqlHasTenants).Scan(&s.Schema); err != nil {
		return s, fmt.Errorf("survey database: %w", err)
	}
	if !s.Schema {
		if err := q.QueryRow(ctx, sqlUserTables).Scan(&s.Tables); err != nil {
			return s, fmt.Errorf("survey database: tables: %w", err)
		}
		return s, nil
	}
	if err := q.QueryRow(ctx, sqlTenants, HospitalName).Scan(&s.DemoTenants, &s.OtherTenants); err != nil {
		return s, fmt.Errorf("survey database: tenants: %w", err)
	}
	return s, nil
}

// Users are the usernames of the demo accounts.
func Users() []string { return append(append([]string(nil), Roles...), SecondMedico) }

// ResetPasswords sets the password of every demo account of tenant (and
// revokes their sessions): what a reused demo database needs when its
// first password is lost.
func ResetPasswords(ctx context.Context, pool *pgxpool.Pool, tenant, password string) error {
	users := auth.NewStore(pool, auth.StoreConfig{})
	for _, name := range Users() {
		u, err := users.UserByUsername(ctx, tenant, name)
		if err != nil {
			return fmt.Errorf("demo user %s: %w", name, err)
		}
		if err := users.ResetPassword(ctx, tenant, u.ID, password); err != nil {
			return fmt.Errorf("demo user %s: %w", name, err)
		}
	}
	return nil
}
