package ehr_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

func TestVerifyChainDetectsTampering(t *testing.T) {
	tamper := map[string][]string{
		"changed":      {`UPDATE audit_events SET user_id = 'someone-else' WHERE patient_id = $1 AND seq = 3`},
		"removed":      {`DELETE FROM audit_events WHERE patient_id = $1 AND seq = 3`},
		"last removed": {`DELETE FROM audit_events WHERE patient_id = $1 AND seq = (SELECT max(seq) FROM audit_events WHERE patient_id = $1)`},
		"reordered": {
			`UPDATE audit_events SET seq = -seq WHERE patient_id = $1 AND seq IN (3, 4)`,
			`UPDATE audit_events SET seq = CASE seq WHEN -3 THEN 4 ELSE 3 END WHERE patient_id = $1 AND seq IN (-3, -4)`},
		"rehashed without chain": {`UPDATE audit_events SET reason = 'x', hash = sha256(hash) WHERE patient_id = $1 AND seq = 2`},
	}
	for name, stmts := range tamper {
		t.Run(name, func(t *testing.T) {
			pool := ehrtest.NewDB(t)
			h := ehrtest.NewHospital(t, pool)
			p := h.NewPatient(t)
			for range 4 {
				if _, err := h.Repo.GetPatient(h.As(h.Medico), p.ID); err != nil {
					t.Fatal(err)
				}
			}
			aud := h.As(h.Auditor)
			st, err := h.Repo.VerifyChain(aud, p.ID)
			if err != nil || st.Events != 5 || len(st.Head) != 32 {
				t.Fatalf("intact chain: %+v %v", st, err)
			}
			// The superuser (not the application role) tampers.
			for _, stmt := range stmts {
				if _, err := pool.Exec(context.Background(), stmt, p.ID); err != nil {
					t.Fatal(err)
				}
			}
			_, err = h.Repo.VerifyChain(aud, p.ID)
			var ce *ehr.ChainError
			if !errors.Is(err, ehr.ErrChainBroken) || !errors.As(err, &ce) || ce.Seq < 2 {
				t.Fatalf("tampered chain: %v", err)
			}
		})
	}
}

// TestGetPatientWithoutChainHead: a patient whose chain has no head yet
// (loaded by SQL, say) is read, and the read starts the chain; later reads
// extend it; a read of an unknown id writes nothing. The chain verifies.
func TestGetPatientWithoutChainHead(t *testing.T) {
	pool := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, pool)
	p := h.NewPatient(t)
	ctx := context.Background()
	// As if the patient had been loaded without the repository: no head,
	// no events.
	for _, stmt := range []string{`DELETE FROM audit_events WHERE patient_id = $1`, `DELETE FROM audit_heads WHERE patient_id = $1`} {
		if _, err := pool.Exec(ctx, stmt, p.ID); err != nil {
			t.Fatal(err)
		}
	}
	count := func() (n int) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE patient_id = $1`, p.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := 1; i <= 3; i++ {
		got, err := h.Repo.GetPatient(h.As(h.Medico), p.ID)
		if err != nil || got.ID != p.ID || got.FamilyNames != p.FamilyNames {
			t.Fatalf("read %d: %+v %v", i, got, err)
		}
		if n := count(); n != i {
			t.Fatalf("after read %d: %d events", i, n)
		}
	}
	st, err := h.Repo.VerifyChain(h.As(h.Auditor), p.ID)
	if err != nil || st.Events != 3 {
		t.Fatalf("chain: %+v %v", st, err)
	}
	unknown := "01900000-0000-7000-8000-000000000001"
	if _, err := h.Repo.GetPatient(h.As(h.Medico), unknown); !errors.Is(err, ehr.ErrNotFound) {
		t.Fatalf("unknown patient: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE patient_id = $1`, unknown).Scan(&n); err != nil || n != 0 {
		t.Fatalf("events of an unknown patient: %d %v", n, err)
	}
}

func TestBreakGlass(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	p := h.NewPatient(t)
	med := h.As(h.Medico)

	// Off the care team: demographics yes, clinical data no.
	c, err := h.Repo.Chart(med, p.ID)
	if err != nil || len(c.Withheld) == 0 || c.BreakGlass {
		t.Fatalf("chart before: %+v %v", c.Withheld, err)
	}
	if _, err := h.Repo.RecordAllergy(med, ehr.Allergy{PatientID: p.ID, Substance: "x", Severity: "mild"}); !errors.Is(err, ehr.ErrDenied) {
		t.Fatalf("write before break-glass: %v", err)
	}
	if _, err := h.Repo.BreakGlass(h.As(h.Secretaria), p.ID, "paciente inconsciente en urgencias", time.Hour); !errors.Is(err, ehr.ErrDenied) {
		t.Fatalf("clerk breaking the glass: %v", err)
	}
	g, err := h.Repo.BreakGlass(med, p.ID, "paciente inconsciente en urgencias", time.Hour)
	if err != nil || g.UserID != h.Medico.Principal.UserID || !g.NotAfter.After(g.GrantedAt) {
		t.Fatalf("grant: %+v %v", g, err)
	}
	c, err = h.Repo.Chart(med, p.ID)
	if err != nil || len(c.Withheld) != 0 || !c.BreakGlass {
		t.Fatalf("chart under grant: withheld %v, break-glass %v, %v", c.Withheld, c.BreakGlass, err)
	}
	if _, err := h.Repo.RecordAllergy(med, ehr.Allergy{PatientID: p.ID, Substance: "Yodo", Severity: "severe"}); err != nil {
		t.Fatalf("write under grant: %v", err)
	}
	// Another physician does not benefit from the grant.
	other, _ := h.NewMedico(t, "Dr. Otro")
	if _, err := h.Repo.RecordAllergy(h.As(other), ehr.Allergy{PatientID: p.ID, Substance: "x", Severity: "mild"}); !errors.Is(err, ehr.ErrDenied) {
		t.Fatalf("other physician: %v", err)
	}

	aud := h.As(h.Auditor)
	grants, err := h.Repo.ListBreakGlass(aud, ehr.BreakGlassQuery{ActiveOnly: true})
	if err != nil || len(grants) != 1 || grants[0].Uses != 2 || grants[0].Reason != g.Reason {
		t.Fatalf("review: %+v %v", grants, err)
	}
	flagged, err := h.Repo.SearchAudit(aud, ehr.AuditQuery{ChainID: p.ID, BreakGlassOnly: true})
	if err != nil || len(flagged.Events) != 3 {
		t.Fatalf("flagged events: %d %v", len(flagged.Events), err)
	}
	for _, e := range flagged.Events {
		if e.Reason != g.Reason {
			t.Fatalf("flagged event without the reason: %+v", e)
		}
	}
	log, err := h.Repo.AccessLog(h.As(h.PatientActor(p)), p.ID, 0)
	if err != nil || len(log) != 2 || !log[0].BreakGlass || log[1].BreakGlass {
		t.Fatalf("patient's access log: %+v %v", log, err)
	}
	if _, err := h.Repo.ListBreakGlass(med, ehr.BreakGlassQuery{}); !errors.Is(err, ehr.ErrDenied) {
		t.Fatalf("physician reviewing grants: %v", err)
	}
}

func TestBreakGlassExpires(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	engine, err := rbac.New(rbac.DefaultPolicy(), rbac.WithClock(func() time.Time { return clock() }))
	if err != nil {
		t.Fatal(err)
	}
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t), ehr.WithAuthorizer(engine), ehr.WithClock(func() time.Time { return clock() }))
	p := h.NewPatient(t)
	med := h.As(h.Medico)
	if _, err := h.Repo.BreakGlass(med, p.ID, "paciente inconsciente en urgencias", 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	if c, err := h.Repo.Chart(med, p.ID); err != nil || !c.BreakGlass {
		t.Fatalf("under grant: %v", err)
	}
	later := now.Add(31 * time.Minute)
	clock = func() time.Time { return later }
	if c, err := h.Repo.Chart(med, p.ID); err != nil || c.BreakGlass || len(c.Withheld) == 0 {
		t.Fatalf("after expiry: break-glass %v, withheld %v, %v", c.BreakGlass, c.Withheld, err)
	}
}
