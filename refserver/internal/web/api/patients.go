package api

import (
	"net/http"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/web"
)

func (x *api) routesPatients() {
	x.handle("GET /api/v1/patients", x.searchPatients)
	x.handle("POST /api/v1/patients", x.registerPatient)
	x.handle("GET /api/v1/patients/{id}", x.getPatient)
	x.handle("GET /api/v1/patients/{id}/access-log", x.accessLog)
	x.handle("GET /api/v1/my-patients", x.myPatients)
	x.handle("POST /api/v1/patients/{id}/break-glass", x.breakGlass)
	x.handle("POST /api/v1/patients/{id}/care-team", x.assignCareTeam)
}

// PatientJSON is a patient in the API.
type PatientJSON struct {
	ID             string    `json:"id"`
	DocumentType   string    `json:"document_type"`
	DocumentNumber string    `json:"document_number"`
	GivenNames     string    `json:"given_names"`
	FamilyNames    string    `json:"family_names"`
	BirthDate      string    `json:"birth_date"`
	Sex            string    `json:"sex"`
	Phone          string    `json:"phone,omitempty"`
	Email          string    `json:"email,omitempty"`
	Address        string    `json:"address,omitempty"`
	Version        int       `json:"version,omitempty"`
	UpdatedAt      time.Time `json:"updated_at,omitzero"`
}

func patientJSON(p ehr.Patient) PatientJSON {
	return PatientJSON{ID: p.ID, DocumentType: p.DocumentType, DocumentNumber: p.DocumentNumber, GivenNames: p.GivenNames,
		FamilyNames: p.FamilyNames, BirthDate: p.BirthDate.Format("2006-01-02"), Sex: p.Sex, Phone: p.Contact.Phone,
		Email: p.Contact.Email, Address: p.Contact.Address, Version: p.Version, UpdatedAt: p.UpdatedAt}
}

// patientFields names ehr's patient fields as PatientJSON does (the rest
// are ehr's in snake case).
var patientFields = map[string]string{"Contact.Phone": "phone", "Contact.Email": "email", "Contact.Address": "address"}

func patientsJSON(ps []ehr.Patient) []PatientJSON {
	out := []PatientJSON{}
	for _, p := range ps {
		out = append(out, patientJSON(p))
	}
	return out
}

func (x *api) searchPatients(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	q := r.URL.Query()
	page, err := x.records.SearchPatients(r.Context(), ehr.PatientQuery{Name: q.Get("name"), DocumentNumber: q.Get("document"), Cursor: q.Get("cursor"), Limit: 50})
	if err != nil {
		return err
	}
	return reply(w, nil, http.StatusOK, struct {
		Patients []PatientJSON `json:"patients"`
		Next     string        `json:"next,omitempty"`
	}{Patients: patientsJSON(page.Patients), Next: page.Next})
}

func (x *api) myPatients(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	ps, err := x.records.MyPatients(r.Context())
	return reply(w, err, http.StatusOK, map[string]any{"patients": patientsJSON(ps)})
}

func (x *api) getPatient(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	p, err := x.records.GetPatient(r.Context(), r.PathValue("id"))
	return reply(w, err, http.StatusOK, patientJSON(p))
}

func (x *api) registerPatient(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	var in PatientJSON
	if err := web.DecodeLoose(w, r, &in); err != nil {
		return err
	}
	p := ehr.Patient{DocumentType: in.DocumentType, DocumentNumber: in.DocumentNumber, GivenNames: in.GivenNames,
		FamilyNames: in.FamilyNames, Sex: in.Sex, Contact: ehr.Contact{Phone: in.Phone, Email: in.Email, Address: in.Address}}
	if in.BirthDate != "" {
		bd, err := time.Parse("2006-01-02", in.BirthDate)
		if err != nil {
			return invalid("birth_date", ehr.CodeInvalid)
		}
		p.BirthDate = bd
	}
	created, err := x.records.RegisterPatient(r.Context(), p)
	if err != nil {
		return web.Rename(err, patientFields)
	}
	w.Header().Set("Location", "/api/v1/patients/"+created.ID)
	return reply(w, nil, http.StatusCreated, patientJSON(created))
}

func (x *api) accessLog(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	log, err := x.records.AccessLog(r.Context(), r.PathValue("id"), 1000)
	type entry struct {
		At         time.Time `json:"at"`
		UserID     string    `json:"user_id"`
		Roles      []string  `json:"roles"`
		Action     string    `json:"action"`
		Kind       string    `json:"kind"`
		BreakGlass bool      `json:"break_glass"`
	}
	out := []entry{}
	for _, e := range log {
		out = append(out, entry{e.At, e.UserID, e.Roles, e.Action, e.Kind, e.BreakGlass})
	}
	return reply(w, err, http.StatusOK, map[string]any{"entries": out})
}

func (x *api) breakGlass(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	// Sensitive action: a recent proof of the password or second factor
	// (web.RecentAuth answers with 401 reauth_required otherwise).
	if ok, err := x.web.RecentAuth(w, r); !ok {
		return err
	}
	var in struct {
		Reason  string `json:"reason"`
		Minutes int    `json:"minutes"`
	}
	if err := web.Decode(w, r, &in); err != nil {
		return err
	}
	maxGrant := x.records.Authorizer().MaxGrantDuration()
	if in.Minutes < 0 || in.Minutes > int(maxGrant/time.Minute) {
		// Checked here: a huge count of minutes overflows the duration,
		// and may wrap round to an allowed one.
		return invalid("minutes", ehr.CodeOutOfRange)
	}
	d := time.Duration(in.Minutes) * time.Minute
	if in.Minutes == 0 {
		d = min(time.Hour, maxGrant)
	}
	g, err := x.records.BreakGlass(r.Context(), r.PathValue("id"), in.Reason, d)
	return reply(w, err, http.StatusCreated, map[string]any{"id": g.ID, "patient_id": g.PatientID, "not_after": g.NotAfter})
}

func (x *api) assignCareTeam(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	var in struct {
		PractitionerID string `json:"practitioner_id"`
		Role           string `json:"role"`
		Reason         string `json:"reason"`
	}
	if err := web.Decode(w, r, &in); err != nil {
		return err
	}
	m, err := x.records.AssignCareTeam(r.Context(), ehr.CareTeamMember{PatientID: r.PathValue("id"), PractitionerID: in.PractitionerID, Role: in.Role, Reason: in.Reason})
	return reply(w, err, http.StatusCreated, map[string]any{"id": m.ID, "patient_id": m.PatientID, "practitioner_id": m.PractitionerID,
		"role": m.Role, "status": m.Status, "version": m.Version})
}
