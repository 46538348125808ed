package fhir

import (
	"testing"

	"github.com/historiaehr/historia/ehr"
)

// TestTypeOfEveryRecord: every ehr record the server serves finds its
// resource type, and every served type is found from one record.
func TestTypeOfEveryRecord(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range []any{ehr.Patient{}, ehr.Practitioner{}, ehr.Encounter{}, ehr.Appointment{}, ehr.CareTeamMember{},
		ehr.Condition{}, ehr.Allergy{}, ehr.MedicationRequest{}, ehr.Observation{}, ehr.Note{}} {
		rt := typeOf(v)
		if rt == nil {
			t.Fatalf("typeOf(%T) = nil", v)
		}
		seen[rt.Name] = true
	}
	for _, rt := range types {
		if !seen[rt.Name] {
			t.Errorf("no record maps to %s", rt.Name)
		}
	}
	if typeOf("not a record") != nil {
		t.Error("typeOf of a non-record is not nil")
	}
}
