package fhirimport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/fhirmap"
)

// Options configure Run.
type Options struct {
	// Paths are the inputs: .ndjson files (one resource a line), .json
	// files (a Bundle, or one resource), directories (walked for both).
	Paths []string
	// Repo is the repository the import writes through, authorized by
	// Engine(); the context of Run carries the actor (Actor). Nil for a
	// dry run.
	Repo *ehr.Repository
	// Rejects receives one JSON line per rejected resource (Reject); nil
	// discards them (they are still counted).
	Rejects io.Writer
	// RejectsPath is the rejects file, left out of the inputs.
	RejectsPath string
	// Workers is how many batches of patients are imported at once
	// (default 2): while one batch is written, another is decoded.
	Workers int
	// BatchSize is how many patients are imported in one transaction
	// (default 100; see ehr.Repository.ImportPatients). An interrupted
	// import loses at most the batches it was writing, whole.
	BatchSize int
	// DryRun parses, maps and checks the references of every resource,
	// and writes nothing (Repo is not used).
	DryRun bool
	// Partial imports a patient without those of its resources that are
	// rejected; by default one rejected resource rejects its patient
	// whole.
	Partial bool
	// Source names the system the input comes from (1-20 letters or
	// digits, starting with a letter). It identifies what the input does
	// not: a Patient without an identity document gets the document
	// (Source, its id), and a Practitioner without licence is found again
	// by (Source, its id). Without it such a Patient is rejected.
	Source string
	// Progress, when set, is called after the first pass, after the
	// practitioners and after each patient, one call at a time.
	Progress func(Progress)
	// AfterPatient, when set, is called after each patient with the
	// number of patients done (a test stops an import midway with it).
	AfterPatient func(done int)
}

// Progress is how far an import is.
type Progress struct {
	// Phase is "patients" once patients are imported; "index" and
	// "practitioners" before.
	Phase        string
	Patients     int // patients in the input
	PatientsDone int
	// Resources counts the resources the import handles: the
	// practitioners, and the patients with their records.
	Resources     int
	ResourcesDone int
	Elapsed       time.Duration
}

// Summary is what an import did.
type Summary struct {
	DryRun bool
	Files  int
	// Resources counts the resources of the types Historia maps in the
	// input; Unknown the others, by type (not imported, not rejected).
	Resources int
	Unknown   map[string]int
	// Patients in the input, and what became of them: imported (with
	// their records), already present in the tenant (skipped whole, as
	// a re-run skips those an earlier run committed), rejected.
	Patients, Imported, Present, Rejected int
	// Records counts the resources imported, by type (for a dry run,
	// those that would be).
	Records map[string]int
	// Skipped counts the records of patients already present or
	// rejected, which were not imported.
	Skipped int
	// Practitioners of the input (each once), and what became of them:
	// found in the tenant (by licence, or by the user id an earlier
	// import gave them), created, rejected.
	Practitioners, PractitionersMatched, PractitionersCreated, PractitionersRejected int
	// Rejects is the number of lines written to the rejects file.
	Rejects int
	Elapsed time.Duration
}

// ImportedResources is the number of resources imported.
func (s *Summary) ImportedResources() int {
	n := 0
	for _, c := range s.Records {
		n += c
	}
	return n
}

var sourceRE = regexp.MustCompile(`^[A-Z][A-Z0-9]{0,19}$`)

// ValidSource reports whether name can be Options.Source: 1-20 letters
// or digits, starting with a letter (a document type of ehr), in any
// case.
func ValidSource(name string) bool {
	return sourceRE.MatchString(strings.ToUpper(strings.TrimSpace(name)))
}

// importer is one run.
type importer struct {
	opt    Options
	ix     *index
	rw     *rejectWriter
	tenant string
	start  time.Time

	// practIDs are the tenant's ids of ix.practitioners ("" rejected).
	practIDs []string

	mu    sync.Mutex
	sum   Summary
	pdone int
	rdone int
}

// Run imports the resources of opt.Paths: the practitioners first, then
// each patient with its records in one transaction, opt.Workers patients
// at a time. It returns the summary, and an error when the import could
// not go on (an input that cannot be read, the database, a cancelled
// context): the patients committed until then stay, whole, and a new run
// skips them.
func Run(ctx context.Context, opt Options) (*Summary, error) {
	start := time.Now()
	if opt.Workers < 1 {
		opt.Workers = 2
	}
	if opt.BatchSize < 1 {
		opt.BatchSize = 100
	}
	opt.Source = strings.ToUpper(strings.TrimSpace(opt.Source))
	if opt.Source != "" && !sourceRE.MatchString(opt.Source) {
		return nil, fmt.Errorf("fhirimport: source %q: 1-20 letters or digits, starting with a letter", opt.Source)
	}
	im := &importer{opt: opt, start: start, rw: &rejectWriter{w: opt.Rejects}}
	if !opt.DryRun {
		if opt.Repo == nil {
			return nil, errors.New("fhirimport: no repository")
		}
		a, ok := ehr.ActorFromContext(ctx)
		if !ok {
			return nil, errors.New("fhirimport: no actor in the context")
		}
		im.tenant = a.Principal.TenantID
	}
	skip := ""
	if opt.RejectsPath != "" {
		skip, _ = filepath.Abs(opt.RejectsPath)
	}
	files, err := inputs(opt.Paths, skip)
	if err != nil {
		return nil, err
	}
	ix, err := scan(files)
	if err != nil {
		return nil, err
	}
	im.ix = ix
	im.sum = Summary{DryRun: opt.DryRun, Files: len(files), Resources: ix.resources, Unknown: ix.unknown,
		Patients: len(ix.groups), Practitioners: len(ix.practitioners), Records: map[string]int{}}
	im.rw.write(ix.rejects...)
	im.progress("index")
	err = im.practitioners(ctx)
	im.mu.Lock()
	im.rdone += len(ix.practitioners)
	im.mu.Unlock()
	if err == nil {
		im.progress("practitioners")
		err = im.patients(ctx)
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	sum := im.sum
	sum.Rejects, sum.Elapsed = im.rw.n, time.Since(start)
	if err == nil && im.rw.err != nil {
		err = fmt.Errorf("fhirimport: write rejects: %w", im.rw.err)
	}
	return &sum, err
}

// progress reports the progress of phase.
func (im *importer) progress(phase string) {
	if im.opt.Progress == nil {
		return
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	im.opt.Progress(im.snapshot(phase))
}

func (im *importer) snapshot(phase string) Progress {
	return Progress{Phase: phase, Patients: len(im.ix.groups), PatientsDone: im.pdone, Resources: im.ix.work,
		ResourcesDone: im.rdone, Elapsed: time.Since(im.start)}
}

// readAll returns the JSON of resources ids, in their order.
func (im *importer) readAll(ids []int32) ([][]byte, error) {
	out := make([][]byte, len(ids))
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ra, rb := &im.ix.res[ids[a]], &im.ix.res[ids[b]]
		return cmp.Or(cmp.Compare(ra.file, rb.file), cmp.Compare(ra.off, rb.off))
	})
	var f *os.File
	cur := int32(-1)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for _, i := range order {
		r := &im.ix.res[ids[i]]
		if r.file != cur {
			if f != nil {
				f.Close()
			}
			var err error
			if f, err = os.Open(im.ix.files[r.file].path); err != nil {
				return nil, err
			}
			cur = r.file
		}
		b := make([]byte, r.size)
		if _, err := f.ReadAt(b, r.off); err != nil {
			return nil, fmt.Errorf("%s: %w", im.ix.files[r.file].path, err)
		}
		out[i] = b
	}
	return out, nil
}

// importNamespace is the UUID namespace of the user ids the import gives
// the practitioners it creates.
var importNamespace = uuid.MustParse("0c7c7a52-5a3e-4f0e-9d0b-6a1f3f2d9e41")

// practitioners finds or creates, in the tenant, each Practitioner of the
// input, once: by licence (identifier system .../sid/license) among the
// tenant's practitioners; without licence, by the user id an earlier
// import gave it. One not found is created, linked to a user id derived
// from the tenant and its licence (or source and id), which no staff user
// has: a directory entry for the clinician of the source system, whom
// the records it names can refer to. Each is committed on its own: a
// practitioner created for a patient that then fails stays, and is found
// again by the next run.
func (im *importer) practitioners(ctx context.Context) error {
	ix := im.ix
	im.practIDs = make([]string, len(ix.practitioners))
	if len(ix.practitioners) == 0 {
		return nil
	}
	raws, err := im.readAll(ix.practitioners)
	if err != nil {
		return err
	}
	byLicense := map[string][]string{}
	byUser := map[string]string{}
	if !im.opt.DryRun {
		list, err := im.opt.Repo.ListPractitioners(ctx, false)
		if err != nil {
			return fmt.Errorf("fhirimport: list practitioners: %w", err)
		}
		for _, p := range list {
			if l := strings.TrimSpace(p.License); l != "" {
				byLicense[l] = append(byLicense[l], p.ID)
			}
			byUser[p.UserID] = p.ID
		}
	}
	for k, ri := range ix.practitioners {
		reject := func(reason string, issues []Issue) {
			rj := ix.where(ri)
			rj.Reason, rj.Issues = reason, issues
			im.rw.write(rj)
			im.sum.PractitionersRejected++
		}
		v, _, err := fhirmap.Decode("Practitioner", raws[k])
		if err != nil {
			reason, issues := explain("Practitioner", err)
			reject(reason, issues)
			continue
		}
		pr := v.(ehr.Practitioner)
		if im.opt.DryRun {
			im.practIDs[k] = fmt.Sprintf("dry-run-%d", k)
			continue
		}
		r := &ix.res[ri]
		lic := strings.TrimSpace(pr.License)
		key := "license:" + lic
		if lic == "" {
			key = "source:" + im.opt.Source + ":" + r.full + "|" + r.id
		}
		user := uuid.NewSHA1(importNamespace, []byte(im.tenant+"\x00"+key)).String()
		switch ids := byLicense[lic]; {
		case lic != "" && len(ids) > 1:
			reject("several practitioners of the tenant have its licence", []Issue{{Location: "Practitioner.identifier",
				Diagnostics: "the licence names " + strings.Join(ids, ", ")}})
			continue
		case lic != "" && len(ids) == 1:
			im.practIDs[k] = ids[0]
			im.sum.PractitionersMatched++
			continue
		case byUser[user] != "":
			im.practIDs[k] = byUser[user]
			im.sum.PractitionersMatched++
			continue
		}
		pr.UserID = user
		p, err := fhirmap.CreatePractitioner(ctx, im.opt.Repo, pr)
		if errors.Is(err, ehr.ErrConflict) {
			// Another import created it meanwhile: find it by its user.
			if id, ok := im.practitionerOfUser(ctx, user); ok {
				im.practIDs[k] = id
				im.sum.PractitionersMatched++
				continue
			}
		}
		if err != nil {
			if !dataError(err) {
				return fmt.Errorf("fhirimport: create practitioner: %w", err)
			}
			reason, issues := explain("Practitioner", err)
			reject(reason, issues)
			continue
		}
		im.practIDs[k] = p.ID
		im.sum.PractitionersCreated++
		if lic != "" {
			byLicense[lic] = []string{p.ID}
		}
		byUser[user] = p.ID
	}
	return nil
}

// practitionerOfUser returns the id of the tenant's practitioner linked to
// user.
func (im *importer) practitionerOfUser(ctx context.Context, user string) (string, bool) {
	list, err := im.opt.Repo.ListPractitioners(ctx, false)
	if err != nil {
		return "", false
	}
	for _, p := range list {
		if p.UserID == user {
			return p.ID, true
		}
	}
	return "", false
}

// patients imports the patients in batches of opt.BatchSize, in input
// order, opt.Workers batches at a time (each decoded, then written in
// one transaction). The first error that stops the import cancels the
// others: the batch each was writing is rolled back.
func (im *importer) patients(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan []int32)
	var wg sync.WaitGroup
	for range im.opt.Workers {
		wg.Go(func() {
			for batch := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if err := im.batch(ctx, batch); err != nil {
					cancel(err)
				}
			}
		})
	}
	n := int32(len(im.ix.groups))
feed:
	for g := int32(0); g < n; g += int32(im.opt.BatchSize) {
		batch := make([]int32, 0, im.opt.BatchSize)
		for k := g; k < min(n, g+int32(im.opt.BatchSize)); k++ {
			batch = append(batch, k)
		}
		select {
		case jobs <- batch:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// batch decodes the groups of batch and stores those ready.
func (im *importer) batch(ctx context.Context, batch []int32) error {
	var rs []*ready
	for _, g := range batch {
		r, err := im.prepare(g)
		if err != nil {
			return err
		}
		if r != nil {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return nil
	}
	return im.store(ctx, rs)
}
