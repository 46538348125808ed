package ehr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// TestRecordIDsAreBoundToTheirPatientAndTenant: a record id names a record
// only together with its own patient and tenant. A physician on patient
// Y's care team who names Y's id with a record of patient X, the staff of
// another tenant naming their own patient with X's record, or naming X
// itself, never read, change or learn anything of X's records: every
// attempt is refused (not found or denied) and X's records stay at
// version 1.
func TestRecordIDsAreBoundToTheirPatientAndTenant(t *testing.T) {
	db := ehrtest.NewDB(t)
	a := ehrtest.NewHospital(t, db)
	b := ehrtest.NewHospital(t, db)
	x, y := a.NewPatient(t), a.NewPatient(t)
	ctX := a.OnCareTeam(t, x, a.Practitioner)
	medY, prY := a.NewMedico(t, "Dr. Ye")
	a.OnCareTeam(t, y, prY)
	z := b.NewPatient(t)
	b.OnCareTeam(t, z, b.Practitioner)

	// X's records, written by X's physician.
	med := a.As(a.Medico)
	enc, err := a.Repo.StartEncounter(med, ehr.Encounter{PatientID: x.ID, Class: ehr.ClassAmbulatory, Reason: "control"})
	if err != nil {
		t.Fatal(err)
	}
	draft, err := a.Repo.CreateNote(med, ehr.Note{PatientID: x.ID, Title: "borrador", Body: "texto"}, false)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := a.Repo.CreateNote(med, ehr.Note{PatientID: x.ID, Title: "firmada", Body: "texto"}, true)
	if err != nil {
		t.Fatal(err)
	}
	cond, err := a.Repo.RecordCondition(med, ehr.Condition{PatientID: x.ID, Code: "I10", Display: "Hipertensión"})
	if err != nil {
		t.Fatal(err)
	}
	al, err := a.Repo.RecordAllergy(med, ehr.Allergy{PatientID: x.ID, Substance: "Penicilina", Severity: "severe"})
	if err != nil {
		t.Fatal(err)
	}
	mr, err := a.Repo.PrescribeMedication(med, ehr.MedicationRequest{PatientID: x.ID, Medication: "Losartán", Dose: 50,
		DoseUnit: "mg", Route: "oral", Frequency: "cada 24 h"})
	if err != nil {
		t.Fatal(err)
	}
	v := 120.0
	obs, err := a.Repo.RecordObservation(med, ehr.Observation{PatientID: x.ID, Category: ehr.CategoryVitalSigns,
		Code: ehr.CodeSystolicBP, Value: &v, Unit: "mm[Hg]"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Hour)
	appt, err := a.Repo.BookAppointment(a.As(a.Secretaria), ehr.Appointment{PatientID: x.ID, PractitionerID: a.Practitioner.ID,
		Start: start, End: start.Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	adm, err := a.Repo.Admit(a.As(a.Admisionista), ehr.Admission{PatientID: x.ID, AttendingID: a.Practitioner.ID, Ward: "3B", Bed: "12"})
	if err != nil {
		t.Fatal(err)
	}

	records := []struct {
		kind rbac.Kind
		id   string
	}{
		{rbac.KindEncounter, enc.ID}, {rbac.KindEncounter, adm.ID}, {rbac.KindNote, draft.ID}, {rbac.KindNote, signed.ID},
		{rbac.KindCondition, cond.ID}, {rbac.KindAllergy, al.ID}, {rbac.KindMedication, mr.ID},
		{rbac.KindObservation, obs.ID}, {rbac.KindAppointment, appt.ID}, {rbac.KindCareTeam, ctX.ID},
		{rbac.KindDemographics, x.ID},
	}

	// attempts runs every change and read of X's records as the clinician
	// clin, the front desk desk and the admissions desk adesk of a tenant,
	// naming patient pid.
	attempts := func(repo *ehr.Repository, clin, desk, adesk context.Context, pid string) map[string]error {
		errs := map[string]error{}
		_, errs["UpdateNote"] = repo.UpdateNote(clin, ehr.Note{PatientID: pid, ID: draft.ID, Version: 1, Title: "t", Body: "b"})
		_, errs["SignNote"] = repo.SignNote(clin, ehr.RecordRef{Kind: rbac.KindNote, PatientID: pid, ID: draft.ID, Version: 1})
		_, errs["AmendNote"] = repo.AmendNote(clin, ehr.RecordRef{Kind: rbac.KindNote, PatientID: pid, ID: signed.ID, Version: 1}, "otro", "corrección")
		_, errs["UpdateCondition"] = repo.UpdateCondition(clin, ehr.Condition{PatientID: pid, ID: cond.ID, Version: 1, Code: "E11", Display: "Diabetes"})
		_, errs["UpdateAllergy"] = repo.UpdateAllergy(clin, ehr.Allergy{PatientID: pid, ID: al.ID, Version: 1, Substance: "Polen", Severity: "mild"})
		_, errs["UpdateMedication"] = repo.UpdateMedication(clin, ehr.MedicationRequest{PatientID: pid, ID: mr.ID, Version: 1,
			Medication: "x", Dose: 1, DoseUnit: "mg", Route: "oral", Frequency: "x"})
		_, errs["UpdateObservation"] = repo.UpdateObservation(clin, ehr.Observation{PatientID: pid, ID: obs.ID, Version: 1,
			Category: ehr.CategoryVitalSigns, Code: ehr.CodeSystolicBP, Value: &v, Unit: "mm[Hg]", EffectiveAt: time.Now()})
		_, errs["FinishEncounter"] = repo.FinishEncounter(clin, ehr.EncounterRef{PatientID: pid, ID: enc.ID, Version: 1})
		_, errs["CheckIn"] = repo.CheckIn(desk, ehr.RecordRef{Kind: rbac.KindAppointment, PatientID: pid, ID: appt.ID, Version: 1})
		_, errs["CancelAppointment"] = repo.CancelAppointment(desk, ehr.RecordRef{Kind: rbac.KindAppointment, PatientID: pid, ID: appt.ID, Version: 1}, "x")
		_, errs["RescheduleAppointment"] = repo.RescheduleAppointment(desk, ehr.RecordRef{Kind: rbac.KindAppointment, PatientID: pid, ID: appt.ID, Version: 1},
			start.Add(time.Hour), start.Add(90*time.Minute))
		_, errs["CloseAppointment"] = repo.CloseAppointment(desk, ehr.RecordRef{Kind: rbac.KindAppointment, PatientID: pid, ID: appt.ID, Version: 1}, ehr.AppointmentNoShow)
		_, errs["EndCareTeam"] = repo.EndCareTeam(adesk, ehr.RecordRef{Kind: rbac.KindCareTeam, PatientID: pid, ID: ctX.ID, Version: 1}, "x")
		_, errs["Transfer"] = repo.Transfer(adesk, ehr.EncounterRef{PatientID: pid, ID: adm.ID, Version: 1}, "4C", "1", "")
		_, errs["Discharge"] = repo.Discharge(adesk, ehr.EncounterRef{PatientID: pid, ID: adm.ID, Version: 1}, "home")
		if pid == x.ID {
			_, errs["UpdateContact"] = repo.UpdateContact(adesk, pid, 1, ehr.Contact{Phone: "1"}, ehr.EmergencyContact{})
			_, errs["UpdatePatient"] = repo.UpdatePatient(adesk, x)
			_, errs["AccessLog"] = repo.AccessLog(adesk, pid, 0)
			_, errs["ListAppointments"] = repo.ListAppointments(desk, ehr.AppointmentQuery{PatientID: pid})
			_, errs["GetPatient"] = repo.GetPatient(desk, pid)
			_, errs["Chart"] = repo.Chart(adesk, pid)
			_, errs["AssignCareTeam"] = repo.AssignCareTeam(adesk, ehr.CareTeamMember{PatientID: pid, PractitionerID: a.Practitioner.ID, Role: "x"})
		}
		for _, rec := range records {
			for _, who := range []struct {
				name string
				ctx  context.Context
			}{{"clinician", clin}, {"front desk", desk}, {"admissions", adesk}} {
				_, errs["MarkEnteredInError "+rec.kind.String()+" as "+who.name] = repo.MarkEnteredInError(who.ctx,
					ehr.RecordRef{Kind: rec.kind, PatientID: pid, ID: rec.id, Version: 1}, "por error")
				_, errs["History "+rec.kind.String()+" as "+who.name] = repo.History(who.ctx, rec.kind, pid, rec.id)
			}
		}
		return errs
	}
	check := func(who string, errs map[string]error) {
		t.Helper()
		for op, err := range errs {
			if err == nil {
				t.Errorf("%s: %s of patient X's record succeeded", who, op)
			} else if !errors.Is(err, ehr.ErrNotFound) && !errors.Is(err, ehr.ErrDenied) {
				t.Errorf("%s: %s: %v, want not found or denied", who, op, err)
			}
		}
	}
	// The same tenant, naming Y (on whose care team the physician is).
	check("physician of Y naming Y", attempts(a.Repo, a.As(medY), a.As(a.Secretaria), a.As(a.Admisionista), y.ID))
	// Another tenant, naming its own patient Z, and naming X.
	check("other tenant naming Z", attempts(b.Repo, b.As(b.Medico), b.As(b.Secretaria), b.As(b.Admisionista), z.ID))
	check("other tenant naming X", attempts(b.Repo, b.As(b.Medico), b.As(b.Secretaria), b.As(b.Admisionista), x.ID))

	// X's chart is untouched: every record still at version 1.
	c, err := a.Repo.Chart(med, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]int{"patient": c.Patient.Version}
	for _, e := range c.Encounters {
		versions["encounter "+e.ID] = e.Version
	}
	for _, n := range c.Notes {
		versions["note "+n.ID] = n.Version
	}
	for _, r := range c.Conditions {
		versions["condition"] = r.Version
	}
	for _, r := range c.Allergies {
		versions["allergy"] = r.Version
	}
	for _, r := range c.Medications {
		versions["medication"] = r.Version
	}
	for _, r := range c.Observations {
		versions["observation"] = r.Version
	}
	for _, r := range c.Appointments {
		versions["appointment"] = r.Version
	}
	for _, r := range c.CareTeam {
		versions["careteam "+r.ID] = r.Version
	}
	for k, ver := range versions {
		if ver != 1 {
			t.Errorf("patient X's %s is at version %d after the attempts", k, ver)
		}
	}
	if _, err := a.Repo.VerifyChain(a.As(a.Auditor), x.ID); err != nil {
		t.Fatalf("patient X's chain: %v", err)
	}
	if _, err := b.Repo.VerifyChain(b.As(b.Auditor), b.Tenant.ID); err != nil {
		t.Fatalf("the other tenant's chain: %v", err)
	}
}

// TestPatientCannotMarkTheirRecordEnteredInError: a patient may update
// their own contact data, and nothing else. Naming the contact kind in
// MarkEnteredInError must not let them mark their whole patient record
// (demographics, hidden from searches) entered in error.
func TestPatientCannotMarkTheirRecordEnteredInError(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	p := h.NewPatient(t)
	self := h.As(h.PatientActor(p))
	for _, k := range []rbac.Kind{rbac.KindContact, rbac.KindDemographics} {
		if _, err := h.Repo.MarkEnteredInError(self, ehr.RecordRef{Kind: k, PatientID: p.ID, ID: p.ID, Version: 1}, "no quiero estar"); !errors.Is(err, ehr.ErrDenied) {
			t.Errorf("patient marking their own record entered in error as %v: %v, want denied", k, err)
		}
	}
	got, err := h.Repo.GetPatient(h.As(h.Admisionista), p.ID)
	if err != nil || got.Status != "active" || got.Version != 1 {
		t.Fatalf("patient after the attempts: status %q version %d, %v", got.Status, got.Version, err)
	}
	// The contact itself they may still update.
	if _, err := h.Repo.UpdateContact(self, p.ID, 1, ehr.Contact{Phone: "+57 311 111 1111"}, ehr.EmergencyContact{}); err != nil {
		t.Fatalf("patient updating their contact: %v", err)
	}
}

// TestAliasKindsDoNotWidenAccess: the admission kind names inpatient
// encounters only. The admissions desk, which may read admissions but not
// clinical encounters, must not read the versions of an ambulatory
// encounter (its reason, its practitioner) by calling it an admission,
// nor mark it entered in error.
func TestAliasKindsDoNotWidenAccess(t *testing.T) {
	db := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, db)
	p := h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	enc, err := h.Repo.StartEncounter(h.As(h.Medico), ehr.Encounter{PatientID: p.ID, Class: ehr.ClassAmbulatory, Reason: "consulta por VIH"})
	if err != nil {
		t.Fatal(err)
	}
	adm, err := h.Repo.Admit(h.As(h.Admisionista), ehr.Admission{PatientID: p.ID, AttendingID: h.Practitioner.ID, Ward: "3B"})
	if err != nil {
		t.Fatal(err)
	}
	desk := h.As(h.Admisionista)
	if vs, err := h.Repo.History(desk, rbac.KindAdmission, p.ID, enc.ID); err == nil {
		t.Errorf("admissions desk read an ambulatory encounter's history as an admission: %s", vs[0].Data)
	} else if !errors.Is(err, ehr.ErrNotFound) && !errors.Is(err, ehr.ErrDenied) {
		t.Errorf("history of an ambulatory encounter as an admission: %v", err)
	}
	if vs, err := h.Repo.History(desk, rbac.KindAdmission, p.ID, adm.ID); err != nil || len(vs) == 0 {
		t.Fatalf("admissions desk reading an admission's history: %v", err)
	}
	// A policy that lets the desk update admissions must not let it mark
	// a clinical encounter entered in error through that kind.
	engine := withRule(t, map[string]any{"id": "desk-fixes-admissions", "effect": "allow", "roles": []string{"admisionista"},
		"actions": []string{"update"}, "kinds": []string{"admission"}})
	repo := ehr.NewRepository(db, ehr.WithAuthorizer(engine))
	if _, err := repo.MarkEnteredInError(desk, ehr.RecordRef{Kind: rbac.KindAdmission, PatientID: p.ID, ID: enc.ID, Version: 1}, "por error"); !errors.Is(err, ehr.ErrDenied) && !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("admissions desk marking an ambulatory encounter entered in error as an admission: %v", err)
	}
	if _, err := repo.MarkEnteredInError(desk, ehr.RecordRef{Kind: rbac.KindAdmission, PatientID: p.ID, ID: adm.ID, Version: 1}, "por error"); err != nil {
		t.Errorf("admissions desk marking an admission entered in error with a policy that allows it: %v", err)
	}
}

// TestAuditChainsOnlyForPatientsOfTheTenant: a per-patient read that names
// an id which is no patient of the tenant (another tenant's id, a random
// one) is not found, and opens no audit chain for that id: otherwise an
// actor could claim the chain id of another tenant before that tenant
// writes its first event, and every tenant-level request of that tenant
// would fail from then on.
func TestAuditChainsOnlyForPatientsOfTheTenant(t *testing.T) {
	db := ehrtest.NewDB(t)
	b := ehrtest.NewHospital(t, db)
	ctx := context.Background()
	// A new tenant, with no event yet.
	c, err := b.Repo.CreateTenant(ctx, "Clínica nueva")
	if err != nil {
		t.Fatal(err)
	}
	random := uuid.Must(uuid.NewV7()).String()
	for _, id := range []string{c.ID, random} {
		_, err := b.Repo.ListAppointments(b.As(b.Secretaria), ehr.AppointmentQuery{PatientID: id})
		if !errors.Is(err, ehr.ErrNotFound) && !errors.Is(err, ehr.ErrDenied) {
			t.Errorf("appointments of %s, no patient of the tenant: %v, want not found", id, err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM audit_heads WHERE patient_id = $1 AND tenant_id = $2`, id, b.Tenant.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("an audit chain was opened for %s, no patient of the tenant", id)
		}
	}
	// The new tenant works.
	admin := ehrtest.Staff(c.ID, "admin")
	if _, err := b.Repo.CreatePractitioner(ehr.NewContext(ctx, admin), ehr.Practitioner{UserID: uuid.NewString(), Name: "Dra. Nueva"}); err != nil {
		t.Fatalf("the new tenant's first request: %v", err)
	}
	if _, err := b.Repo.VerifyChain(ehr.NewContext(ctx, ehrtest.Staff(c.ID, "auditor")), c.ID); err != nil {
		t.Fatalf("the new tenant's chain: %v", err)
	}
}

// TestEndCareTeamKeepsEnteredInError: a membership marked entered in
// error is final; ending it is a conflict and leaves it as it is.
func TestEndCareTeamKeepsEnteredInError(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	p := h.NewPatient(t)
	m := h.OnCareTeam(t, p, h.Practitioner)
	desk := h.As(h.Admisionista)
	nv, err := h.Repo.MarkEnteredInError(desk, ehr.RecordRef{Kind: rbac.KindCareTeam, PatientID: p.ID, ID: m.ID, Version: 1}, "médico equivocado")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Repo.EndCareTeam(desk, ehr.RecordRef{Kind: rbac.KindCareTeam, PatientID: p.ID, ID: m.ID, Version: nv}, "alta"); !errors.Is(err, ehr.ErrConflict) {
		t.Errorf("ending a membership entered in error: %v, want a conflict", err)
	}
	c, err := h.Repo.Chart(desk, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range c.CareTeam {
		if ct.ID == m.ID && ct.Status != ehr.StatusEnteredInError {
			t.Errorf("membership status %q, want %q", ct.Status, ehr.StatusEnteredInError)
		}
	}
}

// TestContactWithheldOutsideCareTeam: the policy lets a physician read a
// patient's contact data only on the care team (or with break-the-glass);
// Chart blanks it otherwise, and so must every other read that returns
// the patient row: GetPatient, SearchPatients, History of the
// demographics.
func TestContactWithheldOutsideCareTeam(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	p := h.NewPatient(t)
	med := h.As(h.Medico)
	leaks := func(when string) {
		t.Helper()
		got, err := h.Repo.GetPatient(med, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Contact != (ehr.Contact{}) || got.Emergency != (ehr.EmergencyContact{}) {
			t.Errorf("%s: GetPatient shows the contact: %+v", when, got.Contact)
		}
		page, err := h.Repo.SearchPatients(med, ehr.PatientQuery{DocumentNumber: p.DocumentNumber})
		if err != nil || len(page.Patients) != 1 {
			t.Fatalf("search: %d, %v", len(page.Patients), err)
		}
		if page.Patients[0].Contact != (ehr.Contact{}) {
			t.Errorf("%s: SearchPatients shows the contact: %+v", when, page.Patients[0].Contact)
		}
		vs, err := h.Repo.History(med, rbac.KindDemographics, p.ID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			var row map[string]any
			if err := json.Unmarshal(v.Data, &row); err != nil {
				t.Fatal(err)
			}
			for _, col := range []string{"phone", "email", "address", "emergency_name", "emergency_phone", "emergency_relationship"} {
				if s, _ := row[col].(string); s != "" {
					t.Errorf("%s: History of the demographics shows %s", when, col)
				}
			}
		}
	}
	leaks("off the care team")
	// On the care team the contact is there.
	h.OnCareTeam(t, p, h.Practitioner)
	got, err := h.Repo.GetPatient(med, p.ID)
	if err != nil || got.Contact != p.Contact {
		t.Fatalf("on the care team: contact %+v, %v", got.Contact, err)
	}
}

// withRule returns an engine with the default policy plus rule.
func withRule(t *testing.T, rule map[string]any) *rbac.Engine {
	t.Helper()
	data, err := json.Marshal(rbac.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	var pol map[string]any
	if err := json.Unmarshal(data, &pol); err != nil {
		t.Fatal(err)
	}
	pol["rules"] = append(pol["rules"].([]any), rule)
	if data, err = json.Marshal(pol); err != nil {
		t.Fatal(err)
	}
	p, err := rbac.LoadPolicy(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	engine, err := rbac.New(p)
	if err != nil {
		t.Fatal(err)
	}
	return engine
}

// TestPatientSeesOnlyThemselves: a patient reaches nothing of another
// patient, of their tenant or another, through any method that names a
// patient; each refusal is audited. Another patient of the tenant is a
// denial; a patient of another tenant is not found (and no denial).
func TestPatientSeesOnlyThemselves(t *testing.T) {
	db := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, db)
	o := ehrtest.NewHospital(t, db)
	me, other, far := h.NewPatient(t), h.NewPatient(t), o.NewPatient(t)
	self := h.As(h.PatientActor(me))
	for _, target := range []ehr.Patient{other, far} {
		errs := map[string]error{}
		_, errs["GetPatient"] = h.Repo.GetPatient(self, target.ID)
		_, errs["Chart"] = h.Repo.Chart(self, target.ID)
		_, errs["AccessLog"] = h.Repo.AccessLog(self, target.ID, 0)
		_, errs["History"] = h.Repo.History(self, rbac.KindDemographics, target.ID, target.ID)
		_, errs["History contact"] = h.Repo.History(self, rbac.KindContact, target.ID, target.ID)
		_, errs["ListAppointments"] = h.Repo.ListAppointments(self, ehr.AppointmentQuery{PatientID: target.ID})
		_, errs["UpdateContact"] = h.Repo.UpdateContact(self, target.ID, 1, ehr.Contact{Phone: "1"}, ehr.EmergencyContact{})
		_, errs["MarkEnteredInError"] = h.Repo.MarkEnteredInError(self, ehr.RecordRef{Kind: rbac.KindContact, PatientID: target.ID, ID: target.ID, Version: 1}, "por error")
		_, errs["BreakGlass"] = h.Repo.BreakGlass(self, target.ID, "quiero ver su historia", time.Minute)
		for op, err := range errs {
			switch {
			case target.ID == other.ID && (!errors.Is(err, ehr.ErrDenied) || errors.Is(err, ehr.ErrNotFound)):
				t.Errorf("patient's %s of another patient of the tenant: %v, want denied", op, err)
			case target.ID == far.ID && (!errors.Is(err, ehr.ErrNotFound) || errors.Is(err, ehr.ErrDenied)):
				t.Errorf("patient's %s of a patient of another tenant: %v, want not found", op, err)
			}
		}
	}
	// Tenant-wide listings are not for patients.
	errs := map[string]error{}
	_, errs["SearchPatients"] = h.Repo.SearchPatients(self, ehr.PatientQuery{})
	_, errs["MyPatients"] = h.Repo.MyPatients(self)
	_, errs["ListAppointments agenda"] = h.Repo.ListAppointments(self, ehr.AppointmentQuery{From: time.Now(), To: time.Now().Add(time.Hour)})
	_, errs["ListAdmissions"] = h.Repo.ListAdmissions(self, "")
	_, errs["ListBreakGlass"] = h.Repo.ListBreakGlass(self, ehr.BreakGlassQuery{PatientID: me.ID})
	_, errs["SearchAudit"] = h.Repo.SearchAudit(self, ehr.AuditQuery{ChainID: me.ID})
	_, errs["VerifyChain"] = h.Repo.VerifyChain(self, me.ID)
	for op, err := range errs {
		if !errors.Is(err, ehr.ErrDenied) {
			t.Errorf("patient's %s: %v, want denied", op, err)
		}
	}
	for _, p := range []ehr.Patient{other, far} {
		got, err := o.Repo.GetPatient(ehr.NewContext(context.Background(), ehrtest.Staff(p.TenantID, "admisionista")), p.ID)
		if err != nil || got.Version != 1 || got.Status != "active" {
			t.Errorf("patient %s after the attempts: version %d status %q, %v", p.ID, got.Version, got.Status, err)
		}
	}
	var denied int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND outcome = 'denied' AND roles = 'paciente'`,
		h.Tenant.ID).Scan(&denied); err != nil {
		t.Fatal(err)
	}
	if denied < 2*9+7 {
		t.Errorf("%d denied events of the patient, want one per refusal (%d)", denied, 2*9+7)
	}
}

// TestBreakGlassGrantIsBoundToUserPatientAndTenant: a grant opens one
// patient's record to one user of one tenant, until it expires.
func TestBreakGlassGrantIsBoundToUserPatientAndTenant(t *testing.T) {
	db := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, db)
	o := ehrtest.NewHospital(t, db)
	x, y := h.NewPatient(t), h.NewPatient(t)
	med := h.As(h.Medico)
	if _, err := h.Repo.BreakGlass(med, x.ID, "paciente inconsciente en urgencias", time.Hour); err != nil {
		t.Fatal(err)
	}
	if c, err := h.Repo.Chart(med, x.ID); err != nil || !c.BreakGlass {
		t.Fatalf("under the grant: %v", err)
	}
	// Another patient.
	if c, err := h.Repo.Chart(med, y.ID); err != nil || c.BreakGlass || len(c.Withheld) == 0 {
		t.Errorf("the grant for X opened Y: break-glass %v withheld %v, %v", c.BreakGlass, c.Withheld, err)
	}
	if _, err := h.Repo.CreateNote(med, ehr.Note{PatientID: y.ID, Title: "t", Body: "b"}, false); !errors.Is(err, ehr.ErrDenied) {
		t.Errorf("the grant for X let the physician write Y's note: %v", err)
	}
	// The same user id in another tenant.
	same := o.Medico
	same.Principal.UserID = h.Medico.Principal.UserID
	if _, err := o.Repo.Chart(o.As(same), x.ID); !errors.Is(err, ehr.ErrNotFound) && !errors.Is(err, ehr.ErrDenied) {
		t.Errorf("the same user id in another tenant reading X: %v", err)
	}
	if _, err := o.Repo.CreateNote(o.As(same), ehr.Note{PatientID: x.ID, Title: "t", Body: "b"}, false); !errors.Is(err, ehr.ErrNotFound) && !errors.Is(err, ehr.ErrDenied) {
		t.Errorf("the same user id in another tenant writing X's note: %v", err)
	}
	// Another physician of the tenant.
	other, _ := h.NewMedico(t, "Dr. Otro")
	if c, err := h.Repo.Chart(h.As(other), x.ID); err != nil || c.BreakGlass || len(c.Withheld) == 0 {
		t.Errorf("another physician used the grant: %v", err)
	}
}

// TestEveryReadIsAudited: each read of patient data appends an event, on
// the patient's chain or, for a listing, on the tenant's.
func TestEveryReadIsAudited(t *testing.T) {
	db := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, db)
	p := h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	start := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Hour)
	if _, err := h.Repo.BookAppointment(h.As(h.Secretaria), ehr.Appointment{PatientID: p.ID, PractitionerID: h.Practitioner.ID,
		Start: start, End: start.Add(30 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Repo.Admit(h.As(h.Admisionista), ehr.Admission{PatientID: p.ID, AttendingID: h.Practitioner.ID, Ward: "3B"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Repo.BreakGlass(h.As(h.Medico), p.ID, "paciente inconsciente en urgencias", time.Hour); err != nil {
		t.Fatal(err)
	}
	events := func() (n int) {
		t.Helper()
		if err := db.QueryRow(context.Background(), `SELECT count(*) FROM audit_events`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	med, sec, adm, aud, self := h.As(h.Medico), h.As(h.Secretaria), h.As(h.Admisionista), h.As(h.Auditor), h.As(h.PatientActor(p))
	if _, err := h.Repo.GetPatient(sec, p.ID); err != nil { // a view for the access log
		t.Fatal(err)
	}
	reads := map[string]func() (int, error){
		"GetPatient": func() (int, error) { _, err := h.Repo.GetPatient(med, p.ID); return 1, err },
		"Chart":      func() (int, error) { _, err := h.Repo.Chart(self, p.ID); return 1, err },
		"SearchPatients": func() (int, error) {
			pg, err := h.Repo.SearchPatients(sec, ehr.PatientQuery{})
			return len(pg.Patients), err
		},
		"MyPatients": func() (int, error) { ps, err := h.Repo.MyPatients(med); return len(ps), err },
		"ListAppointments patient": func() (int, error) {
			as, err := h.Repo.ListAppointments(self, ehr.AppointmentQuery{PatientID: p.ID})
			return len(as), err
		},
		"ListAppointments agenda": func() (int, error) {
			as, err := h.Repo.ListAppointments(med, ehr.AppointmentQuery{PractitionerID: h.Practitioner.ID, From: start, To: start.Add(time.Hour)})
			return len(as), err
		},
		"ListAdmissions": func() (int, error) { as, err := h.Repo.ListAdmissions(adm, ""); return len(as), err },
		"History": func() (int, error) {
			vs, err := h.Repo.History(adm, rbac.KindDemographics, p.ID, p.ID)
			return len(vs), err
		},
		"AccessLog":      func() (int, error) { es, err := h.Repo.AccessLog(self, p.ID, 0); return len(es), err },
		"ListBreakGlass": func() (int, error) { gs, err := h.Repo.ListBreakGlass(aud, ehr.BreakGlassQuery{}); return len(gs), err },
		"SearchAudit":    func() (int, error) { pg, err := h.Repo.SearchAudit(aud, ehr.AuditQuery{}); return len(pg.Events), err },
	}
	for name, read := range reads {
		before := events()
		n, err := read()
		if err != nil || n == 0 {
			t.Errorf("%s: %d rows, %v", name, n, err)
			continue
		}
		if after := events(); after != before+1 {
			t.Errorf("%s returned %d rows and appended %d audit events, want 1", name, n, after-before)
		}
	}
}
