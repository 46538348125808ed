package ehr_test

import (
	"slices"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
)

// TestListFilters: each optional filter of ListAppointments and
// ListAdmissions (queries built with squirrel from the filters given)
// narrows the list, and a filter left out does not filter.
func TestListFilters(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	p, q := h.NewPatient(t), h.NewPatient(t)
	_, other := h.NewMedico(t, "Dr. Otro")
	sec, adm := h.As(h.Secretaria), h.As(h.Admisionista)
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 3).Add(9 * time.Hour)
	book := func(pt ehr.Patient, pr ehr.Practitioner, start time.Time) ehr.Appointment {
		t.Helper()
		return must(h.Repo.BookAppointment(sec, ehr.Appointment{PatientID: pt.ID, PractitionerID: pr.ID, Start: start, End: start.Add(20 * time.Minute)}))
	}
	p1 := book(p, h.Practitioner, day)
	p2 := book(p, h.Practitioner, day.AddDate(0, 0, 1))
	p3 := book(p, other, day.AddDate(0, 0, 2))
	q1 := book(q, other, day)
	must(h.Repo.CancelAppointment(sec, ehr.RecordRef{PatientID: p.ID, ID: p2.ID, Version: p2.Version}, "no puede"))

	ids := func(es []ehr.AppointmentEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Appointment.ID)
		}
		return out
	}
	window := func(q ehr.AppointmentQuery) ehr.AppointmentQuery {
		q.From, q.To = day.Add(-time.Hour), day.AddDate(0, 0, 7)
		return q
	}
	for name, tc := range map[string]struct {
		q    ehr.AppointmentQuery
		want []string
	}{
		"patient":                        {ehr.AppointmentQuery{PatientID: p.ID}, []string{p1.ID, p3.ID}},
		"patient with cancelled":         {ehr.AppointmentQuery{PatientID: p.ID, IncludeCancelled: true}, []string{p1.ID, p2.ID, p3.ID}},
		"patient from":                   {ehr.AppointmentQuery{PatientID: p.ID, From: day.Add(time.Hour)}, []string{p3.ID}},
		"patient to":                     {ehr.AppointmentQuery{PatientID: p.ID, To: day.Add(time.Hour)}, []string{p1.ID}},
		"patient ignores practitioner":   {ehr.AppointmentQuery{PatientID: p.ID, PractitionerID: other.ID}, []string{p1.ID, p3.ID}},
		"practitioner's agenda":          {window(ehr.AppointmentQuery{PractitionerID: other.ID}), []string{q1.ID, p3.ID}},
		"agenda with cancelled":          {window(ehr.AppointmentQuery{PractitionerID: h.Practitioner.ID, IncludeCancelled: true}), []string{p1.ID, p2.ID}},
		"tenant's agenda":                {window(ehr.AppointmentQuery{}), []string{p1.ID, q1.ID, p3.ID}},
		"tenant's agenda, one day":       {ehr.AppointmentQuery{From: day, To: day.Add(time.Hour)}, []string{p1.ID, q1.ID}},
		"tenant's agenda, nothing there": {ehr.AppointmentQuery{From: day.AddDate(0, 1, 0), To: day.AddDate(0, 1, 1)}, nil},
	} {
		list := must(h.Repo.ListAppointments(sec, tc.q))
		if !slices.IsSortedFunc(list, func(a, b ehr.AppointmentEntry) int { return a.Appointment.Start.Compare(b.Appointment.Start) }) {
			t.Errorf("%s: not ordered by start", name)
		}
		// Appointments at the same time come in id order: compare as sets.
		if got := ids(list); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tc.want))) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}

	must(h.Repo.Admit(adm, ehr.Admission{PatientID: p.ID, AttendingID: h.Practitioner.ID, Ward: "3B"}))
	must(h.Repo.Admit(adm, ehr.Admission{PatientID: q.ID, AttendingID: other.ID, Ward: "UCI"}))
	for ward, want := range map[string][]string{"": {p.ID, q.ID}, "UCI": {q.ID}, " UCI ": {q.ID}, "3B": {p.ID}, "Pediatría": nil} {
		var got []string
		for _, e := range must(h.Repo.ListAdmissions(adm, ward)) {
			got = append(got, e.Encounter.PatientID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("admissions in ward %q: %v, want %v", ward, got, want)
		}
	}
}
