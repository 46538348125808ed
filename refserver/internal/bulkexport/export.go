package bulkexport

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/fhirmap"
)

// ErrorFile is the name of the file of OperationOutcomes (the manifest's
// "error" entry).
const ErrorFile = "error.ndjson"

// pageSize is the number of patients a listing page names.
const pageSize = 200

// Lister names the patients to export: it calls page with successive
// batches of patient ids until there are no more (or page fails, whose
// error it returns).
type Lister func(ctx context.Context, page func(ids []string) error) error

// TenantPatients lists every patient of the actor's tenant (but those
// entered in error) in keyset pages of repo.SearchPatients: one audited
// tenant-wide search per page of 200 patients.
func TenantPatients(repo *ehr.Repository) Lister {
	return func(ctx context.Context, page func(ids []string) error) error {
		ids := make([]string, 0, pageSize)
		for cursor := ""; ; {
			p, err := repo.SearchPatients(ctx, ehr.PatientQuery{Limit: pageSize, Cursor: cursor})
			if err != nil {
				return fmt.Errorf("bulkexport: list patients: %w", err)
			}
			ids = ids[:0]
			for _, pt := range p.Patients {
				ids = append(ids, pt.ID)
			}
			if len(ids) > 0 {
				if err := page(ids); err != nil {
					return err
				}
			}
			if p.Next == "" {
				return nil
			}
			cursor = p.Next
		}
	}
}

// FixedPatients lists the patients ids (a group), in pages.
func FixedPatients(ids []string) Lister {
	return func(ctx context.Context, page func(ids []string) error) error {
		for c := range slices.Chunk(ids, pageSize) {
			if err := page(c); err != nil {
				return err
			}
		}
		return nil
	}
}

// Options configure Run.
type Options struct {
	// Repo reads the records, as the context's actor.
	Repo *ehr.Repository
	// Dir is the directory the files are written to; it must exist.
	// Files of the same names are replaced.
	Dir string
	// Types are the resource types to write (names of fhirmap.Types);
	// empty writes every type.
	Types []string
	// Since, when not zero, keeps the records changed at or after it.
	Since time.Time
	// Patients names the patients to export; nil is TenantPatients(Repo).
	Patients Lister
	// AllPractitioners writes every practitioner of the tenant changed
	// since Since (a system-level export), not only those the written
	// records name.
	AllPractitioners bool
	// Progress, when set, is called after each patient.
	Progress func(Progress)
	// Now is the clock of the transaction time; nil is time.Now.
	Now func() time.Time
}

// Progress is how far an export is.
type Progress struct {
	// Patients is the number of patients read so far, Skipped the number
	// of those not exported (refused, or gone since the listing).
	Patients, Skipped int
	// Resources is the number of resources written so far.
	Resources int
}

// File is one output file of an export: the resource type of its lines,
// its name in Options.Dir and its number of lines.
type File struct {
	Type  string `json:"type"`
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// Result is what an export wrote.
type Result struct {
	// TransactionTime is the instant the export started: it holds the
	// records changed before it (and at or after Since).
	TransactionTime time.Time
	// Output are the files written, one per type with at least one
	// resource, in the order of fhirmap.Types.
	Output []File
	// Errors is the file of OperationOutcomes (ErrorFile), when there is
	// one.
	Errors []File
	Progress
}

// ValidType reports whether name is a resource type the export writes.
func ValidType(name string) bool { return fhirmap.Index(name) >= 0 }

// ErrInvalidType is returned by Run for a type Historia does not map.
var ErrInvalidType = errors.New("bulkexport: not a resource type Historia exports")

// file is one ndjson file being written.
type file struct {
	name string
	f    *os.File
	w    *bufio.Writer
	n    int
}

// writer appends lines to the files of one export.
type writer struct {
	dir   string
	files map[string]*file
}

func (w *writer) line(typ, name string, b []byte) error {
	fl := w.files[typ]
	if fl == nil {
		f, err := os.OpenFile(filepath.Join(w.dir, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("bulkexport: %w", err)
		}
		fl = &file{name: name, f: f, w: bufio.NewWriterSize(f, 64<<10)}
		w.files[typ] = fl
	}
	if slices.Contains(b, '\n') {
		// Encoders write compact JSON; a line break would split a
		// resource in two lines.
		return fmt.Errorf("bulkexport: %s resource is not on one line", typ)
	}
	fl.w.Write(b)
	if err := fl.w.WriteByte('\n'); err != nil {
		return fmt.Errorf("bulkexport: write %s: %w", name, err)
	}
	fl.n++
	return nil
}

// close flushes, syncs and closes every file; the first error wins.
func (w *writer) close() error {
	var errs []error
	for _, fl := range w.files {
		if err := fl.w.Flush(); err != nil {
			errs = append(errs, err)
		}
		if err := fl.f.Sync(); err != nil {
			errs = append(errs, err)
		}
		if err := fl.f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bulkexport: %w", err)
	}
	return nil
}

// Run exports the patients opt.Patients names, as the context's actor, to
// ndjson files in opt.Dir (see the package documentation). The actor's
// reads are audited with the action ehr.AuditActionExport.
//
// It returns ErrInvalidType for a type Historia does not map, the
// listing's error (an error wrapping ehr.ErrDenied when the actor may not
// search the tenant's patients), a database or file error, or the
// context's error when it is cancelled; the files written so far are
// then left in opt.Dir for the caller to remove.
func Run(ctx context.Context, opt Options) (*Result, error) {
	want := map[string]bool{}
	for _, t := range opt.Types {
		if !ValidType(t) {
			return nil, fmt.Errorf("%w: %q", ErrInvalidType, t)
		}
		want[t] = true
	}
	if len(want) == 0 {
		for _, t := range fhirmap.Types {
			want[t] = true
		}
	}
	actor, ok := ehr.ActorFromContext(ctx)
	if !ok {
		return nil, fmt.Errorf("bulkexport: no actor in context: %w", ehr.ErrDenied)
	}
	actor.Export = true
	ctx = ehr.NewContext(ctx, actor)
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	list := opt.Patients
	if list == nil {
		list = TenantPatients(opt.Repo)
	}
	res := &Result{TransactionTime: now().UTC().Truncate(time.Microsecond)}
	x := &exporter{repo: opt.Repo, want: want, since: opt.Since, until: res.TransactionTime, res: res,
		w: &writer{dir: opt.Dir, files: map[string]*file{}}, practitioners: map[string]bool{}}
	var err error
	if opt.AllPractitioners && want["Practitioner"] {
		err = x.allPractitioners(ctx)
	}
	if err == nil {
		err = list(ctx, func(ids []string) error {
			for _, id := range ids {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := x.patient(ctx, id); err != nil {
					return err
				}
				if opt.Progress != nil {
					opt.Progress(res.Progress)
				}
			}
			return nil
		})
	}
	if cerr := x.w.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	for _, t := range fhirmap.Types {
		if fl := x.w.files[t]; fl != nil {
			res.Output = append(res.Output, File{Type: t, Name: fl.name, Count: fl.n})
		}
	}
	if fl := x.w.files["OperationOutcome"]; fl != nil {
		res.Errors = append(res.Errors, File{Type: "OperationOutcome", Name: fl.name, Count: fl.n})
	}
	return res, nil
}

// exporter is one run of Run.
type exporter struct {
	repo         *ehr.Repository
	want         map[string]bool
	since, until time.Time
	res          *Result
	w            *writer
	// practitioners are the ids of the practitioners written (or found
	// missing): each is written once.
	practitioners map[string]bool
}

// allPractitioners writes the tenant's practitioners changed in [since,
// until] (the staff directory: read, not audited, by any user of the
// tenant).
func (x *exporter) allPractitioners(ctx context.Context) error {
	ps, err := x.repo.ListPractitioners(ctx, false)
	if err != nil {
		return fmt.Errorf("bulkexport: list practitioners: %w", err)
	}
	for _, p := range ps {
		if !x.since.IsZero() && p.UpdatedAt.Before(x.since) || p.UpdatedAt.After(x.until) {
			continue
		}
		x.practitioners[p.ID] = true
		if err := x.encoded("Practitioner", func() ([]byte, error) { return r4.EncodePractitioner(p) }); err != nil {
			return err
		}
	}
	return nil
}

// patient exports one patient: one audited chart read.
func (x *exporter) patient(ctx context.Context, id string) error {
	x.res.Patients++
	ch, err := x.repo.Chart(ctx, id)
	switch {
	case errors.Is(err, ehr.ErrDenied):
		x.res.Skipped++
		return x.outcome("error", "forbidden", "Patient/"+id+": the policy does not let the caller read this patient's record; not exported")
	case errors.Is(err, ehr.ErrNotFound):
		// Gone since the listing (another tenant's ids are never listed).
		x.res.Skipped++
		return x.outcome("warning", "not-found", "Patient/"+id+": not found when read; not exported")
	case err != nil:
		return fmt.Errorf("bulkexport: patient %s: %w", id, err)
	}
	if len(ch.Withheld) > 0 {
		var names []string
		for _, k := range ch.Withheld {
			n := typeOfKind(k)
			if k == rbac.KindContact && x.want["Patient"] {
				n = "Patient.telecom, Patient.address, Patient.contact"
			} else if n == "" || !x.want[n] {
				continue
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		if len(names) > 0 {
			if err := x.outcome("information", "suppressed", "Patient/"+id+": not included: the policy does not let the caller read "+
				strings.Join(names, ", ")+" of this patient"); err != nil {
				return err
			}
		}
	}
	if err := x.record(ctx, "Patient", ch.Patient.UpdatedAt, "", func() ([]byte, error) { return r4.EncodePatient(ch.Patient) }); err != nil {
		return err
	}
	for _, e := range ch.Encounters {
		if err := x.record(ctx, "Encounter", e.UpdatedAt, e.PractitionerID, func() ([]byte, error) { return r4.EncodeEncounter(e) }); err != nil {
			return err
		}
	}
	for _, a := range ch.Appointments {
		if err := x.record(ctx, "Appointment", a.UpdatedAt, a.PractitionerID, func() ([]byte, error) { return r4.EncodeAppointment(a) }); err != nil {
			return err
		}
	}
	for _, m := range ch.CareTeam {
		if err := x.record(ctx, "CareTeam", m.UpdatedAt, m.PractitionerID, func() ([]byte, error) { return r4.EncodeCareTeam(m) }); err != nil {
			return err
		}
	}
	for _, c := range ch.Conditions {
		if err := x.record(ctx, "Condition", c.UpdatedAt, "", func() ([]byte, error) { return r4.EncodeCondition(c) }); err != nil {
			return err
		}
	}
	for _, a := range ch.Allergies {
		if err := x.record(ctx, "AllergyIntolerance", a.UpdatedAt, "", func() ([]byte, error) { return r4.EncodeAllergy(a) }); err != nil {
			return err
		}
	}
	for _, m := range ch.Medications {
		if err := x.record(ctx, "MedicationRequest", m.UpdatedAt, "", func() ([]byte, error) { return r4.EncodeMedication(m) }); err != nil {
			return err
		}
	}
	for _, o := range ch.Observations {
		if err := x.record(ctx, "Observation", o.UpdatedAt, "", func() ([]byte, error) { return r4.EncodeObservation(o) }); err != nil {
			return err
		}
	}
	for _, n := range ch.Notes {
		if err := x.record(ctx, "DocumentReference", n.UpdatedAt, "", func() ([]byte, error) { return r4.EncodeNote(n) }); err != nil {
			return err
		}
	}
	return nil
}

// record writes one record of type typ changed at updated, when the type
// is wanted and the change is in [since, until]; and, before it, the
// practitioner it names (practitioner, "" for none).
func (x *exporter) record(ctx context.Context, typ string, updated time.Time, practitioner string, encode func() ([]byte, error)) error {
	if !x.want[typ] || !x.since.IsZero() && updated.Before(x.since) || updated.After(x.until) {
		return nil
	}
	if practitioner != "" && x.want["Practitioner"] && !x.practitioners[practitioner] {
		x.practitioners[practitioner] = true
		p, err := x.repo.GetPractitioner(ctx, practitioner)
		switch {
		case errors.Is(err, ehr.ErrNotFound):
		case err != nil:
			return fmt.Errorf("bulkexport: practitioner %s: %w", practitioner, err)
		default:
			if err := x.encoded("Practitioner", func() ([]byte, error) { return r4.EncodePractitioner(p) }); err != nil {
				return err
			}
		}
	}
	return x.encoded(typ, encode)
}

func (x *exporter) encoded(typ string, encode func() ([]byte, error)) error {
	b, err := encode()
	if err != nil {
		return fmt.Errorf("bulkexport: encode %s: %w", typ, err)
	}
	if err := x.w.line(typ, typ+".ndjson", b); err != nil {
		return err
	}
	x.res.Resources++
	return nil
}

// outcome appends an OperationOutcome of one issue to the error file.
func (x *exporter) outcome(severity, code, diagnostics string) error {
	type issue struct {
		Severity    string `json:"severity"`
		Code        string `json:"code"`
		Diagnostics string `json:"diagnostics"`
	}
	b, err := json.Marshal(struct {
		ResourceType string  `json:"resourceType"`
		Issue        []issue `json:"issue"`
	}{"OperationOutcome", []issue{{severity, code, diagnostics}}})
	if err != nil {
		return err
	}
	return x.w.line("OperationOutcome", ErrorFile, b)
}

// typeOfKind is the resource type of the records of an ehr kind ("" for
// none: the contact is part of Patient).
func typeOfKind(k rbac.Kind) string {
	switch k {
	case rbac.KindEncounter, rbac.KindAdmission:
		return "Encounter"
	case rbac.KindAppointment:
		return "Appointment"
	case rbac.KindCareTeam:
		return "CareTeam"
	case rbac.KindNote:
		return "DocumentReference"
	case rbac.KindCondition:
		return "Condition"
	case rbac.KindAllergy:
		return "AllergyIntolerance"
	case rbac.KindMedication:
		return "MedicationRequest"
	case rbac.KindObservation:
		return "Observation"
	}
	return ""
}
