package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/citus"
	"github.com/historiaehr/historia/internal/pglocal"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/demo"
	"github.com/historiaehr/historia/refserver/internal/server"
)

// defaultDataDir is where the demo keeps its database between runs: under
// the system's temporary directory, which the unprivileged database
// account can reach when we run as root.
func defaultDataDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("historia-demo-%d", os.Getuid()))
}

func randomPassword() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

const demoHelp = `Usage: historia demo [--postgres auto|local|docker] [--data-dir DIR] [--addr 127.0.0.1:8080] [--demo-password PW] [--patients N]
       historia demo --database-url URL [--reuse] [--addr ADDR] [--demo-password PW] [--patients N]

Runs a demo hospital, "` + demo.HospitalName + `": one login per role, synthetic
patients, and the server at http://ADDR/login.

Without --database-url it starts a private PostgreSQL, seeds it on the
first run and reuses it on the next ones (--demo-password then resets the
demo accounts' password); Ctrl-C stops the server and that PostgreSQL.
--postgres says where that PostgreSQL comes from:
  - local: the installed server binaries (Debian's postgresql package),
    with the data in --data-dir;
  - docker: a container of the local image ` + demoLocalImage + `
    when present, else of the official ` + demoOfficialImage + ` (pulled), with the
    data in the Docker volume ` + defaultVolume + `, or in --data-dir when given;
    Ctrl-C removes the container, the data stays;
  - auto (the default): local when the binaries are installed, else docker
    when a Docker engine answers, else it says what to install.

With --database-url (or HISTORIA_DATABASE_URL) it uses that database
instead, such as a Citus cluster's coordinator: it migrates it, distributes
the schema when Citus is installed (as historia citus distribute does),
seeds it and serves it. Ctrl-C stops the server; the database and the demo
data stay. The demo creates accounts whose password it prints, so it only
takes a database of its own:
  - an empty database, or a migrated one without tenants: seeded;
  - one that already holds the demo hospital: refused, unless --reuse,
    which serves that hospital again without re-seeding (its password is
    the one printed when it was seeded; --demo-password resets the demo
    accounts to a new one);
  - one that holds any other tenant (a hospital in use), or tables of
    another application: always refused, with or without --reuse.
Nothing is written to a refused database.

Flags:
`

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	return runDemo(ctx, args, stdout, stderr, getenv, hostPostgres())
}

// runDemo is historia demo, looking for PostgreSQL on host.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env, host postgresHost) error {
	fs := flagSet("demo", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), demoHelp)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	password := fs.String("demo-password", "", "password of every demo user (default: random, printed)")
	patients := fs.Int("patients", 200, "number of synthetic patients")
	dataDir := fs.String("data-dir", defaultDataDir(), "directory of the private demo database (reused by the next run); with --postgres docker the default is the Docker volume "+defaultVolume+"; not with --database-url")
	pgMode := fs.String("postgres", postgresAuto, "where the private PostgreSQL comes from: auto, local (installed binaries) or docker (a container); not with --database-url")
	logLevel := fs.String("log-level", "warn", "log level of the server")
	var dbURL string
	databaseFlags(fs, &dbURL)
	requireMFA := fs.Bool("require-mfa", false, "every staff role must use a second factor (TOTP): each demo user enrols at their first login; without it the printed password logins work alone")
	reuse := fs.Bool("reuse", false, "with --database-url: serve the demo hospital an earlier run seeded there, without re-seeding")
	// ParseFlags reads the environment only for the flags not on the
	// command line: note which ones came from it.
	fromEnv := map[string]bool{}
	readEnv := func(k string) string {
		v := getenv(k)
		fromEnv[k] = v != ""
		return v
	}
	if err := server.ParseFlags(fs, args, readEnv); err != nil {
		return usageErr(err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("%w: demo takes no arguments (got %q)", errUsage, fs.Arg(0))
	case *patients < 1:
		return fmt.Errorf("%w: --patients must be at least 1", errUsage)
	case *reuse && dbURL == "":
		return fmt.Errorf("%w: --reuse goes with --database-url (the private database of --data-dir is always reused)", errUsage)
	case dbURL != "" && set["data-dir"] && !fromEnv[server.EnvName("data-dir")]:
		return fmt.Errorf("%w: --data-dir is the private PostgreSQL's; it does not go with --database-url", errUsage)
	case *pgMode != postgresAuto && *pgMode != postgresLocal && *pgMode != postgresDocker:
		return fmt.Errorf("%w: --postgres is auto, local or docker (got %q)", errUsage, *pgMode)
	case dbURL != "" && set["postgres"] && !fromEnv[server.EnvName("postgres")]:
		return fmt.Errorf("%w: --postgres is the private PostgreSQL's; it does not go with --database-url", errUsage)
	}
	// A password the accounts would refuse must stop the demo before it
	// seeds half a hospital.
	if *password != "" {
		if err := auth.CheckPassword(*password, append(demo.Users(), demo.HospitalName)...); err != nil {
			return fmt.Errorf("%w: --demo-password: %w", errUsage, err)
		}
	}
	log := server.NewLogger(os.Stderr, *logLevel)
	// The packages' default loggers (auth's user store while seeding) follow
	// --log-level too, so they do not break the progress bar.
	slog.SetDefault(log)
	d := demoRun{log: log, addr: *addr, password: *password, patients: *patients, stdout: stdout, stderr: stderr,
		requireMFA: *requireMFA}
	if dbURL != "" {
		// A URL exported for the other commands must not turn the demo
		// on a database unawares: say where it came from.
		if fromEnv[server.EnvName("database-url")] || fromEnv[server.EnvName("database-url-file")] {
			fmt.Fprintf(stdout, "Historia demo: the database comes from %s\n", server.EnvName("database-url"))
		}
		return d.onDatabase(ctx, dbURL, *reuse)
	}
	srv, err := d.startPrivate(ctx, host, *pgMode, *dataDir, set["data-dir"])
	if err != nil {
		return err
	}
	defer srv.Stop()
	return d.private(ctx, srv)
}

// demoRun is one run of historia demo.
type demoRun struct {
	log      *slog.Logger
	addr     string
	password string
	patients int
	stdout   io.Writer
	stderr   io.Writer
	// requireMFA makes every staff role use a second factor.
	requireMFA bool
}

// startPrivate starts the demo's own PostgreSQL as mode (--postgres) asks,
// with the data in dataDir, or for a container in host.volume unless
// dirGiven.
func (d demoRun) startPrivate(ctx context.Context, host postgresHost, mode, dataDir string, dirGiven bool) (privateServer, error) {
	kind, err := host.choose(ctx, mode)
	if err != nil {
		return nil, err
	}
	if kind == postgresLocal {
		fmt.Fprintf(d.stdout, "Historia demo: starting PostgreSQL in %s\n", dataDir)
		inst, err := pglocal.Start(ctx, pglocal.Options{Dir: dataDir})
		if err != nil {
			return nil, err
		}
		return localServer{Instance: inst, dir: dataDir}, nil
	}
	opts := dockerOptions{Volume: host.volume, Progress: d.stdout}
	if dirGiven {
		opts.Dir = dataDir
	}
	if mode == postgresAuto {
		fmt.Fprintln(d.stdout, "Historia demo: PostgreSQL's server binaries are not installed; running PostgreSQL in Docker")
	}
	srv, err := startDockerPostgres(ctx, opts)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(d.stdout, "Historia demo: PostgreSQL in Docker container %s (image %s), data in %s\n", srv.name, srv.Image(), srv.Where())
	return srv, nil
}

// private runs the demo on a PostgreSQL of its own, srv, and stops it.
func (d demoRun) private(ctx context.Context, srv privateServer) error {
	const dbName = "historia"
	if err := createDatabase(ctx, srv.URL("postgres"), dbName); err != nil {
		return err
	}
	url := srv.URL(dbName)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	err = server.Migrate(ctx, conn)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	pool, err := server.OpenPool(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()

	const pwFile = "demo-password"
	tenant, err := demo.Find(ctx, pool)
	if err != nil {
		return err
	}
	switch {
	case tenant == "":
		if tenant, err = d.seed(ctx, pool); err != nil {
			return err
		}
		if err := srv.WriteFile(ctx, pwFile, []byte(d.password+"\n")); err != nil {
			return err
		}
	case d.password != "":
		fmt.Fprintf(d.stdout, "Reusing the demo hospital in %s (no re-seed); demo passwords reset\n", srv.Where())
		if err := demo.ResetPasswords(ctx, pool, tenant, d.password); err != nil {
			return err
		}
		if err := srv.WriteFile(ctx, pwFile, []byte(d.password+"\n")); err != nil {
			return err
		}
	default:
		fmt.Fprintf(d.stdout, "Reusing the demo hospital in %s (no re-seed)\n", srv.Where())
		b, err := srv.ReadFile(ctx, pwFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		d.password = strings.TrimSpace(string(b))
	}
	err = d.serve(ctx, pool, tenant, "Press Ctrl-C to stop the server and the database; the data stays in "+srv.Where()+".", srv.Done())
	pool.Close()
	if stopErr := srv.Stop(); stopErr != nil && err == nil {
		err = stopErr
	}
	fmt.Fprintf(d.stdout, "stopped; the demo's data is in %s\n", srv.Where())
	return err
}

// onDatabase runs the demo on an existing database or Citus cluster. It
// surveys the database before writing anything and refuses one in use
// (see demoHelp).
func (d demoRun) onDatabase(ctx context.Context, url string, reuse bool) error {
	name := databaseName(url)
	conn, err := connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	s, err := demo.SurveyDatabase(ctx, conn)
	if err != nil {
		return err
	}
	switch {
	case s.OtherTenants > 0:
		return fmt.Errorf("demo: database %s holds %d tenant(s) besides the demo hospital: it is in use, and the demo never seeds or serves a database in use, even with --reuse; give it an empty database of its own", name, s.OtherTenants)
	case s.Tables > 0:
		return fmt.Errorf("demo: database %s holds %d table(s) but no Historia schema: it belongs to another application; give the demo an empty database of its own", name, s.Tables)
	case s.DemoTenants > 0 && !reuse:
		return fmt.Errorf("demo: database %s already holds the demo hospital from an earlier run: run with --reuse to serve it again without re-seeding, or give an empty database; nothing was changed", name)
	}
	fmt.Fprintf(d.stdout, "Historia demo: using database %s\n", name)
	if err := server.Migrate(ctx, conn); err != nil {
		return err
	}
	info, err := citus.Detect(ctx, conn)
	if err != nil {
		return err
	}
	if info.Installed {
		fmt.Fprintf(d.stdout, "Citus %s: distributing the schema\n", info.Version)
		if err := distribute(ctx, conn, d.stdout, d.stderr); err != nil {
			return err
		}
	}
	conn.Close(context.WithoutCancel(ctx))
	pool, err := server.OpenPool(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	tenant, err := demo.Find(ctx, pool)
	if err != nil {
		return err
	}
	switch {
	case tenant == "":
		if tenant, err = d.seed(ctx, pool); err != nil {
			return err
		}
	case d.password != "":
		fmt.Fprintf(d.stdout, "Reusing the demo hospital in %s (no re-seed); demo passwords reset\n", name)
		if err := demo.ResetPasswords(ctx, pool, tenant, d.password); err != nil {
			return err
		}
	default:
		fmt.Fprintf(d.stdout, "Reusing the demo hospital in %s (no re-seed)\n", name)
	}
	err = d.serve(ctx, pool, tenant, "Press Ctrl-C to stop the server; the database and the demo hospital stay (serve them again with --reuse).", nil)
	fmt.Fprintln(d.stdout, "stopped")
	return err
}

// seed seeds the demo hospital with d.password (a random one when empty,
// kept in d.password) and returns its tenant.
func (d *demoRun) seed(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	if d.password == "" {
		d.password = randomPassword()
	}
	fmt.Fprintf(d.stdout, "Seeding %q with %d patients\n", demo.HospitalName, d.patients)
	res, err := demo.Seed(ctx, pool, d.patients, d.password, d.stdout)
	if err != nil {
		return "", err
	}
	return res.TenantID, nil
}

// serve serves the demo hospital until ctx ends or dbDone closes, after
// printing the logins (d.password empty: the password is the one printed
// when the database was seeded).
func (d demoRun) serve(ctx context.Context, pool *pgxpool.Pool, tenant, stopNote string, dbDone <-chan struct{}) error {
	keys, err := server.Keys("", "")
	if err != nil {
		return err
	}
	cfg := server.Config{Issuer: "historia-demo", IdleTimeout: 15 * time.Minute, ShutdownTimeout: 10 * time.Second}
	if d.requireMFA {
		cfg.MFARoles = []string{app.RoleMedico, app.RoleAdmisionista, app.RoleSecretaria, app.RoleAdmin, app.RoleAuditor}
	}
	h, err := server.Handler(ctx, d.log, pool, keys, cfg, tenant)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", d.addr)
	if err != nil {
		return err
	}
	pw := d.password
	if pw == "" {
		pw = "(the one printed when this demo was seeded; --demo-password resets it)"
	}
	fmt.Fprintf(d.stdout, "\nHistoria demo is running at http://%s/login\n\n", ln.Addr())
	fmt.Fprintf(d.stdout, "  %-14s %s\n", "user", "password")
	for _, user := range demo.Users() {
		fmt.Fprintf(d.stdout, "  %-14s %s\n", user, pw)
	}
	fmt.Fprintf(d.stdout, "\nFHIR R4: http://%s/fhir/R4/metadata (bearer token from POST /auth, see README.md)\n", ln.Addr())
	if d.requireMFA {
		fmt.Fprintf(d.stdout, "\nA second factor is required (--require-mfa): each staff user enrols an authenticator app at their first login.\n")
	}
	fmt.Fprintf(d.stdout, "\n%s\n", stopNote)
	// The database may die under us (killed, disk full): stop serving then.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-dbDone:
			fmt.Fprintln(d.stderr, "historia demo: PostgreSQL exited")
			cancel()
		case <-sctx.Done():
		}
	}()
	return server.Serve(sctx, d.log, ln, h, nil, cfg.ShutdownTimeout)
}

// databaseName names a database for messages as host:port/dbname: never
// the user or the password of the URL.
func databaseName(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "(unparsable URL)"
	}
	return fmt.Sprintf("%s/%s", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), cfg.Database)
}

// createDatabase creates database name unless it exists.
func createDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var already interface{ SQLState() string }
	if errors.As(err, &already) && already.SQLState() == "42P04" {
		return nil
	}
	return err
}
