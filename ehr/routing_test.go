package ehr_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// fanouts are the statements that go to every shard on Citus by design,
// by the name of their "/* fanout: name */" marker. docs/citus.md lists
// each with what it costs; a new fan-out needs an entry in both places.
var fanouts = []string{
	"patient search",     // SearchPatients without a document number
	"my patients",        // MyPatients
	"admissions list",    // ListAdmissions
	"agenda",             // ListAppointments of a practitioner or the tenant
	"audit search",       // SearchAudit without a chain
	"break-glass review", // ListBreakGlass without a patient
	"locate",             // Locate of a record other than the patient's own
	"tenant lanes",       // CreateTenant opens the heads of the tenant's lanes
}

// TestEveryPatientStatementIsRoutable records every statement the
// repository sends during the whole workflow (every method, every role)
// and checks that each one touching a table distributed by patient_id
// filters each such table on patient_id, so that Citus routes it to one
// shard, unless it is a documented fan-out.
func TestEveryPatientStatementIsRoutable(t *testing.T) {
	pool, rec := ehrtest.NewRecordedDB(t)
	h := ehrtest.NewHospital(t, pool)
	fullWorkflow(t, h)
	routingExtras(t, h)

	stmts := rec.Statements()
	seen := map[string]bool{}
	checked := map[string]bool{}
	for _, st := range stmts {
		fanout, problems := ehrtest.Routing(st.SQL)
		if fanout != "" {
			if !slices.Contains(fanouts, fanout) {
				t.Errorf("statement marked as fan-out %q, which is not on the allow-list:\n%s", fanout, st.SQL)
			}
			seen[fanout] = true
			continue
		}
		for _, p := range problems {
			t.Errorf("not routable to one shard: %s\n%s", p, st.SQL)
		}
		checked[st.SQL] = true
	}
	for _, f := range fanouts {
		if !seen[f] {
			t.Errorf("fan-out %q on the allow-list was never sent: remove it or exercise it", f)
		}
	}
	if len(stmts) < 200 || len(checked) < 40 {
		t.Fatalf("recorded %d statements (%d distinct checked): the workflow did not run", len(stmts), len(checked))
	}
	t.Logf("%d statements recorded, %d distinct statements checked, %d fan-outs", len(stmts), len(checked), len(seen))
}

// routingExtras runs the paths fullWorkflow leaves out: search by
// document, break the glass and read under it, the patient's own
// appointments, the audit of one chain and one patient's grants, reads of
// an unknown patient and a denial, Locate.
func routingExtras(t *testing.T, h *ehrtest.Hospital) {
	t.Helper()
	repo := h.Repo
	adm, med, aud := h.As(h.Admisionista), h.As(h.Medico), h.As(h.Auditor)
	p := h.NewPatient(t)
	if page := must(repo.SearchPatients(adm, ehr.PatientQuery{DocumentNumber: p.DocumentNumber})); len(page.Patients) != 1 {
		t.Fatalf("search by document = %+v", page.Patients)
	}
	must(repo.SearchPatients(adm, ehr.PatientQuery{DocumentNumber: "NOPE-000"}))
	must(repo.SearchPatients(adm, ehr.PatientQuery{Name: "jose"}))
	must(repo.GetPatient(med, p.ID))
	if _, err := repo.GetPatient(med, "01900000-0000-7000-8000-000000000000"); err == nil {
		t.Fatal("GetPatient of an unknown id succeeded")
	}
	if _, err := repo.CreateNote(med, ehr.Note{PatientID: p.ID, Title: "x", Body: "y"}, false); err == nil {
		t.Fatal("note outside the care team succeeded")
	}
	g := must(repo.BreakGlass(med, p.ID, "paciente inconsciente en urgencias", time.Hour))
	c := must(repo.Chart(med, p.ID))
	if !c.BreakGlass {
		t.Fatal("chart under break-glass not flagged")
	}
	n := must(repo.CreateNote(med, ehr.Note{PatientID: p.ID, Title: "Urgencias", Body: "Ingreso por urgencias."}, true))
	routingImports(t, h, p, med)
	if got := must(repo.Locate(med, rbac.KindNote, n.ID)); got != p.ID {
		t.Fatalf("Locate(note) = %s", got)
	}
	must(repo.Locate(med, rbac.KindContact, p.ID))
	if got := must(repo.ListBreakGlass(aud, ehr.BreakGlassQuery{PatientID: p.ID})); len(got) != 1 || got[0].ID != g.ID || got[0].Uses < 2 {
		t.Fatalf("ListBreakGlass(patient) = %+v", got)
	}
	must(repo.SearchAudit(aud, ehr.AuditQuery{}))
	must(repo.ListAppointments(h.As(h.PatientActor(p)), ehr.AppointmentQuery{PatientID: p.ID}))
	must(repo.AccessLog(h.As(h.PatientActor(p)), p.ID, 10))
	must(repo.History(h.As(h.PatientActor(p)), rbac.KindNote, p.ID, n.ID))
	must(repo.VerifyChain(aud, p.ID))
}

// TestRoutingChecker shows the checker fails on statements Citus cannot
// route to one shard, and passes their routable forms.
func TestRoutingChecker(t *testing.T) {
	for _, tc := range []struct {
		name, sql string
		bad       bool
	}{
		{"join filtering one side", `SELECT e.id, p.given_names FROM encounters e JOIN patients p ON p.patient_id = e.patient_id
			WHERE e.patient_id = $1 AND e.tenant_id = $2`, true},
		{"join filtering both sides", `SELECT e.id, p.given_names FROM encounters e JOIN patients p ON p.patient_id = e.patient_id
			WHERE e.patient_id = $1 AND p.patient_id = $1`, false},
		{"lookup by record id", `SELECT version FROM clinical_notes WHERE id = $1 AND tenant_id = $2`, true},
		{"lookup by patient and id", `SELECT version FROM clinical_notes WHERE patient_id = $1 AND id = $2`, false},
		{"update without patient", `UPDATE observations SET status = 'amended' WHERE id = $1 AND version = $2`, true},
		{"update by patient", `UPDATE observations SET status = 'amended' WHERE patient_id = $3 AND id = $1`, false},
		{"subquery unfiltered", `SELECT patient_id FROM patients WHERE patient_id = $1 AND EXISTS
			(SELECT 1 FROM care_team_members c WHERE c.user_id = $2)`, true},
		{"patient_id only in a literal", `SELECT 1 FROM allergies WHERE status = 'patient_id = $1'`, true},
		{"patient_id compared with a column", `SELECT 1 FROM conditions c, patients p WHERE c.patient_id = p.patient_id`, true},
		{"insert-select from an unfiltered table", `INSERT INTO record_versions (patient_id, data) SELECT patient_id, to_jsonb(n) FROM clinical_notes n WHERE n.id = $1`, true},
		{"modifying CTE feeding an insert", `WITH h AS (INSERT INTO audit_heads AS ah (tenant_id, patient_id, seq) VALUES ($1, $2, 1)
			ON CONFLICT (patient_id) DO UPDATE SET seq = ah.seq + 1 RETURNING seq)
			INSERT INTO audit_events (tenant_id, patient_id, seq) SELECT $1, $2, h.seq FROM h`, true},
		{"update CTE feeding an insert", `WITH u AS (UPDATE clinical_notes SET version = version + 1 WHERE patient_id = $1 AND id = $2 RETURNING *)
			INSERT INTO record_versions (patient_id, data) SELECT u.patient_id, to_jsonb(u) FROM u`, true},
		{"insert values", `INSERT INTO clinical_notes (patient_id, id, body) VALUES ($1, $2, $3)`, false},
		{"tenant-wide search without marker", `SELECT patient_id FROM patients WHERE tenant_id = $1 ORDER BY sort_key`, true},
		{"a few named patients", `SELECT patient_id FROM patients WHERE tenant_id = $1 AND patient_id = ANY($2)`, false},
		{"reference and value-distributed tables only", `SELECT patient_id FROM patient_identifiers WHERE value = $1`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fanout, problems := ehrtest.Routing(tc.sql)
			if fanout != "" {
				t.Fatalf("fan-out %q reported for an unmarked statement", fanout)
			}
			if bad := len(problems) > 0; bad != tc.bad {
				t.Errorf("problems = %q; want bad = %v", problems, tc.bad)
			}
		})
	}
	fanout, problems := ehrtest.Routing(`/* fanout: agenda */ SELECT 1 FROM appointments WHERE tenant_id = $1`)
	if fanout != "agenda" || problems != nil {
		t.Errorf("marked fan-out: %q, %q", fanout, problems)
	}
	if f, _ := ehrtest.Routing(`/* fanout: everything */ SELECT 1 FROM observations`); slices.Contains(fanouts, f) {
		t.Errorf("unknown marker %q accepted by the allow-list", f)
	}
	if !strings.Contains(strings.Join(fanouts, ","), "patient search") {
		t.Error("allow-list lost the patient search")
	}
}

// routingImports imports a record of every kind for patient p (med may
// create clinical records of p), so that ImportRecord's statements are
// checked too.
func routingImports(t *testing.T, h *ehrtest.Hospital, p ehr.Patient, med context.Context) {
	t.Helper()
	repo := h.Repo
	adm, sec := h.As(h.Admisionista), h.As(h.Secretaria)
	start := time.Now().UTC().Add(-96 * time.Hour).Truncate(time.Hour)
	end := start.Add(3 * time.Hour)
	enc := must(repo.ImportRecord(adm, ehr.Encounter{PatientID: p.ID, Class: ehr.ClassInpatient, Status: ehr.EncounterFinished,
		PractitionerID: h.Practitioner.ID, Ward: "UCI", StartedAt: start, EndedAt: &end, Disposition: "home"})).(ehr.Encounter)
	must(repo.ImportRecord(med, ehr.Encounter{PatientID: p.ID, Class: ehr.ClassAmbulatory, Status: ehr.EncounterFinished,
		StartedAt: start, EndedAt: &end}))
	must(repo.ImportRecord(sec, ehr.Appointment{PatientID: p.ID, PractitionerID: h.Practitioner.ID, Start: start,
		End: start.Add(30 * time.Minute), Status: ehr.AppointmentFulfilled}))
	must(repo.ImportRecord(adm, ehr.CareTeamMember{PatientID: p.ID, PractitionerID: h.Practitioner.ID, Role: "attending",
		StartsAt: start, EndsAt: &end, Status: ehr.CareTeamEnded}))
	must(repo.ImportRecord(med, ehr.Note{PatientID: p.ID, EncounterID: enc.ID, Title: "Epicrisis", Body: "Alta.", Status: ehr.NoteAmended,
		AuthorID: "source-user", SignedBy: "source-user", SignedAt: &end}))
	must(repo.ImportRecord(med, ehr.Condition{PatientID: p.ID, EncounterID: enc.ID, Code: "J18.9", Display: "Neumonía",
		Status: "resolved", OnsetDate: &start, RecordedBy: "source-user"}))
	must(repo.ImportRecord(med, ehr.Allergy{PatientID: p.ID, Substance: "Látex", Severity: "mild", RecordedBy: "source-user"}))
	must(repo.ImportRecord(med, ehr.MedicationRequest{PatientID: p.ID, Medication: "Amoxicilina", Dose: 500, DoseUnit: "mg",
		Route: "oral", Frequency: "cada 8 horas", Status: "completed", StartsOn: &start, EndsOn: &end, PrescriberID: "source-user"}))
	v := 37.9
	must(repo.ImportRecord(med, ehr.Observation{PatientID: p.ID, Category: ehr.CategoryVitalSigns, Code: ehr.CodeBodyTemp, Value: &v,
		Unit: "Cel", EffectiveAt: start, Status: ehr.StatusEnteredInError, RecordedBy: "source-user"}))
}
