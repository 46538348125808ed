package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/fhirimport"
	"github.com/historiaehr/historia/refserver/internal/server"
)

const importHelp = `Usage: historia import [--tenant ID] [--workers 2] [--rejects rejects.ndjson] [--source NAME]
                       [--partial] [--dry-run] --database-url URL PATH...

Loads FHIR R4 resources into a tenant: .ndjson files (one resource a
line, any type, any order: a FHIR bulk export, Synthea's ndjson output),
.json files (a transaction, batch, collection or searchset Bundle, or one
resource) and directories (walked for both). Resources are mapped with
Historia's FHIR mapping (docs/fhir.md); references by urn:uuid, fullUrl
or Type/id are resolved within the input.

Each patient is imported with all its records in one transaction: a
failure or an interruption (Ctrl-C, kill -9) leaves nothing of the
patient being imported. A patient whose identity document is already in
the tenant is skipped whole ("already present"), so running the same
import again, or again after an interruption, creates nothing twice.
Practitioners are found by their licence, or created.

A patient with a rejected resource is rejected whole unless --partial.
Resource types Historia does not map (Organization, Claim, Immunization,
...) are counted by type and not imported. Rejected resources are written
to --rejects, one JSON line each: file, line, resourceType, id, reason,
and the elements at fault; no names or texts of the resources.

It acts as the command line's operator (user "` + app.OperatorUser + `", role
` + fhirimport.Role + `); every record it stores is audited with the action import.
See docs/import.md.

Flags:
`

// importAfterPatient, when set (by tests), is called after each patient.
var importAfterPatient func(done int)

func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flagSet("import", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), importHelp)
		fs.PrintDefaults()
	}
	var url, tenant, rejects, source string
	var workers, batch int
	var dryRun, partial bool
	databaseFlags(fs, &url)
	fs.StringVar(&tenant, "tenant", "", "tenant to import into (default: the only tenant)")
	fs.StringVar(&rejects, "rejects", "rejects.ndjson", "file the rejected resources are written to (replaced; removed when there are none)")
	fs.IntVar(&workers, "workers", 2, "batches of patients imported at once, each in its own transaction")
	fs.IntVar(&batch, "batch", 100, "patients a transaction imports (1 to 5000); an interrupted import loses the batches in flight, whole")
	fs.BoolVar(&dryRun, "dry-run", false, "parse, map and check the references of every resource; write nothing to the database")
	fs.BoolVar(&partial, "partial", false, "import a patient without its rejected resources, instead of rejecting it whole")
	fs.StringVar(&source, "source", "", "name of the source system (1-20 letters or digits): a patient without an identity document gets the document (NAME, its id)")
	// Flags may follow the paths: parse again after each path.
	var paths []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return usageErr(err)
		}
		if fs.NArg() == 0 {
			break
		}
		paths = append(paths, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if err := server.ParseFlags(fs, nil, getenv); err != nil {
		return usageErr(err)
	}
	switch {
	case len(paths) == 0:
		return fmt.Errorf("%w: historia import needs the files or directories to import", errUsage)
	case workers < 1 || workers > 64:
		return fmt.Errorf("%w: --workers must be 1 to 64", errUsage)
	case batch < 1 || batch > 5000:
		return fmt.Errorf("%w: --batch must be 1 to 5000", errUsage)
	case source != "" && !fhirimport.ValidSource(source):
		return fmt.Errorf("%w: --source must be 1-20 letters or digits, starting with a letter", errUsage)
	case !dryRun && url == "":
		return needURL(url)
	}
	opt := fhirimport.Options{Paths: paths, Workers: workers, BatchSize: batch, DryRun: dryRun, Partial: partial, Source: source,
		RejectsPath: rejects, AfterPatient: importAfterPatient}
	if !dryRun {
		pool, err := server.OpenPoolSize(ctx, url, int32(workers)+2)
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
		opt.Repo = ehr.NewRepository(pool, ehr.WithAuthorizer(fhirimport.Engine()))
		ctx = ehr.NewContext(ctx, fhirimport.Actor(tenant, app.OperatorUser, fhirimport.NewRequestID()))
	}
	f, err := os.OpenFile(rejects, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	opt.Rejects = f
	pp := newProgressPrinter(stdout)
	opt.Progress = pp.update
	sum, err := fhirimport.Run(ctx, opt)
	pp.end()
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if st, serr := os.Stat(rejects); serr == nil && st.Size() == 0 {
		_ = os.Remove(rejects)
	}
	if sum != nil {
		printSummary(stdout, sum, rejects)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return errors.New("import interrupted: the patient being imported was rolled back; run the same import again to go on")
		}
		return fmt.Errorf("import: %w", err)
	}
	return nil
}

// importTenant returns the tenant to import into: the one named, which
// must exist, or the only one of the database.
func importTenant(ctx context.Context, repo *ehr.Repository, tenant string) (string, error) {
	ts, err := repo.ListTenants(ctx)
	if err != nil {
		return "", err
	}
	if tenant != "" {
		for _, t := range ts {
			if t.ID == tenant {
				return tenant, nil
			}
		}
		return "", fmt.Errorf("%w: --tenant: no tenant %s (see: historia tenant list)", errUsage, tenant)
	}
	switch len(ts) {
	case 0:
		return "", fmt.Errorf("%w: the database has no tenant (create one: historia tenant add NAME)", errUsage)
	case 1:
		return ts[0].ID, nil
	}
	return "", fmt.Errorf("%w: the database has %d tenants: name one with --tenant (see: historia tenant list)", errUsage, len(ts))
}

// progressPrinter shows an import's progress: on a terminal one line,
// redrawn at most every 200ms; otherwise a line every 5 seconds.
type progressPrinter struct {
	w       io.Writer
	tty     bool
	every   time.Duration
	last    time.Time
	started time.Duration // elapsed when the patients began
	drawn   bool          // a terminal line is on screen
}

// importPlainEvery is how often the progress is written when stdout is
// not a terminal.
var importPlainEvery = 5 * time.Second

func newProgressPrinter(w io.Writer) *progressPrinter {
	p := &progressPrinter{w: w, every: importPlainEvery}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty, p.every = true, 200*time.Millisecond
		}
	}
	return p
}

func (p *progressPrinter) update(pr fhirimport.Progress) {
	switch pr.Phase {
	case "index":
		fmt.Fprintf(p.w, "indexed: %d patients; %d resources to import (practitioners, patients and their records)\n", pr.Patients, pr.Resources)
		return
	case "practitioners":
		p.started = pr.Elapsed
		return
	}
	now := time.Now()
	if now.Sub(p.last) < p.every && pr.PatientsDone < pr.Patients {
		return
	}
	p.last = now
	line := fmt.Sprintf("patients %d/%d  resources %d/%d", pr.PatientsDone, pr.Patients, pr.ResourcesDone, pr.Resources)
	if d := (pr.Elapsed - p.started).Seconds(); d > 0 && pr.ResourcesDone > 0 {
		rate := float64(pr.ResourcesDone) / d
		eta := time.Duration(float64(pr.Resources-pr.ResourcesDone) / rate * float64(time.Second)).Round(time.Second)
		line += fmt.Sprintf("  %.0f resources/s  ETA %s", rate, eta)
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s %s", bar(pr.ResourcesDone, pr.Resources), line)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// bar draws done of total as a bar of 24 cells and a percentage.
func bar(done, total int) string {
	const width = 24
	if total <= 0 {
		total, done = 1, 1
	}
	full := min(width, done*width/total)
	return fmt.Sprintf("[%s%s] %3d%%", strings.Repeat("#", full), strings.Repeat(".", width-full), min(100, done*100/total))
}

// end clears the terminal line before the summary.
func (p *progressPrinter) end() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// printSummary writes what the import did.
func printSummary(w io.Writer, s *fhirimport.Summary, rejects string) {
	verb := "imported"
	if s.DryRun {
		verb = "to import"
		fmt.Fprintln(w, "dry run: nothing was written to the database")
	}
	fmt.Fprintf(w, "%d files: %d patients, %d resources of the types Historia maps\n", s.Files, s.Patients, s.Resources)
	fmt.Fprintf(w, "patients: %d %s, %d already present, %d rejected\n", s.Imported, verb, s.Present, s.Rejected)
	fmt.Fprintf(w, "resources %s: %d (%s)\n", verb, s.ImportedResources(), counts(s.Records))
	if s.Skipped > 0 {
		fmt.Fprintf(w, "resources of patients already present or rejected, not imported: %d\n", s.Skipped)
	}
	if len(s.Unknown) > 0 {
		fmt.Fprintf(w, "types Historia does not map, not imported: %s\n", counts(s.Unknown))
	}
	if s.DryRun {
		fmt.Fprintf(w, "practitioners: %d, %d rejected\n", s.Practitioners, s.PractitionersRejected)
	} else {
		fmt.Fprintf(w, "practitioners: %d, %d found, %d created, %d rejected\n", s.Practitioners, s.PractitionersMatched,
			s.PractitionersCreated, s.PractitionersRejected)
	}
	if s.Rejects > 0 {
		fmt.Fprintf(w, "rejects: %d, in %s\n", s.Rejects, rejects)
	} else {
		fmt.Fprintln(w, "rejects: none")
	}
	rate := 0.0
	if sec := s.Elapsed.Seconds(); sec > 0 {
		rate = float64(s.ImportedResources()) / sec
	}
	fmt.Fprintf(w, "elapsed %s, %.0f resources/s\n", s.Elapsed.Round(time.Millisecond), rate)
}

// counts formats counts by type, by type name.
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
