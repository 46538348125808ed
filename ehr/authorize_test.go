package ehr_test

import (
	"errors"
	"testing"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// TestAuthorize: a check decides as the methods do (the care team, the
// tenant), records a refusal as a denied attempt and writes nothing when
// it allows.
func TestAuthorize(t *testing.T) {
	pool := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, pool)
	p := h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	before := counts(t, pool)
	if err := h.Repo.Authorize(h.As(h.Medico), rbac.ActionRead, rbac.KindObservation, p.ID); err != nil {
		t.Fatalf("the care team's physician: %v", err)
	}
	if got := counts(t, pool); got["audit_events"] != before["audit_events"] {
		t.Fatalf("an allowed check wrote %d audit events", got["audit_events"]-before["audit_events"])
	}
	err := h.Repo.Authorize(h.As(h.Secretaria), rbac.ActionRead, rbac.KindObservation, p.ID)
	if !errors.Is(err, ehr.ErrDenied) {
		t.Fatalf("the front desk reading observations: %v, want ErrDenied", err)
	}
	page, err := h.Repo.SearchAudit(h.As(h.Auditor), ehr.AuditQuery{Outcome: ehr.OutcomeDenied})
	if err != nil || len(page.Events) != 1 || page.Events[0].Kind != rbac.KindObservation.String() || page.Events[0].ChainID != p.ID {
		t.Fatalf("denied events: %+v, %v", page.Events, err)
	}
	other := ehrtest.NewHospital(t, pool).NewPatient(t)
	if err := h.Repo.Authorize(h.As(h.Medico), rbac.ActionRead, rbac.KindObservation, other.ID); !errors.Is(err, ehr.ErrNotFound) {
		t.Fatalf("another tenant's patient: %v, want ErrNotFound", err)
	}
	if err := h.Repo.Authorize(h.As(h.Medico), rbac.ActionRead, rbac.KindObservation, "nope"); !errors.Is(err, ehr.ErrInvalid) {
		t.Fatalf("malformed id: %v, want ErrInvalid", err)
	}
}
