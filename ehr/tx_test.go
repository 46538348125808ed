package ehr_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// chainEvents returns the events of a chain matching q (ChainID set), as
// the auditor.
func chainEvents(t *testing.T, h *ehrtest.Hospital, q ehr.AuditQuery) []ehr.AuditEvent {
	t.Helper()
	q.Limit = 500
	page, err := h.Repo.SearchAudit(h.As(h.Auditor), q)
	if err != nil {
		t.Fatal(err)
	}
	return page.Events
}

// verifyChains verifies each chain and returns its event counts.
func verifyChains(t *testing.T, h *ehrtest.Hospital, chains ...string) []int64 {
	t.Helper()
	var out []int64
	for _, c := range chains {
		st, err := h.Repo.VerifyChain(h.As(h.Auditor), c)
		if err != nil {
			t.Fatalf("VerifyChain(%s): %v", c, err)
		}
		out = append(out, st.Events)
	}
	return out
}

// noAcquired fails when the pool still lends a connection (a transaction
// left open). A connection closed by a failed commit is destroyed in the
// background: it may take a moment.
func noAcquired(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	n := pool.Stat().AcquiredConns()
	for i := 0; n != 0 && i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
		n = pool.Stat().AcquiredConns()
	}
	if n != 0 {
		t.Errorf("%d connections still acquired", n)
	}
}

// TestInTxCommits: two writes on two patients, a read that sees them,
// committed together with their audit events; ehr's batches inside send
// no BEGIN or COMMIT of their own.
func TestInTxCommits(t *testing.T) {
	pool, rec := ehrtest.NewRecordedDB(t)
	h := ehrtest.NewHospital(t, pool)
	med := h.As(h.Medico)
	p1, p2 := h.NewPatient(t), h.NewPatient(t)
	h.OnCareTeam(t, p1, h.Practitioner)
	h.OnCareTeam(t, p2, h.Practitioner)
	before := verifyChains(t, h, p1.ID, p2.ID)

	rec.Reset()
	var note ehr.Note
	var cond ehr.Condition
	err := h.Repo.InTx(med, func(tx *ehr.Repository) error {
		var err error
		if note, err = tx.CreateNote(med, ehr.Note{PatientID: p1.ID, Title: "Ingreso", Body: "Estable."}, true); err != nil {
			return err
		}
		if cond, err = tx.RecordCondition(med, ehr.Condition{PatientID: p2.ID, Code: "I10", Display: "Hipertensión esencial"}); err != nil {
			return err
		}
		// Reads in the transaction see its writes (Chart and GetPatient
		// send batches on the transaction).
		c, err := tx.Chart(med, p1.ID)
		if err != nil || len(c.Notes) != 1 || c.Notes[0].ID != note.ID {
			t.Errorf("chart inside the transaction: %d notes, %v", len(c.Notes), err)
		}
		if _, err := tx.GetPatient(med, p2.ID); err != nil {
			t.Errorf("GetPatient inside the transaction: %v", err)
		}
		// Another connection does not see them yet. (Not through the
		// repository: its audited read would wait for the patient's chain
		// head, which the transaction holds until it ends.)
		var n int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM clinical_notes WHERE patient_id = $1`, p1.ID).Scan(&n); err != nil || n != 0 {
			t.Errorf("notes outside the transaction: %d, %v", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	noAcquired(t, pool)
	var begins, commits int
	for _, st := range rec.Statements() {
		switch strings.ToLower(strings.TrimSpace(st.SQL)) {
		case "begin":
			begins++
		case "commit":
			commits++
		}
	}
	if begins != 1 || commits != 1 {
		t.Errorf("%d BEGIN and %d COMMIT sent; want the transaction's only", begins, commits)
	}

	c1, c2 := must(h.Repo.Chart(med, p1.ID)), must(h.Repo.Chart(med, p2.ID))
	if len(c1.Notes) != 1 || c1.Notes[0].ID != note.ID || len(c2.Conditions) != 1 || c2.Conditions[0].ID != cond.ID {
		t.Fatalf("after commit: %d notes, %d conditions", len(c1.Notes), len(c2.Conditions))
	}
	for _, tc := range []struct{ chain, kind, record string }{{p1.ID, "note", note.ID}, {p2.ID, "condition", cond.ID}} {
		evs := chainEvents(t, h, ehr.AuditQuery{ChainID: tc.chain, Action: "create", Kind: tc.kind})
		if len(evs) != 1 || evs[0].RecordID != tc.record || evs[0].Outcome != ehr.OutcomeAllowed {
			t.Errorf("create events on %s: %+v", tc.chain, evs)
		}
	}
	after := verifyChains(t, h, p1.ID, p2.ID, h.Tenant.ID)
	// Each: the create, the read inside, the chart read after.
	if after[0] != before[0]+3 || after[1] != before[1]+3 {
		t.Errorf("chains grew by %d and %d events", after[0]-before[0], after[1]-before[1])
	}
}

// inTxOrDeadlock runs repo.InTx(ctx, fn), failing the test when it does
// not return within a minute (a deadlock: an audit event written on
// another connection waiting for a chain head the transaction holds).
func inTxOrDeadlock(t *testing.T, repo *ehr.Repository, ctx context.Context, fn func(tx *ehr.Repository) error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- repo.InTx(ctx, fn) }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("InTx did not return within a minute: deadlock")
		return nil
	}
}

// TestInTxRollsBackButKeepsDenials: a transaction whose second step is
// denied rolls back the first step's record and its audit event; the
// denial, deferred until the transaction has ended, is in the trail, and
// every chain verifies. Written on another connection while the
// transaction held the patient's chain head, it would have deadlocked.
func TestInTxRollsBackButKeepsDenials(t *testing.T) {
	pool := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, pool)
	med, sec, adm := h.As(h.Medico), h.As(h.Secretaria), h.As(h.Admisionista)
	p := h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	before := verifyChains(t, h, p.ID)
	inTx := func(fn func(tx *ehr.Repository) error) error {
		t.Helper()
		return inTxOrDeadlock(t, h.Repo, med, fn)
	}

	var noteID string
	var stepErr error
	err := inTx(func(tx *ehr.Repository) error {
		n, err := tx.CreateNote(med, ehr.Note{PatientID: p.ID, Title: "Ingreso", Body: "Estable."}, true)
		if err != nil {
			return err
		}
		noteID = n.ID
		// The front desk may not write notes.
		_, stepErr = tx.CreateNote(sec, ehr.Note{PatientID: p.ID, Title: "x", Body: "y"}, false)
		return stepErr
	})
	if !errors.Is(err, ehr.ErrDenied) || err != stepErr {
		t.Fatalf("InTx = %v; want the step's ErrDenied, unchanged", err)
	}
	noAcquired(t, pool)
	if c := must(h.Repo.Chart(med, p.ID)); len(c.Notes) != 0 {
		t.Fatalf("the first step's note survived the rollback: %+v", c.Notes)
	}
	if _, err := h.Repo.History(med, rbac.KindNote, p.ID, noteID); !errors.Is(err, ehr.ErrNotFound) {
		t.Fatalf("history of the rolled-back note: %v", err)
	}
	if evs := chainEvents(t, h, ehr.AuditQuery{ChainID: p.ID, Action: "create", Kind: "note"}); len(evs) != 1 ||
		evs[0].Outcome != ehr.OutcomeDenied || evs[0].UserID != h.Secretaria.Principal.UserID {
		t.Fatalf("create-note events on the patient's chain: %+v; want the denial only", evs)
	}
	// The denial and the chart read above (the history's not-found event
	// is on the tenant's chain).
	if after := verifyChains(t, h, p.ID, h.Tenant.ID); after[0] != before[0]+2 {
		t.Errorf("patient's chain grew by %d events, want 2", after[0]-before[0])
	}

	// A denial about a patient the transaction registered: ErrDenied in
	// the transaction, which sees the patient; after the rollback the
	// patient never existed, and the denial is on the tenant's chain.
	var q ehr.Patient
	err = inTx(func(tx *ehr.Repository) error {
		var err error
		q, err = tx.RegisterPatient(adm, ehr.Patient{DocumentType: "CC", DocumentNumber: "TX-" + uuid.NewString()[:8],
			GivenNames: "Ana", FamilyNames: "Ruiz", BirthDate: time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC), Sex: ehr.SexFemale})
		if err != nil {
			return err
		}
		// Off the care team, the physician may not write a note.
		_, err = tx.CreateNote(med, ehr.Note{PatientID: q.ID, Title: "x", Body: "y"}, false)
		return err
	})
	if !errors.Is(err, ehr.ErrDenied) || errors.Is(err, ehr.ErrNotFound) {
		t.Fatalf("InTx = %v; want ErrDenied", err)
	}
	if _, err := h.Repo.GetPatient(adm, q.ID); !errors.Is(err, ehr.ErrNotFound) {
		t.Fatalf("the registered patient survived the rollback: %v", err)
	}
	if _, err := h.Repo.VerifyChain(h.As(h.Auditor), q.ID); !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("a chain was opened for the rolled-back patient: %v", err)
	}
	evs := chainEvents(t, h, ehr.AuditQuery{ChainID: h.Tenant.ID, Outcome: ehr.OutcomeDenied})
	found := false
	for _, e := range evs {
		if strings.HasPrefix(e.RecordID, q.ID+"/") && e.Kind == "note" && e.UserID == h.Medico.Principal.UserID {
			found = true
		}
	}
	if !found {
		t.Errorf("the denial about the rolled-back patient is not on the tenant's chain: %+v", evs)
	}

	// A nested InTx is a savepoint: its failure rolls back its own steps
	// only, and its denial is written when the outer transaction ends.
	var kept, dropped string
	err = inTx(func(tx *ehr.Repository) error {
		n, err := tx.CreateNote(med, ehr.Note{PatientID: p.ID, Title: "Kept", Body: "kept"}, true)
		if err != nil {
			return err
		}
		kept = n.ID
		ierr := tx.InTx(med, func(tx2 *ehr.Repository) error {
			n, err := tx2.CreateNote(med, ehr.Note{PatientID: p.ID, Title: "Dropped", Body: "dropped"}, true)
			if err != nil {
				return err
			}
			dropped = n.ID
			_, err = tx2.CreateNote(sec, ehr.Note{PatientID: p.ID, Title: "x", Body: "y"}, false)
			return err
		})
		if !errors.Is(ierr, ehr.ErrDenied) {
			t.Errorf("nested InTx = %v; want ErrDenied", ierr)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := must(h.Repo.Chart(med, p.ID))
	if len(c.Notes) != 1 || c.Notes[0].ID != kept || kept == "" || dropped == "" {
		t.Fatalf("after the nested rollback: notes %+v (kept %s, dropped %s)", c.Notes, kept, dropped)
	}
	if evs := chainEvents(t, h, ehr.AuditQuery{ChainID: p.ID, Action: "create", Kind: "note", Outcome: ehr.OutcomeDenied}); len(evs) != 2 {
		t.Errorf("%d denials on the patient's chain, want 2", len(evs))
	}
	verifyChains(t, h, p.ID, h.Tenant.ID)
}

// TestInTxDefersNotFound: inside a transaction that appended to the
// tenant's chain (a search), a read of an unknown patient and a Locate of
// an unknown record leave their not-found events on that chain after the
// commit, in order.
func TestInTxDefersNotFound(t *testing.T) {
	pool := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, pool)
	adm, med := h.As(h.Admisionista), h.As(h.Medico)
	unknown, unknownNote := uuid.NewString(), uuid.NewString()
	err := inTxOrDeadlock(t, h.Repo, adm, func(tx *ehr.Repository) error {
		if _, err := tx.SearchPatients(adm, ehr.PatientQuery{Name: "nadie"}); err != nil {
			return err
		}
		if _, err := tx.GetPatient(adm, unknown); !errors.Is(err, ehr.ErrNotFound) {
			t.Errorf("GetPatient(unknown) = %v", err)
		}
		if _, err := tx.Locate(med, rbac.KindNote, unknownNote); !errors.Is(err, ehr.ErrNotFound) {
			t.Errorf("Locate(unknown) = %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	evs := chainEvents(t, h, ehr.AuditQuery{ChainID: h.Tenant.ID})
	var order []string
	for i := len(evs) - 1; i >= 0; i-- { // oldest first
		e := evs[i]
		switch {
		case e.Action == "search" && e.Kind == "demographics":
			order = append(order, "search")
		case e.Outcome == ehr.OutcomeNotFound && e.RecordID == unknown:
			order = append(order, "get")
		case e.Outcome == ehr.OutcomeNotFound && e.RecordID == unknownNote && e.Action == ehr.AuditActionLocate:
			order = append(order, "locate")
		}
	}
	if strings.Join(order, ",") != "search,get,locate" {
		t.Errorf("tenant chain: %v; want search, get, locate", order)
	}
	verifyChains(t, h, h.Tenant.ID)
}

// TestInTxPanicAndCancel: a panic in fn, and a context cancelled while fn
// runs, roll the transaction back and release its connection.
func TestInTxPanicAndCancel(t *testing.T) {
	pool := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, pool)
	med := h.As(h.Medico)
	p := h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	before := verifyChains(t, h, p.ID)

	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v; want the panic to go on", v)
			}
		}()
		_ = h.Repo.InTx(med, func(tx *ehr.Repository) error {
			must(tx.CreateNote(med, ehr.Note{PatientID: p.ID, Title: "Pánico", Body: "no queda"}, true))
			panic("boom")
		})
	}()
	noAcquired(t, pool)

	// Cancelled, then fn goes on: its next step fails.
	ctx, cancel := context.WithCancel(med)
	err := h.Repo.InTx(ctx, func(tx *ehr.Repository) error {
		must(tx.CreateNote(ctx, ehr.Note{PatientID: p.ID, Title: "Cancelada", Body: "no queda"}, true))
		cancel()
		_, err := tx.CreateNote(ctx, ehr.Note{PatientID: p.ID, Title: "Cancelada 2", Body: "no queda"}, true)
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("InTx after cancel = %v; want context.Canceled", err)
	}
	noAcquired(t, pool)

	// Cancelled, and fn returns nil: the commit fails.
	ctx, cancel = context.WithCancel(med)
	err = h.Repo.InTx(ctx, func(tx *ehr.Repository) error {
		must(tx.CreateNote(ctx, ehr.Note{PatientID: p.ID, Title: "Cancelada 3", Body: "no queda"}, true))
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("InTx cancelled before commit = %v; want context.Canceled", err)
	}
	noAcquired(t, pool)

	if c := must(h.Repo.Chart(med, p.ID)); len(c.Notes) != 0 {
		t.Fatalf("%d notes survived", len(c.Notes))
	}
	// Only the chart read above was added to the chain.
	if after := verifyChains(t, h, p.ID); after[0] != before[0]+1 {
		t.Errorf("patient's chain grew by %d events, want 1", after[0]-before[0])
	}
}
