package pages

import (
	"net/http"
	"strings"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/views"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// The patient's own page (/paciente/{id}): the chart read-only (bounded:
// each section's most recent rows, with the counts and a page for the
// rest, /paciente/{id}/seccion/{section}), their appointments and who
// viewed the record.

func (p *pages) routesPortal() {
	p.handle("GET /paciente/{id}", app.RolePaciente, p.portal)
	p.handle("GET /paciente/{id}/seccion/{section}", app.RolePaciente, p.chartMore("/paciente/"))
}

// portal is the patient's own page. Another patient's id is not found
// (404), even in the same tenant; the repository still records the
// refused attempt.
func (p *pages) portal(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	ctx := r.Context()
	win := vitalsWindow(r)
	v, err := p.records.ChartView(ctx, r.PathValue("id"), ehr.ChartBounds{Window: win.window})
	if err != nil {
		return err
	}
	ch := v.Chart
	log, err := p.records.AccessLog(ctx, ch.Patient.ID, 200)
	if err != nil {
		return err
	}
	ch.Notes = app.PatientNotes(ch.Notes)
	users, practitioners := authors(ch), make([]string, 0, len(ch.Appointments))
	for _, e := range log {
		users = append(users, e.UserID)
	}
	for _, a := range ch.Appointments {
		practitioners = append(practitioners, a.PractitionerID)
	}
	nm := p.names.Names(ctx, c, users, practitioners)
	d := views.PortalData{Patient: patientDetail(ch.Patient), Chart: chartView(ch, nm)}
	d.Chart.Can = views.Can{}
	boundedView(&d.Chart, v, "/paciente/"+ch.Patient.ID, win)
	for _, a := range ch.Appointments { // newest first
		d.Appointments = append(d.Appointments, appointmentView(ehr.AppointmentEntry{Appointment: a}, nm.Practitioner(a.PractitionerID)))
	}
	for _, e := range log {
		row := views.AccessRow{At: web.LocalTime(e.At), Role: strings.Join(e.Roles, ", "), What: e.Kind, BreakGlass: e.BreakGlass}
		if e.UserID != "" {
			row.Who = nm.User(e.UserID)
		}
		d.Access = append(d.Access, row)
	}
	p.web.Render(w, r, http.StatusOK, views.Portal(p.web.LayoutNamed(r, c, "portal.title", nm), d))
	return nil
}
