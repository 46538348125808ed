package ehr_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// TestChartSpeculation: a chart read does not read the facts that cannot
// change its decisions, and assumes those that can, checking them in its
// one batch. Whatever the facts turn out to be, it answers and audits
// exactly as the read that reads the facts first (the same read inside
// InTx, which never assumes): the same sections, withheld kinds,
// break-glass flag, and an audit event with the same action, outcome,
// rule and reason. Facts as assumed take one round trip; others fail the
// check, roll back (nothing written, the connection kept), and the read
// is decided again with the facts read.
func TestChartSpeculation(t *testing.T) {
	pool, rec := ehrtest.NewRecordedDB(t)
	h := ehrtest.NewHospital(t, pool)
	p := h.NewPatient(t)
	seedChart(t, h, p)
	outsider, _ := h.NewMedico(t, "Dra. Fuera")
	glass, _ := h.NewMedico(t, "Dr. Urgencias")
	if _, err := h.Repo.BreakGlass(h.As(glass), p.ID, "paciente inconsciente en urgencias", time.Hour); err != nil {
		t.Fatal(err)
	}
	auditor := h.As(h.Auditor)
	lastEvent := func(user string) ehr.AuditEvent {
		t.Helper()
		page, err := h.Repo.SearchAudit(auditor, ehr.AuditQuery{ChainID: p.ID, UserID: user, Limit: 1})
		if err != nil || len(page.Events) == 0 {
			t.Fatalf("audit of %s: %v, %d events", user, err, len(page.Events))
		}
		return page.Events[0]
	}
	countEvents := func(user string) int {
		t.Helper()
		page, err := h.Repo.SearchAudit(auditor, ehr.AuditQuery{ChainID: p.ID, UserID: user, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Events)
	}
	for _, tc := range []struct {
		name   string
		actor  ehr.Actor
		trips  int // of the read
		checks int // of the facts assumed, in the first batch
		glass  bool
	}{
		{"on the care team", h.Medico, 1, 1, false},
		{"clerk: no fact changes a decision", h.Admisionista, 1, 0, false},
		{"not on the care team", outsider, 4, 1, false}, // the batch, its rollback, the facts, the batch again
		{"break-glass grant", glass, 4, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := h.As(tc.actor)
			user := tc.actor.Principal.UserID
			// The reference: inside a transaction the facts are read first.
			var want ehr.ChartView
			if err := h.Repo.InTx(ctx, func(tx *ehr.Repository) error {
				var err error
				want, err = tx.ChartView(ctx, p.ID, ehr.ChartBounds{})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			wantEvent := lastEvent(user)
			before := countEvents(user)
			conns := pool.Stat().NewConnsCount()

			rec.Reset()
			got, err := h.Repo.ChartView(ctx, p.ID, ehr.ChartBounds{})
			if err != nil {
				t.Fatal(err)
			}
			if n := rec.Trips(); n != tc.trips {
				t.Errorf("%d round trips, want %d", n, tc.trips)
			}
			checks := 0
			for _, s := range rec.Statements() {
				if strings.Contains(s.SQL, "the access facts are not those") {
					checks++
				}
			}
			if checks != tc.checks { // a read again decides with the facts it read
				t.Errorf("%d checks of the facts sent, want %d", checks, tc.checks)
			}
			if n := pool.Stat().NewConnsCount() - conns; n != 0 {
				t.Errorf("the read opened %d new connections: a failed check cost the pool its connection", n)
			}
			if n := countEvents(user) - before; n != 1 {
				t.Errorf("%d audit events for one read, want 1", n)
			}
			ev := lastEvent(user)
			if ev.Action != wantEvent.Action || ev.Kind != wantEvent.Kind || ev.Outcome != wantEvent.Outcome ||
				ev.Rule != wantEvent.Rule || ev.BreakGlass != wantEvent.BreakGlass || ev.Reason != wantEvent.Reason {
				t.Errorf("audit event %s %s %s rule %q glass %v reason %q, want %s %s %s rule %q glass %v reason %q",
					ev.Action, ev.Kind, ev.Outcome, ev.Rule, ev.BreakGlass, ev.Reason,
					wantEvent.Action, wantEvent.Kind, wantEvent.Outcome, wantEvent.Rule, wantEvent.BreakGlass, wantEvent.Reason)
			}
			if ev.BreakGlass != tc.glass || got.BreakGlass != tc.glass {
				t.Errorf("break glass: event %v, chart %v, want %v", ev.BreakGlass, got.BreakGlass, tc.glass)
			}
			if !slices.Equal(got.Withheld, want.Withheld) || len(got.Notes) != len(want.Notes) ||
				len(got.Observations) != len(want.Observations) || got.Patient.Contact != want.Patient.Contact {
				t.Errorf("chart: withheld %v, %d notes, %d observations; want %v, %d, %d (or the contact differs)",
					got.Withheld, len(got.Notes), len(got.Observations), want.Withheld, len(want.Notes), len(want.Observations))
			}
			if tc.name == "not on the care team" && !slices.Contains(got.Withheld, rbac.KindNote) {
				t.Errorf("an outsider read the notes: withheld %v", got.Withheld)
			}
		})
	}
	if _, err := h.Repo.VerifyChain(auditor, p.ID); err != nil {
		t.Errorf("patient chain after the reads: %v", err)
	}

	// A section the facts refuse: decided again with the facts read, then
	// refused and audited once, as before.
	t.Run("refused section", func(t *testing.T) {
		ctx := h.As(outsider)
		before := countEvents(outsider.Principal.UserID)
		_, err := h.Repo.ChartSection(ctx, p.ID, ehr.SectionQuery{Kind: rbac.KindNote})
		if !errors.Is(err, ehr.ErrDenied) {
			t.Fatalf("outsider's notes: %v, want ErrDenied", err)
		}
		if n := countEvents(outsider.Principal.UserID) - before; n != 1 {
			t.Errorf("%d audit events for one refusal, want 1", n)
		}
		if ev := lastEvent(outsider.Principal.UserID); ev.Outcome != ehr.OutcomeDenied {
			t.Errorf("refusal audited as %q", ev.Outcome)
		}
	})

	// The whole chart ($everything, export) speculates alike.
	t.Run("whole chart", func(t *testing.T) {
		rec.Reset()
		c, err := h.Repo.Chart(h.As(h.Medico), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n := rec.Trips(); n != 1 || len(c.Notes) == 0 {
			t.Errorf("whole chart on the care team: %d round trips, %d notes; want 1 and the notes", n, len(c.Notes))
		}
	})
}
