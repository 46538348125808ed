package pages

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/i18n"
	"github.com/historiaehr/historia/refserver/internal/views"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// The front desk (/secretaria): a practitioner's agenda by day or week,
// booking, moving, cancelling and checking in appointments, and a
// patient's contact data.

func (p *pages) routesSecretaria() {
	sec := func(pattern string, h web.Handler) { p.handle(pattern, app.RoleSecretaria, h) }
	ref := func(r *http.Request, f views.Form) ehr.RecordRef {
		return ehr.RecordRef{Kind: rbac.KindAppointment, PatientID: f["patient_id"], ID: r.PathValue("id"), Version: web.Atoi(f["version"])}
	}
	sec("GET /secretaria", p.secretaria)
	sec("POST /secretaria/citas", p.appointmentPost("agenda.taken", func(r *http.Request, f views.Form) (views.FieldErrors, error) {
		start, end, errs := slotFromForm(f)
		if len(errs) > 0 {
			return errs, nil
		}
		_, err := p.records.BookAppointment(r.Context(), ehr.Appointment{PatientID: f["patient_id"], PractitionerID: f["practitioner"],
			Start: start, End: end, Reason: f["reason"]})
		return nil, err
	}))
	sec("POST /secretaria/citas/{id}/mover", p.appointmentPost("agenda.move_conflict", func(r *http.Request, f views.Form) (views.FieldErrors, error) {
		start, end, errs := slotFromForm(f)
		if len(errs) > 0 {
			return errs, nil
		}
		_, err := p.records.RescheduleAppointment(r.Context(), ref(r, f), start, end)
		return nil, err
	}))
	sec("POST /secretaria/citas/{id}/cancelar", p.appointmentPost("error.409", func(r *http.Request, f views.Form) (views.FieldErrors, error) {
		_, err := p.records.CancelAppointment(r.Context(), ref(r, f), f["reason"])
		return nil, err
	}))
	sec("POST /secretaria/citas/{id}/llegada", p.appointmentPost("error.409", func(r *http.Request, f views.Form) (views.FieldErrors, error) {
		_, err := p.records.CheckIn(r.Context(), ref(r, f))
		return nil, err
	}))
}

// agendaQuery is what the front desk's page shows: a practitioner's day
// or week from a date, a search and a picked patient.
type agendaQuery struct {
	Practitioner string
	Date         time.Time
	Week         bool
	Q, Patient   string
}

func parseAgendaQuery(q url.Values, now time.Time) agendaQuery {
	a := agendaQuery{Practitioner: q.Get("practitioner"), Week: q.Get("view") == "week",
		Q: strings.TrimSpace(q.Get("q")), Patient: q.Get("patient")}
	day, err := time.ParseInLocation("2006-01-02", q.Get("date"), time.Local)
	if err != nil {
		day = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.Local)
	}
	a.Date = day
	return a
}

// span returns the period the agenda shows: the day, or the 7 days from
// the Monday of the date's week.
func (a agendaQuery) span() (time.Time, int) {
	if !a.Week {
		return a.Date, 1
	}
	off := (int(a.Date.Weekday()) + 6) % 7
	return a.Date.AddDate(0, 0, -off), 7
}

func (a agendaQuery) values(date time.Time) url.Values {
	v := url.Values{"practitioner": {a.Practitioner}, "date": {date.Format("2006-01-02")}}
	if a.Week {
		v.Set("view", "week")
	}
	return v
}

func (a agendaQuery) href(date time.Time, extra ...string) string {
	v := a.values(date)
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] != "" {
			v.Set(extra[i], extra[i+1])
		}
	}
	return "/secretaria?" + v.Encode()
}

// secretariaData builds the front desk's page for q.
func (p *pages) secretariaData(r *http.Request, c app.Caller, q url.Values) (views.SecretariaData, error) {
	ctx := r.Context()
	aq := parseAgendaQuery(q, time.Now())
	d := views.SecretariaData{Form: views.Form{}, Errors: views.FieldErrors{}, Query: aq.Q, Week: aq.Week,
		Can: views.Can{
			"book":    p.app.Can(c, rbac.ActionSchedule, rbac.KindAppointment),
			"move":    p.app.Can(c, rbac.ActionSchedule, rbac.KindAppointment),
			"cancel":  p.app.Can(c, rbac.ActionCancel, rbac.KindAppointment),
			"checkin": p.app.Can(c, rbac.ActionCheckIn, rbac.KindAppointment),
		}}
	d.Practitioners = p.practitionerOptions(r)
	if aq.Practitioner == "" && len(d.Practitioners) > 0 {
		aq.Practitioner = d.Practitioners[0].Value
	}
	d.PractitionerID, d.Date = aq.Practitioner, aq.Date.Format("2006-01-02")
	from, n := aq.span()
	// Paging keeps the search and the picked patient, like the agenda form.
	d.Prev = aq.href(aq.Date.AddDate(0, 0, -n), "q", aq.Q, "patient", aq.Patient)
	d.Next = aq.href(aq.Date.AddDate(0, 0, n), "q", aq.Q, "patient", aq.Patient)
	d.Back = aq.href(aq.Date, "q", aq.Q, "patient", aq.Patient)
	d.PickHref = aq.href(aq.Date, "q", aq.Q) + "&patient="
	for i := range n {
		day := from.AddDate(0, 0, i)
		d.Days = append(d.Days, views.AgendaDay{Date: day.Format("2006-01-02"), Weekday: int(day.Weekday())})
	}
	if aq.Practitioner != "" {
		list, err := p.records.ListAppointments(ctx, ehr.AppointmentQuery{PractitionerID: aq.Practitioner, From: from, To: from.AddDate(0, 0, n)})
		if err != nil {
			return d, err
		}
		pname := ""
		for _, o := range d.Practitioners {
			if o.Value == aq.Practitioner {
				pname = o.Label
			}
		}
		for _, e := range list {
			v := appointmentView(e, pname)
			for i := range d.Days {
				if d.Days[i].Date == v.Date {
					d.Days[i].Appointments = append(d.Days[i].Appointments, v)
				}
			}
		}
	}
	if aq.Q != "" {
		page, err := p.records.SearchPatients(ctx, ehr.PatientQuery{Name: aq.Q, Limit: 50})
		if err != nil {
			return d, err
		}
		d.Searched, d.Results = true, rows(page.Patients)
	}
	if aq.Patient != "" {
		pt, err := p.records.GetPatient(ctx, aq.Patient)
		if err != nil {
			return d, err
		}
		pd := patientDetail(pt)
		d.Patient = &pd
	}
	return d, nil
}

// secretaria is the front desk's agenda.
func (p *pages) secretaria(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	d, err := p.secretariaData(r, c, r.URL.Query())
	if err != nil {
		return err
	}
	p.web.Render(w, r, http.StatusOK, views.Secretaria(p.web.Layout(r, c, "secretaria.title"), d))
	return nil
}

// slotFromForm reads date, time and minutes into a start and an end.
func slotFromForm(f views.Form) (time.Time, time.Time, views.FieldErrors) {
	errs := views.FieldErrors{}
	start, err := time.ParseInLocation("2006-01-02 15:04", f["date"]+" "+f["time"], time.Local)
	if err != nil {
		if _, derr := time.Parse("2006-01-02", f["date"]); derr != nil {
			errs["date"] = i18n.FieldKey(ehr.CodeRequired)
		} else {
			errs["time"] = i18n.FieldKey(ehr.CodeRequired)
		}
	}
	minutes, err := strconv.Atoi(f["minutes"])
	if err != nil || minutes <= 0 {
		errs["minutes"] = i18n.FieldKey(ehr.CodeInvalid)
	}
	return start, start.Add(time.Duration(minutes) * time.Minute), errs
}

// slotFields maps the repository's field names to the agenda forms'.
var slotFields = map[string]string{"Start": "time", "End": "minutes", "Reason": "reason", "PatientID": "date", "PractitionerID": "date"}

// appointmentPost handles a front desk form: 303 back to the agenda, or
// the agenda again with 422 or 409 (the time is taken, or the appointment
// changed since it was read) and a clear message.
func (p *pages) appointmentPost(conflictKey string, run func(r *http.Request, f views.Form) (views.FieldErrors, error)) web.Handler {
	return func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		f, err := web.ParseForm(w, r)
		if err != nil {
			return err
		}
		back := web.BackTo(f["back"], "/secretaria", "/secretaria")
		errs, err := run(r, f)
		status, alert := http.StatusUnprocessableEntity, "error.422"
		switch {
		case len(errs) > 0:
		case err == nil:
			web.SeeOther(w, r, web.WithSaved(back))
			return nil
		case web.FormErrors(err, slotFields, "", errsOr(&errs)):
		case errors.Is(err, ehr.ErrInvalid):
		case errors.Is(err, ehr.ErrConflict):
			status, alert = http.StatusConflict, conflictKey
		default:
			return err
		}
		u, _ := url.Parse(back)
		q := u.Query()
		if r.PathValue("id") == "" && f["patient_id"] != "" {
			// A booking error: show the form again, with the patient.
			q.Set("patient", f["patient_id"])
		}
		d, err := p.secretariaData(r, c, q)
		if err != nil {
			return err
		}
		if r.PathValue("id") != "" {
			// The move form has no field of its own for errors: say which
			// rule failed at the top.
			f["form"] = "move:" + r.PathValue("id")
			for _, k := range errs {
				alert = k
				break
			}
		}
		d.Form, d.Errors, d.AlertKey = f, errs, alert
		p.web.Render(w, r, status, views.Secretaria(p.web.Layout(r, c, "secretaria.title"), d))
		return nil
	}
}
