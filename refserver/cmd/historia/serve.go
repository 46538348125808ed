package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/server"
)

func cmdServe(ctx context.Context, args []string, stderr io.Writer, getenv env) error {
	var cfg server.Config
	var tenant string
	fs := flagSet("serve", stderr)
	cfg.RegisterFlags(fs)
	fs.StringVar(&tenant, "tenant", "", "tenant the login form signs into (default: the only tenant)")
	if err := server.ParseFlags(fs, args, getenv); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	log := server.NewLogger(os.Stderr, cfg.LogLevel)
	pool, err := server.OpenPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := server.SchemaCurrent(ctx, pool); err != nil {
		return fmt.Errorf("%w (run: historia migrate)", err)
	}
	if tenant == "" {
		if tenant, err = server.DefaultTenant(ctx, pool); err != nil {
			return err
		}
	}
	keys, err := server.Keys(cfg.SigningKeyFile, cfg.VerifyKeyFiles)
	if err != nil {
		return err
	}
	h, err := server.Handler(ctx, log, pool, keys, cfg, tenant)
	if err != nil {
		return err
	}
	tlsCfg, err := server.LoadTLS(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", ln.Addr().String(), "tls", tlsCfg != nil)
	if cfg.MetricsAddr != "" {
		// The metrics on a listener of their own (no TLS: bind it where
		// only the scraper reaches), stopped with the server.
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics listener: %w", err)
		}
		log.Info("metrics listening", "addr", mln.Addr().String())
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", h.MetricsHandler())
		go func() {
			if err := server.Serve(ctx, log, mln, mux, nil, cfg.ShutdownTimeout); err != nil {
				log.Error("metrics listener", "error", err)
			}
		}()
	}
	return server.Serve(ctx, log, ln, h, tlsCfg, cfg.ShutdownTimeout)
}

func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("%w: historia audit verify [--patient ID] --database-url URL", errUsage)
	}
	fs := flagSet("audit verify", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: historia audit verify [--patient ID] --database-url URL

Verifies the audit hash chains: one patient's chain with --patient, else
every tenant's own chain and every patient's chain in the database. Exits
with status 1 when a chain is broken.

It acts as an operator: in each tenant, an auditor principal built from
the tenant row (user "`+app.OperatorUser+`"), so each verification is itself
recorded in that tenant's audit trail.

Flags:
`)
		fs.PrintDefaults()
	}
	var url, patient string
	databaseFlags(fs, &url)
	fs.StringVar(&patient, "patient", "", "verify only this patient's chain")
	if err := parseDatabaseFlags(fs, args[1:], getenv, &url); err != nil {
		return err
	}
	pool, err := server.OpenPool(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	return app.VerifyAudit(ctx, pool, patient, stdout)
}
