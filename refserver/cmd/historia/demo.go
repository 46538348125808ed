package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/ehr/ehrtest/pglocal"
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

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flagSet("demo", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	password := fs.String("demo-password", "", "password of every demo user (default: random, printed)")
	patients := fs.Int("patients", 200, "number of synthetic patients")
	dataDir := fs.String("data-dir", defaultDataDir(), "directory of the demo database (reused by the next run)")
	logLevel := fs.String("log-level", "warn", "log level of the server")
	if err := server.ParseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *patients < 1 {
		return fmt.Errorf("%w: --patients must be at least 1", errUsage)
	}
	log := server.NewLogger(os.Stderr, *logLevel)
	// The packages' default loggers (auth's user store while seeding) follow
	// --log-level too, so they do not break the progress bar.
	slog.SetDefault(log)
	fmt.Fprintf(stdout, "Historia demo: starting PostgreSQL in %s\n", *dataDir)
	inst, err := pglocal.Start(ctx, pglocal.Options{Dir: *dataDir})
	if err != nil {
		return err
	}
	defer inst.Stop()
	const dbName = "historia"
	if err := createDatabase(ctx, inst.URL("postgres"), dbName); err != nil {
		return err
	}
	url := inst.URL(dbName)
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

	pwFile := filepath.Join(*dataDir, "demo-password")
	tenant, err := demo.Find(ctx, pool)
	if err != nil {
		return err
	}
	if tenant == "" {
		pw := *password
		if pw == "" {
			pw = randomPassword()
		}
		fmt.Fprintf(stdout, "Seeding %q with %d patients\n", demo.HospitalName, *patients)
		res, err := demo.Seed(ctx, pool, *patients, pw, stdout)
		if err != nil {
			return err
		}
		tenant = res.TenantID
		if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
			return err
		}
		*password = pw
	} else {
		fmt.Fprintf(stdout, "Reusing the demo hospital in %s (no re-seed)\n", *dataDir)
		if b, err := os.ReadFile(pwFile); err == nil {
			*password = strings.TrimSpace(string(b))
		}
	}

	keys, err := server.Keys("", "")
	if err != nil {
		return err
	}
	cfg := server.Config{Issuer: "historia-demo", IdleTimeout: 15 * time.Minute, ShutdownTimeout: 10 * time.Second}
	h, err := server.Handler(ctx, log, pool, keys, cfg, tenant)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nHistoria demo is running at http://%s/login\n\n", ln.Addr())
	fmt.Fprintf(stdout, "  %-14s %s\n", "user", "password")
	for _, role := range demo.Roles {
		fmt.Fprintf(stdout, "  %-14s %s\n", role, *password)
	}
	fmt.Fprintf(stdout, "  %-14s %s\n", demo.SecondMedico, *password)
	fmt.Fprintf(stdout, "\nPress Ctrl-C to stop the server and the database.\n")
	// The database may die under us (killed, disk full): stop serving then.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-inst.Done():
			fmt.Fprintln(stderr, "historia demo: PostgreSQL exited")
			cancel()
		case <-sctx.Done():
		}
	}()
	err = server.Serve(sctx, log, ln, h, nil, cfg.ShutdownTimeout)
	pool.Close()
	if stopErr := inst.Stop(); stopErr != nil && err == nil {
		err = stopErr
	}
	fmt.Fprintln(stdout, "stopped")
	return err
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
