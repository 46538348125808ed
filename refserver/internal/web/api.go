package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
)

// apiHandler is an API operation: bearer (or cookie) authentication, JSON
// answers; the repository authorizes.
type apiHandler func(w http.ResponseWriter, r *http.Request, id Identity)

func (s *Server) api(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		id, r2, err := s.authenticate(w, r)
		if err != nil {
			s.unauthenticated(w, r, err)
			return
		}
		h(w, r2, id)
	}
}

func (s *Server) routesAPI() {
	s.handle("GET /api/v1/me", s.api(s.apiMe))
	s.handle("GET /api/v1/patients", s.api(s.apiSearchPatients))
	s.handle("POST /api/v1/patients", s.api(s.apiRegisterPatient))
	s.handle("GET /api/v1/patients/{id}", s.api(s.apiGetPatient))
	s.handle("GET /api/v1/patients/{id}/access-log", s.api(s.apiAccessLog))
	s.handle("GET /api/v1/my-patients", s.api(s.apiMyPatients))
	s.handle("GET /api/v1/audit/events", s.api(s.apiAuditEvents))
	s.handle("POST /api/v1/audit/verify", s.api(s.apiVerify))
	s.routesAPIOps()
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

func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	if strings.HasPrefix(r.Pattern, "POST /api/v1/patients/{id}/") || strings.HasPrefix(r.Pattern, "GET /api/v1/patients/{id}/notes/") {
		err = s.missingPatient(r, r.PathValue("id"), err)
	}
	status := statusFor(r, err)
	if status == http.StatusInternalServerError {
		s.log.ErrorContext(r.Context(), "api request failed", "error", err)
	}
	body := APIError{Error: map[int]string{400: "bad_request", 403: "forbidden", 404: "not_found", 409: "conflict",
		422: "invalid", 499: "canceled", 500: "internal"}[status]}
	var ve *ehr.ValidationError
	if errors.As(err, &ve) {
		body.Fields = map[string]string{}
		for _, f := range ve.Fields {
			body.Fields[f.Field] = f.Message
		}
	}
	body.Message = http.StatusText(status)
	writeJSON(w, status, body)
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request, id Identity) {
	writeJSON(w, http.StatusOK, map[string]any{"user_id": id.UserID, "tenant_id": id.TenantID, "roles": id.Roles,
		"patient_id": id.PatientID, "home": homeOf(id)})
}

func (s *Server) apiSearchPatients(w http.ResponseWriter, r *http.Request, id Identity) {
	q := r.URL.Query()
	page, err := s.app.Records.SearchPatients(r.Context(), ehr.PatientQuery{Name: q.Get("name"), DocumentNumber: q.Get("document"), Cursor: q.Get("cursor"), Limit: 50})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	out := struct {
		Patients []PatientJSON `json:"patients"`
		Next     string        `json:"next,omitempty"`
	}{Patients: []PatientJSON{}, Next: page.Next}
	for _, p := range page.Patients {
		out.Patients = append(out.Patients, patientJSON(p))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiMyPatients(w http.ResponseWriter, r *http.Request, id Identity) {
	ps, err := s.app.Records.MyPatients(r.Context())
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	out := []PatientJSON{}
	for _, p := range ps {
		out = append(out, patientJSON(p))
	}
	writeJSON(w, http.StatusOK, map[string]any{"patients": out})
}

func (s *Server) apiGetPatient(w http.ResponseWriter, r *http.Request, id Identity) {
	p, err := s.app.Records.GetPatient(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, patientJSON(p))
}

func (s *Server) apiRegisterPatient(w http.ResponseWriter, r *http.Request, id Identity) {
	var in PatientJSON
	raw, ok := jsonBody(w, r, maxForm)
	if !ok {
		return
	}
	if err := json.Unmarshal(raw, &in); err != nil || !cleanJSON(reflect.ValueOf(in)) {
		writeJSON(w, http.StatusBadRequest, APIError{Error: "bad_request", Message: "body is not a patient in JSON (UTF-8 text without NUL characters)"})
		return
	}
	p := ehr.Patient{DocumentType: in.DocumentType, DocumentNumber: in.DocumentNumber, GivenNames: in.GivenNames,
		FamilyNames: in.FamilyNames, Sex: in.Sex, Contact: ehr.Contact{Phone: in.Phone, Email: in.Email, Address: in.Address}}
	if in.BirthDate != "" {
		bd, err := time.Parse("2006-01-02", in.BirthDate)
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, APIError{Error: "invalid", Message: "invalid input", Fields: map[string]string{"BirthDate": "must be YYYY-MM-DD"}})
			return
		}
		p.BirthDate = bd
	}
	created, err := s.app.Records.RegisterPatient(r.Context(), p)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/patients/"+created.ID)
	writeJSON(w, http.StatusCreated, patientJSON(created))
}

func (s *Server) apiAccessLog(w http.ResponseWriter, r *http.Request, id Identity) {
	log, err := s.app.Records.AccessLog(r.Context(), r.PathValue("id"), 1000)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	type entry struct {
		At         time.Time `json:"at"`
		UserID     string    `json:"user_id"`
		Roles      []string  `json:"roles"`
		Kind       string    `json:"kind"`
		BreakGlass bool      `json:"break_glass"`
	}
	out := []entry{}
	for _, e := range log {
		out = append(out, entry{e.At, e.UserID, e.Roles, e.Kind, e.BreakGlass})
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out})
}

func (s *Server) apiAuditEvents(w http.ResponseWriter, r *http.Request, id Identity) {
	q := r.URL.Query()
	page, err := s.app.Records.SearchAudit(r.Context(), ehr.AuditQuery{ChainID: q.Get("chain"), BreakGlassOnly: q.Get("break_glass") == "true",
		Cursor: q.Get("cursor"), Limit: 100})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	type event struct {
		At         time.Time `json:"at"`
		ChainID    string    `json:"chain_id"`
		Seq        int64     `json:"seq"`
		UserID     string    `json:"user_id"`
		Roles      []string  `json:"roles"`
		Action     string    `json:"action"`
		Kind       string    `json:"kind"`
		RecordID   string    `json:"record_id,omitempty"`
		Outcome    string    `json:"outcome"`
		BreakGlass bool      `json:"break_glass"`
	}
	out := []event{}
	for _, e := range page.Events {
		out = append(out, event{e.OccurredAt, e.ChainID, e.Seq, e.UserID, e.Roles, e.Action, e.Kind, e.RecordID, e.Outcome, e.BreakGlass})
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "next": page.Next})
}

func (s *Server) apiVerify(w http.ResponseWriter, r *http.Request, id Identity) {
	var in struct {
		ChainID string `json:"chain_id"`
	}
	raw, ok := jsonBody(w, r, 4<<10)
	if !ok {
		return
	}
	// The body is optional (the tenant's chain); a body that is not the
	// object is refused rather than taken for none.
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&in); err != nil && !errors.Is(err, io.EOF) || !cleanText(in.ChainID) {
		writeJSON(w, http.StatusBadRequest, APIError{Error: "bad_request", Message: "the body is not the expected JSON object"})
		return
	}
	if in.ChainID == "" {
		in.ChainID = id.TenantID
	}
	st, err := s.app.Records.VerifyChain(r.Context(), in.ChainID)
	var ce *ehr.ChainError
	if errors.As(err, &ce) {
		writeJSON(w, http.StatusOK, map[string]any{"chain_id": in.ChainID, "ok": false, "problem": ce.Error()})
		return
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"chain_id": in.ChainID, "ok": true, "events": st.Events})
}
