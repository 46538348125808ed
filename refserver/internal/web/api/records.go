package api

import (
	"net/http"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// The clinical records of a chart besides notes: conditions, allergies,
// medications and observations, and marking any record entered in error.

func (x *api) routesRecords() {
	x.handle("POST /api/v1/patients/{id}/conditions", x.recordCondition)
	x.handle("POST /api/v1/patients/{id}/allergies", x.recordAllergy)
	x.handle("POST /api/v1/patients/{id}/medications", x.prescribe)
	x.handle("POST /api/v1/patients/{id}/observations", x.recordObservations)
	x.handle("POST /api/v1/patients/{id}/entered-in-error", x.enteredInError)
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
	return ConditionJSON{c.ID, c.PatientID, c.Code, c.Display, c.Status, web.Date(c.OnsetDate), c.Version}
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

func (x *api) recordCondition(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	var in struct {
		Code      string `json:"code"`
		Display   string `json:"display"`
		OnsetDate string `json:"onset_date"`
	}
	if err := web.Decode(w, r, &in); err != nil {
		return err
	}
	cond := ehr.Condition{PatientID: r.PathValue("id"), Code: in.Code, Display: in.Display}
	if in.OnsetDate != "" {
		d, err := time.Parse("2006-01-02", in.OnsetDate)
		if err != nil {
			return invalid("onset_date", ehr.CodeInvalid)
		}
		cond.OnsetDate = &d
	}
	cond, err := x.records.RecordCondition(r.Context(), cond)
	return reply(w, err, http.StatusCreated, conditionJSON(cond))
}

func (x *api) recordAllergy(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	var in AllergyJSON
	if err := web.Decode(w, r, &in); err != nil {
		return err
	}
	al, err := x.records.RecordAllergy(r.Context(), ehr.Allergy{PatientID: r.PathValue("id"), Substance: in.Substance, Reaction: in.Reaction, Severity: in.Severity})
	return reply(w, err, http.StatusCreated, allergyJSON(al))
}

func (x *api) prescribe(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	var in MedicationJSON
	if err := web.Decode(w, r, &in); err != nil {
		return err
	}
	m, err := x.records.PrescribeMedication(r.Context(), ehr.MedicationRequest{PatientID: r.PathValue("id"), Medication: in.Medication,
		Dose: in.Dose, DoseUnit: in.DoseUnit, Route: in.Route, Frequency: in.Frequency, Status: in.Status})
	return reply(w, err, http.StatusCreated, medicationJSON(m))
}

func (x *api) recordObservations(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	var in struct {
		Observations []ObservationJSON `json:"observations"`
	}
	if err := web.Decode(w, r, &in); err != nil {
		return err
	}
	obs := make([]ehr.Observation, len(in.Observations))
	for i, o := range in.Observations {
		if o.Category == "" {
			o.Category = ehr.CategoryVitalSigns
		}
		obs[i] = ehr.Observation{Category: o.Category, Code: o.Code, Display: o.Display, Value: o.Value, ValueText: o.ValueText,
			Unit: o.Unit, EffectiveAt: o.EffectiveAt}
	}
	saved, err := x.records.RecordObservations(r.Context(), r.PathValue("id"), obs)
	out := []ObservationJSON{}
	for _, o := range saved {
		out = append(out, observationJSON(o))
	}
	return reply(w, err, http.StatusCreated, map[string]any{"observations": out})
}

func (x *api) enteredInError(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	var in struct {
		Kind    string `json:"kind"`
		ID      string `json:"id"`
		Version int    `json:"version"`
		Reason  string `json:"reason"`
	}
	if err := web.Decode(w, r, &in); err != nil {
		return err
	}
	k, err := rbac.ParseKind(in.Kind)
	if err != nil {
		return invalid("kind", ehr.CodeNotAllowed)
	}
	v, err := x.records.MarkEnteredInError(r.Context(), ehr.RecordRef{Kind: k, PatientID: r.PathValue("id"), ID: in.ID, Version: in.Version}, in.Reason)
	return reply(w, err, http.StatusOK, versionJSON{in.ID, v})
}
