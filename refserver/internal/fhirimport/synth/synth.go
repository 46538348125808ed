// Package synth writes synthetic FHIR R4 input for the bulk import, in the
// layout of a FHIR bulk export (and of Synthea's ndjson output): one
// .ndjson file per resource type, records naming their patient and
// encounter as Type/id and their practitioners as Practitioner/id, in
// Historia's FHIR mapping (the fhir package's encoders). Every value is
// made up and derived from the patient's number: the same n gives the
// same files.
package synth

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
)

// Shape is how many records of each kind a synthetic patient has.
type Shape struct {
	Encounters, Conditions, Allergies, Medications, Observations, Notes int
	// Unknown adds per patient a Claim and an ExplanationOfBenefit
	// (types Historia does not map), and the Organization they name.
	Unknown bool
}

// DefaultShape is a small chart: 21 resources a patient, mostly
// observations, as in Synthea's output.
var DefaultShape = Shape{Encounters: 3, Conditions: 2, Allergies: 1, Medications: 1, Observations: 12, Notes: 1}

// PerPatient is the number of resources of mapped types a patient of
// shape s has (its Patient included).
func (s Shape) PerPatient() int {
	return 1 + s.Encounters + s.Conditions + s.Allergies + s.Medications + s.Observations + s.Notes
}

// Practitioners is the number of practitioners the patients' encounters
// name.
const Practitioners = 5

var ns = uuid.MustParse("5f8c1e4a-2b7d-4c39-9a61-0d2e8b7f3c15")

func id(kind string, n ...int) string {
	return uuid.NewSHA1(ns, fmt.Appendf(nil, "%s%v", kind, n)).String()
}

// PatientID is the source id of patient i.
func PatientID(i int) string { return id("patient", i) }

// Document is the identity document number (type CC) of patient i.
func Document(i int) string { return fmt.Sprintf("%d", 1_000_000_000+i) }

// Write writes the input of patients first to first+n-1 of shape s into
// dir, one .ndjson file per type, and returns the number of resources of
// mapped types written.
func Write(dir string, first, n int, s Shape) (int, error) {
	files := map[string]*bufio.Writer{}
	var closers []*os.File
	defer func() {
		for _, f := range closers {
			f.Close()
		}
	}()
	count := 0
	emit := func(typ string, b []byte, err error) error {
		if err != nil {
			return err
		}
		w, ok := files[typ]
		if !ok {
			f, err := os.Create(filepath.Join(dir, typ+".ndjson"))
			if err != nil {
				return err
			}
			closers = append(closers, f)
			w = bufio.NewWriterSize(f, 1<<16)
			files[typ] = w
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return err
		}
		if typ != "Organization" && typ != "Claim" && typ != "ExplanationOfBenefit" {
			count++
		}
		return nil
	}
	base := time.Date(2023, 1, 2, 8, 0, 0, 0, time.UTC)
	for k := range Practitioners {
		b, err := r4.EncodePractitioner(ehr.Practitioner{ID: id("practitioner", k), Name: fmt.Sprintf("Dr. Sintético %d", k),
			Specialty: "Medicina general", License: fmt.Sprintf("RM-%05d", k), Active: true})
		if err := emit("Practitioner", b, err); err != nil {
			return 0, err
		}
	}
	if s.Unknown {
		b, _ := json.Marshal(map[string]any{"resourceType": "Organization", "id": id("org"), "name": "Hospital Sintético"})
		if err := emit("Organization", b, nil); err != nil {
			return 0, err
		}
	}
	for i := first; i < first+n; i++ {
		pid := PatientID(i)
		b, err := r4.EncodePatient(ehr.Patient{ID: pid, DocumentType: "CC", DocumentNumber: Document(i),
			Identifiers: []ehr.Identifier{{System: "MRN", Value: fmt.Sprintf("MRN-%d", i)}},
			GivenNames:  "Prueba", FamilyNames: fmt.Sprintf("Sintético %d", i), Sex: []string{"female", "male"}[i%2],
			BirthDate: time.Date(1940+i%70, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC), Status: "active"})
		if err := emit("Patient", b, err); err != nil {
			return 0, err
		}
		author := id("user", i%Practitioners)
		day := base.Add(time.Duration(i%500) * 24 * time.Hour)
		var encs []string
		for e := range s.Encounters {
			eid := id("encounter", i, e)
			encs = append(encs, eid)
			start := day.Add(time.Duration(e) * 30 * 24 * time.Hour)
			end := start.Add(40 * time.Minute)
			b, err := r4.EncodeEncounter(ehr.Encounter{ID: eid, PatientID: pid, Class: ehr.ClassAmbulatory, Status: ehr.EncounterFinished,
				PractitionerID: id("practitioner", (i+e)%Practitioners), Reason: "Control", StartedAt: start, EndedAt: &end, CreatedAt: start})
			if err := emit("Encounter", b, err); err != nil {
				return 0, err
			}
		}
		enc := func(k int) string {
			if len(encs) == 0 {
				return ""
			}
			return encs[k%len(encs)]
		}
		codes := []string{"I10", "E11.9", "J45.9", "K21.9"}
		for c := range s.Conditions {
			onset := day.Add(-time.Duration(c+1) * 365 * 24 * time.Hour)
			b, err := r4.EncodeCondition(ehr.Condition{ID: id("condition", i, c), PatientID: pid, EncounterID: enc(c), Code: codes[(i+c)%len(codes)],
				Display: "Diagnóstico", Status: "active", OnsetDate: &onset, RecordedBy: author, CreatedAt: day})
			if err := emit("Condition", b, err); err != nil {
				return 0, err
			}
		}
		for a := range s.Allergies {
			b, err := r4.EncodeAllergy(ehr.Allergy{ID: id("allergy", i, a), PatientID: pid, Substance: "Penicilina", Reaction: "Urticaria",
				Severity: "moderate", Status: "active", RecordedBy: author, CreatedAt: day})
			if err := emit("AllergyIntolerance", b, err); err != nil {
				return 0, err
			}
		}
		for m := range s.Medications {
			from := day
			b, err := r4.EncodeMedication(ehr.MedicationRequest{ID: id("medication", i, m), PatientID: pid, EncounterID: enc(m), Medication: "Losartán 50 mg",
				Dose: 50, DoseUnit: "mg", Route: "oral", Frequency: "cada 24 horas", Status: "active", StartsOn: &from, PrescriberID: author, CreatedAt: day})
			if err := emit("MedicationRequest", b, err); err != nil {
				return 0, err
			}
		}
		vitals := []struct {
			code, unit string
			v          float64
		}{{ehr.CodeHeartRate, "/min", 72}, {ehr.CodeBodyWeight, "kg", 70.5}, {ehr.CodeBodyTemp, "Cel", 36.8}, {ehr.CodeRespRate, "/min", 16}}
		for o := range s.Observations {
			vt := vitals[o%len(vitals)]
			v := vt.v + float64(i%7)
			at := day.Add(time.Duration(o) * time.Minute)
			b, err := r4.EncodeObservation(ehr.Observation{ID: id("observation", i, o), PatientID: pid, EncounterID: enc(o), Category: ehr.CategoryVitalSigns,
				Code: vt.code, Value: &v, Unit: vt.unit, EffectiveAt: at, Status: "final", RecordedBy: author, CreatedAt: at})
			if err := emit("Observation", b, err); err != nil {
				return 0, err
			}
		}
		for k := range s.Notes {
			signed := day.Add(time.Hour)
			b, err := r4.EncodeNote(ehr.Note{ID: id("note", i, k), PatientID: pid, EncounterID: enc(k), Title: "Nota de evolución",
				Body: "Paciente estable, sin cambios.", Status: ehr.NoteSigned, AuthorID: author, SignedBy: author, SignedAt: &signed, CreatedAt: day})
			if err := emit("DocumentReference", b, err); err != nil {
				return 0, err
			}
		}
		if s.Unknown {
			for _, typ := range []string{"Claim", "ExplanationOfBenefit"} {
				b, _ := json.Marshal(map[string]any{"resourceType": typ, "id": id(typ, i), "status": "active",
					"patient": map[string]string{"reference": "Patient/" + pid}, "provider": map[string]string{"reference": "Organization/" + id("org")}})
				if err := emit(typ, b, nil); err != nil {
					return 0, err
				}
			}
		}
	}
	for _, w := range files {
		if err := w.Flush(); err != nil {
			return 0, err
		}
	}
	return count, nil
}
