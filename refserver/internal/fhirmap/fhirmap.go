// Package fhirmap is what the reference server's FHIR front-end
// (internal/protocol/fhir) and the bulk import (internal/fhirimport) share
// of turning FHIR R4 resources into ehr calls: which resource types
// Historia maps and in what order a record comes after those it refers
// to, how a resource's JSON is decoded (with the fhir package's strict
// decoders: a blood-pressure panel as its two observations, an Encounter
// with its location history), how a record as it stands in another system
// is stored (ehr.Repository.ImportRecord), which FHIRPath names an ehr
// field at fault, and the rewriting of a resource's references (urn:uuid,
// fullUrl, Type/id) to the ids this tenant gives the resources they name.
//
// It has no HTTP and decides nothing about who may do what: ehr
// authorizes, validates and audits every call.
package fhirmap

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
)

// Types are the resource types Historia maps, in the order the records of
// a chart are created so that a record comes after the records it refers
// to: patients and practitioners, then encounters, which the clinical
// records name.
var Types = []string{"Patient", "Practitioner", "Encounter", "Appointment", "CareTeam", "Condition",
	"AllergyIntolerance", "MedicationRequest", "Observation", "DocumentReference"}

// Index returns the place of resource type name in Types, or -1 when
// Historia does not map it.
func Index(name string) int {
	for i, t := range Types {
		if t == name {
			return i
		}
	}
	return -1
}

// Decode decodes body, a resource of type name (one of Types), into the
// ehr record it maps to (a value: ehr.Patient, ehr.Observation, ...), with
// what the plain decoders leave out: a blood-pressure panel (LOINC
// 85354-9) is its systolic and diastolic observations ([]ehr.Observation),
// and an Encounter comes with its location history (stays). Errors are
// the fhir package's *fhir.OperationOutcome, naming each element at fault.
func Decode(name string, body []byte) (any, []r4.Stay, error) {
	var v any
	var err error
	switch name {
	case "Patient":
		v, err = r4.DecodePatient(body)
	case "Practitioner":
		v, err = r4.DecodePractitioner(body)
	case "Encounter":
		e, stays, err := r4.DecodeEncounter(body)
		if err != nil {
			return nil, nil, err
		}
		return e, stays, nil
	case "Appointment":
		v, err = r4.DecodeAppointment(body)
	case "CareTeam":
		v, err = r4.DecodeCareTeam(body)
	case "Condition":
		v, err = r4.DecodeCondition(body)
	case "AllergyIntolerance":
		v, err = r4.DecodeAllergy(body)
	case "MedicationRequest":
		v, err = r4.DecodeMedication(body)
	case "Observation":
		v, err = DecodeObservation(body)
	case "DocumentReference":
		v, err = r4.DecodeNote(body)
	default:
		return nil, nil, fmt.Errorf("fhirmap: %s is not a resource type Historia maps", name)
	}
	if err != nil {
		return nil, nil, err
	}
	return v, nil, nil
}

// DecodeObservation decodes an Observation, or a blood-pressure panel
// (LOINC 85354-9) into its systolic and diastolic observations
// ([]ehr.Observation).
func DecodeObservation(b []byte) (any, error) {
	var probe struct {
		Code struct {
			Coding []struct {
				System string `json:"system"`
				Code   string `json:"code"`
			} `json:"coding"`
		} `json:"code"`
	}
	if json.Unmarshal(b, &probe) == nil {
		for _, c := range probe.Code.Coding {
			if c.System == r4.SystemLOINC && c.Code == r4.CodeBloodPressurePanel {
				s, d, err := r4.DecodeBloodPressure(b)
				if err != nil {
					return nil, err
				}
				return []ehr.Observation{s, d}, nil
			}
		}
	}
	return r4.DecodeObservation(b)
}

// Import stores v, a decoded record of a patient (Decode) as it stands in
// the system it comes from, with ehr.Repository.ImportRecord, and returns
// the records stored: one, or the two observations of a blood-pressure
// panel. An Encounter with more than one stay is imported with its
// location history (ehr.EncounterHistory: one version per stay, dated at
// its start). The records get this tenant's ids, version 1 and the audit
// action import; their statuses, clinical times, creation time and the
// people they name are v's.
func Import(ctx context.Context, repo *ehr.Repository, v any, stays []r4.Stay) ([]any, error) {
	recs := Records(v, stays)
	out := make([]any, 0, len(recs))
	for _, rec := range recs {
		stored, err := repo.ImportRecord(ctx, rec)
		if err != nil {
			return nil, err
		}
		out = append(out, stored)
	}
	return out, nil
}

// Records returns the ehr records that Decode's v (with its stays) is
// stored as, each as ehr.Repository.ImportRecord takes it: a
// blood-pressure panel is its systolic and diastolic observations; an
// Encounter with more than one stay is an ehr.EncounterHistory.
func Records(v any, stays []r4.Stay) []any {
	switch rec := v.(type) {
	case []ehr.Observation: // a blood-pressure panel: systolic, diastolic
		return []any{rec[0], rec[1]}
	case ehr.Encounter:
		if len(stays) > 1 {
			h := ehr.EncounterHistory{Encounter: rec}
			for _, st := range stays {
				h.Stays = append(h.Stays, ehr.Stay{Ward: st.Ward, Bed: st.Bed, Since: st.Since})
			}
			return []any{h}
		}
	}
	return []any{v}
}

// CreatePractitioner creates rec (a decoded Practitioner: user, name,
// specialty, licence, active) in the actor's tenant, inactive when rec is:
// what ehr assigns (id, tenant, version, times) is ehr's.
func CreatePractitioner(ctx context.Context, repo *ehr.Repository, rec ehr.Practitioner) (ehr.Practitioner, error) {
	p, err := repo.CreatePractitioner(ctx, ehr.Practitioner{UserID: rec.UserID, Name: rec.Name, Specialty: rec.Specialty, License: rec.License})
	if err == nil && !rec.Active {
		p.Active = false
		p, err = repo.UpdatePractitioner(ctx, p)
	}
	return p, err
}

// fieldPaths maps, per resource type, ehr's field paths (the Field of an
// ehr.FieldError) to the FHIRPath of the element that carries the field.
var fieldPaths = map[string]map[string]string{
	"Patient": {"BirthDate": "Patient.birthDate", "GivenNames": "Patient.name.given", "FamilyNames": "Patient.name.family",
		"DocumentType": "Patient.identifier.system", "DocumentNumber": "Patient.identifier.value", "Sex": "Patient.gender",
		"Contact.Phone": "Patient.telecom", "Contact.Email": "Patient.telecom", "Contact.Address": "Patient.address",
		"Identifiers": "Patient.identifier"},
	"Practitioner": {"Name": "Practitioner.name", "License": "Practitioner.identifier", "Specialty": "Practitioner.qualification",
		"UserID": "Practitioner.identifier"},
	"Encounter": {"Class": "Encounter.class", "Status": "Encounter.status", "PractitionerID": "Encounter.participant",
		"Ward": "Encounter.location", "Bed": "Encounter.location", "Reason": "Encounter.reasonCode", "StartedAt": "Encounter.period.start",
		"AttendingID": "Encounter.participant", "Disposition": "Encounter.hospitalization.dischargeDisposition",
		"EndedAt": "Encounter.period.end", "CreatedAt": "Encounter.extension"},
	"Appointment": {"Start": "Appointment.start", "End": "Appointment.end", "PractitionerID": "Appointment.participant",
		"Status": "Appointment.status", "Reason": "Appointment.description", "CreatedAt": "Appointment.extension"},
	"CareTeam": {"PractitionerID": "CareTeam.participant.member", "Role": "CareTeam.participant.role",
		"Reason": "CareTeam.reasonCode", "Status": "CareTeam.status", "StartsAt": "CareTeam.period.start", "EndsAt": "CareTeam.period.end",
		"CreatedAt": "CareTeam.extension"},
	"Condition": {"Code": "Condition.code", "Status": "Condition.clinicalStatus", "OnsetDate": "Condition.onsetDateTime",
		"Note": "Condition.note", "Display": "Condition.code.coding.display", "RecordedBy": "Condition.recorder",
		"EncounterID": "Condition.encounter", "CreatedAt": "Condition.extension"},
	"AllergyIntolerance": {"Substance": "AllergyIntolerance.code", "Reaction": "AllergyIntolerance.reaction",
		"Severity": "AllergyIntolerance.reaction.severity", "Status": "AllergyIntolerance.clinicalStatus",
		"RecordedBy": "AllergyIntolerance.recorder", "CreatedAt": "AllergyIntolerance.extension"},
	"MedicationRequest": {"Medication": "MedicationRequest.medicationCodeableConcept", "Dose": "MedicationRequest.dosageInstruction.doseAndRate",
		"DoseUnit": "MedicationRequest.dosageInstruction.doseAndRate", "Route": "MedicationRequest.dosageInstruction.route",
		"Frequency": "MedicationRequest.dosageInstruction.timing", "Status": "MedicationRequest.status",
		"StartsOn":     "MedicationRequest.dosageInstruction.timing.repeat.boundsPeriod.start",
		"EndsOn":       "MedicationRequest.dosageInstruction.timing.repeat.boundsPeriod.end",
		"PrescriberID": "MedicationRequest.requester", "EncounterID": "MedicationRequest.encounter", "CreatedAt": "MedicationRequest.authoredOn"},
	"Observation": {"Code": "Observation.code", "Value": "Observation.value", "Unit": "Observation.valueQuantity.unit",
		"EffectiveAt": "Observation.effectiveDateTime", "Category": "Observation.category", "Status": "Observation.status",
		"RecordedBy": "Observation.performer", "EncounterID": "Observation.encounter", "CreatedAt": "Observation.extension"},
	"DocumentReference": {"Title": "DocumentReference.description", "Body": "DocumentReference.content.attachment.data",
		"Status": "DocumentReference.docStatus", "AuthorID": "DocumentReference.author", "SignedBy": "DocumentReference.authenticator",
		"SignedAt": "DocumentReference.extension", "EncounterID": "DocumentReference.context.encounter", "CreatedAt": "DocumentReference.date"},
}

// FieldPaths returns the map of ehr field paths to FHIRPath of resource
// type name (nil for a type Historia does not map). The map is shared:
// callers must not change it.
func FieldPaths(name string) map[string]string { return fieldPaths[name] }

// FieldPath names ehr field field of a record of type name as FHIRPath:
// the element that carries it ("Observation.effectiveDateTime"), else
// name + "." + field.
func FieldPath(name, field string) string {
	if p, ok := fieldPaths[name][field]; ok {
		return p
	}
	return name + "." + field
}
