package server

import (
	"bytes"
	"context"
	"testing"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/fhirimport"
	"github.com/historiaehr/historia/refserver/internal/fhirimport/synth"
)

// TestBulkImport: `historia import`'s pipeline (fhirimport.Run, which
// writes through ehr's bulk path, ImportPatients) on the server's
// database: every patient whole, every chain verifying, a second run
// creating nothing. TestWorkflowsOnCitus runs it on the cluster, where
// the COPYs route rows to their shards, the snapshots are INSERT ...
// SELECTs between colocated tables and the batch commits on every shard.
func TestBulkImport(t *testing.T) {
	ctx := context.Background()
	pool := testDB(t)
	tn, err := ehr.NewRepository(pool).CreateTenant(ctx, "Hospital de importación")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const n = 40
	total, err := synth.Write(dir, 0, n, synth.DefaultShape)
	if err != nil {
		t.Fatal(err)
	}
	repo := ehr.NewRepository(pool, ehr.WithAuthorizer(fhirimport.Engine()))
	ictx := ehr.NewContext(ctx, fhirimport.Actor(tn.ID, "historia-cli", fhirimport.NewRequestID()))
	run := func() *fhirimport.Summary {
		t.Helper()
		var rejects bytes.Buffer
		sum, err := fhirimport.Run(ictx, fhirimport.Options{Paths: []string{dir}, Repo: repo, Rejects: &rejects, BatchSize: 16})
		if err != nil || rejects.Len() > 0 {
			t.Fatalf("import: %v\n%s", err, rejects.String())
		}
		return sum
	}
	if sum := run(); sum.Imported != n || sum.ImportedResources() != total-synth.Practitioners {
		t.Fatalf("summary %+v, want %d patients and %d resources", sum, n, total-synth.Practitioners)
	}
	counts := func() (patients, observations, versions, events int) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM patients WHERE tenant_id = $1),
  (SELECT count(*) FROM observations WHERE tenant_id = $1), (SELECT count(*) FROM record_versions WHERE tenant_id = $1),
  (SELECT count(*) FROM audit_events WHERE tenant_id = $1)`, tn.ID).Scan(&patients, &observations, &versions, &events); err != nil {
			t.Fatal(err)
		}
		return
	}
	p, o, v, _ := counts()
	if p != n || o != n*synth.DefaultShape.Observations || v != total-synth.Practitioners {
		t.Fatalf("%d patients, %d observations, %d versions; want %d, %d, %d", p, o, v, n, n*synth.DefaultShape.Observations,
			total-synth.Practitioners)
	}
	// Every chain verifies: each patient's, and the tenant's lanes.
	aud := ehr.NewContext(ctx, ehr.Actor{Principal: rbac.Principal{UserID: "auditor", TenantID: tn.ID, Roles: []string{"auditor"}}})
	rows, err := pool.Query(ctx, `SELECT patient_id::text FROM patients WHERE tenant_id = $1`, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	plain := ehr.NewRepository(pool)
	for _, id := range append(ids, tn.ID) {
		if _, err := plain.VerifyChain(aud, id); err != nil {
			t.Fatalf("chain %s: %v", id, err)
		}
	}
	if sum := run(); sum.Imported != 0 || sum.Present != n {
		t.Fatalf("second run: %+v", sum)
	}
	if p2, o2, v2, _ := counts(); p2 != p || o2 != o || v2 != v {
		t.Fatalf("the second run wrote rows: %d/%d/%d patients/observations/versions, was %d/%d/%d", p2, o2, v2, p, o, v)
	}
}
