package pages

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/i18n"
	"github.com/historiaehr/historia/refserver/internal/views"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// The physician's chart of a patient (/medico/pacientes/{id}): the
// chart, one form per clinical record kind, entered-in-error, the note
// history and break-the-glass. The patient's portal shows the same
// clinical sections read-only (chartView).

func (p *pages) routesChart() {
	medico := func(pattern string, h web.Handler) { p.handle(pattern, app.RoleMedico, h) }
	medico("GET /medico/pacientes/{id}", p.chart)
	medico("GET /medico/pacientes/{id}/seccion/{section}", p.chartMore("/medico/pacientes/"))
	medico("POST /medico/pacientes/{id}/notas", p.chartPost(chartAction{
		form: named("note"), anchor: "notes", fields: map[string]string{"Title": "title", "Body": "body"},
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			_, err := p.records.CreateNote(r.Context(), ehr.Note{PatientID: pid, Title: f["title"], Body: f["body"]}, f["sign"] == "1")
			return nil, err
		}}))
	medico("POST /medico/pacientes/{id}/notas/{note}/firmar", p.chartPost(chartAction{
		form: named("sign"), anchor: "notes",
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			_, err := p.records.SignNote(r.Context(), ehr.RecordRef{Kind: rbac.KindNote, PatientID: pid, ID: r.PathValue("note"), Version: web.Atoi(f["version"])})
			return nil, err
		}}))
	medico("POST /medico/pacientes/{id}/notas/{note}/enmendar", p.chartPost(chartAction{
		form:   func(r *http.Request) string { return "amend:" + r.PathValue("note") },
		suffix: func(r *http.Request) string { return ":" + r.PathValue("note") },
		anchor: "notes", fields: map[string]string{"Body": "body", "Reason": "reason"},
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			_, err := p.records.AmendNote(r.Context(), ehr.RecordRef{Kind: rbac.KindNote, PatientID: pid, ID: r.PathValue("note"), Version: web.Atoi(f["version"])},
				f["body"], f["reason"])
			return nil, err
		}}))
	medico("GET /medico/pacientes/{id}/notas/{note}/historial", p.noteHistory)
	medico("POST /medico/pacientes/{id}/diagnosticos", p.chartPost(chartAction{
		form: named("condition"), anchor: "conditions",
		fields: map[string]string{"Code": "code", "Display": "display", "OnsetDate": "onset"},
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			c := ehr.Condition{PatientID: pid, Code: f["code"], Display: f["display"]}
			if f["onset"] != "" {
				d, err := time.Parse("2006-01-02", f["onset"])
				if err != nil {
					return views.FieldErrors{"onset": i18n.FieldKey(ehr.CodeInvalid)}, nil
				}
				c.OnsetDate = &d
			}
			_, err := p.records.RecordCondition(r.Context(), c)
			return nil, err
		}}))
	medico("POST /medico/pacientes/{id}/alergias", p.chartPost(chartAction{
		form: named("allergy"), anchor: "allergies",
		fields: map[string]string{"Substance": "substance", "Reaction": "reaction", "Severity": "severity"},
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			_, err := p.records.RecordAllergy(r.Context(), ehr.Allergy{PatientID: pid, Substance: f["substance"], Reaction: f["reaction"], Severity: f["severity"]})
			return nil, err
		}}))
	medico("POST /medico/pacientes/{id}/medicacion", p.chartPost(chartAction{
		form: named("medication"), anchor: "medications",
		fields: map[string]string{"Medication": "medication", "Dose": "dose", "DoseUnit": "dose_unit", "Route": "route", "Frequency": "frequency"},
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			m := ehr.MedicationRequest{PatientID: pid, Medication: f["medication"], DoseUnit: f["dose_unit"], Route: f["route"], Frequency: f["frequency"]}
			if f["dose"] != "" {
				dose, err := web.ParseNumber(f["dose"])
				if err != nil {
					return views.FieldErrors{"dose": i18n.FieldKey(app.CodeNumber)}, nil
				}
				m.Dose = dose
			}
			_, err := p.records.PrescribeMedication(r.Context(), m)
			return nil, err
		}}))
	medico("POST /medico/pacientes/{id}/constantes", p.chartPost(chartAction{
		form: named("vitals"), anchor: "vitals", fields: map[string]string{"EffectiveAt": "effective_at"},
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			obs, errs := vitalsFromForm(f, time.Now())
			if len(errs) > 0 {
				return errs, nil
			}
			_, err := p.records.RecordObservations(r.Context(), pid, obs)
			return vitalsErrors(err, obs), err
		}}))
	medico("POST /medico/pacientes/{id}/error", p.chartPost(chartAction{
		form:   func(r *http.Request) string { return "eie:" + r.PostFormValue("record") },
		suffix: func(r *http.Request) string { return ":" + r.PostFormValue("record") },
		anchor: "", fields: map[string]string{"Reason": "reason"},
		run: func(r *http.Request, pid string, f views.Form) (views.FieldErrors, error) {
			k, err := rbac.ParseKind(f["kind"])
			if err != nil || !slices.Contains(clinicalKinds, k) {
				return views.FieldErrors{"reason:" + f["record"]: i18n.FieldKey(ehr.CodeInvalid)}, nil
			}
			_, err = p.records.MarkEnteredInError(r.Context(), ehr.RecordRef{Kind: k, PatientID: pid, ID: f["record"], Version: web.Atoi(f["version"])}, f["reason"])
			return nil, err
		}}))
	medico("POST /medico/pacientes/{id}/break-glass", p.breakGlass)
}

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

func record(k rbac.Kind, id string, version int, status string) views.Record {
	return views.Record{Kind: k.String(), ID: id, Version: version, Status: status, EnteredInError: status == ehr.StatusEnteredInError}
}

// authors are the users whose names the clinical sections show.
func authors(c ehr.Chart) []string {
	ids := make([]string, 0, len(c.Notes))
	for _, n := range c.Notes {
		ids = append(ids, n.AuthorID)
	}
	return ids
}

// chartView turns a chart, each section newest first (ehr.ChartView),
// into the view model of its clinical sections (the caller sets Can),
// the authors named through nm.
func chartView(c ehr.Chart, nm app.Names) views.ChartData {
	d := views.ChartData{Patient: patientDetail(c.Patient), BreakGlass: c.BreakGlass, Errors: views.FieldErrors{}, Form: views.Form{}}
	for _, k := range clinicalKinds {
		if slices.Contains(c.Withheld, k) {
			d.Denied = true
		}
	}
	for _, n := range c.Notes {
		v := views.NoteView{Record: record(rbac.KindNote, n.ID, n.Version, n.Status), Title: n.Title, Body: n.Body,
			At: web.LocalTime(n.CreatedAt)}
		if n.AuthorID != "" {
			v.Author = nm.User(n.AuthorID)
		}
		if n.SignedAt != nil {
			v.SignedAt = web.LocalTime(*n.SignedAt)
		}
		d.Notes = append(d.Notes, v)
	}
	for _, c := range c.Conditions {
		d.Conditions = append(d.Conditions, views.ConditionView{Record: record(rbac.KindCondition, c.ID, c.Version, c.Status),
			Code: c.Code, Display: c.Display, Onset: web.Date(c.OnsetDate)})
	}
	for _, a := range c.Allergies {
		d.Allergies = append(d.Allergies, views.AllergyView{Record: record(rbac.KindAllergy, a.ID, a.Version, a.Status),
			Substance: a.Substance, Reaction: a.Reaction, Severity: a.Severity})
	}
	for _, m := range c.Medications {
		d.Medications = append(d.Medications, views.MedicationView{Record: record(rbac.KindMedication, m.ID, m.Version, m.Status),
			Medication: m.Medication, Dose: web.FormatNumber(m.Dose) + " " + m.DoseUnit, Route: m.Route, Frequency: m.Frequency})
	}
	series := make([]views.Series, len(vitalSigns))
	for i, v := range vitalSigns {
		series[i] = views.Series{LabelKey: v.LabelKey, Unit: v.Unit}
	}
	// Newest first in the table, as read (ChartView); the chart sorts by
	// time itself.
	for _, o := range c.Observations {
		ov := views.ObservationView{Record: record(rbac.KindObservation, o.ID, o.Version, o.Status), At: web.LocalTime(o.EffectiveAt), Display: o.Display}
		if o.Value != nil {
			ov.Value = web.FormatNumber(*o.Value) + " " + o.Unit
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

// chartCan is what the physician's chart offers c.
func (p *pages) chartCan(c app.Caller) views.Can {
	can := func(act rbac.Action, k rbac.Kind) bool { return p.app.Can(c, act, k) }
	return views.Can{
		"breakglass":         can(rbac.ActionBreakGlass, rbac.KindBreakGlass),
		"note.create":        can(rbac.ActionCreate, rbac.KindNote),
		"note.sign":          can(rbac.ActionUpdate, rbac.KindNote),
		"note.amend":         can(rbac.ActionAmend, rbac.KindNote),
		"history":            can(rbac.ActionRead, rbac.KindNote),
		"condition.create":   can(rbac.ActionCreate, rbac.KindCondition),
		"allergy.create":     can(rbac.ActionCreate, rbac.KindAllergy),
		"medication.create":  can(rbac.ActionCreate, rbac.KindMedication),
		"observation.create": can(rbac.ActionCreate, rbac.KindObservation),
		"enteredinerror":     can(rbac.ActionUpdate, rbac.KindNote),
	}
}

// chartPage reads the chart of patient pid for the physician and
// returns its view model and layout: the bounded chart (ehr.ChartView,
// one or two round trips: each section's most recent rows and counts,
// the vital signs of the window the request asks for) and every name it
// shows (one statement).
func (p *pages) chartPage(r *http.Request, c app.Caller, pid string) (views.Page, views.ChartData, error) {
	base := "/medico/pacientes/" + pid
	win := vitalsWindow(r)
	v, err := p.records.ChartView(r.Context(), pid, ehr.ChartBounds{Window: win.window})
	if err != nil {
		return views.Page{}, views.ChartData{}, err
	}
	nm := p.names.Names(r.Context(), c, authors(v.Chart), nil)
	d := chartView(v.Chart, nm)
	d.Can = p.chartCan(c)
	boundedView(&d, v, base, win)
	return p.web.LayoutNamed(r, c, "chart.title", nm), d, nil
}

// sectionPath is a section a chart pages further: the path segment of
// its page, its name in views.ChartData, its kind.
type sectionPath struct {
	segment, name string
	kind          rbac.Kind
}

// chartSectionPaths are the sections a chart pages further, by the path
// segment of their page ("more"), with their name in views.ChartData.
var chartSectionPaths = []sectionPath{
	{"notas", "notes", rbac.KindNote},
	{"diagnosticos", "conditions", rbac.KindCondition},
	{"alergias", "allergies", rbac.KindAllergy},
	{"medicacion", "medications", rbac.KindMedication},
	{"constantes", "observations", rbac.KindObservation},
}

// windowChoice is a window of vital signs a chart offers: its value in
// the query (ventana), its label and the ehr.ChartBounds window.
type windowChoice struct {
	value, labelKey string
	window          time.Duration
}

// vitalsWindows are the windows of vital signs the chart offers; the
// second is the default (ehr.DefaultVitalsWindow).
var vitalsWindows = []windowChoice{
	{"7", "vitals.window_7", 7 * 24 * time.Hour},
	{"30", "vitals.window_30", ehr.DefaultVitalsWindow},
	{"365", "vitals.window_365", 365 * 24 * time.Hour},
	{"todo", "vitals.window_all", -1},
}

// vitalsWindow returns the window of vital signs r asks for (ventana),
// the default for none or an unknown one.
func vitalsWindow(r *http.Request) windowChoice {
	v := r.URL.Query().Get("ventana")
	for _, w := range vitalsWindows {
		if w.value == v {
			return w
		}
	}
	return vitalsWindows[1]
}

// boundedView adds to d what a bounded chart v tells: each section's
// count and the link to its rest (under base, the chart's path), and the
// windows of vital signs, win shown.
func boundedView(d *views.ChartData, v ehr.ChartView, base string, win windowChoice) {
	d.Counts = map[string]views.SectionCount{}
	shown := map[rbac.Kind]int{rbac.KindNote: len(v.Notes), rbac.KindCondition: len(v.Conditions), rbac.KindAllergy: len(v.Allergies),
		rbac.KindMedication: len(v.Medications), rbac.KindObservation: len(v.Observations)}
	for _, s := range chartSectionPaths {
		sum, ok := v.Sections[s.kind]
		if !ok {
			continue
		}
		sc := views.SectionCount{Shown: shown[s.kind], Total: sum.Total, Capped: sum.Capped}
		if sum.Next != "" {
			sc.More = base + "/seccion/" + s.segment + "?cursor=" + url.QueryEscape(sum.Next)
		}
		d.Counts[s.name] = sc
	}
	if _, ok := v.Sections[rbac.KindObservation]; ok && win.value != "" {
		for _, w := range vitalsWindows {
			d.Windows = append(d.Windows, views.WindowLink{LabelKey: w.labelKey, URL: base + "?ventana=" + w.value + "#vitals", Current: w.value == win.value})
		}
	}
}

// chartMore is the page of one section of a chart beyond what the chart
// shows (ehr.ChartSection: authorized and audited as the chart's read of
// that section), its rows newest first from the cursor of the request,
// for the chart under prefix (the physician's, the patient's portal).
func (p *pages) chartMore(prefix string) web.Handler {
	return func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		pid, seg := r.PathValue("id"), r.PathValue("section")
		i := slices.IndexFunc(chartSectionPaths, func(s sectionPath) bool { return s.segment == seg })
		if i < 0 {
			return app.Invalid(app.FieldError{Field: "section", Code: ehr.CodeNotAllowed})
		}
		s := chartSectionPaths[i]
		v, err := p.records.ChartSection(r.Context(), pid, ehr.SectionQuery{Kind: s.kind, Cursor: r.URL.Query().Get("cursor")})
		if err != nil {
			return err
		}
		if c.PatientOnly() {
			v.Notes = app.PatientNotes(v.Notes)
		}
		nm := p.names.Names(r.Context(), c, authors(v.Chart), nil)
		d := chartView(v.Chart, nm)
		d.Can, d.Section, d.BreakGlass = views.Can{}, s.name, v.BreakGlass
		boundedView(&d, v, prefix+pid, windowChoice{})
		back := prefix + pid + "#" + s.name
		if s.name == "observations" {
			back = prefix + pid + "#vitals"
		}
		p.web.Render(w, r, http.StatusOK, views.ChartMore(p.web.LayoutNamed(r, c, "chart.title", nm), d, back))
		return nil
	}
}

// chart is a patient's chart for a physician.
func (p *pages) chart(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	pg, d, err := p.chartPage(r, c, r.PathValue("id"))
	if err != nil {
		return err
	}
	p.web.Render(w, r, http.StatusOK, views.Chart(pg, d))
	return nil
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
func (p *pages) chartPost(act chartAction) web.Handler {
	return func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		pid := r.PathValue("id")
		f, err := web.ParseForm(w, r)
		if err != nil {
			return err
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
			web.SeeOther(w, r, "/medico/pacientes/"+pid+"?saved=1#"+act.anchor)
			return nil
		case web.FormErrors(err, act.fields, suffix, errsOr(&errs)):
		case errors.Is(err, ehr.ErrInvalid):
			alert = "error.422"
		case errors.Is(err, ehr.ErrConflict):
			status, alert = http.StatusConflict, "error.409"
		default:
			return err
		}
		pg, d, err := p.chartPage(r, c, pid)
		if err != nil {
			return err
		}
		f["form"] = act.form(r)
		d.Form, d.Errors, d.AlertKey = f, errs, alert
		if alert == "" {
			d.AlertKey = "error.422"
		}
		p.web.Render(w, r, status, views.Chart(pg, d))
		return nil
	}
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
			errs["effective_at"] = i18n.FieldKey(ehr.CodeInvalid)
		}
		at = t
	}
	var obs []ehr.Observation
	for _, vs := range vitalSigns {
		raw := f[vs.Field]
		if raw == "" {
			continue
		}
		v, err := web.ParseNumber(raw)
		switch {
		case err != nil:
			errs[vs.Field] = i18n.FieldKey(app.CodeNumber)
			continue
		case v < vs.Min || v > vs.Max:
			errs[vs.Field] = i18n.FieldKey(ehr.CodeOutOfRange)
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
		n := web.Atoi(fe.Field[i+1 : j])
		if n < len(obs) {
			key := i18n.FieldKey(fe.Code)
			if vs, ok := vitalByCode(obs[n].Code); ok {
				errs[vs.Field] = key
			}
			if strings.HasSuffix(fe.Field, "EffectiveAt") {
				errs["effective_at"] = key
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
func (p *pages) breakGlass(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	// Sensitive action: a recent proof of the password or second factor
	// (web.RecentAuth answers with the re-authentication form otherwise).
	if ok, err := p.web.RecentAuth(w, r); !ok {
		return err
	}
	pid := r.PathValue("id")
	f, err := web.ParseForm(w, r)
	if err != nil {
		return err
	}
	d := min(time.Hour, p.records.Authorizer().MaxGrantDuration())
	_, err = p.records.BreakGlass(r.Context(), pid, f["reason"], d)
	if err == nil {
		p.web.Log().InfoContext(r.Context(), "break-glass granted", "patient_id", pid, "user_id", c.UserID)
		web.SeeOther(w, r, "/medico/pacientes/"+pid)
		return nil
	}
	if !web.FormErrors(err, map[string]string{"Reason": "reason"}, "", views.FieldErrors{}) {
		return err
	}
	pg, cd, err := p.chartPage(r, c, pid)
	if err != nil {
		return err
	}
	cd.Errors, cd.Reason = views.FieldErrors{"reason": "breakglass.too_short"}, f["reason"]
	p.web.Render(w, r, http.StatusUnprocessableEntity, views.Chart(pg, cd))
	return nil
}

// noteHistory lists the versions of a note.
func (p *pages) noteHistory(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	pid, nid := r.PathValue("id"), r.PathValue("note")
	vs, err := p.records.History(r.Context(), rbac.KindNote, pid, nid)
	if err != nil {
		return err
	}
	by := make([]string, 0, len(vs))
	for _, v := range vs {
		by = append(by, v.ChangedBy)
	}
	nm := p.names.Names(r.Context(), c, by, nil)
	d := views.HistoryData{PatientID: pid, NoteID: nid}
	for _, v := range vs {
		var row struct {
			Title  string `json:"title"`
			Body   string `json:"body"`
			Status string `json:"status"`
		}
		_ = json.Unmarshal(v.Data, &row)
		vv := views.VersionView{Version: v.Version, At: web.LocalTime(v.ChangedAt), Reason: v.Reason, Status: row.Status, Title: row.Title, Body: row.Body}
		if v.ChangedBy != "" {
			vv.By = nm.User(v.ChangedBy)
		}
		d.Versions = append(d.Versions, vv)
	}
	p.web.Render(w, r, http.StatusOK, views.NoteHistory(p.web.LayoutNamed(r, c, "notes.history", nm), d))
	return nil
}
