package fhir

import (
	"net/http"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/fhirmap"
)

// resourceType is one FHIR resource type the server serves: the ehr kind
// behind it (which rbac decides), and how its records are encoded and
// found in a chart (they are decoded by fhirmap.Decode). Values are ehr records (ehr.Patient,
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
	// chart returns the type's records in a chart (PerPatient types).
	chart func(c *ehr.Chart) []any
	// date is the record's clinical date (the "date" search parameter
	// and _sort=date); nil when the type has none.
	date func(v any) time.Time
}

func encodeAs[T any](f func(T) ([]byte, error)) func(any) ([]byte, error) {
	return func(v any) ([]byte, error) { return f(v.(T)) }
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
		encode: encodeAs(r4.EncodePatient)},
	{Name: "Practitioner",
		encode: encodeAs(r4.EncodePractitioner)},
	{Name: "Encounter", Kind: rbac.KindEncounter, PerPatient: true,
		encode: func(v any) ([]byte, error) { return r4.EncodeEncounter(v.(ehr.Encounter)) },
		chart:  chartOf(func(c *ehr.Chart) []ehr.Encounter { return c.Encounters }),
		date:   dateOf(func(e ehr.Encounter) time.Time { return e.StartedAt })},
	{Name: "Appointment", Kind: rbac.KindAppointment, PerPatient: true,
		encode: encodeAs(r4.EncodeAppointment),
		chart:  chartOf(func(c *ehr.Chart) []ehr.Appointment { return c.Appointments }),
		date:   dateOf(func(a ehr.Appointment) time.Time { return a.Start })},
	{Name: "CareTeam", Kind: rbac.KindCareTeam, PerPatient: true,
		encode: encodeAs(r4.EncodeCareTeam),
		chart:  chartOf(func(c *ehr.Chart) []ehr.CareTeamMember { return c.CareTeam }),
		date:   dateOf(func(m ehr.CareTeamMember) time.Time { return m.StartsAt })},
	{Name: "Condition", Kind: rbac.KindCondition, PerPatient: true,
		encode: encodeAs(r4.EncodeCondition),
		chart:  chartOf(func(c *ehr.Chart) []ehr.Condition { return c.Conditions }),
		date: dateOf(func(c ehr.Condition) time.Time {
			if c.OnsetDate != nil {
				return *c.OnsetDate
			}
			return c.CreatedAt
		})},
	{Name: "AllergyIntolerance", Kind: rbac.KindAllergy, PerPatient: true,
		encode: encodeAs(r4.EncodeAllergy),
		chart:  chartOf(func(c *ehr.Chart) []ehr.Allergy { return c.Allergies }),
		date:   dateOf(func(a ehr.Allergy) time.Time { return a.CreatedAt })},
	{Name: "MedicationRequest", Kind: rbac.KindMedication, PerPatient: true,
		encode: encodeAs(r4.EncodeMedication),
		chart:  chartOf(func(c *ehr.Chart) []ehr.MedicationRequest { return c.Medications }),
		date:   dateOf(func(m ehr.MedicationRequest) time.Time { return m.CreatedAt })},
	{Name: "Observation", Kind: rbac.KindObservation, PerPatient: true,
		encode: encodeAs(r4.EncodeObservation),
		chart:  chartOf(func(c *ehr.Chart) []ehr.Observation { return c.Observations }),
		date:   dateOf(func(o ehr.Observation) time.Time { return o.EffectiveAt })},
	{Name: "DocumentReference", Kind: rbac.KindNote, PerPatient: true,
		encode: encodeAs(r4.EncodeNote),
		chart:  chartOf(func(c *ehr.Chart) []ehr.Note { return c.Notes }),
		date:   dateOf(func(n ehr.Note) time.Time { return n.CreatedAt })},
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
	name := ""
	switch v.(type) {
	case ehr.Patient:
		name = "Patient"
	case ehr.Practitioner:
		name = "Practitioner"
	case ehr.Encounter:
		name = "Encounter"
	case ehr.Appointment:
		name = "Appointment"
	case ehr.CareTeamMember:
		name = "CareTeam"
	case ehr.Condition:
		name = "Condition"
	case ehr.Allergy:
		name = "AllergyIntolerance"
	case ehr.MedicationRequest:
		name = "MedicationRequest"
	case ehr.Observation:
		name = "Observation"
	case ehr.Note:
		name = "DocumentReference"
	}
	t, _ := typeNamed(name)
	return t
}

// fieldPath names an ehr field at fault as FHIRPath for the resource type
// of the request's path (/fhir/R4/Patient/... → Patient).
func fieldPath(r *http.Request, field string) string {
	rest := strings.TrimPrefix(r.URL.Path, Root+"/")
	name, _, _ := strings.Cut(rest, "/")
	if _, ok := typeNamed(name); ok {
		return fhirmap.FieldPath(name, field)
	}
	return field
}
