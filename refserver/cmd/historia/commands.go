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
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/i18n"
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
		return fmt.Errorf("%w: historia user add|disable|reset-password|activation-code", errUsage)
	}
	sub := args[0]
	fs := flagSet("user "+sub, stderr)
	var url, tenant, username, role, patient, pwFile, name, specialty, license string
	databaseFlags(fs, &url)
	fs.StringVar(&tenant, "tenant", "", "tenant id")
	fs.StringVar(&username, "username", "", "username")
	switch sub {
	case "add":
		fs.StringVar(&role, "role", "", "role, one of the policy's ("+strings.Join(rbac.DefaultPolicy().Roles(), ", ")+"); comma-separated for several")
		fs.StringVar(&patient, "patient", "", "patient id (required for role paciente)")
		fs.StringVar(&name, "name", "", "the physician's name as patients and staff see it (required for role medico: it creates the practitioner record)")
		fs.StringVar(&specialty, "specialty", "", "the physician's specialty (role medico)")
		fs.StringVar(&license, "license", "", "the physician's licence number (role medico)")
		fs.StringVar(&pwFile, "password-file", "", "file holding the password; default: read one line from stdin")
	case "reset-password":
		fs.StringVar(&pwFile, "password-file", "", "file holding the new password; default: read one line from stdin")
	case "disable":
	case "activation-code":
		fs.StringVar(&patient, "patient", "", "the patient's id: prints a one-time code the patient activates their portal account with (at /activar)")
	default:
		return fmt.Errorf("%w: unknown user command %q", errUsage, sub)
	}
	if err := parseDatabaseFlags(fs, args[1:], getenv, &url); err != nil {
		return err
	}
	if sub == "activation-code" {
		return activationCode(ctx, url, tenant, patient, stdout)
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
	// The command acts as an operator with the admin role in the tenant;
	// the staff use case applies the same rules as the admin page and the
	// API (app.Staff).
	store := auth.NewStore(pool, auth.StoreConfig{})
	a := app.New(app.Config{Users: store, Records: ehr.NewRepository(pool, ehr.WithAuthorizer(rbac.Default())), DB: pool})
	ctx = app.NewContext(ctx, app.Operator(tenant, app.RoleAdmin))
	switch sub {
	case "add":
		if role == "" {
			return fmt.Errorf("%w: --role is required", errUsage)
		}
		in := app.NewStaff{Username: username, Roles: strings.Split(role, ","), PatientID: patient,
			PractitionerName: name, Specialty: specialty, License: license}
		// Every mistake is named before the password is asked for.
		if err := a.Staff.Check(ctx, in); err != nil {
			return userError(err, tenant, in, a.Roles())
		}
		if in.Password, err = readPassword(); err != nil {
			return err
		}
		acct, err := a.Staff.Create(ctx, in)
		if err != nil {
			return userError(err, tenant, in, a.Roles())
		}
		if acct.Practitioner != nil {
			fmt.Fprintf(stdout, "user %s created (id %s), practitioner %s\n", acct.User.Username, acct.User.ID, acct.Practitioner.ID)
			return nil
		}
		fmt.Fprintf(stdout, "user %s created (id %s)\n", acct.User.Username, acct.User.ID)
		return nil
	}
	u, err := store.UserByUsername(ctx, tenant, username)
	if err != nil {
		return err
	}
	if sub == "disable" {
		if err := a.Staff.SetEnabled(ctx, u.ID, false); err != nil {
			return userError(err, tenant, app.NewStaff{}, nil)
		}
		fmt.Fprintf(stdout, "user %s disabled; their sessions are revoked\n", u.Username)
		return nil
	}
	pw, err := readPassword()
	if err != nil {
		return err
	}
	if err := a.Staff.ResetPassword(ctx, u.ID, pw); err != nil {
		return userError(err, tenant, app.NewStaff{}, nil)
	}
	fmt.Fprintf(stdout, "password of %s reset\n", u.Username)
	return nil
}

// flagOf names the flag (or input) of each field of app.NewStaff.
var flagOf = map[string]string{"username": "--username", "role": "--role", "patient_id": "--patient", "practitioner_name": "--name",
	"specialty": "--specialty", "license": "--license", "tenant": "--tenant", "password": "password"}

// userError turns the staff use case's refusal into a usage error that
// names the flags at fault (in English); other errors pass unchanged.
func userError(err error, tenant string, in app.NewStaff, known []string) error {
	var ve *app.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var msgs []string
	for _, f := range ve.Fields {
		var msg string
		switch {
		case f.Field == "role" && f.Code == ehr.CodeInvalid:
			for _, r := range in.Roles {
				if r = strings.TrimSpace(r); r != "" && !slices.Contains(known, r) {
					msg = fmt.Sprintf("--role: unknown role %q (known: %s)", r, strings.Join(known, ", "))
					break
				}
			}
		case f.Field == "role" && f.Code == app.CodePatientActivation:
			msg = "--role paciente: a patient activates their own account with a one-time code; issue it with: historia user activation-code --tenant ID --patient ID"
		case f.Field == "patient_id" && f.Code == app.CodePatientOnly:
			msg = "--patient is only for role paciente"
		case f.Field == "patient_id":
			msg = "--patient: role paciente needs the patient's id (a UUID)"
		case f.Field == "practitioner_name" && f.Code == ehr.CodeRequired:
			msg = "--name: role medico needs the physician's name"
		case f.Field == "tenant":
			msg = fmt.Sprintf("--tenant: no tenant %s (see: historia tenant list)", tenant)
		}
		if msg == "" {
			name := flagOf[f.Field]
			if name == "" {
				name = f.Field
			}
			msg = name + ": " + strings.TrimSuffix(i18n.Translate(i18n.EN, i18n.FieldKey(f.Code)), ".")
		}
		msgs = append(msgs, msg)
	}
	return fmt.Errorf("%w: %s", errUsage, strings.Join(msgs, "; "))
}

// activationCode issues patient's activation code in tenant as the
// operator with role admisionista (the registration desk): the patient
// must be one of the tenant, and the issue is recorded on the patient's
// audit chain under the operator's name (app.OperatorUser).
func activationCode(ctx context.Context, url, tenant, patient string, stdout io.Writer) error {
	if tenant == "" || patient == "" {
		return fmt.Errorf("%w: --tenant and --patient are required", errUsage)
	}
	pool, err := server.OpenPool(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	a := app.New(app.Config{Users: auth.NewStore(pool, auth.StoreConfig{}), Records: ehr.NewRepository(pool, ehr.WithAuthorizer(rbac.Default())), DB: pool})
	act, err := a.Activations.Issue(app.NewContext(ctx, app.Operator(tenant, app.RoleAdmisionista)), patient)
	switch {
	case errors.Is(err, ehr.ErrInvalid):
		return fmt.Errorf("%w: --patient: not a patient id (a UUID)", errUsage)
	case errors.Is(err, ehr.ErrNotFound):
		return fmt.Errorf("--patient: no patient %s in tenant %s", patient, tenant)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "activation code %s (patient %s; single use; expires %s)\nhand it to the patient: they choose a username and password at /activar\n",
		act.Code, act.PatientID, act.ExpiresAt.Format(time.RFC3339))
	return nil
}
