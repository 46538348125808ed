package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/views"
)

func patientRow(p ehr.Patient) views.PatientRow {
	return views.PatientRow{ID: p.ID, Name: p.GivenNames + " " + p.FamilyNames, Document: p.DocumentType + " " + p.DocumentNumber,
		BirthDate: p.BirthDate.Format("2006-01-02"), Sex: p.Sex}
}

func patientDetail(p ehr.Patient) views.PatientDetail {
	return views.PatientDetail{PatientRow: patientRow(p), Phone: p.Contact.Phone, Email: p.Contact.Email, Address: p.Contact.Address,
		EmergencyName: p.Emergency.Name, EmergencyPhone: p.Emergency.Phone, EmergencyRelationship: p.Emergency.Relationship,
		Status: p.Status, Version: p.Version}
}

func rows(ps []ehr.Patient) []views.PatientRow {
	out := make([]views.PatientRow, 0, len(ps))
	for _, p := range ps {
		out = append(out, patientRow(p))
	}
	return out
}

// medico is the physician's home: the patients on their care team and a
// search of the tenant's patients.
func (s *Server) medico(w http.ResponseWriter, r *http.Request, id Identity) {
	mine, err := s.app.Records.MyPatients(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := views.MedicoData{Mine: rows(mine), Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	if d.Query != "" {
		page, err := s.app.Records.SearchPatients(r.Context(), ehr.PatientQuery{Name: d.Query, Limit: 50})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		d.Searched, d.Results = true, rows(page.Patients)
	}
	s.render(w, r, http.StatusOK, views.Medico(s.pageFor(r, id, "medico.title"), d))
}

// formFields maps the repository's field names to the form's.
var formFields = map[string]string{
	"DocumentType": "document_type", "DocumentNumber": "document_number", "GivenNames": "given_names",
	"FamilyNames": "family_names", "BirthDate": "birth_date", "Sex": "sex", "Contact.Phone": "phone",
	"Contact.Email": "email", "Contact.Address": "address",
}

// registerPatient handles the registration form: 303 to the page with the
// new patient, or 422 with the errors next to the fields, or 409 when the
// document is taken (shown on its field).
func (s *Server) registerPatient(w http.ResponseWriter, r *http.Request, id Identity) {
	if _, ok := parseForm(w, r); !ok {
		s.renderError(w, r, http.StatusBadRequest)
		return
	}
	f := views.RegisterForm{DocumentType: r.PostFormValue("document_type"), DocumentNumber: r.PostFormValue("document_number"),
		GivenNames: r.PostFormValue("given_names"), FamilyNames: r.PostFormValue("family_names"), BirthDate: r.PostFormValue("birth_date"),
		Sex: r.PostFormValue("sex"), Phone: r.PostFormValue("phone"), Email: r.PostFormValue("email"), Address: r.PostFormValue("address")}
	errs := views.FieldErrors{}
	p := ehr.Patient{DocumentType: f.DocumentType, DocumentNumber: f.DocumentNumber, GivenNames: f.GivenNames, FamilyNames: f.FamilyNames,
		Sex: f.Sex, Contact: ehr.Contact{Phone: f.Phone, Email: f.Email, Address: f.Address}}
	if f.BirthDate != "" {
		bd, err := time.Parse("2006-01-02", f.BirthDate)
		if err != nil {
			errs["birth_date"] = "field.invalid"
		}
		p.BirthDate = bd
	}
	var created ehr.Patient
	var err error
	if len(errs) == 0 {
		created, err = s.app.Records.RegisterPatient(r.Context(), p)
	}
	var ve *ehr.ValidationError
	switch {
	case len(errs) > 0:
	case err == nil:
		http.Redirect(w, r, "/admisionista?created="+url.QueryEscape(created.ID), http.StatusSeeOther)
		return
	case errors.As(err, &ve):
		for _, fe := range ve.Fields {
			name, ok := formFields[fe.Field]
			if !ok {
				continue
			}
			key := "field.invalid"
			switch {
			case strings.Contains(fe.Message, "required"):
				key = "field.required"
			case strings.Contains(fe.Message, "future"):
				key = "field.future"
			}
			errs[name] = key
		}
		if len(errs) == 0 {
			errs["document_number"] = "field.invalid"
		}
	case errors.Is(err, ehr.ErrConflict):
		errs["document_number"] = "field.taken"
		d := s.admisionistaData(r, id, url.Values{})
		d.Form, d.Errors = f, errs
		s.render(w, r, http.StatusConflict, views.Admisionista(s.pageFor(r, id, "admisionista.title"), d))
		return
	default:
		s.fail(w, r, err)
		return
	}
	d := s.admisionistaData(r, id, url.Values{})
	d.Form, d.Errors = f, errs
	s.render(w, r, http.StatusUnprocessableEntity, views.Admisionista(s.pageFor(r, id, "admisionista.title"), d))
}

func (s *Server) auditData(r *http.Request, chain string, bgOnly bool) (views.AuditorData, error) {
	d := views.AuditorData{Chain: chain, BreakGlassOnly: bgOnly, Errors: views.FieldErrors{}}
	page, err := s.app.Records.SearchAudit(r.Context(), ehr.AuditQuery{ChainID: chain, BreakGlassOnly: bgOnly, Limit: 100})
	if err != nil {
		return d, err
	}
	for _, e := range page.Events {
		d.Events = append(d.Events, views.AuditRow{At: e.OccurredAt.Format("2006-01-02 15:04:05"), User: e.UserID,
			Roles: strings.Join(e.Roles, ", "), Action: e.Action, Kind: e.Kind, Chain: e.ChainID, Record: e.RecordID,
			Outcome: e.Outcome, BreakGlass: e.BreakGlass, Reason: e.Reason})
	}
	grants, err := s.app.Records.ListBreakGlass(r.Context(), ehr.BreakGlassQuery{Limit: 100})
	if err != nil {
		return d, err
	}
	nm := map[string]string{}
	id, _ := identity(r.Context())
	now := time.Now()
	for _, g := range grants {
		who, ok := nm[g.UserID]
		if !ok {
			who = g.UserID
			if u, err := s.app.Auth.Users().User(r.Context(), id.TenantID, g.UserID); err == nil {
				who = u.Username
			}
			nm[g.UserID] = who
		}
		d.Grants = append(d.Grants, views.GrantView{At: localTime(g.GrantedAt), User: who, PatientID: g.PatientID, Reason: g.Reason,
			Until: localTime(g.NotAfter), Uses: g.Uses, Active: g.NotAfter.After(now)})
	}
	return d, nil
}

// auditor shows the audit search.
func (s *Server) auditor(w http.ResponseWriter, r *http.Request, id Identity) {
	q := r.URL.Query()
	d, err := s.auditData(r, strings.TrimSpace(q.Get("chain")), q.Get("breakglass") == "1")
	if err != nil {
		if statusOf(err) == http.StatusUnprocessableEntity {
			d.Errors["chain"] = "field.invalid"
			s.render(w, r, http.StatusUnprocessableEntity, views.Auditor(s.pageFor(r, id, "auditor.title"), d))
			return
		}
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, views.Auditor(s.pageFor(r, id, "auditor.title"), d))
}

// verifyChain verifies one chain (a patient's, or the tenant's when the
// field is empty).
func (s *Server) verifyChain(w http.ResponseWriter, r *http.Request, id Identity) {
	f, ok := parseForm(w, r)
	if !ok {
		s.renderError(w, r, http.StatusBadRequest)
		return
	}
	chain := f["chain"]
	if chain == "" {
		chain = id.TenantID
	}
	st, err := s.app.Records.VerifyChain(r.Context(), chain)
	var ce *ehr.ChainError
	res := &views.VerifyResult{Chain: chain}
	switch {
	case err == nil:
		res.OK, res.Events = true, st.Events
	case errors.As(err, &ce):
		res.Detail = ce.Error()
	case statusOf(err) == http.StatusUnprocessableEntity:
		d, _ := s.auditData(r, "", false)
		d.Chain, d.Errors["chain"] = chain, "field.invalid"
		s.render(w, r, http.StatusUnprocessableEntity, views.Auditor(s.pageFor(r, id, "auditor.title"), d))
		return
	default:
		s.fail(w, r, err)
		return
	}
	d, err := s.auditData(r, "", false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Chain, d.Verified = chain, res
	s.render(w, r, http.StatusOK, views.Auditor(s.pageFor(r, id, "auditor.title"), d))
}
