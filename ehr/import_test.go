package ehr_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// importSource builds, through the workflow methods in hospital a, the
// chart of a patient with a record of every kind in closed states (and
// some open ones), and returns it as a physician on the care team reads
// it, with the practitioners it names.
func importSource(t *testing.T, a *ehrtest.Hospital) (ehr.Chart, ehr.Practitioner, ehr.Practitioner) {
	t.Helper()
	repo := a.Repo
	adm, sec, med := a.As(a.Admisionista), a.As(a.Secretaria), a.As(a.Medico)
	base := time.Now().UTC().Add(-72 * time.Hour).Truncate(time.Hour)
	p := a.NewPatient(t)
	med2Actor, pr2 := a.NewMedico(t, "Dr. Luis Rincón")
	_, pr3 := a.NewMedico(t, "Dra. Marta Ruiz")
	a.OnCareTeam(t, p, pr2)
	wrong := a.OnCareTeam(t, p, pr3)
	must(repo.MarkEnteredInError(adm, ehr.RecordRef{Kind: rbac.KindCareTeam, PatientID: p.ID, ID: wrong.ID, Version: wrong.Version}, "paciente equivocado"))

	// A discharged admission (transferred once), its attending's
	// membership ended.
	enc := must(repo.Admit(adm, ehr.Admission{PatientID: p.ID, AttendingID: a.Practitioner.ID, Ward: "Medicina 3", Bed: "12",
		Reason: "Neumonía", At: base}))
	enc = must(repo.Transfer(adm, ehr.EncounterRef{PatientID: p.ID, ID: enc.ID, Version: enc.Version}, "UCI", "2", ""))

	// Notes: a draft, a signed one, an amended one, a signed one entered
	// in error, a draft entered in error.
	must(repo.CreateNote(med, ehr.Note{PatientID: p.ID, EncounterID: enc.ID, Title: "Borrador", Body: "Pendiente."}, false))
	must(repo.CreateNote(med, ehr.Note{PatientID: p.ID, EncounterID: enc.ID, Title: "Ingreso", Body: "Paciente estable."}, true))
	n := must(repo.CreateNote(med, ehr.Note{PatientID: p.ID, Title: "Evolución", Body: "Afebril."}, true))
	must(repo.AmendNote(med, ehr.RecordRef{PatientID: p.ID, ID: n.ID, Version: n.Version}, "Afebril, tolera vía oral.", "dato omitido"))
	n = must(repo.CreateNote(med, ehr.Note{PatientID: p.ID, Title: "Otra", Body: "Nota de otro paciente."}, true))
	must(repo.MarkEnteredInError(med, ehr.RecordRef{Kind: rbac.KindNote, PatientID: p.ID, ID: n.ID, Version: n.Version}, "paciente equivocado"))
	n = must(repo.CreateNote(med, ehr.Note{PatientID: p.ID, Title: "Duplicada", Body: "x"}, false))
	must(repo.MarkEnteredInError(med, ehr.RecordRef{Kind: rbac.KindNote, PatientID: p.ID, ID: n.ID, Version: n.Version}, "duplicada"))

	// A resolved condition with its onset, an inactive allergy, a
	// completed prescription with its dates.
	onset := base.Add(-30 * 24 * time.Hour)
	must(repo.RecordCondition(med, ehr.Condition{PatientID: p.ID, EncounterID: enc.ID, Code: "J18.9", Display: "Neumonía",
		Status: "resolved", OnsetDate: &onset, Note: "Curada."}))
	c := must(repo.RecordCondition(med, ehr.Condition{PatientID: p.ID, Code: "I10", Display: "Hipertensión"}))
	must(repo.MarkEnteredInError(med, ehr.RecordRef{Kind: rbac.KindCondition, PatientID: p.ID, ID: c.ID, Version: c.Version}, "error de digitación"))
	al := must(repo.RecordAllergy(med, ehr.Allergy{PatientID: p.ID, Substance: "Penicilina", Reaction: "urticaria", Severity: "severe"}))
	al.Status = "inactive"
	must(repo.UpdateAllergy(med, al))
	from, to := base, base.Add(7*24*time.Hour)
	m := must(repo.PrescribeMedication(med, ehr.MedicationRequest{PatientID: p.ID, EncounterID: enc.ID, Medication: "Amoxicilina",
		Dose: 500, DoseUnit: "mg", Route: "oral", Frequency: "cada 8 horas", StartsOn: &from, EndsOn: &to}))
	m.Status = "completed"
	must(repo.UpdateMedication(med, m))

	// Observations: final, amended, entered in error.
	hr, t1, sys := 88.0, 38.4, 120.0
	obs := must(repo.RecordObservations(med, p.ID, []ehr.Observation{
		{Category: ehr.CategoryVitalSigns, Code: ehr.CodeHeartRate, Value: &hr, Unit: "/min", EncounterID: enc.ID, EffectiveAt: base.Add(time.Hour)},
		{Category: ehr.CategoryVitalSigns, Code: ehr.CodeBodyTemp, Value: &t1, Unit: "Cel", EffectiveAt: base.Add(2 * time.Hour)},
		{Category: ehr.CategoryVitalSigns, Code: ehr.CodeSystolicBP, Value: &sys, Unit: "mm[Hg]", EffectiveAt: base.Add(3 * time.Hour)},
		{Category: ehr.CategoryLaboratory, Code: "600-7", Display: "Hemocultivo", ValueText: "Negativo", EffectiveAt: base.Add(4 * time.Hour)},
	}))
	t2 := 38.2
	obs[1].Value = &t2
	must(repo.UpdateObservation(med, obs[1]))
	must(repo.MarkEnteredInError(med, ehr.RecordRef{Kind: rbac.KindObservation, PatientID: p.ID, ID: obs[2].ID, Version: 1}, "paciente equivocado"))

	// Encounters: a finished ambulatory one, an emergency one entered in
	// error, an open ambulatory one.
	amb := must(repo.StartEncounter(med, ehr.Encounter{PatientID: p.ID, Class: ehr.ClassAmbulatory, PractitionerID: a.Practitioner.ID,
		Reason: "Control", StartedAt: base.Add(-24 * time.Hour)}))
	must(repo.FinishEncounter(med, ehr.EncounterRef{PatientID: p.ID, ID: amb.ID, Version: amb.Version}))
	em := must(repo.StartEncounter(med, ehr.Encounter{PatientID: p.ID, Class: ehr.ClassEmergency, StartedAt: base.Add(-48 * time.Hour)}))
	must(repo.MarkEnteredInError(med, ehr.RecordRef{Kind: rbac.KindEncounter, PatientID: p.ID, ID: em.ID, Version: em.Version}, "otro paciente"))
	must(repo.StartEncounter(med, ehr.Encounter{PatientID: p.ID, Class: ehr.ClassAmbulatory, StartedAt: time.Now().Add(-time.Hour)}))

	// Appointments: cancelled, then fulfilled in the same time; a no-show;
	// one booked ahead; one entered in error.
	slot := base.Add(-24*time.Hour + 9*time.Hour)
	ap := must(repo.BookAppointment(sec, ehr.Appointment{PatientID: p.ID, PractitionerID: a.Practitioner.ID, Start: slot, End: slot.Add(20 * time.Minute), Reason: "Control"}))
	must(repo.CancelAppointment(sec, ehr.RecordRef{PatientID: p.ID, ID: ap.ID, Version: ap.Version}, "no puede"))
	ap = must(repo.BookAppointment(sec, ehr.Appointment{PatientID: p.ID, PractitionerID: a.Practitioner.ID, Start: slot, End: slot.Add(20 * time.Minute)}))
	ap = must(repo.CheckIn(sec, ehr.RecordRef{PatientID: p.ID, ID: ap.ID, Version: ap.Version}))
	must(repo.CloseAppointment(sec, ehr.RecordRef{PatientID: p.ID, ID: ap.ID, Version: ap.Version}, ehr.AppointmentFulfilled))
	ap = must(repo.BookAppointment(sec, ehr.Appointment{PatientID: p.ID, PractitionerID: pr2.ID, Start: slot.Add(time.Hour), End: slot.Add(time.Hour + 15*time.Minute)}))
	must(repo.CloseAppointment(sec, ehr.RecordRef{PatientID: p.ID, ID: ap.ID, Version: ap.Version}, ehr.AppointmentNoShow))
	ahead := time.Now().UTC().Truncate(24 * time.Hour).Add(72*time.Hour + 10*time.Hour)
	must(repo.BookAppointment(sec, ehr.Appointment{PatientID: p.ID, PractitionerID: a.Practitioner.ID, Start: ahead, End: ahead.Add(30 * time.Minute)}))
	ap = must(repo.BookAppointment(sec, ehr.Appointment{PatientID: p.ID, PractitionerID: pr2.ID, Start: ahead, End: ahead.Add(30 * time.Minute)}))
	must(repo.MarkEnteredInError(sec, ehr.RecordRef{Kind: rbac.KindAppointment, PatientID: p.ID, ID: ap.ID, Version: ap.Version}, "duplicada"))

	enc = must(repo.Discharge(adm, ehr.EncounterRef{PatientID: p.ID, ID: enc.ID, Version: enc.Version}, "home"))
	for _, mb := range must(repo.Chart(med, p.ID)).CareTeam {
		if mb.PractitionerID == a.Practitioner.ID && mb.Status == ehr.CareTeamActive {
			must(repo.EndCareTeam(adm, ehr.RecordRef{PatientID: p.ID, ID: mb.ID, Version: mb.Version}, "alta"))
		}
	}
	ch := must(repo.Chart(a.As(med2Actor), p.ID))
	if len(ch.Withheld) != 0 || len(ch.Encounters) != 4 || len(ch.Appointments) != 5 || len(ch.CareTeam) != 3 || len(ch.Notes) != 5 ||
		len(ch.Conditions) != 2 || len(ch.Allergies) != 1 || len(ch.Medications) != 1 || len(ch.Observations) != 4 {
		t.Fatalf("source chart: withheld %v, %d enc, %d appts, %d team, %d notes, %d cond, %d allergies, %d meds, %d obs",
			ch.Withheld, len(ch.Encounters), len(ch.Appointments), len(ch.CareTeam), len(ch.Notes), len(ch.Conditions),
			len(ch.Allergies), len(ch.Medications), len(ch.Observations))
	}
	return ch, pr2, pr3
}

// importer returns an actor of hospital b who may import every kind for
// patient pid: admissions desk (admissions, care team), front desk
// (appointments) and physician, with the glass broken for the clinical
// records (so that the care team is only what is imported).
func importer(t *testing.T, b *ehrtest.Hospital, pid string) (ehr.Actor, context.Context) {
	t.Helper()
	act := ehrtest.Staff(b.Tenant.ID, "medico", "admisionista", "secretaria")
	ctx := b.As(act)
	must(b.Repo.BreakGlass(ctx, pid, "traslado del paciente desde otra institución", time.Hour))
	return act, ctx
}

// TestImportChart: a chart with every kind in closed states, imported
// record by record into a patient of another tenant, reads back equal to
// the source except ids, tenant, versions and creation and change times;
// each record has one version, by the importer, with ReasonImported; each
// import is audited as AuditActionImport; the chains verify.
func TestImportChart(t *testing.T) {
	db := ehrtest.NewDB(t)
	a, b := ehrtest.NewHospital(t, db), ehrtest.NewHospital(t, db)
	src, srcPr2, srcPr3 := importSource(t, a)
	_, pr2 := b.NewMedico(t, "Dr. Luis Rincón")
	prMap := map[string]string{a.Practitioner.ID: b.Practitioner.ID, srcPr2.ID: pr2.ID, srcPr3.ID: b.Practitioner.ID}
	userOf := map[string]string{b.Practitioner.ID: b.Practitioner.UserID, pr2.ID: pr2.UserID}

	p := b.NewPatient(t)
	act, ctx := importer(t, b, p.ID)
	repo := b.Repo
	encMap := map[string]string{}
	imported := map[rbac.Kind][]string{}
	imp := func(k rbac.Kind, rec any) any {
		t.Helper()
		out, err := repo.ImportRecord(ctx, rec)
		if err != nil {
			t.Fatalf("import %T: %v", rec, err)
		}
		if reflect.TypeOf(out) != reflect.TypeOf(rec) {
			t.Fatalf("import %T returned a %T", rec, out)
		}
		return out
	}
	id := func(v any) string { return reflect.ValueOf(v).FieldByName("ID").String() }
	note := func(k rbac.Kind, v any) { imported[k] = append(imported[k], id(v)) }

	for _, e := range src.Encounters {
		e.PatientID, e.PractitionerID = p.ID, prMap[e.PractitionerID]
		out := imp(rbac.KindEncounter, e).(ehr.Encounter)
		encMap[e.ID] = out.ID
		k := rbac.KindEncounter
		if out.Class == ehr.ClassInpatient {
			k = rbac.KindAdmission
		}
		note(k, out)
	}
	for _, ap := range src.Appointments {
		ap.PatientID, ap.PractitionerID = p.ID, prMap[ap.PractitionerID]
		note(rbac.KindAppointment, imp(rbac.KindAppointment, ap))
	}
	for _, m := range src.CareTeam {
		m.PatientID, m.PractitionerID, m.UserID = p.ID, prMap[m.PractitionerID], "ignored"
		note(rbac.KindCareTeam, imp(rbac.KindCareTeam, m))
	}
	for _, n := range src.Notes {
		n.PatientID, n.EncounterID = p.ID, encMap[n.EncounterID]
		note(rbac.KindNote, imp(rbac.KindNote, n))
	}
	for _, c := range src.Conditions {
		c.PatientID, c.EncounterID = p.ID, encMap[c.EncounterID]
		note(rbac.KindCondition, imp(rbac.KindCondition, c))
	}
	for _, al := range src.Allergies {
		al.PatientID = p.ID
		note(rbac.KindAllergy, imp(rbac.KindAllergy, al))
	}
	for _, m := range src.Medications {
		m.PatientID, m.EncounterID = p.ID, encMap[m.EncounterID]
		note(rbac.KindMedication, imp(rbac.KindMedication, m))
	}
	for _, o := range src.Observations {
		o.PatientID, o.EncounterID = p.ID, encMap[o.EncounterID]
		note(rbac.KindObservation, imp(rbac.KindObservation, o))
	}

	got := must(repo.Chart(ctx, p.ID))
	if len(got.Withheld) != 0 {
		t.Fatalf("withheld %v", got.Withheld)
	}
	// Ids mapped, then left out of the comparison with the tenant, the
	// versions and the creation and change times.
	checkMap := func(what, gotID, srcID string, m map[string]string) {
		t.Helper()
		if gotID != m[srcID] {
			t.Errorf("%s: %q, want %q (source %q)", what, gotID, m[srcID], srcID)
		}
	}
	for i := range got.Encounters {
		if i < len(src.Encounters) {
			checkMap("encounter practitioner", got.Encounters[i].PractitionerID, src.Encounters[i].PractitionerID, prMap)
		}
	}
	for i := range got.Appointments {
		if i < len(src.Appointments) {
			checkMap("appointment practitioner", got.Appointments[i].PractitionerID, src.Appointments[i].PractitionerID, prMap)
		}
	}
	for i, m := range got.CareTeam {
		if i < len(src.CareTeam) {
			checkMap("care-team practitioner", m.PractitionerID, src.CareTeam[i].PractitionerID, prMap)
		}
		if m.UserID != userOf[m.PractitionerID] {
			t.Errorf("care-team member %s: user %q, want the practitioner's %q", m.ID, m.UserID, userOf[m.PractitionerID])
		}
	}
	for i, n := range got.Notes {
		if i < len(src.Notes) {
			checkMap("note encounter", n.EncounterID, src.Notes[i].EncounterID, encMap)
			if !n.CreatedAt.Equal(src.Notes[i].CreatedAt) {
				t.Errorf("note %d: created %v, want the source's %v", i, n.CreatedAt, src.Notes[i].CreatedAt)
			}
		}
	}
	for i, o := range got.Observations {
		if i < len(src.Observations) {
			checkMap("observation encounter", o.EncounterID, src.Observations[i].EncounterID, encMap)
		}
	}
	same := func(what string, gotV, srcV any) {
		t.Helper()
		g, s := blankBookkeeping(gotV), blankBookkeeping(srcV)
		if !reflect.DeepEqual(g, s) {
			t.Errorf("%s differ:\n got  %+v\n want %+v", what, g, s)
		}
	}
	same("encounters", got.Encounters, src.Encounters)
	same("appointments", got.Appointments, src.Appointments)
	same("care team", got.CareTeam, src.CareTeam)
	same("notes", got.Notes, src.Notes)
	same("conditions", got.Conditions, src.Conditions)
	same("allergies", got.Allergies, src.Allergies)
	same("medications", got.Medications, src.Medications)
	same("observations", got.Observations, src.Observations)

	// One version each, by the importer, with the reason; its snapshot is
	// the record read.
	n := 0
	for k, ids := range imported {
		for _, rid := range ids {
			h := must(repo.History(ctx, k, p.ID, rid))
			if len(h) != 1 || h[0].Version != 1 || h[0].Reason != ehr.ReasonImported || h[0].ChangedBy != act.Principal.UserID {
				t.Errorf("history of %s %s: %+v", k, rid, h)
				continue
			}
			rec := must(h[0].Record())
			if id(rec) != rid {
				t.Errorf("snapshot of %s %s names %s", k, rid, id(rec))
			}
			n++
		}
	}
	var count int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM record_versions WHERE patient_id = $1 AND kind <> 'demographics'`,
		p.ID).Scan(&count); err != nil || count != n {
		t.Errorf("record_versions of the patient: %d (%v), want %d", count, err, n)
	}

	// One audit event per import, allowed, action import.
	aud := b.As(b.Auditor)
	page := must(repo.SearchAudit(aud, ehr.AuditQuery{ChainID: p.ID, Action: ehr.AuditActionImport, Limit: 500}))
	if len(page.Events) != n {
		t.Errorf("%d import events, want %d", len(page.Events), n)
	}
	for _, e := range page.Events {
		if e.Outcome != ehr.OutcomeAllowed || e.UserID != act.Principal.UserID || e.RecordID == "" {
			t.Errorf("import event %+v", e)
		}
	}
	must(repo.VerifyChain(aud, p.ID))
	must(repo.VerifyChain(aud, b.Tenant.ID))
	must(a.Repo.VerifyChain(a.As(a.Auditor), src.Patient.ID))
}

// blankBookkeeping returns a copy of the records v (a slice of structs)
// with what an import does not keep blanked: ids (the record's, the
// tenant's, the patient's, the encounter's and the practitioner's, which
// the test maps), the user of a care-team member (the practitioner's),
// version, creation and change times.
func blankBookkeeping(v any) any {
	s := reflect.ValueOf(v)
	out := reflect.MakeSlice(s.Type(), s.Len(), s.Len())
	reflect.Copy(out, s)
	for i := range out.Len() {
		r := out.Index(i)
		for _, f := range []string{"ID", "TenantID", "PatientID", "EncounterID", "PractitionerID", "UserID", "Version", "CreatedAt", "UpdatedAt"} {
			if fv := r.FieldByName(f); fv.IsValid() {
				fv.SetZero()
			}
		}
	}
	return out.Interface()
}

// TestImportValidation: invalid records are refused before any SQL, with
// the field at fault and its code, and without the values.
func TestImportValidation(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	p := h.NewPatient(t)
	_, ctx := importer(t, h, p.ID)
	now := time.Now().UTC()
	past := now.Add(-48 * time.Hour).Truncate(time.Hour)
	before, future := past.Add(-time.Hour), now.Add(time.Hour)
	daysBefore := past.Add(-72 * time.Hour)
	pr := h.Practitioner.ID
	hr := 70.0
	enc := func(mod func(*ehr.Encounter)) ehr.Encounter {
		e := ehr.Encounter{PatientID: p.ID, Class: ehr.ClassAmbulatory, Status: ehr.EncounterFinished, StartedAt: past, EndedAt: &now}
		mod(&e)
		return e
	}
	note := func(mod func(*ehr.Note)) ehr.Note {
		n := ehr.Note{PatientID: p.ID, Title: "Ingreso", Body: "Texto secreto del paciente", Status: ehr.NoteSigned, AuthorID: "u-1",
			SignedBy: "u-1", SignedAt: &past}
		mod(&n)
		return n
	}
	for _, tc := range []struct {
		name        string
		rec         any
		field, code string
	}{
		{"finished without end", enc(func(e *ehr.Encounter) { e.EndedAt = nil }), "EndedAt", ehr.CodeRequired},
		{"end before start", enc(func(e *ehr.Encounter) { e.EndedAt = &before }), "EndedAt", ehr.CodeBeforeStart},
		{"end in the future", enc(func(e *ehr.Encounter) { e.EndedAt = &future }), "EndedAt", ehr.CodeInFuture},
		{"in progress with an end", enc(func(e *ehr.Encounter) { e.Status = ehr.EncounterInProgress }), "EndedAt", ehr.CodeNotAllowed},
		{"unknown encounter status", enc(func(e *ehr.Encounter) { e.Status = "planned" }), "Status", ehr.CodeNotAllowed},
		{"no encounter status", enc(func(e *ehr.Encounter) { e.Status = "" }), "Status", ehr.CodeRequired},
		{"no start", enc(func(e *ehr.Encounter) { e.StartedAt = time.Time{} }), "StartedAt", ehr.CodeRequired},
		{"admission without ward", enc(func(e *ehr.Encounter) { e.Class, e.PractitionerID = ehr.ClassInpatient, pr }), "Ward", ehr.CodeRequired},
		{"admission without attending", enc(func(e *ehr.Encounter) { e.Class, e.Ward = ehr.ClassInpatient, "UCI" }), "PractitionerID", ehr.CodeRequired},
		{"ambulatory disposition", enc(func(e *ehr.Encounter) { e.Disposition = "home" }), "Disposition", ehr.CodeNotAllowed},
		{"created in the future", enc(func(e *ehr.Encounter) { e.CreatedAt = future }), "CreatedAt", ehr.CodeInFuture},
		{"misaligned appointment", ehr.Appointment{PatientID: p.ID, PractitionerID: pr, Start: past.Add(time.Minute), End: past.Add(20 * time.Minute),
			Status: ehr.AppointmentFulfilled}, "Start", ehr.CodeMisaligned},
		{"appointment without status", ehr.Appointment{PatientID: p.ID, PractitionerID: pr, Start: past, End: past.Add(20 * time.Minute)},
			"Status", ehr.CodeRequired},
		{"ended membership without end", ehr.CareTeamMember{PatientID: p.ID, PractitionerID: pr, Role: "attending", StartsAt: past,
			Status: ehr.CareTeamEnded}, "EndsAt", ehr.CodeRequired},
		{"membership without start", ehr.CareTeamMember{PatientID: p.ID, PractitionerID: pr, Role: "attending", Status: ehr.CareTeamActive},
			"StartsAt", ehr.CodeRequired},
		{"signed without signer", note(func(n *ehr.Note) { n.SignedBy = "" }), "SignedBy", ehr.CodeRequired},
		{"signed without time", note(func(n *ehr.Note) { n.SignedAt = nil }), "SignedAt", ehr.CodeRequired},
		{"signed draft", note(func(n *ehr.Note) { n.Status = ehr.NoteDraft }), "SignedAt", ehr.CodeNotAllowed},
		{"note without author", note(func(n *ehr.Note) { n.AuthorID = " " }), "AuthorID", ehr.CodeRequired},
		{"note by a colleague here", note(func(n *ehr.Note) { n.AuthorID = h.Practitioner.UserID }), "AuthorID", ehr.CodeNotAllowed},
		{"signed by a colleague here", note(func(n *ehr.Note) { n.SignedBy = h.Practitioner.UserID }), "SignedBy", ehr.CodeNotAllowed},
		{"recorded by a colleague here", ehr.Condition{PatientID: p.ID, Code: "E11.9", Display: "Diabetes", RecordedBy: h.Practitioner.UserID},
			"RecordedBy", ehr.CodeNotAllowed},
		{"signed before written", note(func(n *ehr.Note) { n.CreatedAt = now }), "SignedAt", ehr.CodeBeforeStart},
		{"signed in the future", note(func(n *ehr.Note) { n.SignedAt = &future }), "SignedAt", ehr.CodeInFuture},
		{"half-signed note in error", note(func(n *ehr.Note) { n.Status, n.SignedAt = ehr.StatusEnteredInError, nil }), "SignedAt", ehr.CodeRequired},
		{"not ICD-10", ehr.Condition{PatientID: p.ID, Code: "diabetes", Display: "Diabetes", RecordedBy: "u-1"}, "Code", ehr.CodeUnknownCode},
		{"condition without recorder", ehr.Condition{PatientID: p.ID, Code: "E11.9", Display: "Diabetes"}, "RecordedBy", ehr.CodeRequired},
		{"condition status", ehr.Condition{PatientID: p.ID, Code: "E11.9", Display: "Diabetes", RecordedBy: "u-1", Status: "cured"},
			"Status", ehr.CodeNotAllowed},
		{"allergy severity", ehr.Allergy{PatientID: p.ID, Substance: "Látex", Severity: "deadly", RecordedBy: "u-1",
			Status: ehr.StatusEnteredInError}, "Severity", ehr.CodeNotAllowed},
		{"medication ends before it starts", ehr.MedicationRequest{PatientID: p.ID, Medication: "Metformina", Dose: 850, DoseUnit: "mg",
			Route: "oral", Frequency: "diaria", Status: "completed", StartsOn: &past, EndsOn: &daysBefore, PrescriberID: "u-1"}, "EndsOn", ehr.CodeBeforeStart},
		{"medication without prescriber", ehr.MedicationRequest{PatientID: p.ID, Medication: "Metformina", Dose: 850, DoseUnit: "mg",
			Route: "oral", Frequency: "diaria"}, "PrescriberID", ehr.CodeRequired},
		{"observation without time", ehr.Observation{PatientID: p.ID, Category: ehr.CategoryVitalSigns, Code: ehr.CodeHeartRate, Value: &hr,
			Unit: "/min", Status: "amended", RecordedBy: "u-1"}, "EffectiveAt", ehr.CodeRequired},
		{"observation status", ehr.Observation{PatientID: p.ID, Category: ehr.CategoryVitalSigns, Code: ehr.CodeHeartRate, Value: &hr,
			Unit: "/min", Status: "preliminary", RecordedBy: "u-1", EffectiveAt: past}, "Status", ehr.CodeNotAllowed},
		{"not a record", p, "Record", ehr.CodeNotAllowed},
		{"a pointer", &ehr.Allergy{}, "Record", ehr.CodeNotAllowed},
		{"bad patient id", ehr.Allergy{PatientID: "nope", Substance: "Látex", Severity: "mild", RecordedBy: "u-1"}, "PatientID", ehr.CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Repo.ImportRecord(ctx, tc.rec)
			var ve *ehr.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ehr.ErrInvalid) {
				t.Fatalf("err = %v, want a validation error", err)
			}
			found := false
			for _, f := range ve.Fields {
				found = found || f.Field == tc.field && f.Code == tc.code
			}
			if !found {
				t.Fatalf("err = %v (%+v), want %s %s", err, ve.Fields, tc.field, tc.code)
			}
			if strings.Contains(err.Error(), "secreto") || strings.Contains(err.Error(), p.FamilyNames) {
				t.Fatalf("the error carries personal data: %v", err)
			}
		})
	}
	c := must(h.Repo.Chart(ctx, p.ID))
	if n := len(c.Encounters) + len(c.Appointments) + len(c.CareTeam) + len(c.Notes) + len(c.Conditions) + len(c.Allergies) +
		len(c.Medications) + len(c.Observations); n != 0 {
		t.Fatalf("refused imports wrote %d records", n)
	}
}

// TestImportAuthorization: an import is authorized as the kind's
// workflow create; a refusal is ErrDenied, audited as an import; another
// tenant's patient is not found and its chain is not touched.
func TestImportAuthorization(t *testing.T) {
	db := ehrtest.NewDB(t)
	h, other := ehrtest.NewHospital(t, db), ehrtest.NewHospital(t, db)
	p := h.NewPatient(t)
	past := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour)
	end := past.Add(2 * time.Hour)
	cond := ehr.Condition{PatientID: p.ID, Code: "I10", Display: "Hipertensión", Status: "resolved", RecordedBy: "u-1"}
	amb := ehr.Encounter{PatientID: p.ID, Class: ehr.ClassAmbulatory, Status: ehr.EncounterFinished, StartedAt: past, EndedAt: &end}
	adm := ehr.Encounter{PatientID: p.ID, Class: ehr.ClassInpatient, Status: ehr.EncounterFinished, StartedAt: past, EndedAt: &end,
		PractitionerID: h.Practitioner.ID, Ward: "UCI", Disposition: "home"}
	appt := ehr.Appointment{PatientID: p.ID, PractitionerID: h.Practitioner.ID, Start: past, End: past.Add(15 * time.Minute), Status: ehr.AppointmentFulfilled}
	team := ehr.CareTeamMember{PatientID: p.ID, PractitionerID: h.Practitioner.ID, Role: "attending", StartsAt: past, EndsAt: &end, Status: ehr.CareTeamEnded}

	for _, tc := range []struct {
		name  string
		actor ehr.Actor
		rec   any
		ok    bool
	}{
		{"front desk, a condition", h.Secretaria, cond, false},
		{"physician off the care team, a condition", h.Medico, cond, false},
		{"admissions desk, an ambulatory encounter", h.Admisionista, amb, false},
		{"physician off the care team, an admission", h.Medico, adm, false},
		{"front desk, a care-team membership", h.Secretaria, team, false},
		{"physician, an appointment", h.Medico, appt, false},
		{"admissions desk, an admission", h.Admisionista, adm, true},
		{"admissions desk, a care-team membership", h.Admisionista, team, true},
		{"front desk, an appointment", h.Secretaria, appt, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Repo.ImportRecord(h.As(tc.actor), tc.rec)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ehr.ErrDenied) || errors.Is(err, ehr.ErrNotFound) {
				t.Fatalf("err = %v, want ErrDenied", err)
			}
		})
	}
	// The ended membership does not make the physician a member; an
	// active one does, and then the physician may import clinical records.
	if _, err := h.Repo.ImportRecord(h.As(h.Medico), cond); !errors.Is(err, ehr.ErrDenied) {
		t.Fatalf("after an ended membership: %v, want ErrDenied", err)
	}
	team.Status, team.EndsAt = ehr.CareTeamActive, nil
	if _, err := h.Repo.ImportRecord(h.As(h.Admisionista), team); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Repo.ImportRecord(h.As(h.Medico), cond); err != nil {
		t.Fatalf("on the care team: %v", err)
	}

	aud := h.As(h.Auditor)
	denied := must(h.Repo.SearchAudit(aud, ehr.AuditQuery{ChainID: p.ID, Action: ehr.AuditActionImport, Outcome: ehr.OutcomeDenied, Limit: 500}))
	if len(denied.Events) != 7 {
		t.Errorf("%d denied import events, want 7: %+v", len(denied.Events), denied.Events)
	}
	kinds := map[string]int{}
	for _, e := range denied.Events {
		kinds[e.Kind]++
	}
	if kinds["condition"] != 3 || kinds["encounter"] != 1 || kinds["admission"] != 1 || kinds["careteam"] != 1 || kinds["appointment"] != 1 {
		t.Errorf("denied import events by kind: %v", kinds)
	}
	allowed := must(h.Repo.SearchAudit(aud, ehr.AuditQuery{ChainID: p.ID, Action: ehr.AuditActionImport, Outcome: ehr.OutcomeAllowed, Limit: 500}))
	if len(allowed.Events) != 5 {
		t.Errorf("%d allowed import events, want 5", len(allowed.Events))
	}
	// What one verification adds to the patient's chain, if anything.
	v1 := must(h.Repo.VerifyChain(aud, p.ID)).Events
	before := must(h.Repo.VerifyChain(aud, p.ID)).Events
	perVerify := before - v1

	// Another tenant's importer: not found, whatever it may do, and the
	// patient's chain does not move.
	imp := ehrtest.Staff(other.Tenant.ID, "medico", "admisionista", "secretaria")
	for _, rec := range []any{cond, adm, appt, team} {
		if _, err := other.Repo.ImportRecord(other.As(imp), rec); !errors.Is(err, ehr.ErrNotFound) || errors.Is(err, ehr.ErrDenied) {
			t.Errorf("import %T for another tenant's patient: %v, want ErrNotFound", rec, err)
		}
	}
	if after := must(h.Repo.VerifyChain(aud, p.ID)).Events; after != before+perVerify {
		t.Errorf("the patient's chain went from %d to %d events (a verification adds %d)", before, after, perVerify)
	}
	must(other.Repo.VerifyChain(other.As(other.Auditor), other.Tenant.ID))
	// The practitioner of another tenant is not found either.
	q := other.NewPatient(t)
	team.PatientID = q.ID
	if _, err := other.Repo.ImportRecord(other.As(other.Admisionista), team); !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("a membership naming another tenant's practitioner: %v, want ErrNotFound", err)
	}
}

// TestImportConflicts: the slots of an appointment that holds them, the
// open admission and the active membership conflict as in the workflow;
// inside InTx an import is part of the transaction.
func TestImportConflicts(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	p := h.NewPatient(t)
	_, ctx := importer(t, h, p.ID)
	repo := h.Repo
	slot := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour)
	appt := func(status string) ehr.Appointment {
		return ehr.Appointment{PatientID: p.ID, PractitionerID: h.Practitioner.ID, Start: slot, End: slot.Add(30 * time.Minute), Status: status}
	}
	must(repo.ImportRecord(ctx, appt(ehr.AppointmentFulfilled)))
	for _, s := range []string{ehr.AppointmentCancelled, ehr.StatusEnteredInError} {
		if _, err := repo.ImportRecord(ctx, appt(s)); err != nil {
			t.Errorf("a %s appointment in a taken time: %v", s, err)
		}
	}
	for _, s := range []string{ehr.AppointmentBooked, ehr.AppointmentArrived, ehr.AppointmentFulfilled, ehr.AppointmentNoShow} {
		if _, err := repo.ImportRecord(ctx, appt(s)); !errors.Is(err, ehr.ErrConflict) {
			t.Errorf("a %s appointment in a taken time: %v, want ErrConflict", s, err)
		}
	}
	if _, err := repo.BookAppointment(h.As(h.Secretaria), ehr.Appointment{PatientID: p.ID, PractitionerID: h.Practitioner.ID,
		Start: slot.Add(15 * time.Minute), End: slot.Add(time.Hour)}); !errors.Is(err, ehr.ErrConflict) {
		t.Errorf("booking over an imported fulfilled appointment: %v, want ErrConflict", err)
	}

	open := ehr.Encounter{PatientID: p.ID, Class: ehr.ClassInpatient, Status: ehr.EncounterInProgress, StartedAt: slot,
		PractitionerID: h.Practitioner.ID, Ward: "UCI", Bed: "3"}
	must(repo.ImportRecord(ctx, open))
	if _, err := repo.ImportRecord(ctx, open); !errors.Is(err, ehr.ErrConflict) {
		t.Errorf("a second open admission: %v, want ErrConflict", err)
	}
	if got := must(repo.Chart(ctx, p.ID)); len(got.CareTeam) != 0 {
		t.Errorf("importing an admission added %d care-team members", len(got.CareTeam))
	}
	team := ehr.CareTeamMember{PatientID: p.ID, PractitionerID: h.Practitioner.ID, Role: "attending", StartsAt: slot, Status: ehr.CareTeamActive}
	must(repo.ImportRecord(ctx, team))
	if _, err := repo.ImportRecord(ctx, team); !errors.Is(err, ehr.ErrConflict) {
		t.Errorf("a second active membership: %v, want ErrConflict", err)
	}
	team.PractitionerID = "01900000-0000-7000-8000-000000000000"
	if _, err := repo.ImportRecord(ctx, team); !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("an unknown practitioner: %v, want ErrNotFound", err)
	}
	cond := ehr.Condition{PatientID: p.ID, EncounterID: "01900000-0000-7000-8000-000000000000", Code: "I10", Display: "HTA", RecordedBy: "u-1"}
	if _, err := repo.ImportRecord(ctx, cond); !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("an unknown encounter: %v, want ErrNotFound", err)
	}

	// In a transaction: all or nothing.
	before := len(must(repo.Chart(ctx, p.ID)).Conditions)
	cond.EncounterID = ""
	err := repo.InTx(ctx, func(tx *ehr.Repository) error {
		if _, err := tx.ImportRecord(ctx, cond); err != nil {
			return err
		}
		_, err := tx.ImportRecord(ctx, appt(ehr.AppointmentBooked))
		return err
	})
	if !errors.Is(err, ehr.ErrConflict) {
		t.Fatalf("transaction: %v, want ErrConflict", err)
	}
	if after := len(must(repo.Chart(ctx, p.ID)).Conditions); after != before {
		t.Errorf("the rolled-back transaction left %d conditions", after-before)
	}
	err = repo.InTx(ctx, func(tx *ehr.Repository) error {
		for i := range 3 {
			c := cond
			c.Note = fmt.Sprint("nota ", i)
			if _, err := tx.ImportRecord(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if after := len(must(repo.Chart(ctx, p.ID)).Conditions); after != before+3 {
		t.Errorf("the transaction wrote %d conditions, want 3", after-before)
	}
	must(repo.VerifyChain(h.As(h.Auditor), p.ID))
}

// TestImportAdmissionHistory: an admission imported with its stays is
// recorded as one version per stay, dated at the stay's start, the last
// with the encounter's status and end; stays that do not fit are refused.
func TestImportAdmissionHistory(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	p := h.NewPatient(t)
	_, ctx := importer(t, h, p.ID)
	start := time.Now().UTC().Add(-10 * 24 * time.Hour).Truncate(time.Second)
	moved, moved2, end := start.Add(26*time.Hour), start.Add(80*time.Hour), start.Add(120*time.Hour)
	e := ehr.Encounter{PatientID: p.ID, Class: ehr.ClassInpatient, Status: ehr.EncounterFinished, PractitionerID: h.Practitioner.ID,
		Ward: "Cardiología", Bed: "305", Disposition: "home", StartedAt: start, EndedAt: &end}
	stays := []ehr.Stay{{Ward: "Urgencias", Bed: "U2", Since: start}, {Ward: "Medicina interna", Bed: "12", Since: moved},
		{Ward: "Cardiología", Bed: "305", Since: moved2}}
	rec, err := h.Repo.ImportRecord(ctx, ehr.EncounterHistory{Encounter: e, Stays: stays})
	if err != nil {
		t.Fatal(err)
	}
	got := rec.(ehr.Encounter)
	vs := must(h.Repo.History(ctx, rbac.KindEncounter, p.ID, got.ID))
	if len(vs) != 3 || got.Version != 3 {
		t.Fatalf("%d versions (encounter at version %d), want 3", len(vs), got.Version)
	}
	for i, v := range vs {
		r := must(v.Record()).(ehr.Encounter)
		if r.Ward != stays[i].Ward || r.Bed != stays[i].Bed || !v.ChangedAt.Equal(stays[i].Since) || v.Reason != ehr.ReasonImported {
			t.Errorf("version %d: %s/%s at %v (%q), want %s/%s at %v", v.Version, r.Ward, r.Bed, v.ChangedAt, v.Reason,
				stays[i].Ward, stays[i].Bed, stays[i].Since)
		}
		wantStatus := ehr.EncounterInProgress
		if i == 2 {
			wantStatus = ehr.EncounterFinished
		}
		if r.Status != wantStatus || (r.EndedAt != nil) != (i == 2) {
			t.Errorf("version %d: status %s, ended %v", v.Version, r.Status, r.EndedAt)
		}
	}
	c := must(h.Repo.Chart(ctx, p.ID))
	if len(c.Encounters) != 1 || c.Encounters[0].Ward != "Cardiología" || c.Encounters[0].Disposition != "home" {
		t.Fatalf("chart encounters %+v", c.Encounters)
	}
	for name, tc := range map[string]struct {
		e     ehr.Encounter
		stays []ehr.Stay
		field string
	}{
		"last stay is not the encounter's": {e, stays[:2], "Stays"},
		"stays out of order":               {e, []ehr.Stay{stays[1], stays[0], stays[2]}, "Stays[1].Since"},
		"a stay before the start":          {e, []ehr.Stay{{Ward: "X", Since: start.Add(-time.Hour)}, stays[2]}, "Stays[0].Since"},
		"stays of an ambulatory encounter": {ehr.Encounter{PatientID: p.ID, Class: ehr.ClassAmbulatory, Status: ehr.EncounterFinished,
			StartedAt: start, EndedAt: &end, Ward: "Cardiología", Bed: "305"}, stays, "Stays[0]"},
	} {
		_, err := h.Repo.ImportRecord(ctx, ehr.EncounterHistory{Encounter: tc.e, Stays: tc.stays})
		var ve *ehr.ValidationError
		if !errors.As(err, &ve) || !slices.ContainsFunc(ve.Fields, func(f ehr.FieldError) bool { return f.Field == tc.field }) {
			t.Errorf("%s: err = %v, want a validation error on %s", name, err, tc.field)
		}
	}
}
