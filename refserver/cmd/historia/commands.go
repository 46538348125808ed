package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
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

// parseDatabaseFlags parses args into fs (flags, then HISTORIA_* env) and
// requires the database URL: a flag mistake or a missing URL is a usage
// error (exit status 2).
func parseDatabaseFlags(fs *flag.FlagSet, args []string, getenv env, url *string) error {
	if err := server.ParseFlags(fs, args, getenv); err != nil {
		return usageErr(err)
	}
	return needURL(*url)
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
	if err := parseDatabaseFlags(fs, args, getenv, &url); err != nil {
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

func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: historia user add|disable|reset-password", errUsage)
	}
	sub := args[0]
	fs := flagSet("user "+sub, stderr)
	var url, tenant, username, role, patient, pwFile, name, specialty, license string
	databaseFlags(fs, &url)
	fs.StringVar(&tenant, "tenant", "", "tenant id")
	fs.StringVar(&username, "username", "", "username")
	switch sub {
	case "add":
		fs.StringVar(&role, "role", "", "role (paciente, medico, admisionista, secretaria, admin, auditor); comma-separated for several")
		fs.StringVar(&patient, "patient", "", "patient id (required for role paciente)")
		fs.StringVar(&name, "name", "", "the physician's name as patients and staff see it (required for role medico: it creates the practitioner record)")
		fs.StringVar(&specialty, "specialty", "", "the physician's specialty (role medico)")
		fs.StringVar(&license, "license", "", "the physician's licence number (role medico)")
		fs.StringVar(&pwFile, "password-file", "", "file holding the password; default: read one line from stdin")
	case "reset-password":
		fs.StringVar(&pwFile, "password-file", "", "file holding the new password; default: read one line from stdin")
	case "disable":
	default:
		return fmt.Errorf("%w: unknown user command %q", errUsage, sub)
	}
	if err := parseDatabaseFlags(fs, args[1:], getenv, &url); err != nil {
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
		roles, err := checkNewUser(ctx, pool, tenant, role, patient, name)
		if err != nil {
			return err
		}
		pw, err := readPassword()
		if err != nil {
			return err
		}
		u, err := store.CreateUser(ctx, auth.NewUser{Tenant: tenant, Username: username, Password: pw,
			Roles: roles, PatientID: patient})
		if err != nil {
			return err
		}
		if slices.Contains(roles, "medico") {
			// A physician works through a practitioner record (care teams,
			// agenda, notes); without one the account is disabled rather
			// than left half made.
			ctx := ehr.NewContext(ctx, ehr.Actor{Principal: rbac.Principal{UserID: server.OperatorUser, TenantID: tenant, Roles: []string{"admin"}}})
			pr, err := ehr.NewRepository(pool).CreatePractitioner(ctx, ehr.Practitioner{UserID: u.ID, Name: name, Specialty: specialty, License: license})
			if err != nil {
				_ = store.DisableUser(context.WithoutCancel(ctx), tenant, u.ID)
				return fmt.Errorf("practitioner record for user %s (account disabled): %w", u.ID, err)
			}
			fmt.Fprintf(stdout, "user %s created (id %s), practitioner %s\n", u.Username, u.ID, pr.ID)
			return nil
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

// checkNewUser validates `historia user add` before anything is written:
// the tenant exists, every role is one of the default policy's, a paciente
// names their patient and a medico their name. It returns the roles.
func checkNewUser(ctx context.Context, db ehr.DB, tenant, role, patient, name string) ([]string, error) {
	if role == "" {
		return nil, fmt.Errorf("%w: --role is required", errUsage)
	}
	known := rbac.DefaultPolicy().Roles()
	var roles []string
	for _, r := range strings.Split(role, ",") {
		r = strings.TrimSpace(r)
		if !slices.Contains(known, r) {
			return nil, fmt.Errorf("%w: --role: unknown role %q (known: %s)", errUsage, r, strings.Join(known, ", "))
		}
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	if slices.Contains(roles, "paciente") {
		if _, err := uuid.Parse(patient); err != nil {
			return nil, fmt.Errorf("%w: --patient: role paciente needs the patient's id (a UUID)", errUsage)
		}
	} else if patient != "" {
		return nil, fmt.Errorf("%w: --patient is only for role paciente", errUsage)
	}
	if slices.Contains(roles, "medico") && strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("%w: --name: role medico needs the physician's name", errUsage)
	}
	tenants, err := ehr.NewRepository(db).ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(tenants, func(t ehr.Tenant) bool { return t.ID == tenant }) {
		return nil, fmt.Errorf("--tenant: no tenant %s (see: historia tenant list)", tenant)
	}
	return roles, nil
}
