package views

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

// AgendaDay is one day of the agenda.
type AgendaDay struct {
	Date         string // YYYY-MM-DD
	Weekday      int    // 0 Sunday .. 6 Saturday (time.Weekday)
	Appointments []AppointmentView
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
