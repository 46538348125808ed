package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

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
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		return fmt.Errorf("%w: historia audit verify [--patient ID] --database-url URL | audit verify --file F | audit export --fhir [--patient ID] [--out F] --database-url URL", errUsage)
	}
	if args[0] == "export" {
		return cmdAuditExport(ctx, args[1:], stdout, stderr, getenv)
	}
	// verify --file: an export, checked with no database.
	for _, a := range args[1:] {
		if a == "--file" || a == "-file" || strings.HasPrefix(a, "--file=") || strings.HasPrefix(a, "-file=") {
			return cmdAuditVerifyFile(args[1:], stdout, stderr)
		}
	}
	fs := flagSet("audit verify", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: historia audit verify [--patient ID] --database-url URL
       historia audit verify --file EXPORT.ndjson

Verifies the audit hash chains: one patient's chain with --patient, else
every tenant's own chains (all its lanes) and every patient's chain in the
database; with --file, every chain of an export made by "historia audit
export --fhir", recomputed from the file alone (no database). Exits with
status 1 when a chain is broken.

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

// cmdAuditVerifyFile is "historia audit verify --file F".
func cmdAuditVerifyFile(args []string, stdout, stderr io.Writer) error {
	fs := flagSet("audit verify", stderr)
	var file string
	fs.StringVar(&file, "file", "", "an export of historia audit export --fhir (ndjson)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if file == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: historia audit verify --file EXPORT.ndjson (no other flag)", errUsage)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	return app.VerifyAuditFile(f, stdout)
}

// cmdAuditExport is "historia audit export --fhir".
func cmdAuditExport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flagSet("audit export", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: historia audit export --fhir [--patient ID] [--out FILE] --database-url URL

Writes the audit trail as FHIR R4 AuditEvents, one JSON resource a line
(ndjson): one patient's chain with --patient, else every event of every
tenant, those of every lane of its own chains included. Each event carries
its chain id, sequence number and hashes, so "historia audit verify --file
FILE" recomputes every chain from the export alone, on a machine without
the database. The export reads as an operator auditor (user
"`+app.OperatorUser+`") and is itself recorded on each tenant's chain.

Flags:
`)
		fs.PrintDefaults()
	}
	var url, patient, out string
	var asFHIR bool
	databaseFlags(fs, &url)
	fs.BoolVar(&asFHIR, "fhir", false, "FHIR R4 AuditEvent ndjson (the only format)")
	fs.StringVar(&patient, "patient", "", "export only this patient's chain")
	fs.StringVar(&out, "out", "", "file to write (default: standard output); it must not exist")
	if err := parseDatabaseFlags(fs, args, getenv, &url); err != nil {
		return err
	}
	if !asFHIR {
		return fmt.Errorf("%w: audit export needs --fhir (the only format)", errUsage)
	}
	w := stdout
	if out != "" {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	pool, err := server.OpenPool(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	bw := bufio.NewWriter(w)
	n, err := app.ExportAudit(ctx, pool, patient, bw)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	if out != "" {
		fmt.Fprintf(stdout, "exported %d audit events to %s\n", n, out)
	}
	return nil
}
