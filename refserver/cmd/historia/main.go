// Command historia is the reference server of Historia, an open electronic
// health record.
//
//	historia demo                      # a private PostgreSQL, a demo hospital, one login per role
//	historia demo --database-url URL   # the demo in an empty database or Citus cluster
//	historia serve --database-url URL  # serve the pages and the API
//	historia migrate --database-url URL
//	historia user add|disable|reset-password ...
//	historia audit verify [--patient ID]
//	historia citus distribute|status --database-url URL
//	historia citus rebalance|move|isolate ... --database-url URL
//	historia tenant add|list --database-url URL
//	historia import --database-url URL PATH...   # FHIR R4 ndjson files and Bundles into a tenant
//	historia export --database-url URL --out DIR # a tenant as FHIR R4 ndjson files (bulk export)
//	historia healthcheck [--url URL]   # for container health checks
//	historia load --demo-password PW   # drive a demo server with a role mix, report latencies
//
// Every flag can also be set with a HISTORIA_* environment variable
// (--database-url is HISTORIA_DATABASE_URL); secrets can come from files
// (--database-url-file, --signing-key-file).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `historia — open electronic health record, reference server

Usage:
  historia demo [--postgres auto|local|docker] [--addr 127.0.0.1:8080] [--demo-password PW] [--patients N] [--data-dir DIR] [--require-mfa]
  historia demo --database-url URL [--reuse] [--addr ADDR] [--demo-password PW] [--patients N]
  historia serve --database-url URL [--addr ADDR] [--signing-key-file F] [--tls-cert F --tls-key F]
                 [--metrics-addr ADDR | --metrics-token-file F] [--mfa-roles R,R] [--public-origin URL]
  historia migrate --database-url URL
  historia user add --tenant T --username U --role R [--name N] (staff; password from --password-file or stdin)
  historia user activation-code --tenant T --patient ID   (a patient's one-time code to activate their portal account)
  historia user disable --tenant T --username U
  historia user reset-password --tenant T --username U
  historia audit verify [--patient ID] --database-url URL
  historia audit verify --file EXPORT.ndjson              (offline, from an export)
  historia audit export --fhir [--patient ID] [--out FILE] --database-url URL
  historia import [--tenant T] [--workers 2] [--rejects F] [--source NAME] [--partial] [--dry-run] --database-url URL PATH...
                (FHIR R4 .ndjson files and Bundles, a bulk export or Synthea's output, into a tenant)
  historia export [--tenant T] [--since INSTANT] [--type T,T] --out DIR --database-url URL
                (a tenant as FHIR R4 ndjson files, one per resource type: input for historia import)
  historia citus distribute|status --database-url URL
  historia citus rebalance [--mode MODE] [--interval 1s] --database-url URL
  historia citus move --table T --value V --to HOST:PORT [--mode MODE] --database-url URL
  historia citus isolate --table T --value V [--mode MODE] --database-url URL
  historia load --demo-password PW [--url URL] [-c 16] [-d 30s | -n N] [--mix R=W,...] [--metrics-url URL]
                [--baseline-db URL [--baseline-audit]] [--markdown FILE]   (load test of a demo server)

MODE is the shard transfer mode: auto (the default), force_logical or block_writes.
Every flag may be set by an environment variable: --database-url is HISTORIA_DATABASE_URL.
Run "historia <command> -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "historia:", err)
		}
		os.Exit(exitCode(err))
	}
}

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// env is how commands read the environment (os.Getenv, or a map in tests).
type env func(string) string

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stderr, getenv)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr, getenv)
	case "migrate":
		return cmdMigrate(ctx, rest, stdout, stderr, getenv)
	case "user":
		return cmdUser(ctx, rest, stdin, stdout, stderr, getenv)
	case "audit":
		return cmdAudit(ctx, rest, stdout, stderr, getenv)
	case "import":
		return cmdImport(ctx, rest, stdout, stderr, getenv)
	case "export":
		return cmdExport(ctx, rest, stdout, stderr, getenv)
	case "citus":
		return cmdCitus(ctx, rest, stdout, stderr, getenv)
	case "tenant":
		return cmdTenant(ctx, rest, stdout, stderr, getenv)
	case "healthcheck":
		return cmdHealthcheck(ctx, rest, stdout, stderr, getenv)
	case "load":
		return cmdLoad(ctx, rest, stdout, stderr, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}
