package ehr_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// must returns v, or panics with err: a failing step ends the test binary
// with the stack of the step (multi-value calls cannot take a *testing.T
// argument alongside).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestWorkflow(t *testing.T) {
	fullWorkflow(t, ehrtest.NewHospital(t, ehrtest.NewDB(t)))
}

// fullWorkflow runs every operation of the repository once, by the role
// the policy expects, and checks the results.
func fullWorkflow(t *testing.T, h *ehrtest.Hospital) {
	t.Helper()
	repo := h.Repo
	adm, sec, med, aud := h.As(h.Admisionista), h.As(h.Secretaria), h.As(h.Medico), h.As(h.Auditor)

	must(repo.GetTenant(adm))
	if got := must(repo.ListPractitioners(sec, true)); len(got) != 1 || got[0].ID != h.Practitioner.ID {
		t.Fatalf("ListPractitioners = %+v", got)
	}
	must(repo.PractitionerByUser(med, h.Medico.Principal.UserID))

	p := h.NewPatient(t)
	p.Identifiers = []ehr.Identifier{{System: "MRN", Value: "H-0001"}}
	p.GivenNames = "José Antonio"
	p = must(repo.UpdatePatient(adm, p))
	if p.Version != 2 {
		t.Fatalf("version after update = %d", p.Version)
	}
	page := must(repo.SearchPatients(med, ehr.PatientQuery{DocumentNumber: "h-0001"}))
	if len(page.Patients) != 1 || page.Patients[0].ID != p.ID {
		t.Fatalf("search by MRN = %+v", page.Patients)
	}

	// Admission: the attending joins the care team.
	enc := must(repo.Admit(adm, ehr.Admission{PatientID: p.ID, AttendingID: h.Practitioner.ID, Ward: "Medicina 3", Bed: "12"}))
	if got := must(repo.MyPatients(med)); len(got) != 1 || got[0].ID != p.ID {
		t.Fatalf("MyPatients = %+v", got)
	}
	if got := must(repo.ListAdmissions(adm, "")); len(got) != 1 || got[0].Encounter.ID != enc.ID {
		t.Fatalf("ListAdmissions = %+v", got)
	}
	enc = must(repo.Transfer(adm, ehr.EncounterRef{PatientID: p.ID, ID: enc.ID, Version: enc.Version}, "UCI", "2", ""))
	if enc.Ward != "UCI" || enc.Version != 2 {
		t.Fatalf("after transfer: %+v", enc)
	}

	// Clinical data by the physician on the care team.
	note := must(repo.CreateNote(med, ehr.Note{PatientID: p.ID, EncounterID: enc.ID, Title: "Ingreso", Body: "Paciente estable."}, false))
	nv := must(repo.SignNote(med, ehr.RecordRef{PatientID: p.ID, ID: note.ID, Version: note.Version}))
	if av := must(repo.AmendNote(med, ehr.RecordRef{PatientID: p.ID, ID: note.ID, Version: nv}, "Paciente estable, afebril.", "dato omitido")); av != nv+1 {
		t.Fatalf("amend returned version %d after %d", av, nv)
	}
	cond := must(repo.RecordCondition(med, ehr.Condition{PatientID: p.ID, Code: "e11.9", Display: "Diabetes mellitus tipo 2"}))
	if cond.Code != "E11.9" {
		t.Fatalf("code not normalized: %q", cond.Code)
	}
	cond.Status = "resolved"
	must(repo.UpdateCondition(med, cond))
	al := must(repo.RecordAllergy(med, ehr.Allergy{PatientID: p.ID, Substance: "Penicilina", Severity: "severe"}))
	must(repo.UpdateAllergy(med, ehr.Allergy{PatientID: p.ID, ID: al.ID, Version: al.Version, Substance: "Penicilina", Reaction: "urticaria", Severity: "severe"}))
	med1 := must(repo.PrescribeMedication(med, ehr.MedicationRequest{PatientID: p.ID, Medication: "Metformina", Dose: 850, DoseUnit: "mg", Route: "oral", Frequency: "cada 12 horas"}))
	med1.Status = "stopped"
	must(repo.UpdateMedication(med, med1))
	hr, sys := 88.0, 120.0
	obs := must(repo.RecordObservations(med, p.ID, []ehr.Observation{
		{Category: ehr.CategoryVitalSigns, Code: ehr.CodeHeartRate, Value: &hr, Unit: "/min", EncounterID: enc.ID},
		{Category: ehr.CategoryVitalSigns, Code: ehr.CodeSystolicBP, Value: &sys, Unit: "mm[Hg]"},
	}))
	hr2 := 86.0
	obs[0].Value = &hr2
	must(repo.UpdateObservation(med, obs[0]))
	must(repo.MarkEnteredInError(med, ehr.RecordRef{Kind: rbac.KindObservation, PatientID: p.ID, ID: obs[1].ID, Version: 1}, "paciente equivocado"))
	amb := must(repo.StartEncounter(med, ehr.Encounter{PatientID: p.ID, Class: ehr.ClassAmbulatory, PractitionerID: h.Practitioner.ID}))
	must(repo.FinishEncounter(med, ehr.EncounterRef{PatientID: p.ID, ID: amb.ID, Version: amb.Version}))

	// Appointments by the front desk.
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(48 * time.Hour).Add(9 * time.Hour)
	ap := must(repo.BookAppointment(sec, ehr.Appointment{PatientID: p.ID, PractitionerID: h.Practitioner.ID, Start: start, End: start.Add(20 * time.Minute)}))
	ap = must(repo.RescheduleAppointment(sec, ehr.RecordRef{PatientID: p.ID, ID: ap.ID, Version: ap.Version}, start.Add(time.Hour), start.Add(time.Hour+30*time.Minute)))
	ap = must(repo.CheckIn(sec, ehr.RecordRef{PatientID: p.ID, ID: ap.ID, Version: ap.Version}))
	ap = must(repo.CloseAppointment(sec, ehr.RecordRef{PatientID: p.ID, ID: ap.ID, Version: ap.Version}, ehr.AppointmentFulfilled))
	ap2 := must(repo.BookAppointment(sec, ehr.Appointment{PatientID: p.ID, PractitionerID: h.Practitioner.ID, Start: start, End: start.Add(15 * time.Minute)}))
	must(repo.CancelAppointment(sec, ehr.RecordRef{PatientID: p.ID, ID: ap2.ID, Version: ap2.Version}, "paciente no puede"))
	day := must(repo.ListAppointments(med, ehr.AppointmentQuery{PractitionerID: h.Practitioner.ID, From: start.Add(-time.Hour), To: start.Add(24 * time.Hour)}))
	if len(day) != 1 || day[0].Appointment.ID != ap.ID || day[0].FamilyNames != p.FamilyNames {
		t.Fatalf("agenda = %+v", day)
	}
	me := h.As(h.PatientActor(p))
	if mine := must(repo.ListAppointments(me, ehr.AppointmentQuery{PatientID: p.ID, IncludeCancelled: true})); len(mine) != 2 {
		t.Fatalf("patient's appointments = %d, want 2", len(mine))
	}
	must(repo.UpdateContact(me, p.ID, p.Version, ehr.Contact{Phone: "+57 311 111 1111"}, ehr.EmergencyContact{Name: "Ana", Phone: "+57 1"}))

	enc = must(repo.Discharge(adm, ehr.EncounterRef{PatientID: p.ID, ID: enc.ID, Version: enc.Version}, "home"))
	if enc.Status != ehr.EncounterFinished || enc.EndedAt == nil {
		t.Fatalf("after discharge: %+v", enc)
	}

	// The chart, as the physician and as the patient.
	c := must(repo.Chart(med, p.ID))
	if len(c.Encounters) != 2 || len(c.Notes) != 1 || len(c.Conditions) != 1 || len(c.Allergies) != 1 ||
		len(c.Medications) != 1 || len(c.Observations) != 2 || len(c.Appointments) != 2 || len(c.CareTeam) != 1 || len(c.Withheld) != 0 {
		t.Fatalf("chart: %d enc, %d notes, %d cond, %d allergies, %d meds, %d obs, %d appts, %d team, withheld %v",
			len(c.Encounters), len(c.Notes), len(c.Conditions), len(c.Allergies), len(c.Medications), len(c.Observations),
			len(c.Appointments), len(c.CareTeam), c.Withheld)
	}
	if c.Notes[0].Status != ehr.NoteAmended || c.Observations[1].Status != ehr.StatusEnteredInError && c.Observations[0].Status != ehr.StatusEnteredInError {
		t.Fatalf("statuses: note %s, obs %s/%s", c.Notes[0].Status, c.Observations[0].Status, c.Observations[1].Status)
	}
	if c.Patient.Contact.Phone != "+57 311 111 1111" {
		t.Fatalf("contact = %+v", c.Patient.Contact)
	}
	must(repo.Chart(me, p.ID))

	// History of the note: three versions, the amendment with its reason.
	hist := must(repo.History(med, rbac.KindNote, p.ID, note.ID))
	if len(hist) != 3 || hist[2].Reason != "dato omitido" {
		t.Fatalf("note history = %+v", hist)
	}
	var row map[string]any
	if err := json.Unmarshal(hist[0].Data, &row); err != nil || row["body"] != "Paciente estable." {
		t.Fatalf("first version data = %s (%v)", hist[0].Data, err)
	}
	if ph := must(repo.History(adm, rbac.KindDemographics, p.ID, p.ID)); len(ph) != 3 {
		t.Fatalf("patient history has %d versions, want 3", len(ph))
	}

	// End the care team: the physician loses clinical access.
	team := c.CareTeam[0]
	must(repo.EndCareTeam(adm, ehr.RecordRef{PatientID: p.ID, ID: team.ID, Version: team.Version}, "alta"))
	if _, err := repo.CreateNote(med, ehr.Note{PatientID: p.ID, Title: "x", Body: "y"}, false); !errors.Is(err, ehr.ErrDenied) {
		t.Fatalf("note after leaving the care team: %v", err)
	}

	// The auditor: access log, audit search, chains.
	log := must(repo.AccessLog(aud, p.ID, 0))
	if !slices.ContainsFunc(log, func(e ehr.AccessEntry) bool { return e.UserID == h.Medico.Principal.UserID && e.Kind == "chart" }) {
		t.Fatalf("access log lacks the physician's chart read: %+v", log)
	}
	ap3 := must(repo.SearchAudit(aud, ehr.AuditQuery{ChainID: p.ID, Outcome: ehr.OutcomeDenied}))
	if len(ap3.Events) != 1 || ap3.Events[0].UserID != h.Medico.Principal.UserID {
		t.Fatalf("denied events = %+v", ap3.Events)
	}
	st := must(repo.VerifyChain(aud, p.ID))
	if st.Events < 20 {
		t.Fatalf("chain has %d events", st.Events)
	}
	must(repo.VerifyChain(aud, h.Tenant.ID))
	must(repo.ListBreakGlass(aud, ehr.BreakGlassQuery{}))
}
