package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/views"
)

// patientOnly reports whether id is a patient and nothing else: such a
// user gets 404 for any other patient id, never 403, so that asking
// reveals nothing.
func patientOnly(id Identity) bool {
	return id.PatientID != "" && len(id.Roles) > 0 && !slices.ContainsFunc(id.Roles, func(r string) bool { return r != "paciente" })
}

// portal is the patient's own page: the chart read-only, appointments and
// who viewed the record. Another patient's id is not found (404), even in
// the same tenant; the repository still records the refused attempt.
func (s *Server) portal(w http.ResponseWriter, r *http.Request, id Identity) {
	pid := r.PathValue("id")
	c, err := s.app.Records.Chart(r.Context(), pid)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	log, err := s.app.Records.AccessLog(r.Context(), c.Patient.ID, 200)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c.Notes = withoutDrafts(c.Notes)
	nm := s.app.names(r.Context(), id.TenantID)
	d := views.PortalData{Patient: patientDetail(c.Patient), Chart: chartView(r.Context(), c, nm)}
	d.Chart.Can = views.Can{}
	for i := len(c.Appointments) - 1; i >= 0; i-- {
		a := c.Appointments[i]
		d.Appointments = append(d.Appointments, appointmentView(ehr.AppointmentEntry{Appointment: a}, nm.practitioner(a.PractitionerID)))
	}
	for _, e := range log {
		d.Access = append(d.Access, views.AccessRow{At: localTime(e.At), Who: nm.user(r.Context(), e.UserID),
			Role: strings.Join(e.Roles, ", "), What: e.Kind, BreakGlass: e.BreakGlass})
	}
	s.render(w, r, http.StatusOK, views.Portal(s.pageFor(r, id, "portal.title"), d))
}

// withoutDrafts drops draft notes: a patient reads what their physician
// signed, not work in progress.
func withoutDrafts(notes []ehr.Note) []ehr.Note {
	out := notes[:0:0]
	for _, n := range notes {
		if n.Status != ehr.NoteDraft {
			out = append(out, n)
		}
	}
	return out
}
