package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/views"
)

// vitalSign is one vital sign the chart form records and the chart draws.
type vitalSign struct {
	Code, LabelKey, Unit, Field string
	Min, Max                    float64
}

// vitalSigns are the signs of the vitals form, in the chart's order. Min
// and Max bound what the form accepts (plausible values, not normal ones).
var vitalSigns = []vitalSign{
	{ehr.CodeHeartRate, "vital.heart_rate", "/min", "heart_rate", 10, 350},
	{ehr.CodeSystolicBP, "vital.systolic", "mmHg", "systolic", 30, 300},
	{ehr.CodeDiastolicBP, "vital.diastolic", "mmHg", "diastolic", 10, 250},
	{ehr.CodeBodyTemp, "vital.temperature", "°C", "temperature", 25, 45},
	{ehr.CodeOxygenSat, "vital.spo2", "%", "spo2", 20, 100},
	{ehr.CodeRespRate, "vital.resp_rate", "/min", "resp_rate", 1, 120},
	{ehr.CodeBodyWeight, "vital.weight", "kg", "weight", 0.2, 600},
}

func vitalByCode(code string) (vitalSign, bool) {
	for _, v := range vitalSigns {
		if v.Code == code {
			return v, true
		}
	}
	return vitalSign{}, false
}

// clinicalKinds are the chart sections behind the care team or a
// break-the-glass grant.
var clinicalKinds = []rbac.Kind{rbac.KindNote, rbac.KindCondition, rbac.KindAllergy, rbac.KindMedication, rbac.KindObservation}

// names resolves user ids to display names: the practitioner's name, else
// the username, else the id.
type names struct {
	a      *App
	tenant string
	m      map[string]string
}

func (a *App) names(ctx context.Context, tenant string) *names {
	n := &names{a: a, tenant: tenant, m: map[string]string{}}
	if ps, err := a.Records.ListPractitioners(ctx, false); err == nil {
		for _, p := range ps {
			n.m[p.UserID] = p.Name
			n.m["practitioner:"+p.ID] = p.Name
		}
	}
	return n
}

func (n *names) user(ctx context.Context, id string) string {
	if id == "" {
		return ""
	}
	if v, ok := n.m[id]; ok {
		return v
	}
	v := id
	if u, err := n.a.Auth.Users().User(ctx, n.tenant, id); err == nil {
		v = u.Username
	}
	n.m[id] = v
	return v
}

func (n *names) practitioner(id string) string {
	if v, ok := n.m["practitioner:"+id]; ok {
		return v
	}
	return id
}

func record(k rbac.Kind, id string, version int, status string) views.Record {
	return views.Record{Kind: k.String(), ID: id, Version: version, Status: status, EnteredInError: status == ehr.StatusEnteredInError}
}

// chartView turns a chart into the view model (clinical sections only;
// the caller sets Can and the demographics).
func chartView(ctx context.Context, c ehr.Chart, nm *names) views.ChartData {
	d := views.ChartData{Patient: patientDetail(c.Patient), BreakGlass: c.BreakGlass, Errors: views.FieldErrors{}, Form: views.Form{}}
	for _, k := range clinicalKinds {
		if slices.Contains(c.Withheld, k) {
			d.Denied = true
		}
	}
	for _, n := range c.Notes {
		v := views.NoteView{Record: record(rbac.KindNote, n.ID, n.Version, n.Status), Title: n.Title, Body: n.Body,
			Author: nm.user(ctx, n.AuthorID), At: localTime(n.CreatedAt)}
		if n.SignedAt != nil {
			v.SignedAt = localTime(*n.SignedAt)
		}
		d.Notes = append(d.Notes, v)
	}
	for _, c := range c.Conditions {
		d.Conditions = append(d.Conditions, views.ConditionView{Record: record(rbac.KindCondition, c.ID, c.Version, c.Status),
			Code: c.Code, Display: c.Display, Onset: dateOf(c.OnsetDate)})
	}
	for _, a := range c.Allergies {
		d.Allergies = append(d.Allergies, views.AllergyView{Record: record(rbac.KindAllergy, a.ID, a.Version, a.Status),
			Substance: a.Substance, Reaction: a.Reaction, Severity: a.Severity})
	}
	for _, m := range c.Medications {
		d.Medications = append(d.Medications, views.MedicationView{Record: record(rbac.KindMedication, m.ID, m.Version, m.Status),
			Medication: m.Medication, Dose: formatNumber(m.Dose) + " " + m.DoseUnit, Route: m.Route, Frequency: m.Frequency})
	}
	series := make([]views.Series, len(vitalSigns))
	for i, v := range vitalSigns {
		series[i] = views.Series{LabelKey: v.LabelKey, Unit: v.Unit}
	}
	// Newest first in the table; the chart sorts by time itself.
	for i := len(c.Observations) - 1; i >= 0; i-- {
		o := c.Observations[i]
		ov := views.ObservationView{Record: record(rbac.KindObservation, o.ID, o.Version, o.Status), At: localTime(o.EffectiveAt), Display: o.Display}
		if o.Value != nil {
			ov.Value = formatNumber(*o.Value) + " " + o.Unit
		} else {
			ov.Value = o.ValueText
		}
		if v, ok := vitalByCode(o.Code); ok {
			ov.LabelKey = v.LabelKey
			if o.Value != nil && o.Status != ehr.StatusEnteredInError {
				for j := range vitalSigns {
					if vitalSigns[j].Code == o.Code {
						series[j].Points = append(series[j].Points, views.Point{At: o.EffectiveAt, Value: *o.Value})
					}
				}
			}
		}
		d.Observations = append(d.Observations, ov)
	}
	d.Panels = views.BuildChart(series)
	return d
}

// chartCan is what the physician's chart offers id.
func (a *App) chartCan(id Identity) views.Can {
	return views.Can{
		"breakglass":         a.can(id, rbac.ActionBreakGlass, rbac.KindBreakGlass),
		"note.create":        a.can(id, rbac.ActionCreate, rbac.KindNote),
		"note.sign":          a.can(id, rbac.ActionUpdate, rbac.KindNote),
		"note.amend":         a.can(id, rbac.ActionAmend, rbac.KindNote),
		"history":            a.can(id, rbac.ActionRead, rbac.KindNote),
		"condition.create":   a.can(id, rbac.ActionCreate, rbac.KindCondition),
		"allergy.create":     a.can(id, rbac.ActionCreate, rbac.KindAllergy),
		"medication.create":  a.can(id, rbac.ActionCreate, rbac.KindMedication),
		"observation.create": a.can(id, rbac.ActionCreate, rbac.KindObservation),
		"enteredinerror":     a.can(id, rbac.ActionUpdate, rbac.KindNote),
	}
}

// chartData reads the chart of patient pid for the physician's page.
func (s *Server) chartData(r *http.Request, id Identity, pid string) (views.ChartData, error) {
	c, err := s.app.Records.Chart(r.Context(), pid)
	if err != nil {
		return views.ChartData{}, err
	}
	d := chartView(r.Context(), c, s.app.names(r.Context(), id.TenantID))
	d.Can = s.app.chartCan(id)
	return d, nil
}

// chart is a patient's chart for a physician.
func (s *Server) chart(w http.ResponseWriter, r *http.Request, id Identity) {
	d, err := s.chartData(r, id, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, views.Chart(s.pageFor(r, id, "chart.title"), d))
}

// chartAction is one of the chart's forms.
type chartAction struct {
	// form names the form in views.Form["form"] (to reopen it on an
	// error); suffix is added to the field names of per-record forms.
	form   func(r *http.Request) string
	suffix func(r *http.Request) string
	// fields maps the library's field names to the form's.
	fields map[string]string
	// anchor is the chart section to return to.
	anchor string
	run    func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error)
}

func named(s string) func(*http.Request) string { return func(*http.Request) string { return s } }

// chartPost handles a chart form: 303 back to the chart on success, the
// chart again with 422 and the errors next to the fields, or with 409 when
// the record changed since it was read.
func (s *Server) chartPost(act chartAction) pageHandler {
	return func(w http.ResponseWriter, r *http.Request, id Identity) {
		pid := r.PathValue("id")
		f, ok := parseForm(w, r)
		if !ok {
			s.renderError(w, r, http.StatusBadRequest)
			return
		}
		suffix := ""
		if act.suffix != nil {
			suffix = act.suffix(r)
		}
		errs, err := act.run(r, pid, f)
		status := http.StatusUnprocessableEntity
		alert := ""
		switch {
		case len(errs) > 0:
		case err == nil:
			seeOther(w, r, "/medico/pacientes/"+pid+"?saved=1#"+act.anchor)
			return
		case mapFieldErrors(err, act.fields, suffix, errsOr(&errs)):
		case errors.Is(err, ehr.ErrInvalid):
			alert = "error.422"
		case errors.Is(err, ehr.ErrConflict):
			status, alert = http.StatusConflict, "error.409"
		default:
			s.fail(w, r, s.missingPatient(r, pid, err))
			return
		}
		d, derr := s.chartData(r, id, pid)
		if derr != nil {
			s.fail(w, r, derr)
			return
		}
		f["form"] = act.form(r)
		d.Form, d.Errors, d.AlertKey = f, errs, alert
		if alert == "" {
			d.AlertKey = "error.422"
		}
		s.render(w, r, status, views.Chart(s.pageFor(r, id, "chart.title"), d))
	}
}

func errsOr(e *views.FieldErrors) views.FieldErrors {
	if *e == nil {
		*e = views.FieldErrors{}
	}
	return *e
}

func (s *Server) routesChart() {
	medico := func(h pageHandler) http.HandlerFunc { return s.page_(h, "medico") }
	s.handle("POST /medico/pacientes/{id}/notas", medico(s.chartPost(chartAction{
		form: named("note"), anchor: "notes", fields: map[string]string{"Title": "title", "Body": "body"},
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			_, err := s.app.Records.CreateNote(r.Context(), ehr.Note{PatientID: pid, Title: f["title"], Body: f["body"]}, f["sign"] == "1")
			return nil, err
		}})))
	s.handle("POST /medico/pacientes/{id}/notas/{note}/firmar", medico(s.chartPost(chartAction{
		form: named("sign"), anchor: "notes",
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			_, err := s.app.Records.SignNote(r.Context(), ehr.RecordRef{Kind: rbac.KindNote, PatientID: pid, ID: r.PathValue("note"), Version: atoi(f["version"])})
			return nil, err
		}})))
	s.handle("POST /medico/pacientes/{id}/notas/{note}/enmendar", medico(s.chartPost(chartAction{
		form:   func(r *http.Request) string { return "amend:" + r.PathValue("note") },
		suffix: func(r *http.Request) string { return ":" + r.PathValue("note") },
		anchor: "notes", fields: map[string]string{"Body": "body", "Reason": "reason"},
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			_, err := s.app.Records.AmendNote(r.Context(), ehr.RecordRef{Kind: rbac.KindNote, PatientID: pid, ID: r.PathValue("note"), Version: atoi(f["version"])},
				f["body"], f["reason"])
			return nil, err
		}})))
	s.handle("GET /medico/pacientes/{id}/notas/{note}/historial", medico(s.noteHistory))
	s.handle("POST /medico/pacientes/{id}/diagnosticos", medico(s.chartPost(chartAction{
		form: named("condition"), anchor: "conditions",
		fields: map[string]string{"Code": "code", "Display": "display", "OnsetDate": "onset"},
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			c := ehr.Condition{PatientID: pid, Code: f["code"], Display: f["display"]}
			if f["onset"] != "" {
				d, err := time.Parse("2006-01-02", f["onset"])
				if err != nil {
					return views.FieldErrors{"onset": "field.invalid"}, nil
				}
				c.OnsetDate = &d
			}
			_, err := s.app.Records.RecordCondition(r.Context(), c)
			return nil, err
		}})))
	s.handle("POST /medico/pacientes/{id}/alergias", medico(s.chartPost(chartAction{
		form: named("allergy"), anchor: "allergies",
		fields: map[string]string{"Substance": "substance", "Reaction": "reaction", "Severity": "severity"},
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			_, err := s.app.Records.RecordAllergy(r.Context(), ehr.Allergy{PatientID: pid, Substance: f["substance"], Reaction: f["reaction"], Severity: f["severity"]})
			return nil, err
		}})))
	s.handle("POST /medico/pacientes/{id}/medicacion", medico(s.chartPost(chartAction{
		form: named("medication"), anchor: "medications",
		fields: map[string]string{"Medication": "medication", "Dose": "dose", "DoseUnit": "dose_unit", "Route": "route", "Frequency": "frequency"},
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			m := ehr.MedicationRequest{PatientID: pid, Medication: f["medication"], DoseUnit: f["dose_unit"], Route: f["route"], Frequency: f["frequency"]}
			if f["dose"] != "" {
				dose, err := parseNumber(f["dose"])
				if err != nil {
					return views.FieldErrors{"dose": "field.number"}, nil
				}
				m.Dose = dose
			}
			_, err := s.app.Records.PrescribeMedication(r.Context(), m)
			return nil, err
		}})))
	s.handle("POST /medico/pacientes/{id}/constantes", medico(s.chartPost(chartAction{
		form: named("vitals"), anchor: "vitals", fields: map[string]string{"EffectiveAt": "effective_at"},
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			obs, errs := vitalsFromForm(f, time.Now())
			if len(errs) > 0 {
				return errs, nil
			}
			_, err := s.app.Records.RecordObservations(r.Context(), pid, obs)
			return vitalsErrors(err, obs), err
		}})))
	s.handle("POST /medico/pacientes/{id}/error", medico(s.chartPost(chartAction{
		form:   func(r *http.Request) string { return "eie:" + r.PostFormValue("record") },
		suffix: func(r *http.Request) string { return ":" + r.PostFormValue("record") },
		anchor: "", fields: map[string]string{"Reason": "reason"},
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			k, err := rbac.ParseKind(f["kind"])
			if err != nil || !slices.Contains(clinicalKinds, k) {
				return views.FieldErrors{"reason:" + f["record"]: "field.invalid"}, nil
			}
			_, err = s.app.Records.MarkEnteredInError(r.Context(), ehr.RecordRef{Kind: k, PatientID: pid, ID: f["record"], Version: atoi(f["version"])}, f["reason"])
			return nil, err
		}})))
	s.handle("POST /medico/pacientes/{id}/break-glass", medico(s.breakGlass))
}

// vitalsFromForm reads the vitals form: every filled sign becomes an
// observation at effective_at (default now). Values outside the sign's
// plausible range are refused next to their field.
func vitalsFromForm(f views.Form, now time.Time) ([]ehr.Observation, views.FieldErrors) {
	errs := views.FieldErrors{}
	at := now
	if v := f["effective_at"]; v != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04", v, time.Local)
		if err != nil {
			errs["effective_at"] = "field.invalid"
		}
		at = t
	}
	var obs []ehr.Observation
	for _, vs := range vitalSigns {
		raw := f[vs.Field]
		if raw == "" {
			continue
		}
		v, err := parseNumber(raw)
		switch {
		case err != nil:
			errs[vs.Field] = "field.number"
			continue
		case v < vs.Min || v > vs.Max:
			errs[vs.Field] = "field.range"
			continue
		}
		obs = append(obs, ehr.Observation{Category: ehr.CategoryVitalSigns, Code: vs.Code, Display: vs.LabelKey, Value: &v, Unit: vs.Unit, EffectiveAt: at})
	}
	if len(obs) == 0 && len(errs) == 0 {
		errs["vitals"] = "vitals.none"
	}
	return obs, errs
}

// vitalsErrors maps "Observations[i].Field" errors back to the sign's
// field.
func vitalsErrors(err error, obs []ehr.Observation) views.FieldErrors {
	var ve *ehr.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	errs := views.FieldErrors{}
	for _, fe := range ve.Fields {
		i := strings.Index(fe.Field, "[")
		j := strings.Index(fe.Field, "]")
		if i < 0 || j < i {
			continue
		}
		n := atoi(fe.Field[i+1 : j])
		if n < len(obs) {
			if vs, ok := vitalByCode(obs[n].Code); ok {
				errs[vs.Field] = fieldKey(fe.Message)
			}
			if strings.HasSuffix(fe.Field, "EffectiveAt") {
				errs["effective_at"] = fieldKey(fe.Message)
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// breakGlass grants the physician emergency access to the chart, with a
// reason; the chart then opens, flagged.
func (s *Server) breakGlass(w http.ResponseWriter, r *http.Request, id Identity) {
	pid := r.PathValue("id")
	f, ok := parseForm(w, r)
	if !ok {
		s.renderError(w, r, http.StatusBadRequest)
		return
	}
	d := min(time.Hour, s.app.Records.Authorizer().MaxGrantDuration())
	_, err := s.app.Records.BreakGlass(r.Context(), pid, f["reason"], d)
	if err == nil {
		s.log.InfoContext(r.Context(), "break-glass granted", "patient_id", pid, "user_id", id.UserID)
		seeOther(w, r, "/medico/pacientes/"+pid)
		return
	}
	errs := views.FieldErrors{}
	if !mapFieldErrors(err, map[string]string{"Reason": "reason"}, "", errs) {
		s.fail(w, r, s.missingPatient(r, pid, err))
		return
	}
	errs["reason"] = "breakglass.too_short"
	cd, derr := s.chartData(r, id, pid)
	if derr != nil {
		s.fail(w, r, derr)
		return
	}
	cd.Errors, cd.Reason = errs, f["reason"]
	s.render(w, r, http.StatusUnprocessableEntity, views.Chart(s.pageFor(r, id, "chart.title"), cd))
}

// noteHistory lists the versions of a note.
func (s *Server) noteHistory(w http.ResponseWriter, r *http.Request, id Identity) {
	pid, nid := r.PathValue("id"), r.PathValue("note")
	vs, err := s.app.Records.History(r.Context(), rbac.KindNote, pid, nid)
	if err != nil {
		s.fail(w, r, s.missingPatient(r, pid, err))
		return
	}
	nm := s.app.names(r.Context(), id.TenantID)
	d := views.HistoryData{PatientID: pid, NoteID: nid}
	for _, v := range vs {
		var row struct {
			Title  string `json:"title"`
			Body   string `json:"body"`
			Status string `json:"status"`
		}
		_ = json.Unmarshal(v.Data, &row)
		d.Versions = append(d.Versions, views.VersionView{Version: v.Version, At: localTime(v.ChangedAt), By: nm.user(r.Context(), v.ChangedBy),
			Reason: v.Reason, Status: row.Status, Title: row.Title, Body: row.Body})
	}
	s.render(w, r, http.StatusOK, views.NoteHistory(s.pageFor(r, id, "notes.history"), d))
}

// missingPatient turns a denial about patient pid into ErrNotFound when
// the patient does not exist in the caller's tenant. ehr's writes decide
// with the care-team facts before they look the patient up, so a
// physician asking about another tenant's patient is denied (403) rather
// than told it is not there; the demographics read that tells the two
// apart is allowed to every staff role that reaches these pages, and is
// audited like any other.
func (s *Server) missingPatient(r *http.Request, pid string, err error) error {
	if !errors.Is(err, ehr.ErrDenied) || statusOf(err) != http.StatusForbidden {
		return err
	}
	if _, gerr := s.app.Records.GetPatient(r.Context(), pid); errors.Is(gerr, ehr.ErrNotFound) || errors.Is(gerr, ehr.ErrInvalid) {
		return gerr
	}
	return err
}
