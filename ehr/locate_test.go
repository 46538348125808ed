package ehr_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// versionedTables are the tables whose records have versions, with the
// kind their snapshots carry and their id column.
var versionedTables = []struct{ table, kind, idCol string }{
	{"patients", "demographics", "patient_id"},
	{"encounters", "encounter", "id"},
	{"appointments", "appointment", "id"},
	{"care_team_members", "careteam", "id"},
	{"clinical_notes", "note", "id"},
	{"conditions", "condition", "id"},
	{"allergies", "allergy", "id"},
	{"medication_requests", "medication", "id"},
	{"observations", "observation", "id"},
}

// TestLocate: the patient of a record of every kind, from the record's
// id alone, in the actor's tenant only; an id not found leaves a
// not-found event on the tenant's chain; a malformed one is invalid and
// writes nothing.
func TestLocate(t *testing.T) {
	url := ehrtest.NewURL(t)
	pool := ehrtest.Open(t, url)
	h := ehrtest.NewHospital(t, pool)
	h2 := ehrtest.NewHospital(t, pool) // another tenant, same database
	repo := h.Repo
	adm, sec, med, aud := h.As(h.Admisionista), h.As(h.Secretaria), h.As(h.Medico), h.As(h.Auditor)
	ctx := context.Background()

	p := h.NewPatient(t)
	q := h.NewPatient(t) // a second patient, so that the lookups choose
	enc := must(repo.Admit(adm, ehr.Admission{PatientID: p.ID, AttendingID: h.Practitioner.ID, Ward: "Medicina", Bed: "1"}))
	amb := must(repo.StartEncounter(med, ehr.Encounter{PatientID: p.ID, Class: ehr.ClassAmbulatory}))
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(50 * time.Hour)
	ap := must(repo.BookAppointment(sec, ehr.Appointment{PatientID: p.ID, PractitionerID: h.Practitioner.ID, Start: start, End: start.Add(15 * time.Minute)}))
	team := must(repo.Chart(med, p.ID)).CareTeam[0]
	note := must(repo.CreateNote(med, ehr.Note{PatientID: p.ID, Title: "Ingreso", Body: "Estable."}, false))
	must(repo.SignNote(med, ehr.RecordRef{PatientID: p.ID, ID: note.ID, Version: 1})) // a second version
	cond := must(repo.RecordCondition(med, ehr.Condition{PatientID: p.ID, Code: "I10", Display: "Hipertensión esencial"}))
	al := must(repo.RecordAllergy(med, ehr.Allergy{PatientID: p.ID, Substance: "Látex", Severity: "mild"}))
	mr := must(repo.PrescribeMedication(med, ehr.MedicationRequest{PatientID: p.ID, Medication: "Losartán", Dose: 50, DoseUnit: "mg", Route: "oral", Frequency: "diaria"}))
	v := 120.0
	obs := must(repo.RecordObservation(med, ehr.Observation{PatientID: p.ID, Category: ehr.CategoryVitalSigns, Code: ehr.CodeSystolicBP, Value: &v, Unit: "mm[Hg]"}))
	h.OnCareTeam(t, q, h.Practitioner)
	must(repo.CreateNote(med, ehr.Note{PatientID: q.ID, Title: "Otra", Body: "Otra nota."}, true))

	for _, tc := range []struct {
		kind rbac.Kind
		id   string
	}{
		{rbac.KindDemographics, p.ID}, {rbac.KindContact, p.ID}, {rbac.KindEncounter, enc.ID}, {rbac.KindEncounter, amb.ID},
		{rbac.KindAdmission, enc.ID}, {rbac.KindAppointment, ap.ID}, {rbac.KindCareTeam, team.ID}, {rbac.KindNote, note.ID},
		{rbac.KindCondition, cond.ID}, {rbac.KindAllergy, al.ID}, {rbac.KindMedication, mr.ID}, {rbac.KindObservation, obs.ID},
	} {
		// Any actor of the tenant: Locate decides nothing.
		for _, actor := range []context.Context{med, sec, aud} {
			if got, err := repo.Locate(actor, tc.kind, tc.id); err != nil || got != p.ID {
				t.Errorf("Locate(%s, %s) = %q, %v; want %s", tc.kind, tc.id, got, err, p.ID)
			}
		}
		if got, err := repo.Locate(med, tc.kind, strings.ToUpper(tc.id)); err != nil || got != p.ID {
			t.Errorf("Locate(%s, upper-case id) = %q, %v", tc.kind, got, err)
		}
	}

	// Not found: an unknown id, a record of another kind, an ambulatory
	// encounter as an admission, a record of this tenant asked by another
	// tenant's actor. Each leaves one event on the asking tenant's chain.
	notFound := func(h *ehrtest.Hospital, record string) []ehr.AuditEvent {
		t.Helper()
		page := must(h.Repo.SearchAudit(h.As(h.Auditor), ehr.AuditQuery{ChainID: h.Tenant.ID, Outcome: ehr.OutcomeNotFound, Limit: 500}))
		var out []ehr.AuditEvent
		for _, e := range page.Events {
			if e.RecordID == record {
				out = append(out, e)
			}
		}
		return out
	}
	pEvents := must(repo.VerifyChain(aud, p.ID)).Events
	unknown := uuid.NewString()
	var unknownErr string
	for _, tc := range []struct {
		name string
		h    *ehrtest.Hospital
		kind rbac.Kind
		id   string
	}{
		{"unknown id", h, rbac.KindNote, unknown},
		{"unknown patient", h, rbac.KindDemographics, unknown},
		{"another kind", h, rbac.KindCondition, note.ID},
		{"ambulatory as admission", h, rbac.KindAdmission, amb.ID},
		{"another tenant's record", h2, rbac.KindNote, note.ID},
		{"another tenant's patient", h2, rbac.KindContact, p.ID},
	} {
		before := len(notFound(tc.h, tc.id))
		actor := tc.h.Medico
		got, err := tc.h.Repo.Locate(tc.h.As(actor), tc.kind, tc.id)
		if !errors.Is(err, ehr.ErrNotFound) || errors.Is(err, ehr.ErrDenied) || got != "" {
			t.Errorf("%s: Locate = %q, %v; want ErrNotFound", tc.name, got, err)
			continue
		}
		// The answer does not tell an unknown id from another tenant's.
		if msg := strings.ReplaceAll(err.Error(), tc.id, "ID"); tc.kind == rbac.KindNote {
			if unknownErr == "" {
				unknownErr = msg
			} else if msg != unknownErr {
				t.Errorf("%s: error %q differs from the unknown id's %q", tc.name, msg, unknownErr)
			}
		}
		evs := notFound(tc.h, tc.id)
		if len(evs) != before+1 {
			t.Errorf("%s: %d new not-found events on the tenant's chain, want 1", tc.name, len(evs)-before)
			continue
		}
		e := evs[0]
		if e.Action != ehr.AuditActionLocate || e.Kind != tc.kind.String() || e.UserID != actor.Principal.UserID ||
			e.ChainID != laneOf(t, actor) || e.Rule != "" {
			t.Errorf("%s: event %+v", tc.name, e)
		}
	}
	if got := must(repo.VerifyChain(aud, p.ID)).Events; got != pEvents { // verifications are on the tenant's chain
		t.Errorf("patient's chain went from %d to %d events: Locate must not touch it", pEvents, got)
	}
	for _, hh := range []*ehrtest.Hospital{h, h2} {
		if _, err := hh.Repo.VerifyChain(hh.As(hh.Auditor), hh.Tenant.ID); err != nil {
			t.Errorf("tenant chain: %v", err)
		}
	}

	// Invalid input: no SQL, no event.
	tenantEvents := must(repo.VerifyChain(aud, h.Tenant.ID)).Events
	for _, tc := range []struct {
		kind  rbac.Kind
		id    string
		field string
	}{{rbac.KindNote, "not-a-uuid", "ID"}, {rbac.KindNote, "", "ID"}, {rbac.KindNote, "{" + note.ID + "}", "ID"},
		{rbac.KindAudit, note.ID, "Kind"}, {rbac.KindBreakGlass, note.ID, "Kind"}} {
		_, err := repo.Locate(med, tc.kind, tc.id)
		var ve *ehr.ValidationError
		if !errors.As(err, &ve) || !ve.Has(tc.field) || ve.Fields[0].Code == "" {
			t.Errorf("Locate(%s, %q) = %v; want a ValidationError on %s", tc.kind, tc.id, err, tc.field)
		}
	}
	if got := must(repo.VerifyChain(aud, h.Tenant.ID)).Events; got != tenantEvents+1 { // +1: the verification before
		t.Errorf("invalid input wrote %d events", got-tenantEvents-1)
	}
	if _, err := repo.Locate(ctx, rbac.KindNote, note.ID); !errors.Is(err, ehr.ErrDenied) {
		t.Errorf("Locate without an actor = %v; want ErrDenied", err)
	}

	// Every record of every versioned table has its version-1 snapshot,
	// which Locate reads.
	conn := connect(t, url)
	for _, vt := range versionedTables {
		var records, missing int
		if err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM record_versions v
  WHERE v.patient_id = t.patient_id AND v.kind = $1 AND v.record_id = t.`+vt.idCol+` AND v.version = 1 AND v.tenant_id = t.tenant_id))
FROM `+vt.table+` t`, vt.kind).Scan(&records, &missing); err != nil {
			t.Fatal(err)
		}
		if records == 0 || missing != 0 {
			t.Errorf("%s: %d records, %d without a version-1 snapshot", vt.table, records, missing)
		}
	}
	// The lookup can use the partial index.
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	rows, err := conn.Query(ctx, `EXPLAIN SELECT patient_id FROM record_versions
WHERE record_id = $1 AND version = 1 AND tenant_id = $2 AND kind = $3 LIMIT 2`, note.ID, h.Tenant.ID, "note")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if rows.Err() != nil || !strings.Contains(plan.String(), "record_versions_record_idx") {
		t.Errorf("the lookup does not use record_versions_record_idx (%v):\n%s", rows.Err(), plan.String())
	}
}
