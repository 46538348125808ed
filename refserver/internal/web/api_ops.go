package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
)

// decode reads a JSON body (at most 64 KiB, no unknown fields) into v; on
// failure it answers 400 and reports false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	raw, ok := jsonBody(w, r, maxForm)
	if !ok {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, APIError{Error: "bad_request", Message: "the body is not the expected JSON object"})
		return false
	}
	if !cleanJSON(reflect.ValueOf(v)) {
		writeJSON(w, http.StatusBadRequest, APIError{Error: "bad_request", Message: "text must be UTF-8 without NUL characters"})
		return false
	}
	return true
}

// jsonBody reads a JSON body of at most limit bytes. A body too big, or
// that is not UTF-8 (which Go's decoder would silently turn into U+FFFD),
// is answered 400 and reported false.
func jsonBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil || !utf8.Valid(raw) {
		writeJSON(w, http.StatusBadRequest, APIError{Error: "bad_request", Message: "the body is not UTF-8 JSON of at most " + strconv.FormatInt(limit>>10, 10) + " KiB"})
		return nil, false
	}
	return raw, true
}

func invalidJSON(w http.ResponseWriter, fields map[string]string) {
	writeJSON(w, http.StatusUnprocessableEntity, APIError{Error: "invalid", Message: http.StatusText(http.StatusUnprocessableEntity), Fields: fields})
}

// apiDo answers a write: the error mapped to its status, or status with v.
func (s *Server) apiDo(w http.ResponseWriter, r *http.Request, err error, status int, v any) {
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

type versionJSON struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
}

func (s *Server) routesAPIOps() {
	a := s.api
	// Charts and clinical records.
	s.handle("GET /api/v1/patients/{id}/chart", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		c, err := s.app.Records.Chart(r.Context(), r.PathValue("id"))
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		if patientOnly(id) {
			c.Notes = patientNotes(c.Notes)
		}
		writeJSON(w, http.StatusOK, chartJSON(c))
	}))
	s.handle("GET /api/v1/patients/{id}/appointments", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		list, err := s.app.Records.ListAppointments(r.Context(), ehr.AppointmentQuery{PatientID: r.PathValue("id"), IncludeCancelled: true})
		s.apiDo(w, r, err, http.StatusOK, map[string]any{"appointments": appointmentsJSON(list)})
	}))
	s.handle("POST /api/v1/patients/{id}/notes", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		var in struct {
			Title string `json:"title"`
			Body  string `json:"body"`
			Sign  bool   `json:"sign"`
		}
		if !decode(w, r, &in) {
			return
		}
		n, err := s.app.Records.CreateNote(r.Context(), ehr.Note{PatientID: r.PathValue("id"), Title: in.Title, Body: in.Body}, in.Sign)
		s.apiDo(w, r, err, http.StatusCreated, noteJSON(n))
	}))
	noteRef := func(r *http.Request, version int) ehr.RecordRef {
		return ehr.RecordRef{Kind: rbac.KindNote, PatientID: r.PathValue("id"), ID: r.PathValue("note"), Version: version}
	}
	s.handle("POST /api/v1/patients/{id}/notes/{note}/sign", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		var in struct {
			Version int `json:"version"`
		}
		if !decode(w, r, &in) {
			return
		}
		v, err := s.app.Records.SignNote(r.Context(), noteRef(r, in.Version))
		s.apiDo(w, r, err, http.StatusOK, versionJSON{r.PathValue("note"), v})
	}))
	s.handle("POST /api/v1/patients/{id}/notes/{note}/amend", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		var in struct {
			Version int    `json:"version"`
			Body    string `json:"body"`
			Reason  string `json:"reason"`
		}
		if !decode(w, r, &in) {
			return
		}
		v, err := s.app.Records.AmendNote(r.Context(), noteRef(r, in.Version), in.Body, in.Reason)
		s.apiDo(w, r, err, http.StatusOK, versionJSON{r.PathValue("note"), v})
	}))
	s.handle("GET /api/v1/patients/{id}/notes/{note}/history", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		vs, err := s.app.Records.History(r.Context(), rbac.KindNote, r.PathValue("id"), r.PathValue("note"))
		type version struct {
			Version   int             `json:"version"`
			ChangedAt time.Time       `json:"changed_at"`
			ChangedBy string          `json:"changed_by"`
			Reason    string          `json:"reason,omitempty"`
			Data      json.RawMessage `json:"data"`
		}
		out := []version{}
		for _, v := range vs {
			if patientOnly(id) && !signedVersion(v.Data) {
				continue // a patient reads signed versions only
			}
			out = append(out, version{v.Version, v.ChangedAt, v.ChangedBy, v.Reason, v.Data})
		}
		if err == nil && len(out) == 0 && patientOnly(id) {
			err = ehr.ErrNotFound // a draft: as if it did not exist
		}
		s.apiDo(w, r, err, http.StatusOK, map[string]any{"versions": out})
	}))
	s.handle("POST /api/v1/patients/{id}/conditions", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		var in struct {
			Code      string `json:"code"`
			Display   string `json:"display"`
			OnsetDate string `json:"onset_date"`
		}
		if !decode(w, r, &in) {
			return
		}
		c := ehr.Condition{PatientID: r.PathValue("id"), Code: in.Code, Display: in.Display}
		if in.OnsetDate != "" {
			d, err := time.Parse("2006-01-02", in.OnsetDate)
			if err != nil {
				invalidJSON(w, map[string]string{"OnsetDate": "must be YYYY-MM-DD"})
				return
			}
			c.OnsetDate = &d
		}
		c, err := s.app.Records.RecordCondition(r.Context(), c)
		s.apiDo(w, r, err, http.StatusCreated, conditionJSON(c))
	}))
	s.handle("POST /api/v1/patients/{id}/allergies", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		var in AllergyJSON
		if !decode(w, r, &in) {
			return
		}
		al, err := s.app.Records.RecordAllergy(r.Context(), ehr.Allergy{PatientID: r.PathValue("id"), Substance: in.Substance, Reaction: in.Reaction, Severity: in.Severity})
		s.apiDo(w, r, err, http.StatusCreated, allergyJSON(al))
	}))
	s.handle("POST /api/v1/patients/{id}/medications", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		var in MedicationJSON
		if !decode(w, r, &in) {
			return
		}
		m, err := s.app.Records.PrescribeMedication(r.Context(), ehr.MedicationRequest{PatientID: r.PathValue("id"), Medication: in.Medication,
			Dose: in.Dose, DoseUnit: in.DoseUnit, Route: in.Route, Frequency: in.Frequency, Status: in.Status})
		s.apiDo(w, r, err, http.StatusCreated, medicationJSON(m))
	}))
	s.handle("POST /api/v1/patients/{id}/observations", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		var in struct {
			Observations []ObservationJSON `json:"observations"`
		}
		if !decode(w, r, &in) {
			return
		}
		obs := make([]ehr.Observation, len(in.Observations))
		for i, o := range in.Observations {
			if o.Category == "" {
				o.Category = ehr.CategoryVitalSigns
			}
			obs[i] = ehr.Observation{Category: o.Category, Code: o.Code, Display: o.Display, Value: o.Value, ValueText: o.ValueText,
				Unit: o.Unit, EffectiveAt: o.EffectiveAt}
		}
		saved, err := s.app.Records.RecordObservations(r.Context(), r.PathValue("id"), obs)
		out := []ObservationJSON{}
		for _, o := range saved {
			out = append(out, observationJSON(o))
		}
		s.apiDo(w, r, err, http.StatusCreated, map[string]any{"observations": out})
	}))
	s.handle("POST /api/v1/patients/{id}/entered-in-error", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		var in struct {
			Kind    string `json:"kind"`
			ID      string `json:"id"`
			Version int    `json:"version"`
			Reason  string `json:"reason"`
		}
		if !decode(w, r, &in) {
			return
		}
		k, err := rbac.ParseKind(in.Kind)
		if err != nil {
			invalidJSON(w, map[string]string{"Kind": "unknown kind"})
			return
		}
		v, err := s.app.Records.MarkEnteredInError(r.Context(), ehr.RecordRef{Kind: k, PatientID: r.PathValue("id"), ID: in.ID, Version: in.Version}, in.Reason)
		s.apiDo(w, r, err, http.StatusOK, versionJSON{in.ID, v})
	}))
	s.handle("POST /api/v1/patients/{id}/break-glass", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		var in struct {
			Reason  string `json:"reason"`
			Minutes int    `json:"minutes"`
		}
		if !decode(w, r, &in) {
			return
		}
		maxGrant := s.app.Records.Authorizer().MaxGrantDuration()
		if in.Minutes < 0 || in.Minutes > int(maxGrant/time.Minute) {
			// Checked here: a huge count of minutes overflows the
			// duration, and may wrap round to an allowed one.
			invalidJSON(w, map[string]string{"Minutes": "must be positive and at most " + maxGrant.String()})
			return
		}
		d := time.Duration(in.Minutes) * time.Minute
		if in.Minutes == 0 {
			d = min(time.Hour, maxGrant)
		}
		g, err := s.app.Records.BreakGlass(r.Context(), r.PathValue("id"), in.Reason, d)
		s.apiDo(w, r, err, http.StatusCreated, map[string]any{"id": g.ID, "patient_id": g.PatientID, "not_after": g.NotAfter})
	}))
	s.handle("POST /api/v1/patients/{id}/care-team", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		var in struct {
			PractitionerID string `json:"practitioner_id"`
			Role           string `json:"role"`
			Reason         string `json:"reason"`
		}
		if !decode(w, r, &in) {
			return
		}
		m, err := s.app.Records.AssignCareTeam(r.Context(), ehr.CareTeamMember{PatientID: r.PathValue("id"), PractitionerID: in.PractitionerID, Role: in.Role, Reason: in.Reason})
		s.apiDo(w, r, err, http.StatusCreated, map[string]any{"id": m.ID, "patient_id": m.PatientID, "practitioner_id": m.PractitionerID,
			"role": m.Role, "status": m.Status, "version": m.Version})
	}))

	// Practitioners and appointments.
	s.handle("GET /api/v1/practitioners", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		ps, err := s.app.Records.ListPractitioners(r.Context(), r.URL.Query().Get("active") == "true")
		out := []PractitionerJSON{}
		for _, p := range ps {
			out = append(out, PractitionerJSON{p.ID, p.UserID, p.Name, p.Specialty, p.License, p.Active})
		}
		s.apiDo(w, r, err, http.StatusOK, map[string]any{"practitioners": out})
	}))
	s.handle("GET /api/v1/appointments", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		q := r.URL.Query()
		from, err1 := time.Parse(time.RFC3339, q.Get("from"))
		to, err2 := time.Parse(time.RFC3339, q.Get("to"))
		if err1 != nil || err2 != nil {
			invalidJSON(w, map[string]string{"From": "from and to are RFC 3339 times"})
			return
		}
		list, err := s.app.Records.ListAppointments(r.Context(), ehr.AppointmentQuery{PractitionerID: q.Get("practitioner"), From: from, To: to,
			IncludeCancelled: q.Get("include_cancelled") == "true"})
		s.apiDo(w, r, err, http.StatusOK, map[string]any{"appointments": appointmentsJSON(list)})
	}))
	s.handle("POST /api/v1/appointments", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		var in AppointmentJSON
		if !decode(w, r, &in) {
			return
		}
		ap, err := s.app.Records.BookAppointment(r.Context(), ehr.Appointment{PatientID: in.PatientID, PractitionerID: in.PractitionerID,
			Start: in.Start, End: in.End, Reason: in.Reason})
		if err == nil {
			w.Header().Set("Location", "/api/v1/patients/"+ap.PatientID+"/appointments")
		}
		s.apiDo(w, r, err, http.StatusCreated, appointmentJSON(ap, ""))
	}))
	type apptChange struct {
		PatientID string    `json:"patient_id"`
		Version   int       `json:"version"`
		Start     time.Time `json:"start"`
		End       time.Time `json:"end"`
		Reason    string    `json:"reason"`
	}
	apptRef := func(r *http.Request, in apptChange) ehr.RecordRef {
		return ehr.RecordRef{Kind: rbac.KindAppointment, PatientID: in.PatientID, ID: r.PathValue("id"), Version: in.Version}
	}
	apptOp := func(op func(r *http.Request, in apptChange) (ehr.Appointment, error)) http.HandlerFunc {
		return a(func(w http.ResponseWriter, r *http.Request, id Identity) {
			var in apptChange
			if !decode(w, r, &in) {
				return
			}
			ap, err := op(r, in)
			s.apiDo(w, r, err, http.StatusOK, appointmentJSON(ap, ""))
		})
	}
	s.handle("POST /api/v1/appointments/{id}/reschedule", apptOp(func(r *http.Request, in apptChange) (ehr.Appointment, error) {
		return s.app.Records.RescheduleAppointment(r.Context(), apptRef(r, in), in.Start, in.End)
	}))
	s.handle("POST /api/v1/appointments/{id}/cancel", apptOp(func(r *http.Request, in apptChange) (ehr.Appointment, error) {
		return s.app.Records.CancelAppointment(r.Context(), apptRef(r, in), in.Reason)
	}))
	s.handle("POST /api/v1/appointments/{id}/check-in", apptOp(func(r *http.Request, in apptChange) (ehr.Appointment, error) {
		return s.app.Records.CheckIn(r.Context(), apptRef(r, in))
	}))

	// Admissions.
	s.handle("GET /api/v1/admissions", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		list, err := s.app.Records.ListAdmissions(r.Context(), r.URL.Query().Get("ward"))
		out := []EncounterJSON{}
		for _, e := range list {
			out = append(out, encounterJSON(e.Encounter, e.GivenNames+" "+e.FamilyNames))
		}
		s.apiDo(w, r, err, http.StatusOK, map[string]any{"admissions": out})
	}))
	s.handle("POST /api/v1/admissions", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		var in struct {
			PatientID   string `json:"patient_id"`
			AttendingID string `json:"attending_id"`
			Ward        string `json:"ward"`
			Bed         string `json:"bed"`
			Reason      string `json:"reason"`
		}
		if !decode(w, r, &in) {
			return
		}
		e, err := s.app.Records.Admit(r.Context(), ehr.Admission{PatientID: in.PatientID, AttendingID: in.AttendingID, Ward: in.Ward, Bed: in.Bed, Reason: in.Reason})
		s.apiDo(w, r, err, http.StatusCreated, encounterJSON(e, ""))
	}))
	type admChange struct {
		PatientID   string `json:"patient_id"`
		Version     int    `json:"version"`
		Ward        string `json:"ward"`
		Bed         string `json:"bed"`
		AttendingID string `json:"attending_id"`
		Disposition string `json:"disposition"`
	}
	admOp := func(op func(r *http.Request, ref ehr.EncounterRef, in admChange) (ehr.Encounter, error)) http.HandlerFunc {
		return a(func(w http.ResponseWriter, r *http.Request, id Identity) {
			var in admChange
			if !decode(w, r, &in) {
				return
			}
			e, err := op(r, ehr.EncounterRef{PatientID: in.PatientID, ID: r.PathValue("id"), Version: in.Version}, in)
			s.apiDo(w, r, err, http.StatusOK, encounterJSON(e, ""))
		})
	}
	s.handle("POST /api/v1/admissions/{id}/transfer", admOp(func(r *http.Request, ref ehr.EncounterRef, in admChange) (ehr.Encounter, error) {
		return s.app.Records.Transfer(r.Context(), ref, in.Ward, in.Bed, in.AttendingID)
	}))
	s.handle("POST /api/v1/admissions/{id}/discharge", admOp(func(r *http.Request, ref ehr.EncounterRef, in admChange) (ehr.Encounter, error) {
		return s.app.Records.Discharge(r.Context(), ref, in.Disposition)
	}))

	// Users (the policy is checked here: auth's store does not authorize).
	s.handle("GET /api/v1/users", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		if err := s.authorizeManage(id, rbac.ActionSearch); err != nil {
			s.apiFail(w, r, err)
			return
		}
		users, err := s.app.Auth.Users().ListUsers(r.Context(), id.TenantID)
		out := []UserJSON{}
		for _, u := range users {
			out = append(out, userJSON(u))
		}
		s.apiDo(w, r, err, http.StatusOK, map[string]any{"users": out})
	}))
	s.handle("POST /api/v1/users", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		var in NewUserInput
		if !decode(w, r, &in) {
			return
		}
		u, errs, err := s.createUser(r.Context(), id, in)
		if err == nil && len(errs) > 0 {
			status := http.StatusUnprocessableEntity
			if errs["username"] == "field.username_taken" {
				status = http.StatusConflict
			}
			writeJSON(w, status, APIError{Error: map[int]string{409: "conflict", 422: "invalid"}[status], Message: http.StatusText(status), Fields: map[string]string(errs)})
			return
		}
		s.apiDo(w, r, err, http.StatusCreated, userJSON(u))
	}))
	userState := func(enable bool) http.HandlerFunc {
		return a(func(w http.ResponseWriter, r *http.Request, id Identity) {
			err := s.setUserState(r.Context(), id, r.PathValue("id"), enable)
			var ie *auth.InvalidError
			if errors.As(err, &ie) {
				invalidJSON(w, map[string]string{"id": "cannot disable yourself"})
				return
			}
			s.apiDo(w, r, err, http.StatusOK, map[string]any{"id": r.PathValue("id"), "enabled": enable})
		})
	}
	s.handle("POST /api/v1/users/{id}/disable", userState(false))
	s.handle("POST /api/v1/users/{id}/enable", userState(true))
	s.handle("POST /api/v1/users/{id}/password", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		var in struct {
			Password string `json:"password"`
		}
		if !decode(w, r, &in) {
			return
		}
		err := s.resetPassword(r.Context(), id, r.PathValue("id"), in.Password)
		if errors.Is(err, auth.ErrWeakPassword) {
			invalidJSON(w, map[string]string{"password": "refused by the password policy"})
			return
		}
		s.apiDo(w, r, err, http.StatusOK, map[string]any{"id": r.PathValue("id"), "reset": true})
	}))

	// Break-glass review.
	s.handle("GET /api/v1/audit/break-glass", a(func(w http.ResponseWriter, r *http.Request, id Identity) {
		q := r.URL.Query()
		gs, err := s.app.Records.ListBreakGlass(r.Context(), ehr.BreakGlassQuery{PatientID: q.Get("patient"), UserID: q.Get("user"),
			ActiveOnly: q.Get("active") == "true"})
		type grant struct {
			ID        string    `json:"id"`
			PatientID string    `json:"patient_id"`
			UserID    string    `json:"user_id"`
			Reason    string    `json:"reason"`
			GrantedAt time.Time `json:"granted_at"`
			NotAfter  time.Time `json:"not_after"`
			Uses      int       `json:"uses"`
		}
		out := []grant{}
		for _, g := range gs {
			out = append(out, grant{g.ID, g.PatientID, g.UserID, g.Reason, g.GrantedAt, g.NotAfter, g.Uses})
		}
		s.apiDo(w, r, err, http.StatusOK, map[string]any{"grants": out})
	}))
}

func appointmentsJSON(list []ehr.AppointmentEntry) []AppointmentJSON {
	out := []AppointmentJSON{}
	for _, e := range list {
		out = append(out, appointmentJSON(e.Appointment, e.GivenNames+" "+e.FamilyNames))
	}
	return out
}
