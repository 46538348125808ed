package fhir_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/fhir"
)

// A heart rate goes to FHIR with its LOINC code, UCUM unit and the
// vital-signs profile, and comes back equal.
func ExampleEncodeObservation() {
	v := 72.0
	o := ehr.Observation{ID: "obs1", PatientID: "pat1", Category: ehr.CategoryVitalSigns, Code: ehr.CodeHeartRate,
		Value: &v, Unit: "bpm", EffectiveAt: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC), Status: "final"}
	data, err := fhir.EncodeObservation(o)
	if err != nil {
		panic(err)
	}
	var r struct {
		Meta struct{ Profile []string }
		Code struct {
			Coding []struct{ System, Code string }
		}
		ValueQuantity struct {
			Value      float64
			Unit, Code string
		}
	}
	_ = json.Unmarshal(data, &r)
	fmt.Println(r.Meta.Profile[0])
	fmt.Println(r.Code.Coding[0].System, r.Code.Coding[0].Code)
	fmt.Println(r.ValueQuantity.Value, r.ValueQuantity.Unit, r.ValueQuantity.Code)

	back, err := fhir.DecodeObservation(data)
	fmt.Println(back.Code, *back.Value, back.Unit, err)
	// Output:
	// http://hl7.org/fhir/StructureDefinition/vitalsigns
	// http://loinc.org 8867-4
	// 72 bpm /min
	// 8867-4 72 bpm <nil>
}

// A bad resource is refused with an OperationOutcome naming the element.
func ExampleDecodePatient() {
	_, err := fhir.DecodePatient([]byte(`{"resourceType": "Patient",
		"identifier": [{"system": "` + fhir.DocumentSystem("CC") + `", "value": "1020304050"}],
		"gender": "f", "birthDate": "1984-07-02", "colour": "blue"}`))
	var oo *fhir.OperationOutcome
	if errors.As(err, &oo) {
		for _, is := range oo.Issues {
			fmt.Println(is.Code, is.Location)
		}
	}
	// Output:
	// structure Patient.colour
}
