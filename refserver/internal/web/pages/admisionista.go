package pages

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/i18n"
	"github.com/historiaehr/historia/refserver/internal/views"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// The admissions desk (/admisionista): register a patient, search, admit,
// transfer and discharge, and assign the attending physician.

func (p *pages) routesAdmisionista() {
	adm := func(pattern string, h web.Handler) { p.handle(pattern, app.RoleAdmisionista, h) }
	adm("GET /admisionista", p.admisionista)
	adm("POST /admisionista/pacientes", p.registerPatient)
	adm("POST /admisionista/ingresos", p.admissionPost(admissionAction{
		fields: map[string]string{"Ward": "ward", "Bed": "bed", "AttendingID": "attending", "Reason": "reason"},
		run: func(r *http.Request, f views.Form) (views.FieldErrors, error) {
			_, err := p.records.Admit(r.Context(), ehr.Admission{PatientID: f["patient_id"], AttendingID: f["attending"],
				Ward: f["ward"], Bed: f["bed"], Reason: f["reason"]})
			return nil, err
		}}))
	adm("POST /admisionista/ingresos/{id}/traslado", p.admissionPost(admissionAction{
		fields: map[string]string{"Ward": "ward", "Bed": "bed"},
		run: func(r *http.Request, f views.Form) (views.FieldErrors, error) {
			_, err := p.records.Transfer(r.Context(), ehr.EncounterRef{PatientID: f["patient_id"], ID: r.PathValue("id"), Version: web.Atoi(f["version"])},
				f["ward"], f["bed"], f["attending"])
			return nil, err
		}}))
	adm("POST /admisionista/ingresos/{id}/alta", p.admissionPost(admissionAction{
		fields: map[string]string{"Disposition": "disposition"},
		run: func(r *http.Request, f views.Form) (views.FieldErrors, error) {
			_, err := p.records.Discharge(r.Context(), ehr.EncounterRef{PatientID: f["patient_id"], ID: r.PathValue("id"), Version: web.Atoi(f["version"])},
				f["disposition"])
			return nil, err
		}}))
	adm("POST /admisionista/equipo", p.admissionPost(admissionAction{
		fields: map[string]string{"PractitionerID": "practitioner", "Role": "role"},
		run: func(r *http.Request, f views.Form) (views.FieldErrors, error) {
			if f["practitioner"] == "" {
				return views.FieldErrors{"practitioner": i18n.FieldKey(ehr.CodeRequired)}, nil
			}
			_, err := p.records.AssignCareTeam(r.Context(), ehr.CareTeamMember{PatientID: f["patient_id"], PractitionerID: f["practitioner"],
				Role: f["role"], Reason: "attending physician"})
			return nil, err
		}}))
}

// admisionistaData builds the admissions desk page for the query q
// (q: search, patient: the picked patient, created: a new patient).
// Sections that fail to load are left empty; the page still works.
func (p *pages) admisionistaData(r *http.Request, c app.Caller, q url.Values) views.AdmisionistaData {
	ctx := r.Context()
	d := views.AdmisionistaData{Query: strings.TrimSpace(q.Get("q")), Form: views.RegisterForm{DocumentType: "DNI", Sex: "unknown"},
		Errors: views.FieldErrors{}, Action: views.Form{}, ActionErrors: views.FieldErrors{},
		Can: views.Can{
			"admit":     p.app.Can(c, rbac.ActionAdmit, rbac.KindAdmission),
			"transfer":  p.app.Can(c, rbac.ActionTransfer, rbac.KindAdmission),
			"discharge": p.app.Can(c, rbac.ActionDischarge, rbac.KindAdmission),
			"careteam":  p.app.Can(c, rbac.ActionCreate, rbac.KindCareTeam),
		}}
	if created := q.Get("created"); created != "" {
		if pt, err := p.records.GetPatient(ctx, created); err == nil {
			row := patientRow(pt)
			d.Created = &row
		}
	}
	if picked := q.Get("patient"); picked != "" {
		if pt, err := p.records.GetPatient(ctx, picked); err == nil {
			row := patientRow(pt)
			d.Picked = &row
		}
	}
	if d.Query != "" {
		if page, err := p.records.SearchPatients(ctx, ehr.PatientQuery{Name: d.Query, Limit: 50}); err == nil {
			d.Searched, d.Results = true, rows(page.Patients)
		}
	}
	d.Practitioners = p.practitionerOptions(r)
	names := map[string]string{}
	for _, o := range d.Practitioners {
		names[o.Value] = o.Label
	}
	if list, err := p.records.ListAdmissions(ctx, ""); err == nil {
		for _, a := range list {
			e := a.Encounter
			d.Admissions = append(d.Admissions, views.AdmissionView{ID: e.ID, PatientID: e.PatientID, Patient: a.GivenNames + " " + a.FamilyNames,
				Ward: e.Ward, Bed: e.Bed, Attending: names[e.PractitionerID], AttendingID: e.PractitionerID, Since: web.LocalTime(e.StartedAt), Version: e.Version})
		}
	} else {
		p.web.Log().WarnContext(ctx, "list admissions", "error", err)
	}
	return d
}

// admisionista is the admission clerk's page.
func (p *pages) admisionista(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	p.web.Render(w, r, http.StatusOK, views.Admisionista(p.web.Layout(r, c, "admisionista.title"), p.admisionistaData(r, c, r.URL.Query())))
	return nil
}

// registerFields maps the repository's field names to the registration
// form's.
var registerFields = map[string]string{
	"DocumentType": "document_type", "DocumentNumber": "document_number", "GivenNames": "given_names",
	"FamilyNames": "family_names", "BirthDate": "birth_date", "Sex": "sex", "Contact.Phone": "phone",
	"Contact.Email": "email", "Contact.Address": "address",
}

// registerPatient handles the registration form: 303 to the page with the
// new patient, or 422 with the errors next to the fields, or 409 when the
// document is taken (shown on its field).
func (p *pages) registerPatient(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	if _, err := web.ParseForm(w, r); err != nil {
		return err
	}
	f := views.RegisterForm{DocumentType: r.PostFormValue("document_type"), DocumentNumber: r.PostFormValue("document_number"),
		GivenNames: r.PostFormValue("given_names"), FamilyNames: r.PostFormValue("family_names"), BirthDate: r.PostFormValue("birth_date"),
		Sex: r.PostFormValue("sex"), Phone: r.PostFormValue("phone"), Email: r.PostFormValue("email"), Address: r.PostFormValue("address")}
	errs := views.FieldErrors{}
	pt := ehr.Patient{DocumentType: f.DocumentType, DocumentNumber: f.DocumentNumber, GivenNames: f.GivenNames, FamilyNames: f.FamilyNames,
		Sex: f.Sex, Contact: ehr.Contact{Phone: f.Phone, Email: f.Email, Address: f.Address}}
	if f.BirthDate != "" {
		bd, err := time.Parse("2006-01-02", f.BirthDate)
		if err != nil {
			errs["birth_date"] = i18n.FieldKey(ehr.CodeInvalid)
		}
		pt.BirthDate = bd
	}
	var created ehr.Patient
	var err error
	if len(errs) == 0 {
		created, err = p.records.RegisterPatient(r.Context(), pt)
	}
	status := http.StatusUnprocessableEntity
	switch {
	case len(errs) > 0:
	case err == nil:
		web.SeeOther(w, r, "/admisionista?created="+url.QueryEscape(created.ID))
		return nil
	case errors.Is(err, ehr.ErrInvalid):
		if !web.FormErrors(err, registerFields, "", errs) {
			errs["document_number"] = i18n.FieldKey(ehr.CodeInvalid)
		}
	case errors.Is(err, ehr.ErrConflict):
		status, errs["document_number"] = http.StatusConflict, i18n.FieldKey(app.CodeDocumentTaken)
	default:
		return err
	}
	d := p.admisionistaData(r, c, url.Values{})
	d.Form, d.Errors = f, errs
	p.web.Render(w, r, status, views.Admisionista(p.web.Layout(r, c, "admisionista.title"), d))
	return nil
}

// admissionAction is one of the admissions desk's forms.
type admissionAction struct {
	fields map[string]string
	run    func(r *http.Request, f views.Form) (views.FieldErrors, error)
}

// admissionPost handles an admissions form: 303 to the page, or the page
// again with 422 (field errors), 409 (changed since read, or already
// admitted) or 404.
func (p *pages) admissionPost(act admissionAction) web.Handler {
	return func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		f, err := web.ParseForm(w, r)
		if err != nil {
			return err
		}
		errs, err := act.run(r, f)
		status, alert := http.StatusUnprocessableEntity, "error.422"
		switch {
		case len(errs) > 0:
		case err == nil:
			web.SeeOther(w, r, "/admisionista?saved=1#admissions")
			return nil
		case web.FormErrors(err, act.fields, "", errsOr(&errs)):
		case errors.Is(err, ehr.ErrInvalid):
		case errors.Is(err, ehr.ErrConflict):
			status, alert = http.StatusConflict, "admissions.conflict"
		default:
			return err
		}
		d := p.admisionistaData(r, c, url.Values{"patient": {f["patient_id"]}})
		d.Action, d.ActionErrors, d.AlertKey = f, errs, alert
		p.web.Render(w, r, status, views.Admisionista(p.web.Layout(r, c, "admisionista.title"), d))
		return nil
	}
}
