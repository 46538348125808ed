package ehr_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// TestNotFoundIsAudited: an allowed request that ends in "not found" for
// an id the caller named (a patient, or a record under a patient) leaves
// an event on the tenant's own chain naming the ids, so that scanning ids
// shows in the audit trail; the found path stays one round trip.
func TestNotFoundIsAudited(t *testing.T) {
	pool, rec := ehrtest.NewRecordedDB(t)
	h := ehrtest.NewHospital(t, pool)
	p := h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	med := h.As(h.Medico)
	tenantEvents := func(record string) []ehr.AuditEvent {
		t.Helper()
		page, err := h.Repo.SearchAudit(h.As(h.Auditor), ehr.AuditQuery{ChainID: h.Tenant.ID, Outcome: ehr.OutcomeNotFound, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		var out []ehr.AuditEvent
		for _, e := range page.Events {
			if e.RecordID == record {
				out = append(out, e)
			}
		}
		return out
	}
	unknown, unknownRec := uuid.NewString(), uuid.NewString()
	for name, tc := range map[string]struct {
		call   func() error
		record string
	}{
		"get patient": {func() error { _, err := h.Repo.GetPatient(med, unknown); return err }, unknown},
		"chart":       {func() error { _, err := h.Repo.Chart(med, unknown); return err }, unknown},
		"history":     {func() error { _, err := h.Repo.History(med, rbac.KindNote, p.ID, unknownRec); return err }, p.ID + "/" + unknownRec},
		"sign note": {func() error {
			_, err := h.Repo.SignNote(med, ehr.RecordRef{Kind: rbac.KindNote, PatientID: p.ID, ID: unknownRec, Version: 1})
			return err
		}, p.ID + "/" + unknownRec},
	} {
		before := len(tenantEvents(tc.record))
		if err := tc.call(); !errors.Is(err, ehr.ErrNotFound) {
			t.Fatalf("%s: %v, want ErrNotFound", name, err)
		}
		evs := tenantEvents(tc.record)
		if len(evs) != before+1 || evs[0].UserID != h.Medico.Principal.UserID {
			t.Errorf("%s: %d new not-found events for %s on the tenant chain, want 1 by the physician", name, len(evs)-before, tc.record)
		}
	}
	if _, err := h.Repo.VerifyChain(h.As(h.Auditor), h.Tenant.ID); err != nil {
		t.Errorf("tenant chain: %v", err)
	}
	// The found path: still one round trip.
	rec.Reset()
	if _, err := h.Repo.GetPatient(h.As(h.Admisionista), p.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Statements()); n != 5 { // begin, patient, head, event, commit: one batch
		t.Errorf("GetPatient of a patient: %d statements, want the 5 of one batch", n)
	}
}
