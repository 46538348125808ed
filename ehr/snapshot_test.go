package ehr_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// chartRecords returns every record of c by kind and id, the patient's
// demographics under its own id.
func chartRecords(c ehr.Chart) map[rbac.Kind]map[string]any {
	out := map[rbac.Kind]map[string]any{}
	add := func(k rbac.Kind, id string, rec any) {
		if out[k] == nil {
			out[k] = map[string]any{}
		}
		out[k][id] = rec
	}
	add(rbac.KindDemographics, c.Patient.ID, c.Patient)
	for _, e := range c.Encounters {
		add(rbac.KindEncounter, e.ID, e)
	}
	for _, ap := range c.Appointments {
		add(rbac.KindAppointment, ap.ID, ap)
	}
	for _, m := range c.CareTeam {
		add(rbac.KindCareTeam, m.ID, m)
	}
	for _, n := range c.Notes {
		add(rbac.KindNote, n.ID, n)
	}
	for _, cd := range c.Conditions {
		add(rbac.KindCondition, cd.ID, cd)
	}
	for _, al := range c.Allergies {
		add(rbac.KindAllergy, al.ID, al)
	}
	for _, m := range c.Medications {
		add(rbac.KindMedication, m.ID, m)
	}
	for _, o := range c.Observations {
		add(rbac.KindObservation, o.ID, o)
	}
	return out
}

// TestVersionRecord: the Record of a record's last version equals, field
// by field, the record in the chart, for every kind; an older version's
// Record equals the record as the chart showed it then.
func TestVersionRecord(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	repo := h.Repo
	adm, sec, med := h.As(h.Admisionista), h.As(h.Secretaria), h.As(h.Medico)

	// One record of every kind, as first written.
	p := h.NewPatient(t)
	enc := must(repo.Admit(adm, ehr.Admission{PatientID: p.ID, AttendingID: h.Practitioner.ID, Ward: "Medicina 3", Bed: "12",
		Reason: "Neumonía"}))
	amb := must(repo.StartEncounter(med, ehr.Encounter{PatientID: p.ID, Class: ehr.ClassAmbulatory, PractitionerID: h.Practitioner.ID}))
	otherMed, other := h.NewMedico(t, "Dr. Luis Ortiz")
	team := must(repo.AssignCareTeam(adm, ehr.CareTeamMember{PatientID: p.ID, PractitionerID: other.ID, Role: "consultant",
		Reason: "interconsulta"}))
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(72*time.Hour + 9*time.Hour)
	ap := must(repo.BookAppointment(sec, ehr.Appointment{PatientID: p.ID, PractitionerID: h.Practitioner.ID, Start: start,
		End: start.Add(20 * time.Minute), Reason: "control"}))
	note := must(repo.CreateNote(med, ehr.Note{PatientID: p.ID, EncounterID: enc.ID, Title: "Ingreso", Body: "Paciente estable."}, false))
	onset := time.Date(2019, 3, 4, 0, 0, 0, 0, time.UTC)
	cond := must(repo.RecordCondition(med, ehr.Condition{PatientID: p.ID, Code: "E11.9", Display: "Diabetes mellitus tipo 2",
		OnsetDate: &onset, Note: "desde 2019"}))
	al := must(repo.RecordAllergy(med, ehr.Allergy{PatientID: p.ID, Substance: "Penicilina", Severity: "severe"}))
	from, to := time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	mr := must(repo.PrescribeMedication(med, ehr.MedicationRequest{PatientID: p.ID, EncounterID: enc.ID, Medication: "Metformina",
		Dose: 2.55, DoseUnit: "mg", Route: "oral", Frequency: "cada 12 horas", StartsOn: &from, EndsOn: &to}))
	hr, temp := 88.0, 36.65
	obs := must(repo.RecordObservations(med, p.ID, []ehr.Observation{
		{Category: ehr.CategoryVitalSigns, Code: ehr.CodeHeartRate, Value: &hr, Unit: "/min", EncounterID: enc.ID},
		{Category: ehr.CategoryLaboratory, Code: "600-7", Display: "Hemocultivo", ValueText: "negativo"},
		{Category: ehr.CategoryVitalSigns, Code: ehr.CodeBodyTemp, Value: &temp, Unit: "Cel",
			EffectiveAt: time.Now().Add(-time.Hour).In(time.FixedZone("COT", -5*3600))},
	}))
	before := must(repo.Chart(med, p.ID))

	// Changes: a transfer, a discharge of the ambulatory visit, a
	// reschedule, an ended membership, a signed and amended note, updates,
	// an entered-in-error observation, new demographics and contact data.
	p.Identifiers = []ehr.Identifier{{System: "MRN", Value: "H-0001"}}
	p.GivenNames = "José Antonio"
	p = must(repo.UpdatePatient(adm, p))
	must(repo.UpdateContact(h.As(h.PatientActor(p)), p.ID, p.Version, ehr.Contact{Phone: "+57 311 111 1111"},
		ehr.EmergencyContact{Name: "Ana", Phone: "+57 1", Relationship: "hermana"}))
	must(repo.Transfer(adm, ehr.EncounterRef{PatientID: p.ID, ID: enc.ID, Version: enc.Version}, "UCI", "2", other.ID))
	must(repo.FinishEncounter(med, ehr.EncounterRef{PatientID: p.ID, ID: amb.ID, Version: amb.Version}))
	must(repo.EndCareTeam(adm, ehr.RecordRef{PatientID: p.ID, ID: team.ID, Version: team.Version}, "fin de la interconsulta"))
	must(repo.RescheduleAppointment(sec, ehr.RecordRef{PatientID: p.ID, ID: ap.ID, Version: ap.Version}, start.Add(time.Hour),
		start.Add(time.Hour+30*time.Minute)))
	nv := must(repo.SignNote(med, ehr.RecordRef{PatientID: p.ID, ID: note.ID, Version: note.Version}))
	must(repo.AmendNote(med, ehr.RecordRef{PatientID: p.ID, ID: note.ID, Version: nv}, "Paciente estable, afebril.", "dato omitido"))
	cond.Status, cond.OnsetDate = "resolved", nil
	must(repo.UpdateCondition(med, cond))
	al.Reaction = "urticaria"
	must(repo.UpdateAllergy(med, al))
	mr.Status, mr.Dose, mr.EndsOn = "stopped", 0.1, nil
	must(repo.UpdateMedication(med, mr))
	hr2 := 86.0
	obs[0].Value = &hr2
	must(repo.UpdateObservation(med, obs[0]))
	must(repo.MarkEnteredInError(med, ehr.RecordRef{Kind: rbac.KindObservation, PatientID: p.ID, ID: obs[1].ID, Version: 1},
		"paciente equivocado"))
	after := must(repo.Chart(med, p.ID))
	if len(after.Withheld) != 0 {
		t.Fatalf("the physician's chart withholds %v", after.Withheld)
	}

	then, now := chartRecords(before), chartRecords(after)
	n := 0
	for k, recs := range now {
		for id, want := range recs {
			n++
			vs := must(repo.History(med, k, p.ID, id))
			last := vs[len(vs)-1]
			got, err := last.Record()
			if err != nil {
				t.Errorf("%s %s: Record: %v", k, id, err)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s version %d:\n Record %#v\n  chart %#v", k, id, last.Version, got, want)
			}
			old, ok := then[k][id]
			if !ok {
				t.Errorf("%s %s: not in the first chart", k, id)
				continue
			}
			ov := reflect.ValueOf(old).FieldByName("Version").Interface().(int)
			if ov == last.Version {
				continue
			}
			got, err = vs[ov-1].Record()
			if err != nil || !reflect.DeepEqual(got, old) {
				t.Errorf("%s %s version %d (%v):\n Record %#v\n   then %#v", k, id, ov, err, got, old)
			}
		}
	}
	if n != 13 { // patient, 2 encounters, appointment, 2 members, note, condition, allergy, medication, 3 observations
		t.Errorf("compared %d records, want 13", n)
	}

	// The alias kinds decode to the same types.
	vs := must(repo.History(med, rbac.KindContact, p.ID, p.ID))
	if got, err := vs[len(vs)-1].Record(); err != nil || !reflect.DeepEqual(got, after.Patient) {
		t.Errorf("contact: Record = %#v, %v; want %#v", got, err, after.Patient)
	}
	if got := must(repo.GetPatient(med, p.ID)); !reflect.DeepEqual(got, after.Patient) {
		t.Errorf("GetPatient = %#v; chart %#v", got, after.Patient)
	}
	vs = must(repo.History(adm, rbac.KindAdmission, p.ID, enc.ID))
	if got, err := vs[len(vs)-1].Record(); err != nil || !reflect.DeepEqual(got, now[rbac.KindEncounter][enc.ID]) {
		t.Errorf("admission: Record = %#v, %v", got, err)
	}
	// The first version of the note: a draft, unsigned.
	vs = must(repo.History(med, rbac.KindNote, p.ID, note.ID))
	first := must(vs[0].Record()).(ehr.Note)
	if first.Status != ehr.NoteDraft || first.SignedAt != nil || first.Body != "Paciente estable." || first.Version != 1 {
		t.Errorf("note version 1 = %+v", first)
	}
	if !reflect.DeepEqual(first, note) {
		t.Errorf("note version 1 = %#v\nCreateNote returned %#v", first, note)
	}
	// A reader who may not read the contact data (a physician off the
	// care team) gets it blank in the history, as in GetPatient.
	vs = must(repo.History(h.As(otherMed), rbac.KindDemographics, p.ID, p.ID))
	blank := must(vs[len(vs)-1].Record()).(ehr.Patient)
	if blank.Contact != (ehr.Contact{}) || blank.Emergency != (ehr.EmergencyContact{}) || blank.GivenNames != "José Antonio" {
		t.Errorf("auditor's patient version: %+v", blank)
	}
}

// TestVersionRecordErrors: an unknown kind and data that is no snapshot
// of the kind's table are errors naming the kind, the record id and the
// column, never a value.
func TestVersionRecordErrors(t *testing.T) {
	const id = "0190a1b2-0000-7000-8000-00000000abcd"
	const tenant = "0190a1b2-0000-7000-8000-000000000001"
	const secret = "José Pérez"
	row := func(extra string) json.RawMessage {
		return json.RawMessage(`{"id": "` + id + `", "tenant_id": "` + tenant + `", "patient_id": "` + tenant + `", "version": 1,
			"created_at": "2025-01-02T03:04:05.123456+00:00", "updated_at": "2025-01-02T03:04:05.123456-05:00",
			"title": "` + secret + `", "body": "` + secret + `"` + extra + `}`)
	}
	// The base row decodes, offsets and all.
	n, err := ehr.Version{Kind: rbac.KindNote, RecordID: id, Version: 1, Data: row("")}.Record()
	if err != nil {
		t.Fatal(err)
	}
	if got := n.(ehr.Note); got.UpdatedAt != time.Date(2025, 1, 2, 8, 4, 5, 123456000, time.UTC) || got.EncounterID != "" || got.SignedAt != nil {
		t.Fatalf("note = %+v", got)
	}
	for _, tc := range []struct {
		name    string
		v       ehr.Version
		column  string
		invalid bool
	}{
		{"unknown kind", ehr.Version{Kind: rbac.KindAudit, RecordID: id, Version: 1, Data: row("")}, "Kind", true},
		{"not json", ehr.Version{Kind: rbac.KindNote, RecordID: id, Version: 1, Data: json.RawMessage(secret)}, "", false},
		{"null", ehr.Version{Kind: rbac.KindNote, RecordID: id, Version: 1, Data: json.RawMessage(`null`)}, "id", false},
		{"array", ehr.Version{Kind: rbac.KindNote, RecordID: id, Version: 1, Data: json.RawMessage(`["` + secret + `"]`)}, "", false},
		{"wrong type", ehr.Version{Kind: rbac.KindNote, RecordID: id, Version: 1, Data: row(`, "status": 12345`)}, "status", false},
		{"bad time", ehr.Version{Kind: rbac.KindNote, RecordID: id, Version: 1, Data: row(`, "signed_at": "` + secret + `"`)}, "signed_at", false},
		{"bad date", ehr.Version{Kind: rbac.KindCondition, RecordID: id, Version: 1, Data: row(`, "onset_date": "` + secret + `"`)}, "onset_date", false},
		{"bad uuid", ehr.Version{Kind: rbac.KindNote, RecordID: id, Version: 1, Data: row(`, "encounter_id": "` + secret + `"`)}, "encounter_id", false},
		{"missing time", ehr.Version{Kind: rbac.KindObservation, RecordID: id, Version: 1, Data: row("")}, "effective_at", false},
		{"missing dose", ehr.Version{Kind: rbac.KindMedication, RecordID: id, Version: 1, Data: row("")}, "dose", false},
		{"other version", ehr.Version{Kind: rbac.KindNote, RecordID: id, Version: 2, Data: row("")}, "version", false},
		{"other record", ehr.Version{Kind: rbac.KindNote, RecordID: tenant, Version: 1, Data: row("")}, "id", false},
		{"patient row of another id", ehr.Version{Kind: rbac.KindDemographics, RecordID: id, Version: 1,
			Data: row(`, "birth_date": "1980-05-17"`)}, "patient_id", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := tc.v.Record()
			if err == nil {
				t.Fatalf("Record = %#v, want an error", rec)
			}
			msg := err.Error()
			if strings.Contains(msg, "José") || strings.Contains(msg, "12345") {
				t.Errorf("error carries data: %s", msg)
			}
			if !strings.Contains(msg, tc.v.Kind.String()) || !strings.Contains(msg, tc.v.RecordID) {
				t.Errorf("error does not name the kind and the record: %s", msg)
			}
			if tc.column != "" && !strings.Contains(msg, tc.column) {
				t.Errorf("error does not name %s: %s", tc.column, msg)
			}
			var ve *ehr.ValidationError
			if got := errors.As(err, &ve) && ve.Has("Kind"); got != tc.invalid || errors.Is(err, ehr.ErrInvalid) != tc.invalid {
				t.Errorf("ErrInvalid(Kind) = %v, want %v: %v", got, tc.invalid, err)
			}
		})
	}
}
