package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/historiaehr/historia/refserver/internal/loadgen"
	"github.com/historiaehr/historia/refserver/internal/loadgen/baseline"
	"github.com/historiaehr/historia/refserver/internal/server"
)

// The load driver is a command of this binary rather than a program of
// its own: whoever runs the server has it, at the same version as the
// routes it drives, with the same flag and HISTORIA_* conventions, and
// the baseline it compares with reads the schema of the same release.

const loadHelp = `Usage: historia load --demo-password PW [--url http://127.0.0.1:8080] [-c 16] [-d 30s | -n N]
                     [--mix medico=50,admisionista=20,secretaria=20,paciente=10] [--think 0]
                     [--metrics-url http://127.0.0.1:9090/metrics [--metrics-token-file F]]
                     [--baseline-db URL [--baseline-audit]] [--markdown FILE]

Drives a running server that holds the demo hospital (historia demo, or
historia serve on a database the demo seeded) with a mix of its roles,
signed in as the demo users: the medico opens charts (JSON and page),
lists its patients and writes signed notes; the admisionista searches
patients by name and registers new ones; the secretaria reads a
practitioner's week and the front desk's page; the paciente reads their
own chart and portal page. -c virtual users loop without pause, each
request of a role picked by --mix, for -d (or -n requests in all).

It writes a progress line every few seconds to stderr, then, per
endpoint, the count, req/s, p50/p95/p99/max latency and the errors by
status, and with --metrics-url the server's memory and connection-pool
use (serve it with --metrics-addr 127.0.0.1:9090).

--baseline-db URL (the database the server serves) adds a comparison
after the mix (--mix off: the comparison alone): the medico's chart from
the server, then from a bare net/http + pgx server started here on the
same database (the same SQL, no auth, rbac, audit or templates), each
with -c users for -d. --baseline-audit adds a third run of that bare
server appending an audit event per read, into tables of its own
(baseline_audit_heads, baseline_audit_events, created if missing: drop
them afterwards).

The writes are synthetic (notes and "Carga Prueba" patients of document
type CARGA) and stay in the database. Only loopback targets are loaded
unless --allow-remote.

Flags:
`

func cmdLoad(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flagSet("load", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), loadHelp)
		fs.PrintDefaults()
	}
	cfg := loadgen.Config{}
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "the server's base URL")
	fs.StringVar(&cfg.Tenant, "tenant", "", "tenant to sign into (default: the server's default tenant)")
	fs.StringVar(&cfg.Password, "demo-password", "", "the demo users' password (historia demo --demo-password)")
	fs.Func("demo-password-file", "file holding the demo users' password", func(p string) error {
		v, err := server.ReadSecret(p)
		cfg.Password = v
		return err
	})
	fs.IntVar(&cfg.Concurrency, "c", 16, "virtual users")
	fs.DurationVar(&cfg.Duration, "d", 0, "duration of each run (default 30s unless -n)")
	fs.IntVar(&cfg.Requests, "n", 0, "requests of each run in all (instead of, or as well as, -d)")
	mix := fs.String("mix", loadgen.DefaultMix.String(), `role weights, "off" for the baseline comparison alone`)
	fs.DurationVar(&cfg.Think, "think", 0, "pause of a virtual user after each request")
	fs.StringVar(&cfg.MetricsURL, "metrics-url", "", "the server's Prometheus endpoint (serve --metrics-addr), read before, during and after")
	fs.Func("metrics-token-file", "file holding the metrics bearer token (serve --metrics-token-file)", func(p string) error {
		v, err := server.ReadSecret(p)
		cfg.MetricsToken = v
		return err
	})
	var baselineURL string
	fs.StringVar(&baselineURL, "baseline-db", "", "PostgreSQL URL of the server's database: compare its chart with a bare server's")
	audited := fs.Bool("baseline-audit", false, "with --baseline-db: also a bare server with the audit append")
	markdown := fs.String("markdown", "", `also write the report as markdown tables to this file ("-": stdout)`)
	fs.DurationVar(&cfg.ProgressEvery, "progress-every", 2*time.Second, "interval of the progress lines")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a target outside the loopback addresses")
	if err := server.ParseFlags(fs, args, getenv); err != nil {
		return usageErr(err)
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("%w: load takes no arguments (got %q)", errUsage, fs.Arg(0))
	case cfg.Password == "":
		return fmt.Errorf("%w: --demo-password (or --demo-password-file) is required", errUsage)
	case cfg.Concurrency < 1 || cfg.Requests < 0 || cfg.Duration < 0:
		return fmt.Errorf("%w: -c must be at least 1, -n and -d not negative", errUsage)
	case *audited && baselineURL == "":
		return fmt.Errorf("%w: --baseline-audit goes with --baseline-db", errUsage)
	}
	if cfg.Duration == 0 && cfg.Requests == 0 {
		cfg.Duration = 30 * time.Second
	}
	if *mix == "off" {
		if baselineURL == "" {
			return fmt.Errorf("%w: --mix off runs the baseline comparison alone: give --baseline-db", errUsage)
		}
		cfg.SkipMix = true
	} else {
		m, err := loadgen.ParseMix(*mix)
		if err != nil {
			return fmt.Errorf("%w: --mix: %v", errUsage, err)
		}
		cfg.Mix = m
	}
	if baselineURL != "" {
		pool, err := server.OpenPool(ctx, baselineURL)
		if err != nil {
			return fmt.Errorf("--baseline-db: %w", err)
		}
		defer pool.Close()
		cfg.Baseline = func(_ context.Context, tenant string) (http.Handler, error) {
			return baseline.New(pool, baseline.Options{Tenant: tenant})
		}
		if *audited {
			cfg.BaselineAudited = func(ctx context.Context, tenant string) (http.Handler, error) {
				if err := baseline.PrepareAudit(ctx, pool); err != nil {
					return nil, err
				}
				return baseline.New(pool, baseline.Options{Tenant: tenant, Audit: true})
			}
		}
	}
	cfg.Progress, cfg.Terminal = stderr, isTerminal(stderr)
	rep, err := loadgen.Run(ctx, cfg)
	if rep != nil && len(rep.Phases) > 0 {
		rep.WriteText(stdout)
		if *markdown != "" {
			if werr := writeMarkdown(*markdown, stdout, rep); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return err
}

// writeMarkdown writes the report's markdown to path ("-": w).
func writeMarkdown(path string, w io.Writer, rep *loadgen.Report) error {
	if path == "-" {
		fmt.Fprintln(w)
		rep.WriteMarkdown(w)
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	rep.WriteMarkdown(f)
	return f.Close()
}

// isTerminal reports whether w is a terminal (a character device), which
// gets one progress line rewritten in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
