package auth

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestAppRoleCannotRewriteSecurityLog runs a login, a refresh and a logout
// as the server's role historia_app, then proves that role can neither
// change nor delete security events, nor delete accounts.
func TestAppRoleCannotRewriteSecurityLog(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createUser(t, "ana.app", "medico")
	if _, err := e.pool.Exec(ctx, `SET ROLE historia_app`); err != nil {
		t.Fatal(err)
	}
	defer e.pool.Exec(ctx, `RESET ROLE`)

	tok, err := e.svc.Login(ctx, tenant, "ana.app", password, "10.0.0.9")
	if err != nil {
		t.Fatalf("login as historia_app: %v", err)
	}
	tok, err = e.svc.Refresh(ctx, tok.RefreshToken, "10.0.0.9")
	if err != nil {
		t.Fatalf("refresh as historia_app: %v", err)
	}
	if err := e.svc.Logout(ctx, tok.RefreshToken, "10.0.0.9"); err != nil {
		t.Fatalf("logout as historia_app: %v", err)
	}
	if evs := e.events(t, tenant); len(evs) == 0 {
		t.Fatal("no security events written")
	}

	for _, sql := range []string{
		`UPDATE security_events SET kind = kind`,
		`DELETE FROM security_events`,
		`DELETE FROM users`,
		`TRUNCATE security_events`,
	} {
		_, err := e.pool.Exec(ctx, sql)
		var pg *pgconn.PgError
		if !errors.As(err, &pg) || pg.Code != "42501" {
			t.Errorf("%s as historia_app: err = %v, want permission denied (42501)", sql, err)
		}
	}
	if _, err := VerifyEvents(ctx, e.pool, tenant); err != nil {
		t.Fatalf("chain after attempts: %v", err)
	}
}
