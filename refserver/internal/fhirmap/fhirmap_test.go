package fhirmap_test

import (
	"errors"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
	"github.com/historiaehr/historia/refserver/internal/fhirmap"
)

func TestDecode(t *testing.T) {
	at := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
	end := at.Add(72 * time.Hour)
	enc, err := r4.EncodeEncounter(ehr.Encounter{ID: "e1", PatientID: "p1", Class: ehr.ClassInpatient, Status: ehr.EncounterFinished,
		PractitionerID: "pr1", Ward: "B", Bed: "2", StartedAt: at, EndedAt: &end},
		r4.Stay{Ward: "A", Bed: "1", Since: at}, r4.Stay{Ward: "B", Bed: "2", Since: at.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	v, stays, err := fhirmap.Decode("Encounter", enc)
	if e, ok := v.(ehr.Encounter); err != nil || !ok || e.Ward != "B" || len(stays) != 2 || stays[0].Ward != "A" {
		t.Fatalf("encounter: %#v %v %v", v, stays, err)
	}
	s, d := 120.0, 80.0
	obs := func(code string, v *float64) ehr.Observation {
		return ehr.Observation{ID: "o1", PatientID: "p1", Category: ehr.CategoryVitalSigns, Code: code, Value: v, Unit: "mm[Hg]",
			EffectiveAt: at, Status: "final", RecordedBy: "u1"}
	}
	bp, err := r4.EncodeBloodPressure(obs(ehr.CodeSystolicBP, &s), obs(ehr.CodeDiastolicBP, &d))
	if err != nil {
		t.Fatal(err)
	}
	v, _, err = fhirmap.Decode("Observation", bp)
	if panel, ok := v.([]ehr.Observation); err != nil || !ok || len(panel) != 2 || *panel[1].Value != 80 {
		t.Fatalf("blood pressure: %#v %v", v, err)
	}
	_, _, err = fhirmap.Decode("Condition", []byte(`{"resourceType":"Condition","bogus":1}`))
	var oo *r4.OperationOutcome
	if !errors.As(err, &oo) || oo.Issues[0].Location == "" {
		t.Fatalf("invalid condition: %v", err)
	}
	if _, _, err := fhirmap.Decode("Claim", []byte(`{"resourceType":"Claim"}`)); err == nil {
		t.Fatal("a Claim decoded")
	}
	for i, name := range fhirmap.Types {
		if fhirmap.Index(name) != i || fhirmap.FieldPaths(name) == nil {
			t.Errorf("%s: index %d, fields %v", name, fhirmap.Index(name), fhirmap.FieldPaths(name))
		}
	}
	if fhirmap.Index("Claim") != -1 || fhirmap.FieldPath("Observation", "EffectiveAt") != "Observation.effectiveDateTime" ||
		fhirmap.FieldPath("Observation", "Nope") != "Observation.Nope" {
		t.Error("Index or FieldPath")
	}
}
