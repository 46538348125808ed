package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/server"
)

// cmdHealthcheck asks a running server whether it is alive: the
// container image's HEALTHCHECK, which has no shell or curl to do it.
// It exits 0 on a 2xx answer, 1 otherwise.
func cmdHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flagSet("healthcheck", stderr)
	url := fs.String("url", "http://127.0.0.1:8080/healthz", "URL to probe (/healthz for liveness, /readyz for readiness)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := server.ParseFlags(fs, args, getenv); err != nil {
		return usageErr(err)
	}
	if !strings.HasPrefix(*url, "http://") && !strings.HasPrefix(*url, "https://") {
		return fmt.Errorf("%w: --url must be an http:// or https:// URL", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("%w: --url: %v", errUsage, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("healthcheck: %s answered %s", *url, resp.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// cmdTenant adds and lists tenants (hospitals, clinics): the first step of
// a new deployment, before `historia user add --tenant ID`.
func cmdTenant(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "list") {
		fmt.Fprintln(stderr, "usage: historia tenant add --database-url URL NAME\n       historia tenant list --database-url URL")
		return fmt.Errorf("%w: tenant needs add or list", errUsage)
	}
	sub := args[0]
	fs := flagSet("tenant "+sub, stderr)
	var url string
	databaseFlags(fs, &url)
	if err := parseDatabaseFlags(fs, args[1:], getenv, &url); err != nil {
		return err
	}
	name := strings.TrimSpace(strings.Join(fs.Args(), " "))
	switch {
	case sub == "add" && name == "":
		return fmt.Errorf("%w: tenant add needs the tenant's name", errUsage)
	case sub == "list" && name != "":
		return fmt.Errorf("%w: tenant list takes no arguments", errUsage)
	}
	conn, err := connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := server.SchemaCurrent(ctx, conn); err != nil {
		return fmt.Errorf("%w (run: historia migrate)", err)
	}
	repo := ehr.NewRepository(conn)
	if sub == "add" {
		t, err := repo.CreateTenant(ctx, name)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, t.ID)
		return nil
	}
	ts, err := repo.ListTenants(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tCREATED")
	for _, t := range ts {
		fmt.Fprintf(w, "%s\t%s\t%s\n", t.ID, t.Name, t.CreatedAt.UTC().Format(time.RFC3339))
	}
	return w.Flush()
}

// usageErr turns a flag parsing error into a usage error (exit status 2),
// leaving -h alone.
func usageErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w: %v", errUsage, err)
}
