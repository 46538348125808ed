package ehr_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
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
