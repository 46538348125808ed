package pages

import (
	"net/http"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/views"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// pages are the role pages and what they use.
type pages struct {
	web     *web.Router
	app     *app.App
	records *ehr.Repository
	staff   *app.Staff
	names   *app.Directory
}

// Mount registers the role pages of a on rt.
func Mount(rt *web.Router, a *app.App) {
	p := &pages{web: rt, app: a, records: a.Records, staff: a.Staff, names: a.Directory}
	p.routesPortal()
	p.routesMedico()
	p.routesChart()
	p.routesAdmisionista()
	p.routesSecretaria()
	p.routesAdmin()
	p.routesAuditor()
	p.routesActivation()
	p.routesAccount()
}

// handle registers a page of role.
func (p *pages) handle(pattern, role string, h web.Handler) { p.web.Handle(pattern, h, role) }

func patientRow(pt ehr.Patient) views.PatientRow {
	return views.PatientRow{ID: pt.ID, Name: pt.GivenNames + " " + pt.FamilyNames, Document: pt.DocumentType + " " + pt.DocumentNumber,
		BirthDate: pt.BirthDate.Format("2006-01-02"), Sex: pt.Sex}
}

func patientDetail(pt ehr.Patient) views.PatientDetail {
	return views.PatientDetail{PatientRow: patientRow(pt), Phone: pt.Contact.Phone, Email: pt.Contact.Email, Address: pt.Contact.Address,
		EmergencyName: pt.Emergency.Name, EmergencyPhone: pt.Emergency.Phone, EmergencyRelationship: pt.Emergency.Relationship,
		Status: pt.Status, Version: pt.Version}
}

func rows(ps []ehr.Patient) []views.PatientRow {
	out := make([]views.PatientRow, 0, len(ps))
	for _, pt := range ps {
		out = append(out, patientRow(pt))
	}
	return out
}

// errsOr returns *e, made first when nil.
func errsOr(e *views.FieldErrors) views.FieldErrors {
	if *e == nil {
		*e = views.FieldErrors{}
	}
	return *e
}

// practitionerOptions lists the tenant's active practitioners for a
// select (none when they cannot be read).
func (p *pages) practitionerOptions(r *http.Request) []views.Option {
	ps, err := p.records.ListPractitioners(r.Context(), true)
	if err != nil {
		return nil
	}
	out := make([]views.Option, 0, len(ps))
	for _, pr := range ps {
		label := pr.Name
		if pr.Specialty != "" {
			label += " (" + pr.Specialty + ")"
		}
		out = append(out, views.Option{Value: pr.ID, Label: label})
	}
	return out
}

// appointmentView is an appointment as the agenda and the portal list it.
func appointmentView(e ehr.AppointmentEntry, practitioner string) views.AppointmentView {
	a := e.Appointment
	st, en := a.Start.In(time.Local), a.End.In(time.Local)
	return views.AppointmentView{ID: a.ID, PatientID: a.PatientID, Patient: strings.TrimSpace(e.GivenNames + " " + e.FamilyNames),
		Practitioner: practitioner, Date: st.Format("2006-01-02"), Start: st.Format("15:04"), End: en.Format("15:04"),
		Status: a.Status, Reason: a.Reason, Minutes: int(a.End.Sub(a.Start) / time.Minute), Version: a.Version}
}
