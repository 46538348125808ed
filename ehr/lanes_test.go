package ehr_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
)

// staffInLane returns a new staff actor of tenant whose tenant-wide
// events go to lane.
func staffInLane(t *testing.T, tenant string, lane int, roles ...string) ehr.Actor {
	t.Helper()
	for range 10000 {
		a := ehrtest.Staff(tenant, roles...)
		if ehr.LaneOf(a.Principal.UserID) == lane {
			return a
		}
	}
	t.Fatalf("no user in lane %d", lane)
	return ehr.Actor{}
}

// laneOf returns the chain of actor a's tenant-wide events: the lane of
// a's tenant that a's user id picks.
func laneOf(t *testing.T, a ehr.Actor) string {
	t.Helper()
	lanes, err := ehr.TenantChains(a.Principal.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	return lanes[ehr.LaneOf(a.Principal.UserID)]
}

// TestTenantChainsIDs: the lane ids are fixed by the tenant id (a
// change would orphan every lane of every tenant): lane 0 is the tenant
// id, the others name-based UUIDs of version 8, all distinct; users
// spread over every lane.
func TestTenantChainsIDs(t *testing.T) {
	const tenant = "0190a1b2-0000-7000-8000-0000000000a1"
	ids, err := ehr.TenantChains(tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != ehr.AuditLanes || ids[0] != tenant {
		t.Fatalf("TenantChains = %v", ids)
	}
	// Computed apart (Python's hashlib and uuid, as the doc says).
	if ids[1] != "f4eafca7-86e3-8851-83f1-c76d7bb95ca4" || ids[15] != "43046a89-1eba-8e73-9ec9-27777e17060e" {
		t.Errorf("lane ids changed: 1 = %s, 15 = %s", ids[1], ids[15])
	}
	seen := map[string]bool{}
	for i, id := range ids {
		u := uuid.MustParse(id)
		if seen[id] {
			t.Errorf("lane %d repeats %s", i, id)
		}
		seen[id] = true
		if i > 0 && (u.Version() != 8 || u.Variant() != uuid.RFC4122) {
			t.Errorf("lane %d: %s is version %d, variant %v", i, id, u.Version(), u.Variant())
		}
	}
	other, _ := ehr.TenantChains("0190a1b2-0000-7000-8000-0000000000a2")
	for _, id := range other {
		if seen[id] {
			t.Errorf("two tenants share lane %s", id)
		}
	}
	if _, err := ehr.TenantChains("not-a-uuid"); !errors.Is(err, ehr.ErrInvalid) {
		t.Errorf("TenantChains(not a uuid) = %v", err)
	}
	count := make([]int, ehr.AuditLanes)
	for range 1600 {
		count[ehr.LaneOf(uuid.NewString())]++
	}
	for lane, n := range count {
		if n < 50 {
			t.Errorf("lane %d has %d of 1,600 users", lane, n)
		}
	}
}

// TestTenantLanes: a new tenant owns the heads of all its lanes; the
// tenant-wide events of several users land in their lanes; the tenant id
// searches and verifies them all, and a lane alone verifies too.
func TestTenantLanes(t *testing.T) {
	pool := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, pool)
	ctx := context.Background()
	lanes, err := ehr.TenantChains(h.Tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	var heads []string
	rows, err := pool.Query(ctx, `SELECT patient_id::text FROM audit_heads WHERE tenant_id = $1 AND patient_id <> ALL (
  SELECT patient_id FROM patients WHERE tenant_id = $1) ORDER BY 1`, h.Tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if heads, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if want := slices.Sorted(slices.Values(lanes)); !slices.Equal(heads, want) {
		t.Fatalf("the new tenant's heads %v, want its lanes %v", heads, want)
	}

	h.NewPatient(t)
	users := []ehr.Actor{staffInLane(t, h.Tenant.ID, 0, "medico"), staffInLane(t, h.Tenant.ID, 5, "medico"),
		staffInLane(t, h.Tenant.ID, 11, "medico"), staffInLane(t, h.Tenant.ID, 11, "admisionista")}
	for _, u := range users {
		for range 2 {
			if _, err := h.Repo.SearchPatients(h.As(u), ehr.PatientQuery{Name: "josé"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	aud := h.As(staffInLane(t, h.Tenant.ID, 2, "auditor"))
	page, err := h.Repo.SearchAudit(aud, ehr.AuditQuery{ChainID: h.Tenant.ID, Action: "search", Kind: "demographics", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	byUser := map[string][]ehr.AuditEvent{}
	for _, e := range page.Events {
		byUser[e.UserID] = append(byUser[e.UserID], e)
	}
	for _, u := range users {
		evs := byUser[u.Principal.UserID]
		want := lanes[ehr.LaneOf(u.Principal.UserID)]
		if len(evs) != 2 {
			t.Fatalf("user in lane %d: %d events found by the tenant id, want 2", ehr.LaneOf(u.Principal.UserID), len(evs))
		}
		for _, e := range evs {
			if e.ChainID != want {
				t.Errorf("event of a user of lane %d on chain %s, want %s", ehr.LaneOf(u.Principal.UserID), e.ChainID, want)
			}
		}
		// One user's events are in order in their lane.
		if evs[0].Seq <= evs[1].Seq {
			t.Errorf("user's events out of order: %d then %d", evs[1].Seq, evs[0].Seq)
		}
	}
	// The two users of lane 11 share its chain.
	if lane11 := byUser[users[2].Principal.UserID][0].ChainID; lane11 != byUser[users[3].Principal.UserID][0].ChainID {
		t.Error("two users of lane 11 on different chains")
	}
	// One lane alone.
	one, err := h.Repo.SearchAudit(aud, ehr.AuditQuery{ChainID: lanes[5], UserID: users[1].Principal.UserID, Limit: 500})
	if err != nil || len(one.Events) != 2 {
		t.Fatalf("lane 5: %+v %v", one.Events, err)
	}
	// What each lane holds now (the admin's and the auditor's events
	// included; the verification's own comes after it reads).
	stored := func() map[string]int64 {
		t.Helper()
		n := map[string]int64{}
		rows, err := pool.Query(ctx, `SELECT patient_id::text, count(*) FROM audit_events WHERE tenant_id = $1 GROUP BY 1`, h.Tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var c int64
			if err := rows.Scan(&id, &c); err != nil {
				t.Fatal(err)
			}
			n[id] = c
		}
		return n
	}
	want := stored()
	st, err := h.Repo.VerifyChain(aud, lanes[11])
	if err != nil || st.Events != want[lanes[11]] || st.Events < 4 || len(st.Head) != 32 || st.ChainID != lanes[11] || st.Lanes != nil {
		t.Fatalf("VerifyChain(lane 11) = %+v, %v", st, err)
	}
	want = stored()
	st, err = h.Repo.VerifyChain(aud, h.Tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Lanes) != ehr.AuditLanes || st.ChainID != h.Tenant.ID || len(st.Head) != 0 {
		t.Fatalf("VerifyChain(tenant) = %+v", st)
	}
	var sum int64
	for i, l := range st.Lanes {
		if l.ChainID != lanes[i] || l.Events != want[lanes[i]] || (l.Events > 0) != (len(l.Head) == 32) {
			t.Errorf("status of lane %d: %+v, want chain %s with %d events", i, l, lanes[i], want[lanes[i]])
		}
		sum += l.Events
	}
	if st.Events != sum {
		t.Errorf("trail of %d events, its lanes %d", st.Events, sum)
	}
}

// TestTenantLaneTampering: a changed, removed or unowned lane breaks the
// tenant's trail, and the error names the lane.
func TestTenantLaneTampering(t *testing.T) {
	tamper := map[string]string{
		"changed":      `UPDATE audit_events SET user_id = 'someone-else' WHERE patient_id = $1 AND seq = 2`,
		"last removed": `DELETE FROM audit_events WHERE patient_id = $1 AND seq = (SELECT max(seq) FROM audit_events WHERE patient_id = $1)`,
		"head removed": `DELETE FROM audit_heads WHERE patient_id = $1 AND NOT EXISTS (SELECT 1 FROM audit_events WHERE patient_id = $1)`,
	}
	for name, stmt := range tamper {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			pool := ehrtest.NewDB(t)
			h := ehrtest.NewHospital(t, pool)
			lanes, _ := ehr.TenantChains(h.Tenant.ID)
			u := h.As(staffInLane(t, h.Tenant.ID, 7, "medico"))
			for range 3 {
				if _, err := h.Repo.MyPatients(u); err != nil {
					t.Fatal(err)
				}
			}
			aud := h.As(staffInLane(t, h.Tenant.ID, 7, "auditor"))
			if _, err := h.Repo.VerifyChain(aud, h.Tenant.ID); err != nil {
				t.Fatalf("intact trail: %v", err)
			}
			lane := 7
			if name == "head removed" {
				// A lane no one has written yet.
				for lane = 1; lane < ehr.AuditLanes; lane++ {
					var n int
					if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE patient_id = $1`, lanes[lane]).Scan(&n); err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						break
					}
				}
			}
			victim := lanes[lane]
			// The superuser (not the application role) tampers.
			if tag, err := pool.Exec(ctx, stmt, victim); err != nil || tag.RowsAffected() != 1 {
				t.Fatalf("tamper: %v %v", tag, err)
			}
			_, err := h.Repo.VerifyChain(aud, h.Tenant.ID)
			var ce *ehr.ChainError
			if !errors.As(err, &ce) || ce.ChainID != victim {
				t.Fatalf("tampered lane %d: %v", lane, err)
			}
			if name != "head removed" {
				if _, err := h.Repo.VerifyChain(aud, victim); !errors.Is(err, ehr.ErrChainBroken) {
					t.Errorf("VerifyChain(lane %d) = %v", lane, err)
				}
			}
		})
	}
}

// TestOtherTenantCannotUseALane: another tenant can neither open nor
// advance a lane of this one: naming it as a patient is not found and
// opens nothing, and the head statement itself leaves another tenant's
// head alone.
func TestOtherTenantCannotUseALane(t *testing.T) {
	db := ehrtest.NewDB(t)
	a := ehrtest.NewHospital(t, db)
	b := ehrtest.NewHospital(t, db)
	ctx := context.Background()
	lanes, _ := ehr.TenantChains(a.Tenant.ID)
	headOf := func(chain string) (tenant string, seq int64) {
		t.Helper()
		if err := db.QueryRow(ctx, `SELECT tenant_id::text, seq FROM audit_heads WHERE patient_id = $1`, chain).Scan(&tenant, &seq); err != nil {
			t.Fatalf("head of %s: %v", chain, err)
		}
		return tenant, seq
	}
	for _, lane := range []int{0, 3, 15} {
		id := lanes[lane]
		_, seqBefore := headOf(id)
		if _, err := b.Repo.ListAppointments(b.As(b.Secretaria), ehr.AppointmentQuery{PatientID: id}); !errors.Is(err, ehr.ErrNotFound) {
			t.Errorf("appointments of lane %d of another tenant: %v, want not found", lane, err)
		}
		if _, err := b.Repo.VerifyChain(b.As(b.Auditor), id); !errors.Is(err, ehr.ErrNotFound) {
			t.Errorf("verify lane %d of another tenant: %v, want not found", lane, err)
		}
		if page, err := b.Repo.SearchAudit(b.As(b.Auditor), ehr.AuditQuery{ChainID: id}); err != nil || len(page.Events) != 0 {
			t.Errorf("search lane %d of another tenant: %d events, %v", lane, len(page.Events), err)
		}
		// The statement that advances a head, run by hand as tenant b.
		tag, err := db.Exec(ctx, ehr.AuditHeadSQL, b.Tenant.ID, id, []byte("forged"))
		if err != nil || tag.RowsAffected() != 0 {
			t.Errorf("head statement of tenant b on lane %d: %v rows, %v", lane, tag.RowsAffected(), err)
		}
		if tenant, seq := headOf(id); tenant != a.Tenant.ID || seq != seqBefore {
			t.Errorf("lane %d: head of %s at %d, was at %d", lane, tenant, seq, seqBefore)
		}
	}
	if _, err := a.Repo.VerifyChain(a.As(a.Auditor), a.Tenant.ID); err != nil {
		t.Fatalf("a's trail: %v", err)
	}
}

// TestMigrationOpensTenantLanes: a database of the single tenant chain
// (a tenant with the head of its id alone, and events on it, as before
// lanes) gets the heads of the other lanes from migration 0007, with the
// ids Go computes; the old events keep verifying, as lane 0, and the new
// lanes fill. A tenant that has its lanes already is left alone.
func TestMigrationOpensTenantLanes(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, ehrtest.NewURL(t))
	const oldTenant = "0190a1b2-0000-7000-8000-0000000000a1"
	for _, stmt := range []string{`INSERT INTO tenants (id, name, created_at) VALUES ($1, 'Hospital antiguo', now())`,
		`INSERT INTO audit_heads (tenant_id, patient_id, seq, prev_hash, hash) VALUES ($1, $1, 0, '\x', '\x')`} {
		if _, err := conn.Exec(ctx, stmt, oldTenant); err != nil {
			t.Fatal(err)
		}
	}
	repo := ehr.NewRepository(conn)
	fresh, err := repo.CreateTenant(ctx, "Hospital nuevo")
	if err != nil {
		t.Fatal(err)
	}
	// Events on the old tenant chain: users of lane 0 write where every
	// user wrote before lanes.
	old := staffInLane(t, oldTenant, 0, "auditor")
	for range 3 {
		if _, err := repo.SearchAudit(ehr.NewContext(ctx, old), ehr.AuditQuery{}); err != nil {
			t.Fatal(err)
		}
	}
	var before [][]byte
	if rows, err := conn.Query(ctx, `SELECT hash FROM audit_events WHERE patient_id = $1 ORDER BY seq`, oldTenant); err != nil {
		t.Fatal(err)
	} else if before, err = pgx.CollectRows(rows, pgx.RowTo[[]byte]); err != nil || len(before) != 3 {
		t.Fatalf("old chain: %d events, %v", len(before), err)
	}
	freshHeads := func() (n int, seqs int64) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT count(*), sum(seq)::bigint FROM audit_heads WHERE tenant_id = $1`, fresh.ID).Scan(&n, &seqs); err != nil {
			t.Fatal(err)
		}
		return n, seqs
	}
	fn, fseq := freshHeads()

	if _, err := conn.Exec(ctx, ehr.MigrationSQL("0007_tenant_audit_lanes.sql")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{oldTenant, fresh.ID} {
		lanes, _ := ehr.TenantChains(id)
		rows, err := conn.Query(ctx, `SELECT patient_id::text FROM audit_heads WHERE tenant_id = $1 ORDER BY 1`, id)
		if err != nil {
			t.Fatal(err)
		}
		heads, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if want := slices.Sorted(slices.Values(lanes)); !slices.Equal(heads, want) {
			t.Errorf("tenant %s: heads %v, want the lanes %v", id, heads, want)
		}
	}
	if n, seqs := freshHeads(); n != fn || seqs != fseq {
		t.Errorf("the new tenant's heads changed: %d at %d, were %d at %d", n, seqs, fn, fseq)
	}
	// The old events verify as lane 0, unchanged; other users fill the
	// other lanes, and the whole trail verifies.
	aud := ehr.NewContext(ctx, staffInLane(t, oldTenant, 4, "auditor"))
	st, err := repo.VerifyChain(aud, oldTenant)
	if err != nil || st.Lanes[0].Events != 3 || !slices.Equal(st.Lanes[0].Head, before[2]) {
		t.Fatalf("old trail after the migration: %+v, %v", st, err)
	}
	for _, lane := range []int{1, 8, 15} {
		u := ehr.NewContext(ctx, staffInLane(t, oldTenant, lane, "auditor"))
		if _, err := repo.SearchAudit(u, ehr.AuditQuery{}); err != nil {
			t.Fatalf("lane %d: %v", lane, err)
		}
	}
	st, err = repo.VerifyChain(aud, oldTenant)
	if err != nil {
		t.Fatal(err)
	}
	for lane, want := range map[int]int64{0: 3, 1: 1, 4: 1, 8: 1, 15: 1} { // 4: the verification before
		if st.Lanes[lane].Events != want {
			t.Errorf("lane %d: %d events, want %d", lane, st.Lanes[lane].Events, want)
		}
	}
}
