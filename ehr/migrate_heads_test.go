package ehr_test

import (
	"context"
	"testing"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
)

// TestMigrationOpensTenantChains: a tenant made before CreateTenant opened
// its chain head (simulated by a tenant row inserted without one) gets its
// head from migration 0003 (and the heads of its other lanes from 0007,
// see TestMigrationOpensTenantLanes); a head already there is left alone.
func TestMigrationOpensTenantChains(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, ehrtest.NewURL(t))
	const oldTenant = "0190a1b2-0000-7000-8000-0000000000a1"
	if _, err := conn.Exec(ctx, `INSERT INTO tenants (id, name, created_at) VALUES ($1, 'Hospital antiguo', now())`, oldTenant); err != nil {
		t.Fatal(err)
	}
	repo := ehr.NewRepository(conn)
	fresh, err := repo.CreateTenant(ctx, "Hospital nuevo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, ehr.MigrationSQL("0003_tenant_chain_heads.sql")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{oldTenant, fresh.ID} {
		var n, seq int
		if err := conn.QueryRow(ctx, `SELECT count(*), coalesce(max(seq), -1) FROM audit_heads WHERE patient_id = $1 AND tenant_id = $1`, id).Scan(&n, &seq); err != nil {
			t.Fatal(err)
		}
		if n != 1 || seq != 0 {
			t.Errorf("tenant %s: %d heads at seq %d, want one at 0", id, n, seq)
		}
	}
	if _, err := conn.Exec(ctx, ehr.MigrationSQL("0007_tenant_audit_lanes.sql")); err != nil {
		t.Fatal(err)
	}
	// The old tenant's chain works: a tenant-wide read appends and verifies.
	a := ehrtest.Staff(oldTenant, "auditor")
	if _, err := repo.VerifyChain(ehr.NewContext(ctx, a), oldTenant); err != nil {
		t.Fatalf("old tenant's chain: %v", err)
	}
}
