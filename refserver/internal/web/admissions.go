package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/views"
)

// practitionerOptions lists the active practitioners for a select.
func (s *Server) practitionerOptions(r *http.Request) []views.Option {
	ps, err := s.app.Records.ListPractitioners(r.Context(), true)
	if err != nil {
		return nil
	}
	out := make([]views.Option, 0, len(ps))
	for _, p := range ps {
		label := p.Name
		if p.Specialty != "" {
			label += " (" + p.Specialty + ")"
		}
		out = append(out, views.Option{Value: p.ID, Label: label})
	}
	return out
}

// admisionistaData builds the admissions desk page for the query q
// (q: search, patient: the picked patient, created: a new patient).
// Sections that fail to load are left empty; the page still works.
func (s *Server) admisionistaData(r *http.Request, id Identity, q url.Values) views.AdmisionistaData {
	ctx := r.Context()
	d := views.AdmisionistaData{Query: strings.TrimSpace(q.Get("q")), Form: views.RegisterForm{DocumentType: "DNI", Sex: "unknown"},
		Errors: views.FieldErrors{}, Action: views.Form{}, ActionErrors: views.FieldErrors{},
		Can: views.Can{
			"admit":     s.app.can(id, rbac.ActionAdmit, rbac.KindAdmission),
			"transfer":  s.app.can(id, rbac.ActionTransfer, rbac.KindAdmission),
			"discharge": s.app.can(id, rbac.ActionDischarge, rbac.KindAdmission),
			"careteam":  s.app.can(id, rbac.ActionCreate, rbac.KindCareTeam),
		}}
	if created := q.Get("created"); created != "" {
		if p, err := s.app.Records.GetPatient(ctx, created); err == nil {
			row := patientRow(p)
			d.Created = &row
		}
	}
	if picked := q.Get("patient"); picked != "" {
		if p, err := s.app.Records.GetPatient(ctx, picked); err == nil {
			row := patientRow(p)
			d.Picked = &row
		}
	}
	if d.Query != "" {
		if page, err := s.app.Records.SearchPatients(ctx, ehr.PatientQuery{Name: d.Query, Limit: 50}); err == nil {
			d.Searched, d.Results = true, rows(page.Patients)
		}
	}
	d.Practitioners = s.practitionerOptions(r)
	names := map[string]string{}
	for _, o := range d.Practitioners {
		names[o.Value] = o.Label
	}
	if list, err := s.app.Records.ListAdmissions(ctx, ""); err == nil {
		for _, a := range list {
			e := a.Encounter
			d.Admissions = append(d.Admissions, views.AdmissionView{ID: e.ID, PatientID: e.PatientID, Patient: a.GivenNames + " " + a.FamilyNames,
				Ward: e.Ward, Bed: e.Bed, Attending: names[e.PractitionerID], AttendingID: e.PractitionerID, Since: localTime(e.StartedAt), Version: e.Version})
		}
	} else {
		s.log.WarnContext(ctx, "list admissions", "error", err)
	}
	return d
}

// admisionista is the admission clerk's page.
func (s *Server) admisionista(w http.ResponseWriter, r *http.Request, id Identity) {
	s.render(w, r, http.StatusOK, views.Admisionista(s.pageFor(r, id, "admisionista.title"), s.admisionistaData(r, id, r.URL.Query())))
}

// admissionAction is one of the admissions desk's forms.
type admissionAction struct {
	fields map[string]string
	run    func(r *http.Request, f views.Form) (views.FieldErrors, error)
}

// admissionPost handles an admissions form: 303 to the page, or the page
// again with 422 (field errors), 409 (changed since read, or already
// admitted) or 404.
func (s *Server) admissionPost(act admissionAction) pageHandler {
	return func(w http.ResponseWriter, r *http.Request, id Identity) {
		f, ok := parseForm(w, r)
		if !ok {
			s.renderError(w, r, http.StatusBadRequest)
			return
		}
		errs, err := act.run(r, f)
		status, alert := http.StatusUnprocessableEntity, "error.422"
		switch {
		case len(errs) > 0:
		case err == nil:
			seeOther(w, r, "/admisionista?saved=1#admissions")
			return
		case mapFieldErrors(err, act.fields, "", errsOr(&errs)):
		case errors.Is(err, ehr.ErrInvalid):
		case errors.Is(err, ehr.ErrConflict):
			status, alert = http.StatusConflict, "admissions.conflict"
		default:
			s.fail(w, r, s.missingPatient(r, f["patient_id"], err))
			return
		}
		q := url.Values{"patient": {f["patient_id"]}}
		d := s.admisionistaData(r, id, q)
		d.Action, d.ActionErrors, d.AlertKey = f, errs, alert
		s.render(w, r, status, views.Admisionista(s.pageFor(r, id, "admisionista.title"), d))
	}
}

func (s *Server) routesAdmissions() {
	adm := func(h pageHandler) http.HandlerFunc { return s.page_(h, "admisionista") }
	s.handle("POST /admisionista/ingresos", adm(s.admissionPost(admissionAction{
		fields: map[string]string{"Ward": "ward", "Bed": "bed", "AttendingID": "attending", "Reason": "reason"},
		run: func(r *http.Request, f views.Form) (views.FieldErrors, error) {
			_, err := s.app.Records.Admit(r.Context(), ehr.Admission{PatientID: f["patient_id"], AttendingID: f["attending"],
				Ward: f["ward"], Bed: f["bed"], Reason: f["reason"]})
			return nil, err
		}})))
	s.handle("POST /admisionista/ingresos/{id}/traslado", adm(s.admissionPost(admissionAction{
		fields: map[string]string{"Ward": "ward", "Bed": "bed"},
		run: func(r *http.Request, f views.Form) (views.FieldErrors, error) {
			_, err := s.app.Records.Transfer(r.Context(), ehr.EncounterRef{PatientID: f["patient_id"], ID: r.PathValue("id"), Version: atoi(f["version"])},
				f["ward"], f["bed"], f["attending"])
			return nil, err
		}})))
	s.handle("POST /admisionista/ingresos/{id}/alta", adm(s.admissionPost(admissionAction{
		fields: map[string]string{"Disposition": "disposition"},
		run: func(r *http.Request, f views.Form) (views.FieldErrors, error) {
			_, err := s.app.Records.Discharge(r.Context(), ehr.EncounterRef{PatientID: f["patient_id"], ID: r.PathValue("id"), Version: atoi(f["version"])},
				f["disposition"])
			return nil, err
		}})))
	s.handle("POST /admisionista/equipo", adm(s.admissionPost(admissionAction{
		fields: map[string]string{"PractitionerID": "practitioner", "Role": "role"},
		run: func(r *http.Request, f views.Form) (views.FieldErrors, error) {
			if f["practitioner"] == "" {
				return views.FieldErrors{"practitioner": "field.required"}, nil
			}
			_, err := s.app.Records.AssignCareTeam(r.Context(), ehr.CareTeamMember{PatientID: f["patient_id"], PractitionerID: f["practitioner"],
				Role: f["role"], Reason: "attending physician"})
			return nil, err
		}})))
}
