package fhir

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
	"github.com/historiaehr/historia/rbac"
)

// resourceType is one FHIR resource type the server serves: the ehr kind
// behind it (which rbac decides), and how its records are encoded,
// decoded and found in a chart. Values are ehr records (ehr.Patient,
// ehr.Observation, ...), by value.
type resourceType struct {
	Name string
	// Kind is the rbac kind of its records (0 for Practitioner, a
	// tenant's directory entry).
	Kind rbac.Kind
	// PerPatient: the records belong to one patient (every type but
	// Patient and Practitioner).
	PerPatient bool
	encode     func(v any) ([]byte, error)
	decode     func(data []byte) (any, error)
	// chart returns the type's records in a chart (PerPatient types).
	chart func(c *ehr.Chart) []any
	// date is the record's clinical date (the "date" search parameter
	// and _sort=date); nil when the type has none.
	date func(v any) time.Time
	// fields maps ehr's field paths to FHIRPath, for error expressions.
	fields map[string]string
}

func encodeAs[T any](f func(T) ([]byte, error)) func(any) ([]byte, error) {
	return func(v any) ([]byte, error) { return f(v.(T)) }
}

func decodeAs[T any](f func([]byte) (T, error)) func([]byte) (any, error) {
	return func(b []byte) (any, error) { return f(b) }
}

func chartOf[T any](f func(c *ehr.Chart) []T) func(*ehr.Chart) []any {
	return func(c *ehr.Chart) []any {
		s := f(c)
		out := make([]any, len(s))
		for i, v := range s {
			out[i] = v
		}
		return out
	}
}

func dateOf[T any](f func(T) time.Time) func(any) time.Time {
	return func(v any) time.Time { return f(v.(T)) }
}

// types are the resource types served, in the order $everything and a
// transaction Bundle handle them (a record's references come first).
var types = []*resourceType{
	{Name: "Patient", Kind: rbac.KindDemographics,
		encode: encodeAs(r4.EncodePatient), decode: decodeAs(r4.DecodePatient),
		fields: map[string]string{"BirthDate": "Patient.birthDate", "GivenNames": "Patient.name.given", "FamilyNames": "Patient.name.family",
			"DocumentType": "Patient.identifier.system", "DocumentNumber": "Patient.identifier.value", "Sex": "Patient.gender",
			"Contact.Phone": "Patient.telecom", "Contact.Email": "Patient.telecom", "Contact.Address": "Patient.address",
			"Identifiers": "Patient.identifier"}},
	{Name: "Practitioner",
		encode: encodeAs(r4.EncodePractitioner), decode: decodeAs(r4.DecodePractitioner),
		fields: map[string]string{"Name": "Practitioner.name", "License": "Practitioner.identifier", "Specialty": "Practitioner.qualification",
			"UserID": "Practitioner.identifier"}},
	{Name: "Encounter", Kind: rbac.KindEncounter, PerPatient: true,
		encode: func(v any) ([]byte, error) { return r4.EncodeEncounter(v.(ehr.Encounter)) },
		decode: func(b []byte) (any, error) {
			e, _, err := r4.DecodeEncounter(b)
			return e, err
		},
		chart: chartOf(func(c *ehr.Chart) []ehr.Encounter { return c.Encounters }),
		date:  dateOf(func(e ehr.Encounter) time.Time { return e.StartedAt }),
		fields: map[string]string{"Class": "Encounter.class", "Status": "Encounter.status", "PractitionerID": "Encounter.participant",
			"Ward": "Encounter.location", "Bed": "Encounter.location", "Reason": "Encounter.reasonCode", "StartedAt": "Encounter.period.start",
			"AttendingID": "Encounter.participant", "Disposition": "Encounter.hospitalization.dischargeDisposition",
			"EndedAt": "Encounter.period.end", "CreatedAt": "Encounter.extension"}},
	{Name: "Appointment", Kind: rbac.KindAppointment, PerPatient: true,
		encode: encodeAs(r4.EncodeAppointment), decode: decodeAs(r4.DecodeAppointment),
		chart: chartOf(func(c *ehr.Chart) []ehr.Appointment { return c.Appointments }),
		date:  dateOf(func(a ehr.Appointment) time.Time { return a.Start }),
		fields: map[string]string{"Start": "Appointment.start", "End": "Appointment.end", "PractitionerID": "Appointment.participant",
			"Status": "Appointment.status", "Reason": "Appointment.description", "CreatedAt": "Appointment.extension"}},
	{Name: "CareTeam", Kind: rbac.KindCareTeam, PerPatient: true,
		encode: encodeAs(r4.EncodeCareTeam), decode: decodeAs(r4.DecodeCareTeam),
		chart: chartOf(func(c *ehr.Chart) []ehr.CareTeamMember { return c.CareTeam }),
		date:  dateOf(func(m ehr.CareTeamMember) time.Time { return m.StartsAt }),
		fields: map[string]string{"PractitionerID": "CareTeam.participant.member", "Role": "CareTeam.participant.role",
			"Reason": "CareTeam.reasonCode", "Status": "CareTeam.status", "StartsAt": "CareTeam.period.start", "EndsAt": "CareTeam.period.end",
			"CreatedAt": "CareTeam.extension"}},
	{Name: "Condition", Kind: rbac.KindCondition, PerPatient: true,
		encode: encodeAs(r4.EncodeCondition), decode: decodeAs(r4.DecodeCondition),
		chart: chartOf(func(c *ehr.Chart) []ehr.Condition { return c.Conditions }),
		date: dateOf(func(c ehr.Condition) time.Time {
			if c.OnsetDate != nil {
				return *c.OnsetDate
			}
			return c.CreatedAt
		}),
		fields: map[string]string{"Code": "Condition.code", "Status": "Condition.clinicalStatus", "OnsetDate": "Condition.onsetDateTime",
			"Note": "Condition.note", "Display": "Condition.code.coding.display", "RecordedBy": "Condition.recorder",
			"EncounterID": "Condition.encounter", "CreatedAt": "Condition.extension"}},
	{Name: "AllergyIntolerance", Kind: rbac.KindAllergy, PerPatient: true,
		encode: encodeAs(r4.EncodeAllergy), decode: decodeAs(r4.DecodeAllergy),
		chart: chartOf(func(c *ehr.Chart) []ehr.Allergy { return c.Allergies }),
		date:  dateOf(func(a ehr.Allergy) time.Time { return a.CreatedAt }),
		fields: map[string]string{"Substance": "AllergyIntolerance.code", "Reaction": "AllergyIntolerance.reaction",
			"Severity": "AllergyIntolerance.reaction.severity", "Status": "AllergyIntolerance.clinicalStatus",
			"RecordedBy": "AllergyIntolerance.recorder", "CreatedAt": "AllergyIntolerance.extension"}},
	{Name: "MedicationRequest", Kind: rbac.KindMedication, PerPatient: true,
		encode: encodeAs(r4.EncodeMedication), decode: decodeAs(r4.DecodeMedication),
		chart: chartOf(func(c *ehr.Chart) []ehr.MedicationRequest { return c.Medications }),
		date:  dateOf(func(m ehr.MedicationRequest) time.Time { return m.CreatedAt }),
		fields: map[string]string{"Medication": "MedicationRequest.medicationCodeableConcept", "Dose": "MedicationRequest.dosageInstruction.doseAndRate",
			"DoseUnit": "MedicationRequest.dosageInstruction.doseAndRate", "Route": "MedicationRequest.dosageInstruction.route",
			"Frequency": "MedicationRequest.dosageInstruction.timing", "Status": "MedicationRequest.status",
			"StartsOn":     "MedicationRequest.dosageInstruction.timing.repeat.boundsPeriod.start",
			"EndsOn":       "MedicationRequest.dosageInstruction.timing.repeat.boundsPeriod.end",
			"PrescriberID": "MedicationRequest.requester", "EncounterID": "MedicationRequest.encounter", "CreatedAt": "MedicationRequest.authoredOn"}},
	{Name: "Observation", Kind: rbac.KindObservation, PerPatient: true,
		encode: encodeAs(r4.EncodeObservation), decode: decodeObservation,
		chart: chartOf(func(c *ehr.Chart) []ehr.Observation { return c.Observations }),
		date:  dateOf(func(o ehr.Observation) time.Time { return o.EffectiveAt }),
		fields: map[string]string{"Code": "Observation.code", "Value": "Observation.value", "Unit": "Observation.valueQuantity.unit",
			"EffectiveAt": "Observation.effectiveDateTime", "Category": "Observation.category", "Status": "Observation.status",
			"RecordedBy": "Observation.performer", "EncounterID": "Observation.encounter", "CreatedAt": "Observation.extension"}},
	{Name: "DocumentReference", Kind: rbac.KindNote, PerPatient: true,
		encode: encodeAs(r4.EncodeNote), decode: decodeAs(r4.DecodeNote),
		chart: chartOf(func(c *ehr.Chart) []ehr.Note { return c.Notes }),
		date:  dateOf(func(n ehr.Note) time.Time { return n.CreatedAt }),
		fields: map[string]string{"Title": "DocumentReference.description", "Body": "DocumentReference.content.attachment.data",
			"Status": "DocumentReference.docStatus", "AuthorID": "DocumentReference.author", "SignedBy": "DocumentReference.authenticator",
			"SignedAt": "DocumentReference.extension", "EncounterID": "DocumentReference.context.encounter", "CreatedAt": "DocumentReference.date"}},
}

// decodeObservation decodes an Observation, or a blood-pressure panel
// (LOINC 85354-9) into its systolic and diastolic observations
// ([]ehr.Observation).
func decodeObservation(b []byte) (any, error) {
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

// typeNamed returns the served type called name.
func typeNamed(name string) (*resourceType, bool) {
	for _, t := range types {
		if t.Name == name {
			return t, true
		}
	}
	return nil, false
}

// typeOfKind returns the served type of an ehr kind.
func typeOfKind(k rbac.Kind) *resourceType {
	for _, t := range types {
		if t.Kind == k {
			return t
		}
	}
	return nil
}

// recordMeta is what every record has: id, patient, version, last change.
type recordMeta struct {
	ID        string
	PatientID string
	Version   int
	Updated   time.Time
	Status    string
}

// metaOf returns the recordMeta of an ehr record.
func metaOf(v any) recordMeta {
	switch r := v.(type) {
	case ehr.Patient:
		return recordMeta{r.ID, r.ID, r.Version, r.UpdatedAt, r.Status}
	case ehr.Practitioner:
		return recordMeta{r.ID, "", r.Version, r.UpdatedAt, ""}
	case ehr.Encounter:
		return recordMeta{r.ID, r.PatientID, r.Version, r.UpdatedAt, r.Status}
	case ehr.Appointment:
		return recordMeta{r.ID, r.PatientID, r.Version, r.UpdatedAt, r.Status}
	case ehr.CareTeamMember:
		return recordMeta{r.ID, r.PatientID, r.Version, r.UpdatedAt, r.Status}
	case ehr.Condition:
		return recordMeta{r.ID, r.PatientID, r.Version, r.UpdatedAt, r.Status}
	case ehr.Allergy:
		return recordMeta{r.ID, r.PatientID, r.Version, r.UpdatedAt, r.Status}
	case ehr.MedicationRequest:
		return recordMeta{r.ID, r.PatientID, r.Version, r.UpdatedAt, r.Status}
	case ehr.Observation:
		return recordMeta{r.ID, r.PatientID, r.Version, r.UpdatedAt, r.Status}
	case ehr.Note:
		return recordMeta{r.ID, r.PatientID, r.Version, r.UpdatedAt, r.Status}
	}
	return recordMeta{}
}

// typeOf returns the served type of an ehr record.
func typeOf(v any) *resourceType {
	switch v.(type) {
	case ehr.Patient:
		return types[0]
	case ehr.Practitioner:
		return types[1]
	case ehr.Encounter:
		return types[2]
	case ehr.Appointment:
		return types[3]
	case ehr.CareTeamMember:
		return types[4]
	case ehr.Condition:
		return types[5]
	case ehr.Allergy:
		return types[6]
	case ehr.MedicationRequest:
		return types[7]
	case ehr.Observation:
		return types[8]
	case ehr.Note:
		return types[9]
	}
	return nil
}

// fieldPath names an ehr field at fault as FHIRPath for the resource type
// of the request's path (/fhir/R4/Patient/... → Patient).
func fieldPath(r *http.Request, field string) string {
	rest := strings.TrimPrefix(r.URL.Path, Root+"/")
	name, _, _ := strings.Cut(rest, "/")
	if t, ok := typeNamed(name); ok {
		if p, ok := t.fields[field]; ok {
			return p
		}
		return name + "." + field
	}
	return field
}
