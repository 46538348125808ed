package api

import (
	"net/http"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/web"
)

func (x *api) routesAppointments() {
	x.handle("GET /api/v1/patients/{id}/appointments", x.patientAppointments)
	x.handle("GET /api/v1/appointments", x.agenda)
	x.handle("POST /api/v1/appointments", x.book)
	x.handle("POST /api/v1/appointments/{id}/reschedule", x.appointmentOp(func(r *http.Request, in appointmentChange) (ehr.Appointment, error) {
		return x.records.RescheduleAppointment(r.Context(), in.ref(r), in.Start, in.End)
	}))
	x.handle("POST /api/v1/appointments/{id}/cancel", x.appointmentOp(func(r *http.Request, in appointmentChange) (ehr.Appointment, error) {
		return x.records.CancelAppointment(r.Context(), in.ref(r), in.Reason)
	}))
	x.handle("POST /api/v1/appointments/{id}/check-in", x.appointmentOp(func(r *http.Request, in appointmentChange) (ehr.Appointment, error) {
		return x.records.CheckIn(r.Context(), in.ref(r))
	}))
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

func appointmentsJSON(list []ehr.AppointmentEntry) []AppointmentJSON {
	out := []AppointmentJSON{}
	for _, e := range list {
		out = append(out, appointmentJSON(e.Appointment, e.GivenNames+" "+e.FamilyNames))
	}
	return out
}

func (x *api) patientAppointments(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	list, err := x.records.ListAppointments(r.Context(), ehr.AppointmentQuery{PatientID: r.PathValue("id"), IncludeCancelled: true})
	return reply(w, err, http.StatusOK, map[string]any{"appointments": appointmentsJSON(list)})
}

func (x *api) agenda(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	q := r.URL.Query()
	from, err1 := time.Parse(time.RFC3339, q.Get("from"))
	to, err2 := time.Parse(time.RFC3339, q.Get("to"))
	switch {
	case err1 != nil:
		return invalid("from", ehr.CodeInvalid)
	case err2 != nil:
		return invalid("to", ehr.CodeInvalid)
	}
	list, err := x.records.ListAppointments(r.Context(), ehr.AppointmentQuery{PractitionerID: q.Get("practitioner"), From: from, To: to,
		IncludeCancelled: q.Get("include_cancelled") == "true"})
	return reply(w, err, http.StatusOK, map[string]any{"appointments": appointmentsJSON(list)})
}

func (x *api) book(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	var in AppointmentJSON
	if err := web.Decode(w, r, &in); err != nil {
		return err
	}
	ap, err := x.records.BookAppointment(r.Context(), ehr.Appointment{PatientID: in.PatientID, PractitionerID: in.PractitionerID,
		Start: in.Start, End: in.End, Reason: in.Reason})
	if err == nil {
		w.Header().Set("Location", "/api/v1/patients/"+ap.PatientID+"/appointments")
	}
	return reply(w, err, http.StatusCreated, appointmentJSON(ap, ""))
}

// appointmentChange is the body of the operations on appointment {id}.
type appointmentChange struct {
	PatientID string    `json:"patient_id"`
	Version   int       `json:"version"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Reason    string    `json:"reason"`
}

func (in appointmentChange) ref(r *http.Request) ehr.RecordRef {
	return ehr.RecordRef{Kind: rbac.KindAppointment, PatientID: in.PatientID, ID: r.PathValue("id"), Version: in.Version}
}

// appointmentOp is an operation on appointment {id}.
func (x *api) appointmentOp(op func(r *http.Request, in appointmentChange) (ehr.Appointment, error)) web.Handler {
	return func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		var in appointmentChange
		if err := web.Decode(w, r, &in); err != nil {
			return err
		}
		ap, err := op(r, in)
		return reply(w, err, http.StatusOK, appointmentJSON(ap, ""))
	}
}
