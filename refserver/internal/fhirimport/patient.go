package fhirimport

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
	"github.com/historiaehr/historia/refserver/internal/fhirmap"
)

// A patient's records are decoded before its transaction, with their
// references to the patient and to its encounters rewritten to
// placeholders (the ids are ehr's, known once each is stored): an
// encounter is keyed by its placeholder, which ehr.ImportPatients maps
// to the id it gives it.
const phPatient = "import-patient"

func phEncounter(ri int32) string { return "import-encounter-" + strconv.Itoa(int(ri)) }

// prepared is one decoded record of a patient.
type prepared struct {
	ri    int32
	typ   string
	rec   any
	stays []r4.Stay
}

// outcome is what became of a patient.
type outcome int

const (
	imported outcome = iota
	present
	rejected
)

// ready is a patient decoded and checked, to store: its Patient and its
// records, with the rejects of the records left out (Partial).
type ready struct {
	g       int32
	p       ehr.Patient
	recs    []prepared
	rejects []Reject
}

// prepare reads and decodes group g: its Patient and records, with their
// references rewritten. It returns nil when the group is done already
// (rejected; or, in a dry run, counted), and an error only when the
// import cannot go on.
func (im *importer) prepare(g int32) (*ready, error) {
	ix := im.ix
	grp := &ix.groups[g]
	ids := append([]int32{grp.patient}, grp.entries...)
	raws, err := im.readAll(ids)
	if err != nil {
		return nil, err
	}
	p, rj := im.decodePatient(grp.patient, raws[0])
	if rj != nil {
		im.finish(g, rejected, []Reject{*rj}, nil)
		return nil, nil
	}

	// Decode the records, encounters first (fhirmap.Types order), with
	// their references rewritten.
	order := make([]int, len(ids)-1)
	for i := range order {
		order[i] = i + 1
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ix.res[ids[a]].typ, ix.res[ids[b]].typ) })
	encKeys := map[string]int32{}
	for _, ri := range grp.entries {
		if r := &ix.res[ri]; fhirmap.Types[r.typ] == "Encounter" {
			for _, k := range fhirmap.RefKeys(r.full, "Encounter", r.id) {
				if _, dup := encKeys[k]; !dup {
					encKeys[k] = ri
				}
			}
		}
	}
	encOK := map[int32]bool{}
	seen := map[string]int32{}
	var rejects []Reject
	var recs []prepared
	for _, i := range order {
		ri := ids[i]
		r := &ix.res[ri]
		typ := fhirmap.Types[r.typ]
		if r.id != "" {
			key := typ + "/" + r.id
			if first, dup := seen[key]; dup {
				f := ix.where(first)
				rj := ix.where(ri)
				rj.Reason = fmt.Sprintf("duplicate: the same %s as %s line %d", typ, f.File, f.Line)
				rejects = append(rejects, rj)
				continue
			}
			seen[key] = ri
		}
		body, err := fhirmap.RewriteReferences(raws[i], func(path, ref string) (string, error) {
			return im.resolve(g, typ, path, ref, encKeys, encOK)
		})
		var v any
		var stays []r4.Stay
		if err == nil {
			v, stays, err = fhirmap.Decode(typ, body)
		}
		if err != nil {
			rejects = append(rejects, im.rejectOf(ri, typ, err))
			continue
		}
		if typ == "Encounter" {
			encOK[ri] = true
		}
		recs = append(recs, prepared{ri: ri, typ: typ, rec: v, stays: stays})
	}
	if len(rejects) > 0 && !im.opt.Partial {
		im.rejectWhole(g, rejects)
		return nil, nil
	}
	if im.opt.DryRun {
		stored := map[string]int{}
		for _, pr := range recs {
			stored[pr.typ]++
		}
		im.finish(g, imported, rejects, stored)
		return nil, nil
	}
	return &ready{g: g, p: p, recs: recs, rejects: rejects}, nil
}

// store imports the patients of rs in one call of ehr's bulk import
// (ehr.Repository.ImportPatients: each patient whole or not at all), and
// records what became of each. With Partial, a patient some of whose
// records ehr refuses is imported again without them.
func (im *importer) store(ctx context.Context, rs []*ready) error {
	for len(rs) > 0 {
		in := make([]ehr.PatientImport, len(rs))
		owners := make([][]int, len(rs)) // record → index in recs
		for i, r := range rs {
			p := r.p
			p.ID, p.TenantID, p.Status, p.Version = "", "", "", 0
			in[i].Patient = p
			for k, pr := range r.recs {
				for _, rec := range records(pr) {
					in[i].Records = append(in[i].Records, rec)
					owners[i] = append(owners[i], k)
				}
			}
		}
		// A deadlock or serialization failure is retried inside
		// ImportPatients; an error here stops the import.
		res, err := im.opt.Repo.ImportPatients(ctx, in)
		if err != nil {
			return fmt.Errorf("fhirimport: import patients: %w", err)
		}
		var again []*ready
		for i, r := range rs {
			res := res[i]
			switch {
			case res.Existing != "":
				im.finish(r.g, present, nil, nil)
			case res.Err == nil:
				stored := map[string]int{}
				for _, pr := range r.recs {
					stored[pr.typ]++
				}
				im.finish(r.g, imported, r.rejects, stored)
			case errors.Is(res.Err, ehr.ErrDenied) || !dataError(res.Err):
				return fmt.Errorf("fhirimport: import patient: %w", res.Err)
			case len(res.RecordErrs) == 0:
				rj := im.ix.where(im.ix.groups[r.g].patient)
				rj.Reason, rj.Issues = explain("Patient", res.Err)
				im.finish(r.g, rejected, append(r.rejects, rj), nil)
			default:
				// The resources whose records ehr refused.
				bad := map[int]error{}
				for j, e := range res.RecordErrs {
					if e != nil {
						if _, dup := bad[owners[i][j]]; !dup {
							bad[owners[i][j]] = e
						}
					}
				}
				var txRejects []Reject
				var keep []prepared
				for k, pr := range r.recs {
					if e, ok := bad[k]; ok {
						txRejects = append(txRejects, im.rejectOf(pr.ri, pr.typ, e))
					} else {
						keep = append(keep, pr)
					}
				}
				if !im.opt.Partial {
					im.rejectWhole(r.g, append(r.rejects, txRejects...))
					continue
				}
				again = append(again, &ready{g: r.g, p: r.p, recs: keep, rejects: append(r.rejects, txRejects...)})
			}
		}
		rs = again
	}
	return nil
}

// records returns the ehr records of pr, as ImportRecord takes them
// (fhirmap.Records), each encounter keyed by the placeholder the other
// records of its patient name it by.
func records(pr prepared) []any {
	recs := fhirmap.Records(pr.rec, pr.stays)
	for i, rec := range recs {
		switch e := rec.(type) {
		case ehr.Encounter:
			e.ID = phEncounter(pr.ri)
			recs[i] = e
		case ehr.EncounterHistory:
			e.Encounter.ID = phEncounter(pr.ri)
			recs[i] = e
		}
	}
	return recs
}

// rejectOf is the Reject of resource ri of type typ for err.
func (im *importer) rejectOf(ri int32, typ string, err error) Reject {
	rj := im.ix.where(ri)
	rj.Reason, rj.Issues = explain(typ, err)
	return rj
}

// rejectWhole rejects group g whole for rejects, the rejects of its
// records.
func (im *importer) rejectWhole(g int32, rejects []Reject) {
	rj := im.ix.where(im.ix.groups[g].patient)
	rj.Reason = fmt.Sprintf("patient not imported: %d of its resources were rejected; it is imported whole once they are fixed (or without them, partial)", len(rejects))
	im.finish(g, rejected, append(rejects, rj), nil)
}

// finish records what became of group g: its rejects, and the resources
// stored by type.
func (im *importer) finish(g int32, o outcome, rejects []Reject, stored map[string]int) {
	im.rw.write(rejects...)
	n := len(im.ix.groups[g].entries)
	im.mu.Lock()
	switch o {
	case imported:
		im.sum.Imported++
		im.sum.Records["Patient"]++
		for t, c := range stored {
			im.sum.Records[t] += c
		}
	case present:
		im.sum.Present++
		im.sum.Skipped += n
	case rejected:
		im.sum.Rejected++
		records := 0
		for _, r := range rejects {
			if r.ResourceType != "Patient" {
				records++
			}
		}
		im.sum.Skipped += n - records
	}
	im.pdone++
	im.rdone += 1 + n
	done := im.pdone
	if im.opt.Progress != nil {
		im.opt.Progress(im.snapshot("patients"))
	}
	im.mu.Unlock()
	if im.opt.AfterPatient != nil {
		im.opt.AfterPatient(done)
	}
}

// decodePatient decodes the Patient resource ri (raw), with a document
// derived from its id when it has none and opt.Source is set; it returns
// the Reject of a Patient that cannot be imported.
func (im *importer) decodePatient(ri int32, raw []byte) (ehr.Patient, *Reject) {
	r := &im.ix.res[ri]
	fail := func(reason string, issues []Issue) (ehr.Patient, *Reject) {
		rj := im.ix.where(ri)
		rj.Reason, rj.Issues = reason, issues
		return ehr.Patient{}, &rj
	}
	body, hasDoc, err := withDocument(raw, r.id, im.opt.Source)
	if err != nil {
		return fail("no identity document, and its id cannot serve as one", []Issue{{Location: "Patient.id", Diagnostics: err.Error()}})
	}
	v, _, err := fhirmap.Decode("Patient", body)
	if err != nil {
		reason, issues := explain("Patient", err)
		if !hasDoc && im.opt.Source == "" {
			issues = append(issues, Issue{Location: "Patient.identifier",
				Diagnostics: "a patient without an identity document is identified by its id in the source system: name the source (--source NAME)"})
		}
		return fail(reason, issues)
	}
	p := v.(ehr.Patient)
	if p.Status == ehr.StatusEnteredInError {
		return fail("a new patient is not entered in error", []Issue{{Location: "Patient.active", Diagnostics: "is false"}})
	}
	return p, nil
}

var docNumberRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{2,31}$`)

// withDocument returns the Patient raw with an identity document of type
// source and number its id (upper-cased; a UUID without its hyphens, to
// fit ehr's 32 characters) when it has none and source is set, and
// whether it had one.
func withDocument(raw []byte, id, source string) ([]byte, bool, error) {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return raw, true, nil // for the decoder to refuse
	}
	var idents []map[string]any
	if b, ok := top["identifier"]; ok && json.Unmarshal(b, &idents) != nil {
		return raw, true, nil
	}
	for _, ident := range idents {
		if s, _ := ident["system"].(string); strings.HasPrefix(s, r4.SystemDocumentPrefix) {
			return raw, true, nil
		}
	}
	if source == "" {
		return raw, false, nil
	}
	number := strings.ToUpper(id)
	if _, err := uuid.Parse(id); err == nil {
		number = strings.ReplaceAll(number, "-", "")
	}
	if !docNumberRE.MatchString(number) {
		return nil, false, fmt.Errorf("the id must be 3-32 letters, digits or hyphens (or a UUID) to be the document of source %s", source)
	}
	idents = append(idents, map[string]any{"system": r4.DocumentSystem(source), "value": number})
	b, err := json.Marshal(idents)
	if err != nil {
		return nil, false, err
	}
	top["identifier"] = b
	out, err := fhirmap.MarshalJSON(top)
	return out, false, err
}

// resolve rewrites reference ref at path of a record of type typ of group
// g: its patient and its encounters to placeholders, a practitioner of
// the input to the tenant's. A reference to another patient, to an
// encounter, patient or practitioner the input does not hold or that was
// rejected, or a urn that names nothing of the input, fails; any other
// is left for the decoder.
func (im *importer) resolve(g int32, typ, path, ref string, encKeys map[string]int32, encOK map[int32]bool) (string, error) {
	loc := typ + "." + path
	if k, ok := lookupRef(im.ix.patientKeys, ref); ok {
		if k != g {
			return "", &refError{loc, "refers to another patient of the input"}
		}
		return "Patient/" + phPatient, nil
	}
	if ri, ok := lookupRef(encKeys, ref); ok {
		if !encOK[ri] {
			return "", &refError{loc, "refers to an Encounter that was rejected"}
		}
		return "Encounter/" + phEncounter(ri), nil
	}
	if k, ok := lookupRef(im.ix.practKeys, ref); ok {
		if im.practIDs[k] == "" {
			return "", &refError{loc, "refers to a Practitioner that was rejected"}
		}
		return "Practitioner/" + im.practIDs[k], nil
	}
	kind, _, _ := strings.Cut(refTail(ref), "/")
	switch {
	case kind == "Encounter":
		return "", &refError{loc, fmt.Sprintf("refers to %s, which is not an Encounter of this patient in the input", ref)}
	case fhirmap.IsURN(ref) || kind == "Patient" || kind == "Practitioner":
		return "", &refError{loc, fmt.Sprintf("refers to %s, which is not in the input", ref)}
	}
	return ref, nil
}
