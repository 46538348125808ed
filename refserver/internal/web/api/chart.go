package api

import (
	"net/http"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
)

func (x *api) routesChart() {
	x.handle("GET /api/v1/patients/{id}/chart", x.chart)
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
	for _, v := range c.Conditions {
		out.Conditions = append(out.Conditions, conditionJSON(v))
	}
	for _, v := range c.Allergies {
		out.Allergies = append(out.Allergies, allergyJSON(v))
	}
	for _, v := range c.Medications {
		out.Medications = append(out.Medications, medicationJSON(v))
	}
	for _, v := range c.Observations {
		out.Observations = append(out.Observations, observationJSON(v))
	}
	for _, v := range c.Appointments {
		out.Appointments = append(out.Appointments, appointmentJSON(v, ""))
	}
	for _, v := range c.Encounters {
		out.Encounters = append(out.Encounters, encounterJSON(v, ""))
	}
	for _, k := range c.Withheld {
		out.Withheld = append(out.Withheld, k.String())
	}
	return out
}

// chart is the patient's chart, every section the caller may read; a
// patient reads only the notes app.PatientNotes lets them.
func (x *api) chart(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	ch, err := x.records.Chart(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if c.PatientOnly() {
		ch.Notes = app.PatientNotes(ch.Notes)
	}
	return reply(w, nil, http.StatusOK, chartJSON(ch))
}
