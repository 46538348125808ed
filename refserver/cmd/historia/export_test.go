package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/demo"
	"github.com/historiaehr/historia/refserver/internal/server"
)

// patientTables are the tables of a tenant's patient records.
var patientTables = []string{"patients", "encounters", "appointments", "care_team_members", "conditions", "allergies",
	"medication_requests", "observations", "clinical_notes"}

// TestExportImportRoundTrip: `historia export` writes the demo tenant as
// ndjson files; `historia import` loads them into a tenant of another
// database, which then holds as many records of each kind. Each exported
// patient's chain records the export; every chain still verifies.
func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := migratedURL(t)
	pool, err := server.OpenPool(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	res, err := demo.Seed(ctx, pool, 6, "demo-password-for-tests", io.Discard)
	pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "export")
	every := importPlainEvery
	defer func() { importPlainEvery = every }()
	importPlainEvery = 0 // a progress line per patient
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"export", "--database-url", src, "--out", dir}, nil, &out, &errOut, noEnv); err != nil {
		t.Fatalf("export: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "exported ") || !strings.Contains(out.String(), "Patient.ndjson") ||
		!strings.Contains(errOut.String(), "patients ") {
		t.Errorf("export output:\n%s\nstderr:\n%s", out.String(), errOut.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "error.ndjson")); err == nil {
		t.Error("the operator's export skipped or withheld something")
	}
	patients := count(t, src, "SELECT count(*) FROM patients WHERE tenant_id = $1", res.TenantID)
	if n := count(t, src, "SELECT count(DISTINCT patient_id) FROM audit_events WHERE action = $1 AND kind = 'chart' AND outcome = 'allowed'",
		ehr.AuditActionExport); n != patients || patients < 6 {
		t.Errorf("%d patients' chains record the export, of %d", n, patients)
	}

	dst, _ := userDB(t)
	out.Reset()
	if err := run(ctx, []string{"import", "--database-url", dst, "--rejects", filepath.Join(t.TempDir(), "rejects.ndjson"), dir},
		nil, &out, &errOut, noEnv); err != nil {
		t.Fatalf("import: %v\n%s", err, out.String())
	}
	for _, tb := range patientTables {
		q := "SELECT count(*) FROM " + tb
		a, b := count(t, src, q), count(t, dst, q)
		if a != b || a == 0 && tb == "observations" {
			t.Errorf("%s: %d exported, %d imported\n%s", tb, a, b, out.String())
		}
		t.Logf("%s: %d", tb, a)
	}
	verifyAll(t, src)
	verifyAll(t, dst)

	// Usage errors name what is wrong.
	for _, args := range [][]string{
		{"export", "--database-url", src},
		{"export", "--database-url", src, "--out", dir, "--type", "Claim"},
		{"export", "--database-url", src, "--out", dir, "--since", "yesterday"},
		{"export", "--out", dir},
	} {
		if err := run(ctx, args, nil, &out, &errOut, noEnv); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
