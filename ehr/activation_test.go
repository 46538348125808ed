package ehr_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
)

// TestPortalActivation: only the registration desk issues a patient's
// activation code, the issue and the redemption are on the patient's
// chain and in their access log, and a code works once, in its tenant,
// before it expires; a refusal writes nothing.
func TestPortalActivation(t *testing.T) {
	pool := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, pool)
	other := ehrtest.NewHospital(t, pool)
	p := h.NewPatient(t)
	ctx := context.Background()
	codes := func() int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM portal_activations WHERE patient_id = $1`, p.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Refused: an admin (no clinical or demographic access), a physician,
	// the patient themselves; an unknown patient is not found.
	for name, a := range map[string]ehr.Actor{"admin": h.Admin, "medico": h.Medico, "secretaria": h.Secretaria, "patient": h.PatientActor(p)} {
		if _, err := h.Repo.IssueActivation(h.As(a), p.ID); !errors.Is(err, ehr.ErrDenied) {
			t.Errorf("%s issues a code: %v, want ErrDenied", name, err)
		}
	}
	if _, err := h.Repo.IssueActivation(h.As(h.Admisionista), uuid.NewString()); !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("unknown patient: %v", err)
	}
	if _, err := other.Repo.IssueActivation(other.As(other.Admisionista), p.ID); !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("another tenant's patient: %v", err)
	}
	if n := codes(); n != 0 {
		t.Fatalf("%d codes written by refused issues", n)
	}
	var denied int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE patient_id = $1 AND kind = $2 AND outcome = 'denied'`,
		p.ID, ehr.KindPortalActivation).Scan(&denied); err != nil || denied != 4 {
		t.Errorf("denied issues audited: %d %v, want 4", denied, err)
	}

	act, err := h.Repo.IssueActivation(h.As(h.Admisionista), p.ID)
	if err != nil || act.PatientID != p.ID || len(act.Code) != 23 || act.ExpiresAt.Before(time.Now().Add(71*time.Hour)) {
		t.Fatalf("issue: %+v %v", act, err)
	}
	var stored string
	if err := pool.QueryRow(ctx, `SELECT code_hash FROM portal_activations WHERE id = $1`, act.ID).Scan(&stored); err != nil || stored == act.Code {
		t.Fatalf("stored code: %q %v (the code itself must not be stored)", stored, err)
	}

	linked := 0
	link := func(userID string) func(context.Context, string) (string, error) {
		return func(_ context.Context, pid string) (string, error) {
			linked++
			if pid != p.ID {
				t.Errorf("link to %s, want %s", pid, p.ID)
			}
			return userID, nil
		}
	}
	// Wrong tenant, wrong code: refused, link never called.
	if _, err := other.Repo.RedeemActivation(ctx, other.Tenant.ID, act.Code, link("x")); !errors.Is(err, ehr.ErrActivationRefused) || !errors.Is(err, ehr.ErrInvalid) {
		t.Errorf("other tenant: %v", err)
	}
	if _, err := h.Repo.RedeemActivation(ctx, h.Tenant.ID, "AAAAA-AAAAA-AAAAA-AAAAA", link("x")); !errors.Is(err, ehr.ErrActivationRefused) {
		t.Errorf("wrong code: %v", err)
	}
	// Expired: the same database 73 hours later.
	later := ehr.NewRepository(pool, ehr.WithClock(func() time.Time { return time.Now().Add(73 * time.Hour) }))
	if _, err := later.RedeemActivation(ctx, h.Tenant.ID, act.Code, link("x")); !errors.Is(err, ehr.ErrActivationRefused) {
		t.Errorf("expired code: %v", err)
	}
	// A failing link (username taken) leaves the code usable.
	boom := errors.New("taken")
	if _, err := h.Repo.RedeemActivation(ctx, h.Tenant.ID, act.Code, func(context.Context, string) (string, error) { return "", boom }); !errors.Is(err, boom) {
		t.Errorf("failing link: %v", err)
	}
	if linked != 0 {
		t.Fatalf("link called %d times on refused codes", linked)
	}
	user := uuid.NewString()
	// Typed by a patient: lower case, spaces instead of hyphens.
	typed := "  " + act.Code[:5] + " " + act.Code[6:]
	got, err := h.Repo.RedeemActivation(ctx, h.Tenant.ID, toLower(typed), link(user))
	if err != nil || got.PatientID != p.ID || linked != 1 {
		t.Fatalf("redeem: %+v %v (linked %d)", got, err, linked)
	}
	if _, err := h.Repo.RedeemActivation(ctx, h.Tenant.ID, act.Code, link("again")); !errors.Is(err, ehr.ErrActivationRefused) || linked != 1 {
		t.Errorf("second use: %v (linked %d)", err, linked)
	}

	// Both on the patient's chain, intact, and in their access log.
	log, err := h.Repo.AccessLog(h.As(h.PatientActor(p)), p.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var issued, redeemed bool
	for _, e := range log {
		if e.Kind != ehr.KindPortalActivation {
			continue
		}
		switch {
		case e.Action == "create" && e.UserID == h.Admisionista.Principal.UserID:
			issued = true
		case e.Action == "update" && e.UserID == user && len(e.Roles) == 1 && e.Roles[0] == "paciente":
			redeemed = true
		}
	}
	if !issued || !redeemed {
		t.Errorf("access log: issued %v, redeemed %v: %+v", issued, redeemed, log)
	}
	if _, err := h.Repo.VerifyChain(h.As(h.Auditor), p.ID); err != nil {
		t.Errorf("chain: %v", err)
	}
	page, err := h.Repo.SearchAudit(h.As(h.Auditor), ehr.AuditQuery{ChainID: p.ID, Kind: ehr.KindPortalActivation})
	if err != nil || len(page.Events) != 6 { // 4 denied, issued, redeemed
		t.Errorf("auditor sees %d activation events, want 6: %v", len(page.Events), err)
	}
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
