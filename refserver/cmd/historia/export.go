package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/bulkexport"
	"github.com/historiaehr/historia/refserver/internal/server"
)

const exportHelp = `Usage: historia export [--tenant ID] [--since INSTANT] [--type T,T] --out DIR --database-url URL

Writes the patients of a tenant as FHIR R4 ndjson files in DIR, one file
per resource type (Patient.ndjson, Observation.ndjson, ...), the files of
a FHIR Bulk Data $export: the same writer as the server's $export, and
input for historia import. Every practitioner of the tenant is written,
then each patient with every record of its chart. DIR is created if it
does not exist; files of the same names are replaced.

--since keeps the records changed at or after an instant (RFC 3339, with
a time zone); the summary prints the transaction time to pass as --since
next time. --type keeps the resource types named (comma-separated).

The export reads patient by patient (memory stays flat whatever the
size of the tenant). Each patient's chart read is audited on that
patient's chain with the action export, so the patient's access log
shows it. It acts as the command line's operator (user "` + app.OperatorUser + `", role
` + bulkexport.Role + `), allowed to read and nothing else. Progress goes to stderr.
See docs/export.md.

Flags:
`

func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flagSet("export", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), exportHelp)
		fs.PrintDefaults()
	}
	var url, tenant, out, since, types string
	databaseFlags(fs, &url)
	fs.StringVar(&tenant, "tenant", "", "tenant to export (default: the only tenant)")
	fs.StringVar(&out, "out", "", "directory to write the ndjson files to")
	fs.StringVar(&since, "since", "", "only the records changed at or after this instant (RFC 3339, e.g. 2024-05-01T00:00:00Z)")
	fs.StringVar(&types, "type", "", "only these resource types (comma-separated, e.g. Patient,Observation)")
	if err := server.ParseFlags(fs, args, getenv); err != nil {
		return usageErr(err)
	}
	opt := bulkexport.Options{Dir: out}
	var err error
	if since != "" {
		if opt.Since, err = time.Parse(time.RFC3339Nano, since); err != nil {
			return fmt.Errorf("%w: --since must be an instant with a time zone (2024-05-01T00:00:00Z)", errUsage)
		}
	}
	for _, t := range strings.Split(types, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if !bulkexport.ValidType(t) {
			return fmt.Errorf("%w: --type: %q is not a resource type Historia exports", errUsage, t)
		}
		opt.Types = append(opt.Types, t)
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("%w: historia export takes no arguments (got %q): the directory is --out", errUsage, fs.Arg(0))
	case out == "":
		return fmt.Errorf("%w: historia export needs --out DIR", errUsage)
	case url == "":
		return needURL(url)
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return err
	}
	pool, err := server.OpenPoolSize(ctx, url, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := server.SchemaCurrent(ctx, pool); err != nil {
		return fmt.Errorf("%w (run: historia migrate)", err)
	}
	if tenant, err = importTenant(ctx, ehr.NewRepository(pool), tenant); err != nil {
		return err
	}
	opt.Repo = ehr.NewRepository(pool, ehr.WithAuthorizer(bulkexport.Engine()))
	opt.AllPractitioners = true
	ctx = ehr.NewContext(ctx, bulkexport.Actor(tenant, app.OperatorUser, bulkexport.NewRequestID()))
	pp := newExportProgress(stderr)
	opt.Progress = pp.update
	res, err := bulkexport.Run(ctx, opt)
	pp.end()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return errors.New("export interrupted: the files in --out are incomplete; run the export again")
		}
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(stdout, "exported %d patients (%d skipped), %d resources to %s\n", res.Patients-res.Skipped, res.Skipped, res.Resources, out)
	for _, f := range res.Output {
		fmt.Fprintf(stdout, "  %-20s %8d  %s\n", f.Type, f.Count, f.Name)
	}
	for _, f := range res.Errors {
		fmt.Fprintf(stdout, "  %-20s %8d  %s (patients skipped or read in part)\n", f.Type, f.Count, f.Name)
	}
	fmt.Fprintf(stdout, "transaction time %s (pass it as --since to export what changes from now on)\n", res.TransactionTime.Format(time.RFC3339Nano))
	return nil
}

// exportProgress shows an export's progress on stderr: on a terminal one
// line redrawn at most every 200ms, otherwise a line every 5 seconds.
type exportProgress struct {
	w       io.Writer
	tty     bool
	every   time.Duration
	start   time.Time
	last    time.Time
	drawn   bool
	printed bulkexport.Progress
}

func newExportProgress(w io.Writer) *exportProgress {
	p := &exportProgress{w: w, every: importPlainEvery, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty, p.every = true, 200*time.Millisecond
		}
	}
	return p
}

func (p *exportProgress) update(pr bulkexport.Progress) {
	now := time.Now()
	if now.Sub(p.last) < p.every {
		return
	}
	p.last, p.printed = now, pr
	line := fmt.Sprintf("patients %d (skipped %d)  resources %d", pr.Patients, pr.Skipped, pr.Resources)
	if d := now.Sub(p.start).Seconds(); d > 0 {
		line += fmt.Sprintf("  %.0f resources/s", float64(pr.Resources)/d)
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, line)
}

func (p *exportProgress) end() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
