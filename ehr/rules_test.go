package ehr_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// counts returns the number of rows of every data table.
func counts(t *testing.T, pool *pgxpool.Pool) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tb := range []string{"patients", "patient_identifiers", "encounters", "appointments", "appointment_slots",
		"care_team_members", "clinical_notes", "conditions", "allergies", "medication_requests", "observations",
		"record_versions", "break_glass_grants", "audit_events", "practitioners", "tenants"} {
		var n int
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+tb).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[tb] = n
	}
	return out
}

// TestValidationWritesNothing: each rule of the input refuses its input
// before any SQL, with a *ValidationError naming the field with the
// rule's stable code, and writes nothing. Every FieldError carries one of
// ehr.Codes(), and every code is produced by some case.
func TestValidationWritesNothing(t *testing.T) {
	pool := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, pool)
	p := h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	adm, med, sec := h.As(h.Admisionista), h.As(h.Medico), h.As(h.Secretaria)
	repo := h.Repo
	start := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	neg := -5.0
	born := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	patient := func(edit func(*ehr.Patient)) func() error {
		return func() error {
			q := ehr.Patient{DocumentType: "CC", DocumentNumber: "555", GivenNames: "A", FamilyNames: "B", BirthDate: born, Sex: ehr.SexFemale}
			edit(&q)
			_, err := repo.RegisterPatient(adm, q)
			return err
		}
	}
	hr := 80.0
	vital := ehr.Observation{Category: ehr.CategoryVitalSigns, Code: ehr.CodeHeartRate, Value: &hr, Unit: "/min"}
	cases := []struct {
		name  string
		field string
		code  string
		call  func() error
	}{
		{"birth date in the future", "BirthDate", ehr.CodeInFuture, patient(func(q *ehr.Patient) { q.BirthDate = time.Now().AddDate(1, 0, 0) })},
		{"missing birth date", "BirthDate", ehr.CodeRequired, patient(func(q *ehr.Patient) { q.BirthDate = time.Time{} })},
		{"birth date before 1880", "BirthDate", ehr.CodeOutOfRange, patient(func(q *ehr.Patient) { q.BirthDate = time.Date(1879, 1, 1, 0, 0, 0, 0, time.UTC) })},
		{"bad sex", "Sex", ehr.CodeNotAllowed, patient(func(q *ehr.Patient) { q.Sex = "x" })},
		{"bad document number", "DocumentNumber", ehr.CodeInvalid, patient(func(q *ehr.Patient) { q.DocumentNumber = "5/5" })},
		{"missing given names", "GivenNames", ehr.CodeRequired, patient(func(q *ehr.Patient) { q.GivenNames = " " })},
		{"long family names", "FamilyNames", ehr.CodeTooLong, patient(func(q *ehr.Patient) { q.FamilyNames = strings.Repeat("b", 201) })},
		{"bad email", "Contact.Email", ehr.CodeInvalid, patient(func(q *ehr.Patient) { q.Contact.Email = "no-arroba" })},
		{"repeated identifier", "Identifiers[0]", ehr.CodeDuplicate, patient(func(q *ehr.Patient) { q.Identifiers = []ehr.Identifier{{System: "CC", Value: "555"}} })},
		{"too many identifiers", "Identifiers", ehr.CodeTooMany, patient(func(q *ehr.Patient) {
			for i := range 11 {
				q.Identifiers = append(q.Identifiers, ehr.Identifier{System: "MRN", Value: fmt.Sprintf("M-%03d", i)})
			}
		})},
		{"not ICD-10", "Code", ehr.CodeUnknownCode, func() error {
			_, err := repo.RecordCondition(med, ehr.Condition{PatientID: p.ID, Code: "diabetes", Display: "Diabetes"})
			return err
		}},
		{"onset in the future", "OnsetDate", ehr.CodeInFuture, func() error {
			onset := time.Now().AddDate(0, 1, 0)
			_, err := repo.RecordCondition(med, ehr.Condition{PatientID: p.ID, Code: "I10", Display: "Hipertensión", OnsetDate: &onset})
			return err
		}},
		{"negative dose", "Dose", ehr.CodeOutOfRange, func() error {
			_, err := repo.PrescribeMedication(med, ehr.MedicationRequest{PatientID: p.ID, Medication: "X", Dose: -1, DoseUnit: "mg", Route: "oral", Frequency: "qd"})
			return err
		}},
		{"missing route", "Route", ehr.CodeRequired, func() error {
			_, err := repo.PrescribeMedication(med, ehr.MedicationRequest{PatientID: p.ID, Medication: "X", Dose: 1, DoseUnit: "mg", Frequency: "qd"})
			return err
		}},
		{"unknown allergy severity", "Severity", ehr.CodeNotAllowed, func() error {
			_, err := repo.RecordAllergy(med, ehr.Allergy{PatientID: p.ID, Substance: "Polen", Severity: "fatal"})
			return err
		}},
		{"appointment ending before it starts", "End", ehr.CodeBeforeStart, func() error {
			_, err := repo.BookAppointment(sec, ehr.Appointment{PatientID: p.ID, PractitionerID: h.Practitioner.ID, Start: start, End: start.Add(-time.Hour)})
			return err
		}},
		{"unaligned appointment", "Start", ehr.CodeMisaligned, func() error {
			_, err := repo.BookAppointment(sec, ehr.Appointment{PatientID: p.ID, PractitionerID: h.Practitioner.ID, Start: start.Add(time.Minute), End: start.Add(time.Hour)})
			return err
		}},
		{"agenda longer than 62 days", "To", ehr.CodeTooLong, func() error {
			_, err := repo.ListAppointments(sec, ehr.AppointmentQuery{From: start, To: start.AddDate(0, 3, 0)})
			return err
		}},
		{"negative vital sign", "Observations[1].Value", ehr.CodeOutOfRange, func() error {
			bad := vital
			bad.Value = &neg
			_, err := repo.RecordObservations(med, p.ID, []ehr.Observation{vital, bad})
			return err
		}},
		{"observation of another patient", "Observations[0].PatientID", ehr.CodeMismatch, func() error {
			other := vital
			other.PatientID = h.Tenant.ID
			_, err := repo.RecordObservations(med, p.ID, []ehr.Observation{other})
			return err
		}},
		{"too many observations", "Observations", ehr.CodeTooMany, func() error {
			_, err := repo.RecordObservations(med, p.ID, slices.Repeat([]ehr.Observation{vital}, 101))
			return err
		}},
		{"no observations", "Observations", ehr.CodeRequired, func() error {
			_, err := repo.RecordObservations(med, p.ID, nil)
			return err
		}},
		{"long note title", "Title", ehr.CodeTooLong, func() error {
			_, err := repo.CreateNote(med, ehr.Note{PatientID: p.ID, Title: strings.Repeat("t", 201), Body: "b"}, false)
			return err
		}},
		{"amend without reason", "Reason", ehr.CodeRequired, func() error {
			_, err := repo.AmendNote(med, ehr.RecordRef{PatientID: p.ID, ID: p.ID, Version: 1}, "text", " ")
			return err
		}},
		{"amend with a short reason", "Reason", ehr.CodeTooShort, func() error {
			_, err := repo.AmendNote(med, ehr.RecordRef{PatientID: p.ID, ID: p.ID, Version: 1}, "text", "ok")
			return err
		}},
		{"update without version", "Version", ehr.CodeRequired, func() error {
			_, err := repo.UpdateNote(med, ehr.Note{PatientID: p.ID, ID: p.ID, Title: "t", Body: "b"})
			return err
		}},
		{"entered in error without reason", "Reason", ehr.CodeRequired, func() error {
			_, err := repo.MarkEnteredInError(med, ehr.RecordRef{Kind: rbac.KindNote, PatientID: p.ID, ID: p.ID, Version: 1}, "")
			return err
		}},
		{"entered in error of a kind without records", "Kind", ehr.CodeNotAllowed, func() error {
			_, err := repo.MarkEnteredInError(med, ehr.RecordRef{Kind: rbac.KindAudit, PatientID: p.ID, ID: p.ID, Version: 1}, "por error")
			return err
		}},
		{"malformed id", "ID", ehr.CodeInvalid, func() error { _, err := repo.GetPatient(med, "1; DROP TABLE patients"); return err }},
		{"bad cursor", "Cursor", ehr.CodeInvalid, func() error {
			_, err := repo.SearchPatients(adm, ehr.PatientQuery{Cursor: "nope"})
			return err
		}},
		{"negative limit", "Limit", ehr.CodeOutOfRange, func() error {
			_, err := repo.SearchAudit(h.As(h.Auditor), ehr.AuditQuery{Limit: -1})
			return err
		}},
		{"short break-glass reason", "Reason", ehr.CodeTooShort, func() error { _, err := repo.BreakGlass(med, p.ID, "urgente", time.Hour); return err }},
		{"long break-glass", "Duration", ehr.CodeOutOfRange, func() error {
			_, err := repo.BreakGlass(med, p.ID, "paciente inconsciente en urgencias", 1000*time.Hour)
			return err
		}},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := counts(t, pool)
			err := tc.call()
			var ve *ehr.ValidationError
			if !errors.Is(err, ehr.ErrInvalid) || !errors.As(err, &ve) || !ve.Has(tc.field) {
				t.Fatalf("err = %v, want a ValidationError naming %s", err, tc.field)
			}
			for _, fe := range ve.Fields {
				if !slices.Contains(ehr.Codes(), fe.Code) {
					t.Errorf("field %s: code %q is not one of ehr.Codes() (message %q)", fe.Field, fe.Code, fe.Message)
				}
				seen[fe.Code] = true
				if fe.Field == tc.field && fe.Code != tc.code {
					t.Errorf("field %s: code %q, want %q", fe.Field, fe.Code, tc.code)
				}
			}
			if after := counts(t, pool); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("a rejected call wrote rows: before %v, after %v", before, after)
			}
		})
	}
	for _, c := range ehr.Codes() {
		if !seen[c] {
			t.Errorf("no case produced code %q: test it, or drop it", c)
		}
	}
}

func TestDenialIsAuditedAndWritesNothingElse(t *testing.T) {
	pool := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, pool)
	p := h.NewPatient(t)
	other := h.NewPatient(t)
	before := counts(t, pool)

	// The front desk may not write clinical data; a patient may not read
	// another patient; a physician off the care team may not read notes.
	_, err1 := h.Repo.CreateNote(h.As(h.Secretaria), ehr.Note{PatientID: p.ID, Title: "x", Body: "y"}, false)
	_, err2 := h.Repo.GetPatient(h.As(h.PatientActor(other)), p.ID)
	_, err3 := h.Repo.History(h.As(h.Medico), rbac.KindNote, p.ID, p.ID)
	_, err4 := h.Repo.CreatePractitioner(h.As(h.Medico), ehr.Practitioner{UserID: h.Medico.Principal.UserID, Name: "x"})
	for i, err := range []error{err1, err2, err3, err4} {
		if !errors.Is(err, ehr.ErrDenied) || !errors.Is(err, rbac.ErrDenied) {
			t.Fatalf("call %d: err = %v, want ErrDenied", i+1, err)
		}
		if strings.Contains(err.Error(), "Pérez") || strings.Contains(err.Error(), p.DocumentNumber) {
			t.Fatalf("error carries personal data: %v", err)
		}
	}
	after := counts(t, pool)
	if after["audit_events"] != before["audit_events"]+4 {
		t.Fatalf("audit events %d -> %d, want 4 denials recorded", before["audit_events"], after["audit_events"])
	}
	after["audit_events"] = before["audit_events"]
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a denied call wrote rows: before %v, after %v", before, after)
	}
	page, err := h.Repo.SearchAudit(h.As(h.Auditor), ehr.AuditQuery{Outcome: ehr.OutcomeDenied})
	if err != nil || len(page.Events) != 4 {
		t.Fatalf("denied events: %d, %v", len(page.Events), err)
	}
	// No actor: denied, not audited.
	if _, err := h.Repo.GetPatient(context.Background(), p.ID); !errors.Is(err, ehr.ErrDenied) {
		t.Fatalf("no actor: %v", err)
	}
}

func TestNotFoundAndOtherTenant(t *testing.T) {
	pool := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, pool)
	h2 := ehrtest.NewHospital(t, pool)
	p := h.NewPatient(t)
	// A patient of another tenant does not exist for this tenant's staff.
	if _, err := h2.Repo.GetPatient(h2.As(h2.Medico), p.ID); !errors.Is(err, ehr.ErrNotFound) {
		t.Fatalf("other tenant: %v", err)
	}
	if _, err := h2.Repo.Chart(h2.As(h2.Medico), p.ID); !errors.Is(err, ehr.ErrNotFound) && !errors.Is(err, ehr.ErrDenied) {
		t.Fatalf("other tenant chart: %v", err)
	}
	if _, err := h2.Repo.RecordAllergy(h2.As(h2.Medico), ehr.Allergy{PatientID: p.ID, Substance: "x", Severity: "mild"}); !errors.Is(err, ehr.ErrDenied) && !errors.Is(err, ehr.ErrNotFound) {
		t.Fatalf("other tenant write: %v", err)
	}
	if _, err := h.Repo.GetPatient(h.As(h.Medico), "01900000-0000-7000-8000-000000000000"); !errors.Is(err, ehr.ErrNotFound) {
		t.Fatalf("unknown patient: %v", err)
	}
	// Duplicate document in the tenant: conflict; in another tenant: fine.
	dup := p
	dup.ID, dup.Version = "", 0
	if _, err := h.Repo.RegisterPatient(h.As(h.Admisionista), dup); !errors.Is(err, ehr.ErrConflict) {
		t.Fatalf("duplicate document: %v", err)
	}
	if _, err := h2.Repo.RegisterPatient(h2.As(h2.Admisionista), dup); err != nil {
		t.Fatalf("same document in another tenant: %v", err)
	}
	// Stale version.
	p.GivenNames = "Otro"
	if _, err := h.Repo.UpdatePatient(h.As(h.Admisionista), p); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Repo.UpdatePatient(h.As(h.Admisionista), p); !errors.Is(err, ehr.ErrConflict) {
		t.Fatalf("stale version: %v", err)
	}
}

func TestSearchPatients(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	adm := h.As(h.Admisionista)
	names := [][2]string{{"José", "Pérez"}, {"Jose Luis", "Perez Gómez"}, {"MARÍA", "Núñez"}, {"Ana", "Pérez"}, {"Pedro", "Alvarez"}}
	for i, n := range names {
		if _, err := h.Repo.RegisterPatient(adm, ehr.Patient{DocumentType: "CC", DocumentNumber: fmt.Sprintf("S%04d", i),
			GivenNames: n[0], FamilyNames: n[1], BirthDate: time.Date(1970+i, 3, 4, 0, 0, 0, 0, time.UTC), Sex: ehr.SexUnknown}); err != nil {
			t.Fatal(err)
		}
	}
	med := h.As(h.Medico)
	search := func(q ehr.PatientQuery) []string {
		t.Helper()
		var out []string
		for {
			page, err := h.Repo.SearchPatients(med, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page.Patients {
				out = append(out, p.GivenNames+" "+p.FamilyNames)
			}
			if page.Next == "" {
				return out
			}
			q.Cursor = page.Next
		}
	}
	if got := search(ehr.PatientQuery{Name: "jose perez", Limit: 1}); fmt.Sprint(got) != "[José Pérez Jose Luis Perez Gómez]" {
		t.Fatalf("jose perez = %v", got)
	}
	if got := search(ehr.PatientQuery{Name: "NUNEZ"}); fmt.Sprint(got) != "[MARÍA Núñez]" {
		t.Fatalf("NUNEZ = %v", got)
	}
	if got := search(ehr.PatientQuery{Name: "pérez", Limit: 2}); len(got) != 3 {
		t.Fatalf("pérez = %v", got)
	}
	if got := search(ehr.PatientQuery{DocumentNumber: "s0004"}); fmt.Sprint(got) != "[Pedro Alvarez]" {
		t.Fatalf("document = %v", got)
	}
	if got := search(ehr.PatientQuery{BirthDate: time.Date(1972, 3, 4, 0, 0, 0, 0, time.UTC)}); fmt.Sprint(got) != "[MARÍA Núñez]" {
		t.Fatalf("birth date = %v", got)
	}
	// LIKE wildcards are not wildcards: punctuation folds to nothing.
	if got := search(ehr.PatientQuery{Name: "p%z"}); len(got) != 0 {
		t.Fatalf("wildcard = %v", got)
	}
	if got := search(ehr.PatientQuery{Limit: 2}); len(got) != 5 {
		t.Fatalf("all pages = %v", got)
	}
	if _, err := h.Repo.SearchPatients(med, ehr.PatientQuery{Cursor: "garbage"}); !errors.Is(err, ehr.ErrInvalid) {
		t.Fatalf("bad cursor: %v", err)
	}
	if _, err := h.Repo.SearchPatients(h.As(h.Auditor), ehr.PatientQuery{Name: "x"}); !errors.Is(err, ehr.ErrDenied) {
		t.Fatalf("auditor search: %v", err)
	}
	if ehr.Fold("  Ñandú  PÉREZ-Gómez ") != "nandu perez gomez" {
		t.Fatalf("fold = %q", ehr.Fold("  Ñandú  PÉREZ-Gómez "))
	}
}

func TestConcurrentUpdatesOneWins(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	p := h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	med := h.As(h.Medico)
	al, err := h.Repo.RecordAllergy(med, ehr.Allergy{PatientID: p.ID, Substance: "Látex", Severity: "mild"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	var ok, conflict atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			u := al
			u.Reaction = fmt.Sprintf("reacción %d", i)
			_, err := h.Repo.UpdateAllergy(med, u)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ehr.ErrConflict):
				conflict.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || conflict.Load() != n-1 {
		t.Fatalf("%d succeeded, %d conflicted; want 1 and %d", ok.Load(), conflict.Load(), n-1)
	}
	hist, err := h.Repo.History(med, rbac.KindAllergy, p.ID, al.ID)
	if err != nil || len(hist) != 2 {
		t.Fatalf("history: %d versions, %v", len(hist), err)
	}
	if _, err := h.Repo.VerifyChain(h.As(h.Auditor), p.ID); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentBookingOneSlot(t *testing.T) {
	pool := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, pool)
	sec := h.As(h.Secretaria)
	start := time.Date(2031, 2, 3, 10, 0, 0, 0, time.UTC)
	const n = 12
	patients := make([]ehr.Patient, n)
	for i := range patients {
		patients[i] = h.NewPatient(t)
	}
	var ok, conflict atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Overlapping but different intervals: all cover 10:10.
			s := start.Add(time.Duration(i%3) * 5 * time.Minute)
			_, err := h.Repo.BookAppointment(sec, ehr.Appointment{PatientID: patients[i].ID, PractitionerID: h.Practitioner.ID, Start: s, End: s.Add(15 * time.Minute)})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ehr.ErrConflict):
				conflict.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || conflict.Load() != n-1 {
		t.Fatalf("%d booked, %d conflicted; want 1 and %d", ok.Load(), conflict.Load(), n-1)
	}
	c := counts(t, pool)
	if c["appointments"] != 1 || c["appointment_slots"] != 3 {
		t.Fatalf("rows: %d appointments, %d slots", c["appointments"], c["appointment_slots"])
	}
	// Cancelling frees the time; an adjacent booking never conflicts.
	list, err := h.Repo.ListAppointments(sec, ehr.AppointmentQuery{From: start.Add(-time.Hour), To: start.Add(time.Hour)})
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	ap := list[0].Appointment
	if _, err := h.Repo.BookAppointment(sec, ehr.Appointment{PatientID: patients[0].ID, PractitionerID: h.Practitioner.ID, Start: ap.End, End: ap.End.Add(30 * time.Minute)}); err != nil {
		t.Fatalf("adjacent booking: %v", err)
	}
	if _, err := h.Repo.CancelAppointment(sec, ehr.RecordRef{PatientID: ap.PatientID, ID: ap.ID, Version: ap.Version}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Repo.BookAppointment(sec, ehr.Appointment{PatientID: patients[1].ID, PractitionerID: h.Practitioner.ID, Start: ap.Start, End: ap.End}); err != nil {
		t.Fatalf("booking a freed slot: %v", err)
	}
}

func TestAdmissions(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	p := h.NewPatient(t)
	adm := h.As(h.Admisionista)
	e, err := h.Repo.Admit(adm, ehr.Admission{PatientID: p.ID, AttendingID: h.Practitioner.ID, Ward: "Cirugía"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Repo.Admit(adm, ehr.Admission{PatientID: p.ID, AttendingID: h.Practitioner.ID, Ward: "Cirugía"}); !errors.Is(err, ehr.ErrConflict) {
		t.Fatalf("second admission: %v", err)
	}
	ref := ehr.EncounterRef{PatientID: p.ID, ID: e.ID, Version: e.Version}
	if _, err := h.Repo.Discharge(h.As(h.Medico), ref, "home"); !errors.Is(err, ehr.ErrDenied) {
		t.Fatalf("physician discharging: %v", err)
	}
	if _, err := h.Repo.Discharge(adm, ref, "home"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Repo.Transfer(adm, ehr.EncounterRef{PatientID: p.ID, ID: e.ID, Version: e.Version + 1}, "UCI", "", ""); !errors.Is(err, ehr.ErrConflict) {
		t.Fatalf("transfer after discharge: %v", err)
	}
	// The admissions desk sees admissions but no clinical data.
	c, err := h.Repo.Chart(adm, p.ID)
	if err != nil || len(c.Encounters) != 1 || len(c.Withheld) == 0 {
		t.Fatalf("admissions desk chart: %+v %v", c, err)
	}
}
