package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
)

func (x *api) routesChart() {
	x.handle("GET /api/v1/patients/{id}/chart", x.chart)
	x.handle("GET /api/v1/patients/{id}/chart/{section}", x.chartSection)
}

// ChartJSON is a chart: what the caller may read of it, each section at
// most its bound, newest first, with its counts and the cursor of the
// rows after it in Sections.
type ChartJSON struct {
	Patient      PatientJSON       `json:"patient"`
	Notes        []NoteJSON        `json:"notes"`
	Conditions   []ConditionJSON   `json:"conditions"`
	Allergies    []AllergyJSON     `json:"allergies"`
	Medications  []MedicationJSON  `json:"medications"`
	Observations []ObservationJSON `json:"observations"`
	Appointments []AppointmentJSON `json:"appointments"`
	Encounters   []EncounterJSON   `json:"encounters"`
	Withheld     []string          `json:"withheld"`
	BreakGlass   bool              `json:"break_glass"`
	// Sections summarizes each section read, by its name above (a
	// withheld section has none).
	Sections map[string]SectionJSON `json:"sections,omitempty"`
}

// SectionJSON summarizes one section of a chart: how many rows the
// caller may read (in the window, when the read has one), how many are
// active (encounters in progress, appointments booked or arrived, active
// conditions, allergies and medications), the window, and the cursor of
// GET /api/v1/patients/{id}/chart/{section}?cursor= for the rows after
// the ones returned ("" when there are none).
type SectionJSON struct {
	// Total counts up to ehr.CountLimit rows; TotalCapped says there are
	// more (a chart shows "100+").
	Total       int        `json:"total"`
	TotalCapped bool       `json:"total_capped,omitempty"`
	Active      int        `json:"active"`
	Since       *time.Time `json:"since,omitempty"`
	Until       *time.Time `json:"until,omitempty"`
	Next        string     `json:"next,omitempty"`
}

// chartSections names the sections of the JSON chart, by kind.
var chartSections = []struct {
	name string
	kind rbac.Kind
}{
	{"notes", rbac.KindNote}, {"conditions", rbac.KindCondition}, {"allergies", rbac.KindAllergy},
	{"medications", rbac.KindMedication}, {"observations", rbac.KindObservation},
	{"appointments", rbac.KindAppointment}, {"encounters", rbac.KindEncounter},
}

func sectionKind(name string) (rbac.Kind, bool) {
	for _, s := range chartSections {
		if s.name == name {
			return s.kind, true
		}
	}
	return 0, false
}

func sectionJSON(s ehr.SectionSummary) SectionJSON {
	out := SectionJSON{Total: s.Total, TotalCapped: s.Capped, Active: s.Active, Next: s.Next}
	if !s.Since.IsZero() {
		out.Since = utcPtr(s.Since)
	}
	if !s.Until.IsZero() {
		out.Until = utcPtr(s.Until)
	}
	return out
}

func utcPtr(t time.Time) *time.Time {
	t = t.UTC()
	return &t
}

func chartJSON(c ehr.Chart) ChartJSON {
	out := ChartJSON{Patient: patientJSON(c.Patient), Notes: make([]NoteJSON, 0, len(c.Notes)),
		Conditions: make([]ConditionJSON, 0, len(c.Conditions)), Allergies: make([]AllergyJSON, 0, len(c.Allergies)),
		Medications: make([]MedicationJSON, 0, len(c.Medications)), Observations: make([]ObservationJSON, 0, len(c.Observations)),
		Appointments: make([]AppointmentJSON, 0, len(c.Appointments)), Encounters: make([]EncounterJSON, 0, len(c.Encounters)),
		Withheld: make([]string, 0, len(c.Withheld)), BreakGlass: c.BreakGlass}
	for _, n := range c.Notes {
		out.Notes = append(out.Notes, noteJSON(n))
	}
	for _, v := range c.Conditions {
		out.Conditions = append(out.Conditions, conditionJSON(v))
	}
	for _, v := range c.Allergies {
		out.Allergies = append(out.Allergies, allergyJSON(v))
	}
	for _, v := range c.Medications {
		out.Medications = append(out.Medications, medicationJSON(v))
	}
	for _, v := range c.Observations {
		out.Observations = append(out.Observations, observationJSON(v))
	}
	for _, v := range c.Appointments {
		out.Appointments = append(out.Appointments, appointmentJSON(v, ""))
	}
	for _, v := range c.Encounters {
		out.Encounters = append(out.Encounters, encounterJSON(v, ""))
	}
	for _, k := range c.Withheld {
		out.Withheld = append(out.Withheld, k.String())
	}
	return out
}

// chartViewJSON is a bounded chart with its sections' summaries.
func chartViewJSON(v ehr.ChartView) ChartJSON {
	out := chartJSON(v.Chart)
	out.Sections = map[string]SectionJSON{}
	for _, s := range chartSections {
		if sum, ok := v.Sections[s.kind]; ok {
			out.Sections[s.name] = sectionJSON(sum)
		}
	}
	return out
}

// chart is the patient's chart, every section the caller may read,
// bounded (ehr.Repository.ChartView): the most recent rows of each
// section, newest first, with the counts and the cursor of the rest
// (GET .../chart/{section}). Query: limit (rows a section),
// observation_limit, window (days of observations back from until, or
// "all"; default 30), until (RFC 3339). A patient reads only the notes
// app.PatientNotes lets them.
func (x *api) chart(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	q := r.URL.Query()
	var b ehr.ChartBounds
	var err error
	if b.Limit, err = intParam(q.Get("limit"), "limit"); err != nil {
		return err
	}
	if b.ObservationLimit, err = intParam(q.Get("observation_limit"), "observation_limit"); err != nil {
		return err
	}
	switch w := q.Get("window"); w {
	case "":
	case "all":
		b.Window = -1
	default:
		days, err := strconv.Atoi(w)
		if err != nil || days < 1 || days > 36600 {
			return invalid("window", ehr.CodeInvalid)
		}
		b.Window = time.Duration(days) * 24 * time.Hour
	}
	if b.Until, err = timeParam(q.Get("until"), "until"); err != nil {
		return err
	}
	v, err := x.records.ChartView(r.Context(), r.PathValue("id"), b)
	if err != nil {
		return err
	}
	if c.PatientOnly() {
		v.Notes = app.PatientNotes(v.Notes)
	}
	return reply(w, nil, http.StatusOK, chartViewJSON(v))
}

// ChartSectionJSON is one page of one section of a chart: the rows
// (newest first, of the section's JSON type in ChartJSON) and the
// section's summary, whose next cursor reads on.
type ChartSectionJSON struct {
	PatientID string `json:"patient_id"`
	Section   string `json:"section"`
	Items     any    `json:"items"`
	SectionJSON
	BreakGlass bool `json:"break_glass"`
}

// chartSection is one page of one section of the chart
// (ehr.Repository.ChartSection), authorized and audited as the chart's
// read of that section. Query: cursor (a section's next), limit, since
// and until (RFC 3339; not with a cursor, which carries its window).
func (x *api) chartSection(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	name := r.PathValue("section")
	kind, ok := sectionKind(name)
	if !ok {
		return invalid("section", ehr.CodeNotAllowed)
	}
	q := r.URL.Query()
	sq := ehr.SectionQuery{Kind: kind, Cursor: q.Get("cursor")}
	var err error
	if sq.Limit, err = intParam(q.Get("limit"), "limit"); err != nil {
		return err
	}
	if sq.Since, err = timeParam(q.Get("since"), "since"); err != nil {
		return err
	}
	if sq.Until, err = timeParam(q.Get("until"), "until"); err != nil {
		return err
	}
	v, err := x.records.ChartSection(r.Context(), r.PathValue("id"), sq)
	if err != nil {
		return err
	}
	if c.PatientOnly() {
		v.Notes = app.PatientNotes(v.Notes)
	}
	ch := chartJSON(v.Chart)
	var items any
	switch kind {
	case rbac.KindNote:
		items = ch.Notes
	case rbac.KindCondition:
		items = ch.Conditions
	case rbac.KindAllergy:
		items = ch.Allergies
	case rbac.KindMedication:
		items = ch.Medications
	case rbac.KindObservation:
		items = ch.Observations
	case rbac.KindAppointment:
		items = ch.Appointments
	case rbac.KindEncounter:
		items = ch.Encounters
	}
	return reply(w, nil, http.StatusOK, ChartSectionJSON{PatientID: v.Patient.ID, Section: name, Items: items,
		SectionJSON: sectionJSON(v.Sections[kind]), BreakGlass: v.BreakGlass})
}

// intParam parses the optional positive integer query parameter name.
func intParam(s, name string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 {
		return 0, invalid(name, ehr.CodeInvalid)
	}
	return n, nil
}

// timeParam parses the optional RFC 3339 query parameter name.
func timeParam(s, name string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, invalid(name, ehr.CodeInvalid)
	}
	return t, nil
}
