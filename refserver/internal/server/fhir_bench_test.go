package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
)

// BenchmarkFHIRRead compares a FHIR read of a patient (GET
// /fhir/R4/Patient/{id}) with the JSON API's read of the same patient
// (GET /api/v1/patients/{id}), in one binary through the same handler
// (authentication, authorization, audit, encoding): target fhir <= 1.15x
// api. everything300 is $everything of a patient with about 300
// resources.
//
//	cd refserver && go test -run '^$' -bench FHIRRead -benchmem ./internal/server
func BenchmarkFHIRRead(b *testing.B) {
	f := newFixture(b)
	tok := f.token(b, f.a.TenantID, "medico")
	pid := f.a.PatientID
	get := func(b *testing.B, path string) {
		b.Helper()
		b.ReportAllocs()
		for b.Loop() {
			r := httptest.NewRequest("GET", path, nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("GET %s: %d %.300s", path, w.Code, w.Body.String())
			}
		}
	}
	// Made once: with -count, each sub-benchmark runs count times.
	big := f.bigChart(b, 300)
	if ev := bundleOf(b, "$everything", f.fhirGet(b, "/Patient/"+big+"/$everything", tok)); ev.Total == nil || *ev.Total < 300 {
		b.Fatalf("the big chart's $everything has %v resources, want 300", ev.Total)
	}
	b.Run("fhir", func(b *testing.B) { get(b, fhirRoot+"/Patient/"+pid) })
	b.Run("api", func(b *testing.B) { get(b, "/api/v1/patients/"+pid) })
	b.Run("everything300", func(b *testing.B) { get(b, fhirRoot+"/Patient/"+big+"/$everything") })
}

// bigChart registers a patient of tenant A with about n resources
// (through ehr, as the demo staff): an admission (and the attending's
// care-team membership), conditions, allergies, medications, notes and
// the rest as vital signs. It returns the patient id.
func (f *fixture) bigChart(b testing.TB, n int) string {
	b.Helper()
	repo := f.repo()
	adm := f.as(b, f.a.TenantID, "admisionista")
	med := f.as(b, f.a.TenantID, "medico")
	p, err := repo.RegisterPatient(adm, ehr.Patient{DocumentType: "CC", DocumentNumber: "BENCH300", GivenNames: "Paciente",
		FamilyNames: "De Carga", BirthDate: time.Date(1950, 1, 2, 0, 0, 0, 0, time.UTC), Sex: ehr.SexFemale})
	if err != nil {
		b.Fatal(err)
	}
	pr := f.practitionerOf(b, f.a.TenantID, "medico")
	if _, err := repo.Admit(adm, ehr.Admission{PatientID: p.ID, AttendingID: pr.ID, Ward: "Medicina interna", Bed: "101"}); err != nil {
		b.Fatal(err)
	}
	made := 3 // patient, encounter, care team
	for i := range 10 {
		if _, err := repo.RecordCondition(med, ehr.Condition{PatientID: p.ID, Code: fmt.Sprintf("E%02d.9", 10+i), Display: "Diagnóstico de carga"}); err != nil {
			b.Fatal(err)
		}
		if _, err := repo.RecordAllergy(med, ehr.Allergy{PatientID: p.ID, Substance: fmt.Sprintf("Sustancia %d", i), Reaction: "Exantema", Severity: "mild"}); err != nil {
			b.Fatal(err)
		}
		if _, err := repo.PrescribeMedication(med, ehr.MedicationRequest{PatientID: p.ID, Medication: fmt.Sprintf("Fármaco %d", i), Dose: 10,
			DoseUnit: "mg", Route: "oral", Frequency: "cada 12 horas"}); err != nil {
			b.Fatal(err)
		}
		if _, err := repo.CreateNote(med, ehr.Note{PatientID: p.ID, Title: fmt.Sprintf("Evolución %d", i), Body: "Paciente estable."}, true); err != nil {
			b.Fatal(err)
		}
		made += 4
	}
	var obs []ehr.Observation
	start := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Minute)
	for i := 0; made+len(obs) < n; i++ {
		v := 60 + float64(i%30)
		obs = append(obs, ehr.Observation{Category: ehr.CategoryVitalSigns, Code: ehr.CodeHeartRate, Value: &v, Unit: "/min",
			EffectiveAt: start.Add(time.Duration(i) * time.Hour)})
	}
	for len(obs) > 0 {
		k := min(len(obs), 100)
		if _, err := repo.RecordObservations(med, p.ID, obs[:k]); err != nil {
			b.Fatal(err)
		}
		obs = obs[k:]
	}
	return p.ID
}
