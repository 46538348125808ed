package views

import "net/url"

// Form holds the values of a submitted form, kept when the page is shown
// again with errors so that nothing the user typed is lost.
type Form map[string]string

// Get returns the value of field, or "".
func (f Form) Get(field string) string { return f[field] }

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
}

// VersionView is one version of a note in its history.
type VersionView struct {
	Version             int
	At, By, Reason      string
	Status, Title, Body string
}

// HistoryData is the version history of a note.
type HistoryData struct {
	PatientID string
	NoteID    string
	Versions  []VersionView
}

// Option is one choice of a select.
type Option struct {
	Value string
	Label string
}

// AppointmentView is an appointment in an agenda or a patient's list.
type AppointmentView struct {
	ID, PatientID, Patient, Practitioner string
	Date, Start, End, Status, Reason     string
	Minutes, Version                     int
}

// AgendaDay is one day of the agenda.
type AgendaDay struct {
	Date         string // YYYY-MM-DD
	Weekday      int    // 0 Sunday .. 6 Saturday (time.Weekday)
	Appointments []AppointmentView
}

// SecretariaData is the front desk's page: a practitioner's agenda for a
// day or a week, booking, and a patient's contact data.
type SecretariaData struct {
	// PickHref is the link prefix that picks a patient of the search.
	PickHref       string
	Practitioners  []Option
	PractitionerID string
	Date           string
	Week           bool
	Days           []AgendaDay
	Prev, Next     string
	// Back is the current agenda URL, sent with each form to come back.
	Back     string
	Query    string
	Results  []PatientRow
	Searched bool
	Patient  *PatientDetail
	Form     Form
	Errors   FieldErrors
	AlertKey string
	Can      Can
}

// AdmissionView is an open admission.
type AdmissionView struct {
	ID, PatientID, Patient, Ward, Bed, Attending, AttendingID, Since string
	Version                                                          int
}

// GrantView is one break-the-glass grant for the auditor's review.
type GrantView struct {
	At, User, PatientID, Reason, Until string
	Uses                               int
	Active                             bool
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

// pickBase is the link prefix that picks a patient of a search for q on
// page path: the patient id is appended.
func pickBase(path, q string) string {
	return path + "?q=" + url.QueryEscape(q) + "&patient="
}

func agendaClass(week bool) string {
	if week {
		return "agenda week"
	}
	return "agenda"
}

func weekdayKey(d int) string {
	return [...]string{"day.sun", "day.mon", "day.tue", "day.wed", "day.thu", "day.fri", "day.sat"}[d%7]
}

// formOr returns the form's value of field, or def when it is empty.
func formOr(f Form, field, def string) string {
	if v := f.Get(field); v != "" {
		return v
	}
	return def
}
