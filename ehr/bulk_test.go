package ehr_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// importPolicy allows role "importer" exactly what an import does, with
// no care-team condition: the fast path of ImportPatients decides without
// facts.
const importPolicy = `{"version": 1, "roles": ["importer"], "rules": [
 {"id": "imp-patients", "effect": "allow", "roles": ["importer"], "actions": ["create", "search"], "kinds": ["demographics"]},
 {"id": "imp-records", "effect": "allow", "roles": ["importer"], "actions": ["create"],
  "kinds": ["encounter", "careteam", "note", "condition", "allergy", "medication", "observation"]},
 {"id": "imp-admissions", "effect": "allow", "roles": ["importer"], "actions": ["admit"], "kinds": ["admission"]},
 {"id": "imp-appointments", "effect": "allow", "roles": ["importer"], "actions": ["schedule"], "kinds": ["appointment"]}]}`

func importEngine(t *testing.T) *rbac.Engine {
	t.Helper()
	p, err := rbac.LoadPolicy(bytes.NewReader([]byte(importPolicy)))
	if err != nil {
		t.Fatal(err)
	}
	return must(rbac.New(p))
}

// chartImport turns chart src of hospital a into a PatientImport for
// another tenant: practitioners mapped with prMap, encounters keyed by
// their source ids, the patient given document number doc.
func chartImport(src ehr.Chart, prMap map[string]string, doc string) ehr.PatientImport {
	p := src.Patient
	p.DocumentNumber, p.Identifiers = doc, nil
	var recs []any
	for _, e := range src.Encounters {
		e.PractitionerID = prMap[e.PractitionerID]
		recs = append(recs, e)
	}
	for _, ap := range src.Appointments {
		ap.PractitionerID = prMap[ap.PractitionerID]
		recs = append(recs, ap)
	}
	for _, m := range src.CareTeam {
		m.PractitionerID = prMap[m.PractitionerID]
		recs = append(recs, m)
	}
	for _, n := range src.Notes {
		recs = append(recs, n)
	}
	for _, c := range src.Conditions {
		recs = append(recs, c)
	}
	for _, al := range src.Allergies {
		recs = append(recs, al)
	}
	for _, m := range src.Medications {
		recs = append(recs, m)
	}
	for _, o := range src.Observations {
		recs = append(recs, o)
	}
	return ehr.PatientImport{Patient: p, Records: recs}
}

// smallImport is a patient with a visit, a note on it and two vital signs.
func smallImport(doc string, pr string, at time.Time) ehr.PatientImport {
	hr, temp := 72.0, 36.6
	end := at.Add(30 * time.Minute)
	signed := at.Add(20 * time.Minute)
	return ehr.PatientImport{
		Patient: ehr.Patient{DocumentType: "CC", DocumentNumber: doc, GivenNames: "Ana", FamilyNames: "Pérez", Sex: ehr.SexFemale,
			BirthDate: time.Date(1980, 3, 4, 0, 0, 0, 0, time.UTC)},
		Records: []any{
			ehr.Encounter{ID: "v1", Class: ehr.ClassAmbulatory, Status: ehr.EncounterFinished, PractitionerID: pr, StartedAt: at, EndedAt: &end},
			ehr.Note{EncounterID: "v1", AuthorID: "src-user-1", Title: "Consulta", Body: "Control.", Status: ehr.NoteSigned,
				SignedAt: &signed, SignedBy: "src-user-1", CreatedAt: at},
			ehr.Observation{EncounterID: "v1", Category: ehr.CategoryVitalSigns, Code: ehr.CodeHeartRate, Value: &hr, Unit: "/min",
				EffectiveAt: at, Status: "final", RecordedBy: "src-user-1"},
			ehr.Observation{Category: ehr.CategoryVitalSigns, Code: ehr.CodeBodyTemp, Value: &temp, Unit: "Cel",
				EffectiveAt: at, Status: "final", RecordedBy: "src-user-1"},
		},
	}
}

// TestImportPatients: a chart with every kind in closed states and
// patients with small charts, imported in one call on the fast path, read
// back as ImportRecord stores them: the same records, one version each by
// the importer, the same audit events as the record-by-record path, every
// chain verifying. A second call with the same input creates nothing.
func TestImportPatients(t *testing.T) {
	db := ehrtest.NewDB(t)
	a := ehrtest.NewHospital(t, db)
	b := ehrtest.NewHospital(t, db)
	imp := ehr.NewRepository(db, ehr.WithAuthorizer(importEngine(t)))
	src, srcPr2, srcPr3 := importSource(t, a)
	_, pr2 := b.NewMedico(t, "Dr. Luis Rincón")
	prMap := map[string]string{a.Practitioner.ID: b.Practitioner.ID, srcPr2.ID: pr2.ID, srcPr3.ID: b.Practitioner.ID}
	act := ehrtest.Staff(b.Tenant.ID, "importer")
	ctx := b.As(act)
	repo := b.Repo

	at := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour)
	in := []ehr.PatientImport{chartImport(src, prMap, "BULK-1")}
	for i := range 5 {
		in = append(in, smallImport(fmt.Sprintf("BULK-S%d", i), b.Practitioner.ID, at.Add(time.Duration(i)*time.Hour)))
	}
	res := must(imp.ImportPatients(ctx, in))
	for i, r := range res {
		if r.Err != nil || r.Existing != "" || r.Patient.ID == "" || len(r.Records) != len(in[i].Records) {
			t.Fatalf("patient %d: %+v", i, r)
		}
		for j, rec := range r.Records {
			if reflect.TypeOf(rec) != reflect.TypeOf(in[i].Records[j]) && !(reflect.TypeOf(in[i].Records[j]) == reflect.TypeOf(ehr.EncounterHistory{})) {
				t.Errorf("patient %d record %d: %T for a %T", i, j, rec, in[i].Records[j])
			}
		}
	}

	// The chart reads back as the source (ids, versions and bookkeeping
	// aside), as TestImportChart checks of ImportRecord.
	reader := b.As(ehrtest.Staff(b.Tenant.ID, "medico"))
	pid := res[0].Patient.ID
	must(repo.BreakGlass(reader, pid, "comprobar la importación", time.Hour))
	got := must(repo.Chart(reader, pid))
	same := func(what string, gotV, srcV any) {
		t.Helper()
		if g, s := blankBookkeeping(gotV), blankBookkeeping(srcV); !reflect.DeepEqual(g, s) {
			t.Errorf("%s differ:\n got  %+v\n want %+v", what, g, s)
		}
	}
	same("encounters", got.Encounters, src.Encounters)
	same("appointments", got.Appointments, src.Appointments)
	same("care team", got.CareTeam, src.CareTeam)
	same("notes", got.Notes, src.Notes)
	same("conditions", got.Conditions, src.Conditions)
	same("allergies", got.Allergies, src.Allergies)
	same("medications", got.Medications, src.Medications)
	same("observations", got.Observations, src.Observations)
	for _, n := range got.Notes {
		if n.EncounterID != "" && !hasEncounter(got.Encounters, n.EncounterID) {
			t.Errorf("note %s names encounter %s, not one of the patient's", n.ID, n.EncounterID)
		}
	}
	for _, m := range got.CareTeam {
		if want := map[string]string{b.Practitioner.ID: b.Practitioner.UserID, pr2.ID: pr2.UserID}[m.PractitionerID]; m.UserID != want {
			t.Errorf("care-team member %s: user %q, want the practitioner's %q", m.ID, m.UserID, want)
		}
	}

	// One version each, by the importer, with the reason; its snapshot is
	// the record.
	for _, rec := range res[0].Records {
		k, id := recordKind(rec)
		h := must(repo.History(reader, k, pid, id))
		if len(h) != 1 || h[0].Version != 1 || h[0].Reason != ehr.ReasonImported || h[0].ChangedBy != act.Principal.UserID {
			t.Errorf("history of %s %s: %+v", k, id, h)
			continue
		}
		if snap := must(h[0].Record()); !reflect.DeepEqual(blankBookkeeping(sliceOf(snap)), blankBookkeeping(sliceOf(rec))) {
			t.Errorf("snapshot of %s %s:\n got  %+v\n want %+v", k, id, snap, rec)
		}
	}
	if h := must(repo.History(reader, rbac.KindDemographics, pid, pid)); len(h) != 1 {
		t.Errorf("patient history: %d versions", len(h))
	}

	// The audit events are those of RegisterPatient and ImportRecord, one
	// by one: the same actions, kinds, records and rules, in order.
	slow := ehr.PatientImport{Patient: in[1].Patient, Records: in[1].Records}
	slow.Patient.DocumentNumber = "SLOW-1"
	slowPID := importOneByOne(t, imp, ctx, slow)
	aud := b.As(b.Auditor)
	fast := must(repo.SearchAudit(aud, ehr.AuditQuery{ChainID: res[1].Patient.ID, Limit: 100})).Events
	byOne := must(repo.SearchAudit(aud, ehr.AuditQuery{ChainID: slowPID, Limit: 100})).Events
	if len(fast) != 1+len(in[1].Records) || len(fast) != len(byOne) {
		t.Fatalf("%d events on the fast path, %d one by one, want %d", len(fast), len(byOne), 1+len(in[1].Records))
	}
	for i := range fast {
		f, s := fast[i], byOne[i]
		if f.Seq != s.Seq || f.Action != s.Action || f.Kind != s.Kind || f.Outcome != s.Outcome || f.Rule != s.Rule ||
			f.UserID != s.UserID || (f.RecordID == "") != (s.RecordID == "") {
			t.Errorf("event %d: fast %+v\n one by one %+v", i, f, s)
		}
	}
	for i, r := range res {
		st := must(repo.VerifyChain(aud, r.Patient.ID))
		imported := must(repo.SearchAudit(aud, ehr.AuditQuery{ChainID: r.Patient.ID, Action: ehr.AuditActionImport, Limit: 500})).Events
		if len(imported) != len(r.Records) || (i > 1 && st.Events != int64(1+len(r.Records))) {
			t.Errorf("chain of patient %d: %d events, %d of them imports, want %d imports", i, st.Events, len(imported), len(r.Records))
		}
	}

	// Again: nothing new.
	count := func() (n int) {
		t.Helper()
		if err := db.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM patients WHERE tenant_id = $1) +
  (SELECT count(*) FROM record_versions WHERE tenant_id = $1) + (SELECT count(*) FROM audit_events WHERE tenant_id = $1)`,
			b.Tenant.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	again := must(imp.ImportPatients(ctx, in))
	for i, r := range again {
		if r.Existing != res[i].Patient.ID || r.Err != nil || r.Patient.ID != "" {
			t.Errorf("again, patient %d: %+v, want existing %s", i, r, res[i].Patient.ID)
		}
	}
	if after := count(); after != before {
		t.Errorf("a second import wrote %d rows", after-before)
	}
}

// importOneByOne imports p through RegisterPatient and ImportRecord in
// one transaction, encounters first, and returns the patient's id.
func importOneByOne(t *testing.T, repo *ehr.Repository, ctx context.Context, p ehr.PatientImport) string {
	t.Helper()
	var pid string
	err := repo.InTx(ctx, func(tx *ehr.Repository) error {
		np, err := tx.RegisterPatient(ctx, p.Patient)
		if err != nil {
			return err
		}
		pid = np.ID
		enc := map[string]string{}
		for _, rec := range p.Records {
			switch x := rec.(type) {
			case ehr.Encounter:
				x.PatientID = pid
				out, err := tx.ImportRecord(ctx, x)
				if err != nil {
					return err
				}
				enc[x.ID] = out.(ehr.Encounter).ID
				continue
			case ehr.Note:
				x.PatientID, x.EncounterID = pid, enc[x.EncounterID]
				rec = x
			case ehr.Observation:
				x.PatientID, x.EncounterID = pid, enc[x.EncounterID]
				rec = x
			}
			if _, err := tx.ImportRecord(ctx, rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// sliceOf returns a slice of v's type holding v.
func sliceOf(v any) any {
	s := reflect.MakeSlice(reflect.SliceOf(reflect.TypeOf(v)), 1, 1)
	s.Index(0).Set(reflect.ValueOf(v))
	return s.Interface()
}

func hasEncounter(es []ehr.Encounter, id string) bool {
	for _, e := range es {
		if e.ID == id {
			return true
		}
	}
	return false
}

// recordKind returns the kind History takes for rec, and its id.
func recordKind(rec any) (rbac.Kind, string) {
	switch x := rec.(type) {
	case ehr.Encounter:
		if x.Class == ehr.ClassInpatient {
			return rbac.KindAdmission, x.ID
		}
		return rbac.KindEncounter, x.ID
	case ehr.Appointment:
		return rbac.KindAppointment, x.ID
	case ehr.CareTeamMember:
		return rbac.KindCareTeam, x.ID
	case ehr.Note:
		return rbac.KindNote, x.ID
	case ehr.Condition:
		return rbac.KindCondition, x.ID
	case ehr.Allergy:
		return rbac.KindAllergy, x.ID
	case ehr.MedicationRequest:
		return rbac.KindMedication, x.ID
	case ehr.Observation:
		return rbac.KindObservation, x.ID
	}
	panic(fmt.Sprintf("recordKind: %T", rec))
}

// TestImportPatientsRefusals: each patient is imported whole or not at
// all, and the others of the call go on: an invalid record, a record
// naming an encounter that is not the patient's, an identifier in use, an
// unknown or inactive practitioner, a slot already taken (in the database
// or by a patient before in the same call), a colleague named as author,
// two open admissions. Nothing of a refused patient is written.
func TestImportPatientsRefusals(t *testing.T) {
	db := ehrtest.NewDB(t)
	b := ehrtest.NewHospital(t, db)
	imp := ehr.NewRepository(db, ehr.WithAuthorizer(importEngine(t)))
	ctx := b.As(ehrtest.Staff(b.Tenant.ID, "importer"))
	repo := b.Repo
	at := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Hour)
	pr := b.Practitioner.ID

	taken := b.NewPatient(t)
	must(repo.BookAppointment(b.As(b.Secretaria), ehr.Appointment{PatientID: taken.ID, PractitionerID: pr,
		Start: at.Add(48 * time.Hour), End: at.Add(48*time.Hour + 20*time.Minute)}))
	_, inactive := b.NewMedico(t, "Dr. Inactivo")
	inactive.Active = false
	must(repo.UpdatePractitioner(b.As(b.Admin), inactive))

	appt := func(start time.Time) ehr.Appointment {
		return ehr.Appointment{PractitionerID: pr, Start: start, End: start.Add(20 * time.Minute), Status: ehr.AppointmentBooked}
	}
	with := func(doc string, recs ...any) ehr.PatientImport {
		p := smallImport(doc, pr, at)
		p.Records = append(p.Records, recs...)
		return p
	}
	badNote := ehr.Note{AuthorID: "x", Title: "", Body: "sin título", Status: ehr.NoteDraft}
	otherIdent := smallImport("R-IDENT", pr, at)
	otherIdent.Patient.Identifiers = []ehr.Identifier{{System: "CC", Value: taken.DocumentNumber}}
	inpatient := func() ehr.Encounter {
		return ehr.Encounter{Class: ehr.ClassInpatient, Status: ehr.EncounterInProgress, PractitionerID: pr, Ward: "M3", StartedAt: at}
	}
	cases := []struct {
		name string
		in   ehr.PatientImport
		want error
		rec  int // the record at fault, or -1
	}{
		{"ok-first", with("R-OK1", appt(at.Add(72*time.Hour))), nil, -1},
		{"invalid record", with("R-INVALID", badNote), ehr.ErrInvalid, 4},
		{"encounter not the patient's", with("R-ENC", ehr.Condition{EncounterID: "nope", Code: "I10", RecordedBy: "u"}), ehr.ErrInvalid, 4},
		{"identifier in use", otherIdent, ehr.ErrConflict, -1},
		{"unknown practitioner", with("R-PRAC", ehr.Appointment{PractitionerID: "0190a3c2-0000-7000-8000-000000000001",
			Start: at.Add(96 * time.Hour), End: at.Add(96*time.Hour + 20*time.Minute), Status: ehr.AppointmentFulfilled}), ehr.ErrNotFound, 4},
		{"inactive practitioner", with("R-INACT", ehr.Appointment{PractitionerID: inactive.ID, Start: at.Add(96 * time.Hour),
			End: at.Add(96*time.Hour + 20*time.Minute), Status: ehr.AppointmentBooked}), ehr.ErrConflict, 4},
		{"slot taken in the database", with("R-SLOT", appt(at.Add(48*time.Hour))), ehr.ErrConflict, 4},
		{"slot taken by ok-first", with("R-SLOT2", appt(at.Add(72*time.Hour))), ehr.ErrConflict, 4},
		{"colleague as author", with("R-COLL", ehr.Condition{Code: "I10", RecordedBy: b.Practitioner.UserID}), ehr.ErrInvalid, 4},
		{"two open admissions", with("R-ADM", inpatient(), inpatient()), ehr.ErrConflict, -1},
		{"ok-last", with("R-OK2"), nil, -1},
	}
	var in []ehr.PatientImport
	for _, c := range cases {
		in = append(in, c.in)
	}
	res := must(imp.ImportPatients(ctx, in))
	for i, c := range cases {
		r := res[i]
		switch {
		case c.want == nil && (r.Err != nil || r.Patient.ID == ""):
			t.Errorf("%s: %+v, want imported", c.name, r)
		case c.want != nil && !errors.Is(r.Err, c.want):
			t.Errorf("%s: error %v, want %v", c.name, r.Err, c.want)
		case c.want != nil && r.Patient.ID != "":
			t.Errorf("%s: refused but stored as %s", c.name, r.Patient.ID)
		case c.rec >= 0 && (len(r.RecordErrs) != len(c.in.Records) || r.RecordErrs[c.rec] == nil):
			t.Errorf("%s: record errors %v, want one at %d", c.name, r.RecordErrs, c.rec)
		}
		var n int
		if err := db.QueryRow(context.Background(), `SELECT count(*) FROM patients WHERE tenant_id = $1 AND document_number = $2`,
			b.Tenant.ID, c.in.Patient.DocumentNumber).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 1, false: 0}[c.want == nil]; n != want {
			t.Errorf("%s: %d patients with its document, want %d", c.name, n, want)
		}
	}
	// Refused patients left nothing: no rows, no versions, no chains
	// beyond the imported patients', the one registered and the tenant's.
	var chains int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM audit_heads h WHERE h.tenant_id = $1
  AND NOT EXISTS (SELECT 1 FROM patients p WHERE p.patient_id = h.patient_id)`, b.Tenant.ID).Scan(&chains); err != nil {
		t.Fatal(err)
	}
	if chains != ehr.AuditLanes {
		t.Errorf("%d chains of no patient, want the tenant's %d lanes", chains, ehr.AuditLanes)
	}
}

// TestImportPatientsDenied: an actor the policy refuses (a physician, who
// may create records only on their patients' care team) imports nothing;
// each refusal is audited as RegisterPatient's or ImportRecord's would
// be, and the call goes on.
func TestImportPatientsDenied(t *testing.T) {
	db := ehrtest.NewDB(t)
	b := ehrtest.NewHospital(t, db)
	at := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Hour)
	med := b.As(b.Medico)
	res := must(b.Repo.ImportPatients(med, []ehr.PatientImport{smallImport("D-1", b.Practitioner.ID, at),
		smallImport("D-2", b.Practitioner.ID, at)}))
	for i, r := range res {
		if !errors.Is(r.Err, ehr.ErrDenied) || r.Patient.ID != "" {
			t.Errorf("patient %d: %+v, want denied", i, r)
		}
	}
	page := must(b.Repo.SearchAudit(b.As(b.Auditor), ehr.AuditQuery{Outcome: ehr.OutcomeDenied, Limit: 50}))
	if len(page.Events) < 2 {
		t.Errorf("%d denied events, want one per patient at least", len(page.Events))
	}
}

// TestImportPatientsFallback: when the fast path's transaction fails (here
// a trigger refuses one patient's observation, as a conflict the checks
// could not see would), every patient of the call is imported alone: the
// one at fault is refused with its error, the others are imported.
func TestImportPatientsFallback(t *testing.T) {
	db := ehrtest.NewDB(t)
	b := ehrtest.NewHospital(t, db)
	imp := ehr.NewRepository(db, ehr.WithAuthorizer(importEngine(t)))
	if _, err := db.Exec(context.Background(), `CREATE FUNCTION refuse_obs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.unit = 'REFUSE' THEN RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$;
CREATE TRIGGER refuse_obs BEFORE INSERT ON observations FOR EACH ROW EXECUTE FUNCTION refuse_obs()`); err != nil {
		t.Fatal(err)
	}
	ctx := b.As(ehrtest.Staff(b.Tenant.ID, "importer"))
	at := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Hour)
	bad := smallImport("F-2", b.Practitioner.ID, at)
	o := bad.Records[3].(ehr.Observation)
	o.Unit = "REFUSE"
	bad.Records[3] = o
	in := []ehr.PatientImport{smallImport("F-1", b.Practitioner.ID, at), bad, smallImport("F-3", b.Practitioner.ID, at)}
	res := must(imp.ImportPatients(ctx, in))
	if res[0].Err != nil || res[2].Err != nil || res[0].Patient.ID == "" || res[2].Patient.ID == "" {
		t.Fatalf("the others: %+v %+v", res[0], res[2])
	}
	if !errors.Is(res[1].Err, ehr.ErrInvalid) || res[1].Patient.ID != "" || res[1].RecordErrs[3] == nil {
		t.Fatalf("the one at fault: %+v", res[1])
	}
	for _, r := range []ehr.ImportResult{res[0], res[2]} {
		must(b.Repo.VerifyChain(b.As(b.Auditor), r.Patient.ID))
	}
}

// TestImportPatientsRetriesConcurrent: a serialization failure is no
// fault of the patient's: the one-patient path tries again and imports
// it. A trigger fails the fast path's COPY and the first lone try with
// SQLSTATE 40001 (counted by a sequence, which a rollback does not undo).
func TestImportPatientsRetriesConcurrent(t *testing.T) {
	db := ehrtest.NewDB(t)
	b := ehrtest.NewHospital(t, db)
	imp := ehr.NewRepository(db, ehr.WithAuthorizer(importEngine(t)))
	if _, err := db.Exec(context.Background(), `CREATE SEQUENCE retry_obs;
CREATE FUNCTION retry_obs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.unit = 'RETRY' AND nextval('retry_obs') <= 2 THEN
  RAISE EXCEPTION 'try again' USING ERRCODE = 'serialization_failure'; END IF; RETURN NEW; END $$;
CREATE TRIGGER retry_obs BEFORE INSERT ON observations FOR EACH ROW EXECUTE FUNCTION retry_obs()`); err != nil {
		t.Fatal(err)
	}
	ctx := b.As(ehrtest.Staff(b.Tenant.ID, "importer"))
	at := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Hour)
	p := smallImport("RETRY-1", b.Practitioner.ID, at)
	o := p.Records[3].(ehr.Observation)
	o.Unit = "RETRY"
	p.Records[3] = o
	res := must(imp.ImportPatients(ctx, []ehr.PatientImport{p}))
	if res[0].Err != nil || res[0].Patient.ID == "" {
		t.Fatalf("%+v, want imported on a later try", res[0])
	}
	var tries int64
	if err := db.QueryRow(context.Background(), `SELECT last_value FROM retry_obs`).Scan(&tries); err != nil || tries != 3 {
		t.Fatalf("the trigger ran %d times (%v), want 3: the fast path, a failed lone try, the one that passed", tries, err)
	}
	must(b.Repo.VerifyChain(b.As(b.Auditor), res[0].Patient.ID))
}
