package fhir_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/fhir"
)

// edit decodes the golden resource name, applies change and re-encodes it.
func edit(tb testing.TB, enc []byte, change func(m map[string]any)) []byte {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(enc, &m); err != nil {
		tb.Fatal(err)
	}
	change(m)
	out, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// must returns data, failing the test on err.
func must(data []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return data
}

// at returns the object at a path of keys and indexes in m.
func at(m any, keys ...any) map[string]any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m = m.(map[string]any)[k]
		case int:
			m = m.([]any)[k]
		}
	}
	return m.(map[string]any)
}

func TestDecodeRejectsBadInput(t *testing.T) {
	patient := must(fhir.EncodePatient(samplePatient()))
	hr := must(fhir.EncodeObservation(vitalSign("hr", ehr.CodeHeartRate, 72, "/min")))
	bp := must(fhir.EncodeBloodPressure(vitalSign("s", ehr.CodeSystolicBP, 120, "mmHg"), vitalSign("d", ehr.CodeDiastolicBP, 80, "mmHg")))
	cond := must(fhir.EncodeCondition(ehr.Condition{ID: "c", PatientID: patID, Code: "E11.9", Status: "active"}))
	note := must(fhir.EncodeNote(ehr.Note{ID: "n", PatientID: patID, Title: "t", Body: "b", Status: ehr.NoteDraft}))
	appt := must(fhir.EncodeAppointment(ehr.Appointment{ID: "a", PatientID: patID, PractitionerID: pracID, Start: t0, End: t1, Status: ehr.AppointmentBooked}))
	decP := func(b []byte) error { _, err := fhir.DecodePatient(b); return err }
	decO := func(b []byte) error { _, err := fhir.DecodeObservation(b); return err }
	decBP := func(b []byte) error { _, _, err := fhir.DecodeBloodPressure(b); return err }
	decC := func(b []byte) error { _, err := fhir.DecodeCondition(b); return err }
	decN := func(b []byte) error { _, err := fhir.DecodeNote(b); return err }
	decA := func(b []byte) error { _, err := fhir.DecodeAppointment(b); return err }

	for _, tc := range []struct {
		name     string
		decode   func([]byte) error
		data     []byte
		code     string
		location string
	}{
		// Invalid resources.
		{"not JSON", decP, []byte(`{"resourceType":`), fhir.IssueStructure, "Patient"},
		{"another resource type", decP, hr, fhir.IssueNotSupported, "Patient"},
		{"bad date", decP, edit(t, patient, func(m map[string]any) { m["birthDate"] = "1984-02-30" }), fhir.IssueValue, "Patient.birthDate"},
		{"partial date", decP, edit(t, patient, func(m map[string]any) { m["birthDate"] = "1984" }), fhir.IssueValue, "Patient.birthDate"},
		{"empty string", decP, edit(t, patient, func(m map[string]any) { at(m, "name", 0)["family"] = " " }), fhir.IssueStructure, "Patient.name[0].family"},
		{"null", decP, edit(t, patient, func(m map[string]any) { m["gender"] = nil }), fhir.IssueStructure, "Patient.gender"},
		{"empty array", decP, edit(t, patient, func(m map[string]any) { m["telecom"] = []any{} }), fhir.IssueStructure, "Patient.telecom"},
		{"no document", decP, edit(t, patient, func(m map[string]any) { m["identifier"] = m["identifier"].([]any)[1:] }), fhir.IssueRequired, "Patient.identifier"},
		{"missing subject", decO, edit(t, hr, func(m map[string]any) { delete(m, "subject") }), fhir.IssueRequired, "Observation.subject"},
		{"two values", decO, edit(t, hr, func(m map[string]any) { m["valueString"] = "x" }), fhir.IssueStructure, "Observation.value[x]"},
		{"bad base64", decN, edit(t, note, func(m map[string]any) { at(m, "content", 0, "attachment")["data"] = "%%%" }), fhir.IssueValue, "DocumentReference.content[0].attachment.data"},
		// Unknown elements.
		{"unknown element", decP, edit(t, patient, func(m map[string]any) { m["colour"] = "blue" }), fhir.IssueStructure, "Patient.colour"},
		{"unknown nested element", decO, edit(t, bp, func(m map[string]any) { at(m, "component", 1, "valueQuantity")["precision"] = 1 }), fhir.IssueStructure, "Observation.component[1].valueQuantity.precision"},
		{"unsupported element", decP, edit(t, patient, func(m map[string]any) { m["deceasedBoolean"] = false }), fhir.IssueStructure, "Patient.deceasedBoolean"},
		{"primitive extension", decP, edit(t, patient, func(m map[string]any) { m["_birthDate"] = map[string]any{"id": "x"} }), fhir.IssueNotSupported, "Patient._birthDate"},
		{"unknown extension", decP, edit(t, patient, func(m map[string]any) { at(m, "extension", 0)["url"] = "http://example.org/x" }), fhir.IssueNotSupported, "Patient.extension[0].url"},
		// Wrong types.
		{"string for boolean", decP, edit(t, patient, func(m map[string]any) { m["active"] = "yes" }), fhir.IssueStructure, "Patient.active"},
		{"object for array", decP, edit(t, patient, func(m map[string]any) { m["name"] = at(m, "name", 0) }), fhir.IssueStructure, "Patient.name"},
		{"string for number", decBP, edit(t, bp, func(m map[string]any) { at(m, "component", 1, "valueQuantity")["value"] = "80" }), fhir.IssueStructure, "Observation.component[1].valueQuantity.value"},
		// Wrong reference types.
		{"subject is a practitioner", decO, edit(t, hr, func(m map[string]any) { at(m, "subject")["reference"] = "Practitioner/" + pracID }), fhir.IssueValue, "Observation.subject.reference"},
		{"encounter is a patient", decC, edit(t, cond, func(m map[string]any) { m["encounter"] = map[string]any{"reference": "Patient/" + patID} }), fhir.IssueValue, "Condition.encounter.reference"},
		{"participant is an organization", decA, edit(t, appt, func(m map[string]any) { at(m, "participant", 1, "actor")["reference"] = "Organization/x" }), fhir.IssueValue, "Appointment.participant[1].actor.reference"},
		// Codes outside the required binding.
		{"gender", decP, edit(t, patient, func(m map[string]any) { m["gender"] = "dragon" }), fhir.IssueCodeInvalid, "Patient.gender"},
		{"observation status", decO, edit(t, hr, func(m map[string]any) { m["status"] = "done" }), fhir.IssueCodeInvalid, "Observation.status"},
		{"vital-sign unit", decO, edit(t, hr, func(m map[string]any) { at(m, "valueQuantity")["code"] = "/s" }), fhir.IssueCodeInvalid, "Observation.valueQuantity.code"},
		{"component unit", decBP, edit(t, bp, func(m map[string]any) { at(m, "component", 1, "valueQuantity")["code"] = "kPa" }), fhir.IssueCodeInvalid, "Observation.component[1].valueQuantity.code"},
		{"component code", decBP, edit(t, bp, func(m map[string]any) { at(m, "component", 0, "code", "coding", 0)["code"] = "8867-4" }), fhir.IssueCodeInvalid, "Observation.component[0].code.coding[0].code"},
		{"clinical status", decC, edit(t, cond, func(m map[string]any) { at(m, "clinicalStatus", "coding", 0)["code"] = "cured" }), fhir.IssueCodeInvalid, "Condition.clinicalStatus.coding[0].code"},
		{"ICD-10 code", decC, edit(t, cond, func(m map[string]any) { at(m, "code", "coding", 0)["code"] = "diabetes" }), fhir.IssueCodeInvalid, "Condition.code.coding[0].code"},
		{"no ICD-10 coding", decC, edit(t, cond, func(m map[string]any) { at(m, "code", "coding", 0)["system"] = "http://snomed.info/sct" }), fhir.IssueCodeInvalid, "Condition.code.coding"},
		{"doc status", decN, edit(t, note, func(m map[string]any) { m["docStatus"] = "signed" }), fhir.IssueCodeInvalid, "DocumentReference.docStatus"},
		{"appointment status", decA, edit(t, appt, func(m map[string]any) { m["status"] = "no-show" }), fhir.IssueCodeInvalid, "Appointment.status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.decode(tc.data)
			var oo *fhir.OperationOutcome
			if !errors.As(err, &oo) || !errors.Is(err, fhir.ErrInvalid) {
				t.Fatalf("err = %v, want an *OperationOutcome", err)
			}
			for _, is := range oo.Issues {
				if is.Code == tc.code && is.Location == tc.location {
					return
				}
			}
			t.Errorf("issues %+v lack %s at %s", oo.Issues, tc.code, tc.location)
		})
	}
}

func TestOperationOutcomeJSON(t *testing.T) {
	_, err := fhir.DecodePatient([]byte(`{"resourceType":"Patient","gender":"dragon","birthDate":"x","identifier":[{"system":"` + fhir.DocumentSystem("CC") + `","value":"1"}]}`))
	var oo *fhir.OperationOutcome
	if !errors.As(err, &oo) || len(oo.Issues) != 2 {
		t.Fatalf("err = %v, want two issues", err)
	}
	if !strings.Contains(err.Error(), "Patient.gender") || !strings.Contains(err.Error(), "1 more") {
		t.Errorf("Error() = %q", err.Error())
	}
	data, err := json.Marshal(oo)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "operationoutcome", data)
}
