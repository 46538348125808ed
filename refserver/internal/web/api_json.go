package web

import (
	"time"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
)

// The JSON shapes of the API (snake_case, as openapi.yaml describes).

// NoteJSON is a clinical note.
type NoteJSON struct {
	ID        string     `json:"id"`
	PatientID string     `json:"patient_id"`
	AuthorID  string     `json:"author_id"`
	Title     string     `json:"title"`
	Body      string     `json:"body"`
	Status    string     `json:"status"`
	SignedAt  *time.Time `json:"signed_at,omitempty"`
	Version   int        `json:"version"`
	CreatedAt time.Time  `json:"created_at"`
}

func noteJSON(n ehr.Note) NoteJSON {
	return NoteJSON{n.ID, n.PatientID, n.AuthorID, n.Title, n.Body, n.Status, n.SignedAt, n.Version, n.CreatedAt}
}

// ConditionJSON is a diagnosis.
type ConditionJSON struct {
	ID        string `json:"id"`
	PatientID string `json:"patient_id"`
	Code      string `json:"code"`
	Display   string `json:"display"`
	Status    string `json:"status"`
	OnsetDate string `json:"onset_date,omitempty"`
	Version   int    `json:"version"`
}

func conditionJSON(c ehr.Condition) ConditionJSON {
	return ConditionJSON{c.ID, c.PatientID, c.Code, c.Display, c.Status, dateOf(c.OnsetDate), c.Version}
}

// AllergyJSON is an allergy.
type AllergyJSON struct {
	ID        string `json:"id"`
	PatientID string `json:"patient_id"`
	Substance string `json:"substance"`
	Reaction  string `json:"reaction,omitempty"`
	Severity  string `json:"severity"`
	Status    string `json:"status"`
	Version   int    `json:"version"`
}

func allergyJSON(a ehr.Allergy) AllergyJSON {
	return AllergyJSON{a.ID, a.PatientID, a.Substance, a.Reaction, a.Severity, a.Status, a.Version}
}

// MedicationJSON is a medication request.
type MedicationJSON struct {
	ID         string  `json:"id"`
	PatientID  string  `json:"patient_id"`
	Medication string  `json:"medication"`
	Dose       float64 `json:"dose"`
	DoseUnit   string  `json:"dose_unit"`
	Route      string  `json:"route"`
	Frequency  string  `json:"frequency"`
	Status     string  `json:"status"`
	Version    int     `json:"version"`
}

func medicationJSON(m ehr.MedicationRequest) MedicationJSON {
	return MedicationJSON{m.ID, m.PatientID, m.Medication, m.Dose, m.DoseUnit, m.Route, m.Frequency, m.Status, m.Version}
}

// ObservationJSON is a vital sign or lab result.
type ObservationJSON struct {
	ID          string    `json:"id,omitempty"`
	PatientID   string    `json:"patient_id,omitempty"`
	Category    string    `json:"category"`
	Code        string    `json:"code"`
	Display     string    `json:"display,omitempty"`
	Value       *float64  `json:"value,omitempty"`
	ValueText   string    `json:"value_text,omitempty"`
	Unit        string    `json:"unit,omitempty"`
	EffectiveAt time.Time `json:"effective_at,omitzero"`
	Status      string    `json:"status,omitempty"`
	Version     int       `json:"version,omitempty"`
}

func observationJSON(o ehr.Observation) ObservationJSON {
	return ObservationJSON{o.ID, o.PatientID, o.Category, o.Code, o.Display, o.Value, o.ValueText, o.Unit, o.EffectiveAt, o.Status, o.Version}
}

// AppointmentJSON is an appointment.
type AppointmentJSON struct {
	ID             string    `json:"id"`
	PatientID      string    `json:"patient_id"`
	PatientName    string    `json:"patient_name,omitempty"`
	PractitionerID string    `json:"practitioner_id"`
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	Status         string    `json:"status"`
	Reason         string    `json:"reason,omitempty"`
	Version        int       `json:"version"`
}

func appointmentJSON(a ehr.Appointment, name string) AppointmentJSON {
	return AppointmentJSON{a.ID, a.PatientID, name, a.PractitionerID, a.Start, a.End, a.Status, a.Reason, a.Version}
}

// EncounterJSON is an encounter (an admission when class is inpatient).
type EncounterJSON struct {
	ID             string     `json:"id"`
	PatientID      string     `json:"patient_id"`
	PatientName    string     `json:"patient_name,omitempty"`
	Class          string     `json:"class"`
	Status         string     `json:"status"`
	PractitionerID string     `json:"practitioner_id"`
	Ward           string     `json:"ward,omitempty"`
	Bed            string     `json:"bed,omitempty"`
	Reason         string     `json:"reason,omitempty"`
	Disposition    string     `json:"disposition,omitempty"`
	StartedAt      time.Time  `json:"started_at"`
	EndedAt        *time.Time `json:"ended_at,omitempty"`
	Version        int        `json:"version"`
}

func encounterJSON(e ehr.Encounter, name string) EncounterJSON {
	return EncounterJSON{e.ID, e.PatientID, name, e.Class, e.Status, e.PractitionerID, e.Ward, e.Bed, e.Reason, e.Disposition, e.StartedAt, e.EndedAt, e.Version}
}

// PractitionerJSON is a practitioner.
type PractitionerJSON struct {
	ID        string `json:"id"`
	UserID    string `json:"user_id"`
	Name      string `json:"name"`
	Specialty string `json:"specialty,omitempty"`
	License   string `json:"license,omitempty"`
	Active    bool   `json:"active"`
}

// UserJSON is a user account (never its password).
type UserJSON struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	Roles       []string  `json:"roles"`
	PatientID   string    `json:"patient_id,omitempty"`
	Status      string    `json:"status"`
	LastLoginAt time.Time `json:"last_login_at,omitzero"`
}

func userJSON(u auth.User) UserJSON {
	return UserJSON{u.ID, u.Username, u.Roles, u.PatientID, string(u.Status), u.LastLoginAt}
}

// ChartJSON is a chart: what the caller may read of it.
type ChartJSON struct {
	Patient      PatientJSON       `json:"patient"`
	Notes        []NoteJSON        `json:"notes"`
	Conditions   []ConditionJSON   `json:"conditions"`
	Allergies    []AllergyJSON     `json:"allergies"`
	Medications  []MedicationJSON  `json:"medications"`
	Observations []ObservationJSON `json:"observations"`
	Appointments []AppointmentJSON `json:"appointments"`
	Encounters   []EncounterJSON   `json:"encounters"`
	Withheld     []string          `json:"withheld"`
	BreakGlass   bool              `json:"break_glass"`
}

func chartJSON(c ehr.Chart) ChartJSON {
	out := ChartJSON{Patient: patientJSON(c.Patient), Notes: []NoteJSON{}, Conditions: []ConditionJSON{}, Allergies: []AllergyJSON{},
		Medications: []MedicationJSON{}, Observations: []ObservationJSON{}, Appointments: []AppointmentJSON{}, Encounters: []EncounterJSON{},
		Withheld: []string{}, BreakGlass: c.BreakGlass}
	for _, n := range c.Notes {
		out.Notes = append(out.Notes, noteJSON(n))
	}
	for _, x := range c.Conditions {
		out.Conditions = append(out.Conditions, conditionJSON(x))
	}
	for _, x := range c.Allergies {
		out.Allergies = append(out.Allergies, allergyJSON(x))
	}
	for _, x := range c.Medications {
		out.Medications = append(out.Medications, medicationJSON(x))
	}
	for _, x := range c.Observations {
		out.Observations = append(out.Observations, observationJSON(x))
	}
	for _, x := range c.Appointments {
		out.Appointments = append(out.Appointments, appointmentJSON(x, ""))
	}
	for _, x := range c.Encounters {
		out.Encounters = append(out.Encounters, encounterJSON(x, ""))
	}
	for _, k := range c.Withheld {
		out.Withheld = append(out.Withheld, k.String())
	}
	return out
}
