package api

import (
	"net/http"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/web"
)

func (x *api) routesAdmissions() {
	x.handle("GET /api/v1/admissions", x.admissions)
	x.handle("POST /api/v1/admissions", x.admit)
	x.handle("POST /api/v1/admissions/{id}/transfer", x.admissionOp(func(r *http.Request, ref ehr.EncounterRef, in admissionChange) (ehr.Encounter, error) {
		return x.records.Transfer(r.Context(), ref, in.Ward, in.Bed, in.AttendingID)
	}))
	x.handle("POST /api/v1/admissions/{id}/discharge", x.admissionOp(func(r *http.Request, ref ehr.EncounterRef, in admissionChange) (ehr.Encounter, error) {
		return x.records.Discharge(r.Context(), ref, in.Disposition)
	}))
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

func (x *api) admissions(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	list, err := x.records.ListAdmissions(r.Context(), r.URL.Query().Get("ward"))
	out := []EncounterJSON{}
	for _, e := range list {
		out = append(out, encounterJSON(e.Encounter, e.GivenNames+" "+e.FamilyNames))
	}
	return reply(w, err, http.StatusOK, map[string]any{"admissions": out})
}

func (x *api) admit(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	var in struct {
		PatientID   string `json:"patient_id"`
		AttendingID string `json:"attending_id"`
		Ward        string `json:"ward"`
		Bed         string `json:"bed"`
		Reason      string `json:"reason"`
	}
	if err := web.Decode(w, r, &in); err != nil {
		return err
	}
	e, err := x.records.Admit(r.Context(), ehr.Admission{PatientID: in.PatientID, AttendingID: in.AttendingID, Ward: in.Ward, Bed: in.Bed, Reason: in.Reason})
	return reply(w, err, http.StatusCreated, encounterJSON(e, ""))
}

// admissionChange is the body of the operations on admission {id}.
type admissionChange struct {
	PatientID   string `json:"patient_id"`
	Version     int    `json:"version"`
	Ward        string `json:"ward"`
	Bed         string `json:"bed"`
	AttendingID string `json:"attending_id"`
	Disposition string `json:"disposition"`
}

// admissionOp is an operation on admission {id}.
func (x *api) admissionOp(op func(r *http.Request, ref ehr.EncounterRef, in admissionChange) (ehr.Encounter, error)) web.Handler {
	return func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		var in admissionChange
		if err := web.Decode(w, r, &in); err != nil {
			return err
		}
		e, err := op(r, ehr.EncounterRef{PatientID: in.PatientID, ID: r.PathValue("id"), Version: in.Version}, in)
		return reply(w, err, http.StatusOK, encounterJSON(e, ""))
	}
}
