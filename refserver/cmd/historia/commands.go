package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/citus"
	"github.com/historiaehr/historia/refserver/internal/server"
)

// flagSet returns a flag set for a command whose errors go to stderr.
func flagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("historia "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// databaseFlags registers --database-url and --database-url-file.
func databaseFlags(fs *flag.FlagSet, url *string) {
	fs.StringVar(url, "database-url", "", "PostgreSQL URL")
	fs.Func("database-url-file", "file holding the PostgreSQL URL", func(p string) error {
		v, err := server.ReadSecret(p)
		*url = v
		return err
	})
}

func needURL(url string) error {
	if url == "" {
		return fmt.Errorf("%w: --database-url (or HISTORIA_DATABASE_URL) is required", errUsage)
	}
	return nil
}

// connect opens one connection (migrations and Citus DDL run on their own
// connection, never on a pool that caches statements).
func connect(ctx context.Context, url string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, errors.New("database url: cannot be parsed")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	return conn, nil
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flagSet("migrate", stderr)
	var url string
	databaseFlags(fs, &url)
	if err := server.ParseFlags(fs, args, getenv); err != nil {
		return err
	}
	if err := needURL(url); err != nil {
		return err
	}
	conn, err := connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := server.Migrate(ctx, conn); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

func cmdCitus(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 || (args[0] != "distribute" && args[0] != "status") {
		return fmt.Errorf("%w: historia citus distribute|status --database-url URL", errUsage)
	}
	sub := args[0]
	fs := flagSet("citus "+sub, stderr)
	var url string
	databaseFlags(fs, &url)
	if err := server.ParseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	if err := needURL(url); err != nil {
		return err
	}
	conn, err := connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if sub == "status" {
		st, err := citus.Status(ctx, conn)
		if errors.Is(err, citus.ErrNotCitus) {
			return errors.New("citus status: Citus is not installed in this database (plain PostgreSQL): nothing is distributed")
		}
		if err != nil {
			return err
		}
		if len(st) == 0 {
			fmt.Fprintln(stdout, "no Citus tables (plain PostgreSQL, or not distributed yet)")
		}
		for _, t := range st {
			fmt.Fprintln(stdout, t.String())
		}
		return nil
	}
	plan := server.DistributionPlan()
	// Check returns the violations and, when there are any, an error that
	// wraps them: name each one, then refuse.
	violations, err := citus.Check(ctx, conn, plan)
	if err != nil && len(violations) == 0 {
		return err
	}
	if len(violations) > 0 {
		for _, v := range violations {
			fmt.Fprintln(stderr, v.String())
		}
		return fmt.Errorf("the schema breaks the distribution plan in %d places; nothing was changed", len(violations))
	}
	rep, err := citus.Apply(ctx, conn, plan)
	fmt.Fprintln(stdout, rep.String())
	return err
}

func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: historia user add|disable|reset-password", errUsage)
	}
	sub := args[0]
	fs := flagSet("user "+sub, stderr)
	var url, tenant, username, role, patient, pwFile string
	databaseFlags(fs, &url)
	fs.StringVar(&tenant, "tenant", "", "tenant id")
	fs.StringVar(&username, "username", "", "username")
	switch sub {
	case "add":
		fs.StringVar(&role, "role", "", "role (paciente, medico, admisionista, secretaria, admin, auditor); comma-separated for several")
		fs.StringVar(&patient, "patient", "", "patient id (for role paciente)")
		fs.StringVar(&pwFile, "password-file", "", "file holding the password; default: read one line from stdin")
	case "reset-password":
		fs.StringVar(&pwFile, "password-file", "", "file holding the new password; default: read one line from stdin")
	case "disable":
	default:
		return fmt.Errorf("%w: unknown user command %q", errUsage, sub)
	}
	if err := server.ParseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	if err := needURL(url); err != nil {
		return err
	}
	if tenant == "" || username == "" {
		return fmt.Errorf("%w: --tenant and --username are required", errUsage)
	}
	readPassword := func() (string, error) {
		if pwFile != "" {
			return server.ReadSecret(pwFile)
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	pool, err := server.OpenPool(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := auth.NewStore(pool, auth.StoreConfig{})
	switch sub {
	case "add":
		if role == "" {
			return fmt.Errorf("%w: --role is required", errUsage)
		}
		pw, err := readPassword()
		if err != nil {
			return err
		}
		u, err := store.CreateUser(ctx, auth.NewUser{Tenant: tenant, Username: username, Password: pw,
			Roles: strings.Split(role, ","), PatientID: patient})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s created (id %s)\n", u.Username, u.ID)
		return nil
	}
	u, err := store.UserByUsername(ctx, tenant, username)
	if err != nil {
		return err
	}
	if sub == "disable" {
		if err := store.DisableUser(ctx, tenant, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s disabled; their sessions are revoked\n", u.Username)
		return nil
	}
	pw, err := readPassword()
	if err != nil {
		return err
	}
	if err := store.ResetPassword(ctx, tenant, u.ID, pw); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "password of %s reset\n", u.Username)
	return nil
}
