package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

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
	c.Notes = patientNotes(c.Notes)
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

// patientNotes are the notes a patient reads: what their physician signed
// (signed or amended), never work in progress. A signed note later
// entered in error stays, marked as such; a draft entered in error was
// never signed and stays hidden.
func patientNotes(notes []ehr.Note) []ehr.Note {
	out := notes[:0:0]
	for _, n := range notes {
		switch {
		case n.Status == ehr.NoteSigned, n.Status == ehr.NoteAmended:
		case n.Status == ehr.StatusEnteredInError && n.SignedAt != nil:
		default:
			continue
		}
		out = append(out, n)
	}
	return out
}

// signedVersion reports whether data, a note version's row, is one a
// patient may read (signed, amended, or a signed note entered in error).
func signedVersion(data json.RawMessage) bool {
	var row struct {
		Status   string  `json:"status"`
		SignedAt *string `json:"signed_at"`
	}
	if json.Unmarshal(data, &row) != nil {
		return false
	}
	n := ehr.Note{Status: row.Status}
	if row.SignedAt != nil {
		n.SignedAt = new(time.Time)
	}
	return len(patientNotes([]ehr.Note{n})) == 1
}
