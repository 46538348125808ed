package views

import (
	"context"
	"strconv"

	"github.com/historiaehr/historia/refserver/internal/i18n"
)

// ChartData is a patient's chart: the physician's working page, and, read
// only (an empty Can), the patient's own.
type ChartData struct {
	Patient      PatientDetail
	Panels       []ChartPanel
	Notes        []NoteView
	Conditions   []ConditionView
	Allergies    []AllergyView
	Medications  []MedicationView
	Observations []ObservationView
	// Can says which forms to offer ("note.create", "note.sign",
	// "note.amend", "condition.create", "allergy.create",
	// "medication.create", "observation.create", "enteredinerror",
	// "breakglass", "history").
	Can Can
	// Denied: the clinical sections need break-the-glass.
	Denied bool
	// BreakGlass: the chart was opened under an emergency grant (and the
	// access is flagged in the audit trail).
	BreakGlass bool
	Reason     string
	// Errors are field errors keyed by form field name (per-row forms add
	// ":" and the record id); Form keeps the values.
	Errors FieldErrors
	Form   Form
	// AlertKey is a catalog key shown at the top (error.409, ...).
	AlertKey string
	// Counts are the sizes of the sections, by section ("notes",
	// "conditions", "allergies", "medications", "observations"): how
	// many rows are shown of how many, and the link to the rest. A
	// section without one shows no count.
	Counts map[string]SectionCount
	// Windows are the windows of vital signs offered, the one shown
	// marked Current.
	Windows []WindowLink
	// Section, on the page of one section (ChartMore), is that section.
	Section string
}

// SectionCount is what a chart section tells of its size: Shown of
// Total rows (in the window, for the vital signs), and the link to the
// rows after them ("" when there are none).
type SectionCount struct {
	Shown, Total int
	// Capped says Total is a lower bound: the section holds more rows
	// than a chart counts (ehr.CountLimit), shown as "100+".
	Capped bool
	More   string
}

// WindowLink is one window of vital signs the chart offers: its label
// (a catalog key), its link, and whether it is the one shown.
type WindowLink struct {
	LabelKey, URL string
	Current       bool
}

// countText writes n with the thousands grouped as the language of ctx
// does (2,003 in English, 2.003 in Spanish).
func countText(ctx context.Context, n int) string {
	sep := "."
	if i18n.FromContext(ctx) == i18n.EN {
		sep = ","
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + sep + s[i:]
	}
	return s
}

// count returns the count of section s, and whether there is one.
// totalText writes the total of c as countText does, with a "+" when it
// is a lower bound ("100+").
func totalText(ctx context.Context, c SectionCount) string {
	if c.Capped {
		return countText(ctx, c.Total) + "+"
	}
	return countText(ctx, c.Total)
}

func (d ChartData) count(s string) (SectionCount, bool) {
	c, ok := d.Counts[s]
	return c, ok
}

// Record names one version of a clinical record, what the forms that
// change it (sign, amend, entered-in-error) send back.
type Record struct {
	Kind    string
	ID      string
	Version int
	// EnteredInError marks a record entered by mistake: shown struck
	// through, never hidden.
	EnteredInError bool
	Status         string
}

// NoteView is a clinical note.
type NoteView struct {
	Record
	Title, Body, Author, At, SignedAt string
}

// ConditionView is a diagnosis.
type ConditionView struct {
	Record
	Code, Display, Onset string
}

// AllergyView is an allergy.
type AllergyView struct {
	Record
	Substance, Reaction, Severity string
}

// MedicationView is a medication request.
type MedicationView struct {
	Record
	Medication, Dose, Route, Frequency string
}

// ObservationView is one measurement.
type ObservationView struct {
	Record
	At, LabelKey, Display, Value string
}

func rowClass(r Record) string {
	if r.EnteredInError {
		return "eie"
	}
	return ""
}

// amendBody is the text the amend form starts from: what the user typed
// (after an error), else the note's body.
func amendBody(f Form, n NoteView) string {
	if f.Get("form") == "amend:"+n.ID {
		return f.Get("body")
	}
	return n.Body
}
