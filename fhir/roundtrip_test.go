package fhir_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/fhir"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares the emitted resource with testdata/name.json (indented),
// writing the actual file on mismatch or with -update. The conformance
// module validates every golden file against R4 with google/fhir.
func golden(tb testing.TB, name string, data []byte) {
	tb.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		tb.Fatalf("%s: emitted invalid JSON: %v", name, err)
	}
	buf.WriteByte('\n')
	file := filepath.Join("testdata", name+".json")
	want, err := os.ReadFile(file)
	if *update || err != nil || !bytes.Equal(want, buf.Bytes()) {
		if werr := os.WriteFile(file, buf.Bytes(), 0o644); werr != nil {
			tb.Fatal(werr)
		}
		if !*update {
			tb.Errorf("%s differs from %s (rewritten; check and commit it)", name, file)
		}
	}
}

var (
	t0       = time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)
	t1       = t0.Add(90 * time.Minute)
	birth    = time.Date(1984, 7, 2, 0, 0, 0, 0, time.UTC)
	onset    = time.Date(2025, 11, 3, 0, 0, 0, 0, time.UTC)
	tenantID = "0190a1b2-0000-7000-8000-000000000001"
	patID    = "0190a1b2-0000-7000-8000-0000000000p1"
	encID    = "0190a1b2-0000-7000-8000-0000000000e1"
	pracID   = "0190a1b2-0000-7000-8000-0000000000d1"
	userID   = "0190a1b2-0000-7000-8000-0000000000u1"
)

func fp(f float64) *float64     { return &f }
func tp(t time.Time) *time.Time { return &t }

// roundTrip encodes rec, checks the golden file, decodes and compares.
func roundTrip[T any](t *testing.T, name string, rec T, enc func(T) ([]byte, error), dec func([]byte) (T, error)) {
	t.Helper()
	data, err := enc(rec)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	golden(t, name, data)
	got, err := dec(data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Errorf("round trip changed the record:\n got %+v\nwant %+v", got, rec)
	}
}

func samplePatient() ehr.Patient {
	return ehr.Patient{
		ID: patID, TenantID: tenantID, DocumentType: "CC", DocumentNumber: "1020304050",
		Identifiers: []ehr.Identifier{{System: "MRN", Value: "H-000123"}},
		GivenNames:  "María José", FamilyNames: "Pérez Gómez", BirthDate: birth, Sex: ehr.SexFemale,
		Contact:   ehr.Contact{Phone: "+57 300 555 0101", Email: "maria@example.org", Address: "Calle 10 # 5-20, Bogotá"},
		Emergency: ehr.EmergencyContact{Name: "Luis Pérez", Phone: "+57 300 555 0102", Relationship: "hermano"},
		Status:    "active", Version: 3, CreatedAt: t0, UpdatedAt: t1,
	}
}

func TestPatientRoundTrip(t *testing.T) {
	p := samplePatient()
	roundTrip(t, "patient", p, fhir.EncodePatient, fhir.DecodePatient)
	t.Run("passport entered in error", func(t *testing.T) {
		p := samplePatient()
		p.DocumentType, p.DocumentNumber, p.Status, p.Sex = "PA", "AB123456", ehr.StatusEnteredInError, ehr.SexUnknown
		p.Emergency, p.Contact = ehr.EmergencyContact{}, ehr.Contact{}
		roundTrip(t, "patient-passport", p, fhir.EncodePatient, fhir.DecodePatient)
	})
}

func TestPractitionerRoundTrip(t *testing.T) {
	pr := ehr.Practitioner{ID: pracID, TenantID: tenantID, UserID: userID, Name: "Dra. Ana Ruiz", Specialty: "Medicina interna",
		License: "RM-4455", Active: true, Version: 2, CreatedAt: t0, UpdatedAt: t1}
	roundTrip(t, "practitioner", pr, fhir.EncodePractitioner, fhir.DecodePractitioner)
}

func vitalSign(id, code string, v float64, unit string) ehr.Observation {
	return ehr.Observation{ID: id, TenantID: tenantID, PatientID: patID, EncounterID: encID, Category: ehr.CategoryVitalSigns,
		Code: code, Value: &v, Unit: unit, EffectiveAt: t0, Status: "final", RecordedBy: userID, Version: 1, CreatedAt: t0, UpdatedAt: t0}
}

func TestObservationRoundTrip(t *testing.T) {
	for _, o := range []ehr.Observation{
		vitalSign("hr", ehr.CodeHeartRate, 72, "/min"),
		vitalSign("rr", ehr.CodeRespRate, 16, "/min"),
		vitalSign("temp", ehr.CodeBodyTemp, 36.8, "°C"),
		vitalSign("spo2", ehr.CodeOxygenSat, 97, "%"),
		vitalSign("weight", ehr.CodeBodyWeight, 68.5, "kg"),
		vitalSign("height", ehr.CodeBodyHeight, 171, "cm"),
		vitalSign("bmi", fhir.CodeBMI, 23.4, "kg/m2"),
		vitalSign("sys", ehr.CodeSystolicBP, 120, "mmHg"),
	} {
		t.Run(o.ID, func(t *testing.T) {
			roundTrip(t, "observation-"+o.ID, o, fhir.EncodeObservation, fhir.DecodeObservation)
		})
	}
	t.Run("laboratory text amended", func(t *testing.T) {
		o := ehr.Observation{ID: "lab", TenantID: tenantID, PatientID: patID, Category: ehr.CategoryLaboratory, Code: "2345-7",
			Display: "Glucosa", Value: fp(5.4), Unit: "mmol/L", ValueText: "en ayunas", EffectiveAt: t0, Status: "amended", Version: 2, CreatedAt: t0, UpdatedAt: t1}
		roundTrip(t, "observation-lab", o, fhir.EncodeObservation, fhir.DecodeObservation)
	})
	t.Run("entered in error", func(t *testing.T) {
		o := vitalSign("hr-eie", ehr.CodeHeartRate, 720, "bpm")
		o.Status = ehr.StatusEnteredInError
		roundTrip(t, "observation-hr-eie", o, fhir.EncodeObservation, fhir.DecodeObservation)
	})
}

func TestObservationRefusesWrongVitalUnit(t *testing.T) {
	if _, err := fhir.EncodeObservation(vitalSign("x", ehr.CodeHeartRate, 70, "kg")); err == nil {
		t.Fatal("a heart rate in kg was encoded")
	}
}

func TestBloodPressureRoundTrip(t *testing.T) {
	sys, dia := vitalSign("sys", ehr.CodeSystolicBP, 128, "mmHg"), vitalSign("dia", ehr.CodeDiastolicBP, 82, "mm[Hg]")
	data, err := fhir.EncodeBloodPressure(sys, dia)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "observation-bp", data)
	gs, gd, err := fhir.DecodeBloodPressure(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gs, sys) || !reflect.DeepEqual(gd, dia) {
		t.Errorf("round trip changed the pair:\n got %+v\n     %+v\nwant %+v\n     %+v", gs, gd, sys, dia)
	}
	if _, err := fhir.EncodeBloodPressure(dia, sys); err == nil {
		t.Error("swapped components were encoded")
	}
}

func TestConditionRoundTrip(t *testing.T) {
	c := ehr.Condition{ID: "c1", TenantID: tenantID, PatientID: patID, EncounterID: encID, Code: "E11.9", Display: "Diabetes mellitus tipo 2",
		Status: "active", OnsetDate: tp(onset), Note: "control en 3 meses", RecordedBy: userID, Version: 1, CreatedAt: t0, UpdatedAt: t0}
	roundTrip(t, "condition", c, fhir.EncodeCondition, fhir.DecodeCondition)
	c.ID, c.Status, c.OnsetDate, c.Note, c.EncounterID, c.Version, c.UpdatedAt = "c2", ehr.StatusEnteredInError, nil, "", "", 2, t1
	roundTrip(t, "condition-eie", c, fhir.EncodeCondition, fhir.DecodeCondition)
}

func TestAllergyRoundTrip(t *testing.T) {
	al := ehr.Allergy{ID: "a1", TenantID: tenantID, PatientID: patID, Substance: "Penicilina", Reaction: "urticaria", Severity: "moderate",
		Status: "active", RecordedBy: userID, Version: 1, CreatedAt: t0, UpdatedAt: t0}
	roundTrip(t, "allergy", al, fhir.EncodeAllergy, fhir.DecodeAllergy)
	al.ID, al.Reaction, al.Status = "a2", "", ehr.StatusEnteredInError
	roundTrip(t, "allergy-eie", al, fhir.EncodeAllergy, fhir.DecodeAllergy)
}

func TestMedicationRoundTrip(t *testing.T) {
	m := ehr.MedicationRequest{ID: "m1", TenantID: tenantID, PatientID: patID, EncounterID: encID, Medication: "Metformina 850 mg tableta",
		Dose: 850, DoseUnit: "mg", Route: "oral", Frequency: "cada 12 horas", Status: "active", StartsOn: tp(onset), EndsOn: tp(onset.AddDate(0, 3, 0)),
		Note: "con las comidas", PrescriberID: userID, Version: 1, CreatedAt: t0, UpdatedAt: t0}
	roundTrip(t, "medication", m, fhir.EncodeMedication, fhir.DecodeMedication)
	m.ID, m.Status, m.StartsOn, m.EndsOn, m.DoseUnit, m.Dose = "m2", "stopped", nil, nil, "tableta", 1
	roundTrip(t, "medication-stopped", m, fhir.EncodeMedication, fhir.DecodeMedication)
}

func TestNoteRoundTrip(t *testing.T) {
	n := ehr.Note{ID: "n1", TenantID: tenantID, PatientID: patID, EncounterID: encID, AuthorID: userID, Title: "Evolución",
		Body: "Paciente estable.\nPlan: continuar metformina <850 mg> & control.", Status: ehr.NoteSigned, SignedAt: tp(t1), SignedBy: userID,
		Version: 2, CreatedAt: t0, UpdatedAt: t1}
	roundTrip(t, "note", n, fhir.EncodeNote, fhir.DecodeNote)
	for _, st := range []string{ehr.NoteDraft, ehr.NoteAmended, ehr.StatusEnteredInError} {
		n := n
		n.ID, n.Status = "n-"+st, st
		if st == ehr.NoteDraft {
			n.SignedAt, n.SignedBy = nil, ""
		}
		roundTrip(t, "note-"+st, n, fhir.EncodeNote, fhir.DecodeNote)
	}
}

func TestEncounterRoundTrip(t *testing.T) {
	amb := ehr.Encounter{ID: "e1", TenantID: tenantID, PatientID: patID, Class: ehr.ClassAmbulatory, Status: ehr.EncounterFinished,
		PractitionerID: pracID, Reason: "control", StartedAt: t0, EndedAt: tp(t1), Version: 2, CreatedAt: t0, UpdatedAt: t1}
	enc := func(e ehr.Encounter) ([]byte, error) { return fhir.EncodeEncounter(e) }
	dec := func(data []byte) (ehr.Encounter, error) { e, _, err := fhir.DecodeEncounter(data); return e, err }
	roundTrip(t, "encounter-ambulatory", amb, enc, dec)

	// An admission transferred once, then discharged home.
	end := t0.Add(72 * time.Hour)
	imp := ehr.Encounter{ID: "e2", TenantID: tenantID, PatientID: patID, Class: ehr.ClassInpatient, Status: ehr.EncounterFinished,
		PractitionerID: pracID, Ward: "UCI", Bed: "U-3", Reason: "neumonía", Disposition: "home", StartedAt: t0, EndedAt: &end,
		Version: 3, CreatedAt: t0, UpdatedAt: end}
	stays := []fhir.Stay{{Ward: "Medicina interna", Bed: "MI-12", Since: t0}, {Ward: "UCI", Bed: "U-3", Since: t1}}
	data, err := fhir.EncodeEncounter(imp, stays...)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "encounter-inpatient", data)
	got, gotStays, err := fhir.DecodeEncounter(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, imp) || !reflect.DeepEqual(gotStays, stays) {
		t.Errorf("round trip changed the admission:\n got %+v %+v\nwant %+v %+v", got, gotStays, imp, stays)
	}
	// Open admission without history: the current bed is the active stay.
	imp.ID, imp.Status, imp.EndedAt, imp.Disposition = "e3", ehr.EncounterInProgress, nil, ""
	roundTrip(t, "encounter-admitted", imp, enc, dec)
}

func TestStays(t *testing.T) {
	v := func(n int, at time.Time, ward, bed string) ehr.Version {
		return ehr.Version{RecordID: "e2", Version: n, ChangedAt: at,
			Data: json.RawMessage(`{"ward":"` + ward + `","bed":"` + bed + `","started_at":"` + t0.Format(time.RFC3339Nano) + `"}`)}
	}
	got, err := fhir.Stays([]ehr.Version{v(1, t0.Add(time.Second), "MI", "1"), v(2, t1, "UCI", "3"), v(3, t1.Add(time.Hour), "UCI", "3")})
	if err != nil {
		t.Fatal(err)
	}
	want := []fhir.Stay{{Ward: "MI", Bed: "1", Since: t0}, {Ward: "UCI", Bed: "3", Since: t1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Stays = %+v, want %+v", got, want)
	}
}

func TestAppointmentRoundTrip(t *testing.T) {
	for _, st := range []string{ehr.AppointmentBooked, ehr.AppointmentNoShow, ehr.AppointmentCancelled} {
		ap := ehr.Appointment{ID: "ap-" + st, TenantID: tenantID, PatientID: patID, PractitionerID: pracID,
			Start: t0.Truncate(time.Hour), End: t0.Truncate(time.Hour).Add(20 * time.Minute), Status: st, Reason: "control de diabetes",
			Version: 1, CreatedAt: t0, UpdatedAt: t0}
		roundTrip(t, "appointment-"+st, ap, fhir.EncodeAppointment, fhir.DecodeAppointment)
	}
}

func TestCareTeamRoundTrip(t *testing.T) {
	m := ehr.CareTeamMember{ID: "ct1", TenantID: tenantID, PatientID: patID, PractitionerID: pracID, UserID: userID, Role: "attending",
		Reason: "admisión", StartsAt: t0, Status: ehr.CareTeamActive, Version: 1, CreatedAt: t0, UpdatedAt: t0}
	roundTrip(t, "careteam", m, fhir.EncodeCareTeam, fhir.DecodeCareTeam)
	m.ID, m.Status, m.EndsAt, m.Version = "ct2", ehr.CareTeamEnded, tp(t1), 2
	roundTrip(t, "careteam-ended", m, fhir.EncodeCareTeam, fhir.DecodeCareTeam)
}
