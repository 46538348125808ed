package ehr_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// TestOtherTenantCannotTouchAChain: staff and patients of another tenant
// asking for a patient's record (reads, writes, break-glass) are refused,
// and their attempts never land on, advance or break that patient's audit
// chain: the patient's tenant still verifies it, and the attempts are
// audited on the asking tenant's own chain.
func TestOtherTenantCannotTouchAChain(t *testing.T) {
	db := ehrtest.NewDB(t)
	a := ehrtest.NewHospital(t, db)
	b := ehrtest.NewHospital(t, db)
	p := a.NewPatient(t)
	a.OnCareTeam(t, p, a.Practitioner)
	if _, err := a.Repo.Chart(a.As(a.Medico), p.ID); err != nil {
		t.Fatal(err)
	}
	verify := func() int64 {
		t.Helper()
		st, err := a.Repo.VerifyChain(a.As(a.Auditor), p.ID)
		if err != nil {
			t.Fatalf("the patient's chain: %v", err)
		}
		return st.Events
	}
	// What one verification itself adds to the chain, if anything.
	v1 := verify()
	before := verify()
	perVerify := before - v1

	intruder := b.As(b.Medico)
	attempts := map[string]error{}
	_, attempts["GetPatient"] = b.Repo.GetPatient(intruder, p.ID)
	_, attempts["Chart"] = b.Repo.Chart(intruder, p.ID)
	_, attempts["RecordCondition"] = b.Repo.RecordCondition(intruder, ehr.Condition{PatientID: p.ID, Code: "I10", Display: "Hipertensión"})
	_, attempts["BreakGlass"] = b.Repo.BreakGlass(intruder, p.ID, "urgencia vital en otra clínica", 0)
	_, attempts["AccessLog"] = b.Repo.AccessLog(b.As(b.Auditor), p.ID, 10)
	for op, err := range attempts {
		if err == nil {
			t.Errorf("%s from another tenant succeeded", op)
			continue
		}
		if !errors.Is(err, ehr.ErrDenied) && !errors.Is(err, ehr.ErrNotFound) && !errors.Is(err, ehr.ErrInvalid) {
			t.Errorf("%s from another tenant: %v, want a denial or not found", op, err)
		}
	}

	if after := verify(); after != before+perVerify {
		t.Fatalf("the patient's chain went from %d to %d events with another tenant's attempts (a verification adds %d)", before, after, perVerify)
	}
	// The attempts are on record in the asking tenant's chain, naming the
	// patient id asked for, and that chain verifies.
	page, err := b.Repo.SearchAudit(b.As(b.Auditor), ehr.AuditQuery{ChainID: b.Tenant.ID, UserID: b.Medico.Principal.UserID, Outcome: ehr.OutcomeDenied, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	recorded := 0
	for _, e := range page.Events {
		if e.RecordID == p.ID || strings.HasPrefix(e.RecordID, p.ID+"/") {
			recorded++
		}
	}
	if recorded == 0 {
		t.Fatalf("no denied attempt on patient %s recorded on the asking tenant's chain (%d denied events there)", p.ID, len(page.Events))
	}
	if _, err := b.Repo.VerifyChain(b.As(b.Auditor), b.Tenant.ID); err != nil {
		t.Fatalf("the asking tenant's chain: %v", err)
	}
}

// TestVerifyUnknownChainIsNotFound: verifying an id that is no chain of
// the tenant (an unknown id, another tenant's patient) is ErrNotFound, not
// "verified, 0 events".
func TestVerifyUnknownChainIsNotFound(t *testing.T) {
	db := ehrtest.NewDB(t)
	a := ehrtest.NewHospital(t, db)
	b := ehrtest.NewHospital(t, db)
	p := a.NewPatient(t)
	for name, id := range map[string]string{"unknown": "0190a1b2-0000-7000-8000-0000000000ee", "other tenant": p.ID} {
		if _, err := b.Repo.VerifyChain(b.As(b.Auditor), id); !errors.Is(err, ehr.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	// A new tenant's own chain exists from creation (no events yet).
	if st, err := b.Repo.VerifyChain(b.As(b.Auditor), b.Tenant.ID); err != nil {
		t.Fatalf("tenant chain: %v", err)
	} else if st.ChainID != b.Tenant.ID {
		t.Fatalf("status %+v", st)
	}
}

// TestOutsideTheTenantIsNotFound: a refused request about a patient id
// that is no patient of the actor's tenant (an unknown id, or another
// tenant's patient) is answered with ErrNotFound, not ErrDenied, in the
// same call, and with the same error text whichever of the two it is, so
// that no answer tells that another tenant's id exists. The attempt is
// still audited as a denial on the asking tenant's chain. A refusal about
// a patient of the tenant stays ErrDenied.
func TestOutsideTheTenantIsNotFound(t *testing.T) {
	db := ehrtest.NewDB(t)
	a := ehrtest.NewHospital(t, db)
	b := ehrtest.NewHospital(t, db)
	inTenant := b.NewPatient(t) // b's physician is not on its care team
	elsewhere := a.NewPatient(t)
	const unknown = "0190a1b2-0000-7000-8000-0000000000ee"
	med, sec := b.As(b.Medico), b.As(b.Secretaria)
	calls := map[string]func(pid string) error{
		"Chart": func(pid string) error { _, err := b.Repo.Chart(b.As(b.Admin), pid); return err },
		"GetPatient as a patient": func(pid string) error {
			_, err := b.Repo.GetPatient(b.As(b.PatientActor(ehr.Patient{ID: "0190a1b2-0000-7000-8000-000000000001"})), pid)
			return err
		},
		"History": func(pid string) error { _, err := b.Repo.History(med, rbac.KindNote, pid, pid); return err },
		"CreateNote": func(pid string) error {
			_, err := b.Repo.CreateNote(med, ehr.Note{PatientID: pid, Title: "x", Body: "y"}, false)
			return err
		},
		"RecordCondition": func(pid string) error {
			_, err := b.Repo.RecordCondition(med, ehr.Condition{PatientID: pid, Code: "I10", Display: "Hipertensión"})
			return err
		},
		"AccessLog": func(pid string) error { _, err := b.Repo.AccessLog(med, pid, 10); return err },
		"UpdateContact": func(pid string) error {
			_, err := b.Repo.UpdateContact(med, pid, 1, ehr.Contact{Phone: "1"}, ehr.EmergencyContact{})
			return err
		},
		"MarkEnteredInError": func(pid string) error {
			_, err := b.Repo.MarkEnteredInError(med, ehr.RecordRef{Kind: rbac.KindNote, PatientID: pid, ID: pid, Version: 1}, "por error")
			return err
		},
		"ListAppointments": func(pid string) error {
			_, err := b.Repo.ListAppointments(b.As(b.Admin), ehr.AppointmentQuery{PatientID: pid})
			return err
		},
	}
	denials := func() int {
		t.Helper()
		var n int
		lanes, _ := ehr.TenantChains(b.Tenant.ID)
		if err := db.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND patient_id = ANY($2::uuid[]) AND outcome = 'denied'`,
			b.Tenant.ID, lanes).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			before := denials()
			errUnknown, errElsewhere := call(unknown), call(elsewhere.ID)
			for which, err := range map[string]error{"unknown id": errUnknown, "another tenant's patient": errElsewhere} {
				if !errors.Is(err, ehr.ErrNotFound) || errors.Is(err, ehr.ErrDenied) || errors.Is(err, rbac.ErrDenied) {
					t.Errorf("%s: %v, want ErrNotFound and not ErrDenied", which, err)
				}
			}
			if errUnknown != nil && errElsewhere != nil &&
				strings.ReplaceAll(errUnknown.Error(), unknown, "ID") != strings.ReplaceAll(errElsewhere.Error(), elsewhere.ID, "ID") {
				t.Errorf("the errors tell the ids apart: %q and %q", errUnknown, errElsewhere)
			}
			if after := denials(); after != before+2 {
				t.Errorf("%d denials on the asking tenant's chain, want %d", after, before+2)
			}
			if err := call(inTenant.ID); !errors.Is(err, ehr.ErrDenied) || errors.Is(err, ehr.ErrNotFound) {
				t.Errorf("patient of the tenant: %v, want ErrDenied", err)
			}
		})
	}
	// Registering a patient is refused as a denial: the new patient is no
	// patient of the tenant yet, but that is no "not found".
	_, err := b.Repo.RegisterPatient(sec, ehr.Patient{DocumentType: "CC", DocumentNumber: "R-0001", GivenNames: "A", FamilyNames: "B",
		BirthDate: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), Sex: ehr.SexFemale})
	if !errors.Is(err, ehr.ErrDenied) || errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("RegisterPatient by the front desk: %v, want ErrDenied", err)
	}
	if _, err := b.Repo.VerifyChain(b.As(b.Auditor), b.Tenant.ID); err != nil {
		t.Fatalf("the asking tenant's chain: %v", err)
	}
}
