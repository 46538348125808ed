package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/demo"
	"github.com/historiaehr/historia/refserver/internal/server"
)

func TestAuditCommandUsage(t *testing.T) {
	noEnv := func(string) string { return "" }
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"audit"}, {"audit", "check"}, {"audit", "verify"}} {
		err := run(context.Background(), args, nil, &out, &errOut, noEnv)
		if !errors.Is(err, errUsage) || exitCode(err) != 2 {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
	errOut.Reset()
	err := run(context.Background(), []string{"audit", "verify", "-h"}, nil, &out, &errOut, noEnv)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"--patient", "auditor principal", "status 1"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, errOut.String())
		}
	}
}

// TestAuditExportAndVerifyOffline: `historia audit export --fhir` writes
// every chain of the database as FHIR AuditEvents, and `historia audit
// verify --file` recomputes every chain from the file alone; a changed
// event, or one left out, is found.
func TestAuditExportAndVerifyOffline(t *testing.T) {
	url := migratedURL(t)
	// Some audited work: a patient registered, a code issued for them.
	var out, errOut bytes.Buffer
	pool, err := server.OpenPool(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	res, err := demo.Seed(context.Background(), pool, 3, "demo-password-for-tests", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "audit.ndjson")
	if err := run(context.Background(), []string{"audit", "export", "--fhir", "--out", file, "--database-url", url}, nil, &out, &errOut, noEnv); err != nil {
		t.Fatalf("export: %v\n%s", err, errOut.String())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) < 10 || !strings.Contains(lines[0], `"resourceType":"AuditEvent"`) {
		t.Fatalf("export: %d lines, first %.200s", len(lines), lines[0])
	}
	var family, doc string
	if err := pool.QueryRow(context.Background(), "SELECT family_names, document_number FROM patients WHERE patient_id = $1", res.PatientID).Scan(&family, &doc); err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if strings.Contains(l, family) || strings.Contains(l, doc) {
			t.Fatalf("the export carries a patient's name or document: %.200s", l)
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"audit", "verify", "--file", file}, nil, &out, &errOut, noEnv); err != nil {
		t.Fatalf("verify --file: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "0 broken") || !strings.Contains(out.String(), "ok chain "+res.PatientID) {
		t.Fatalf("verify --file: %s", out.String())
	}
	// The tenant's own chains are in the export, each lane verified as a
	// chain of its own.
	lanes, err := ehr.TenantChains(res.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(lanes, func(l string) bool { return strings.Contains(out.String(), "ok chain "+l+":") }) {
		t.Errorf("verify --file: no lane of the tenant's own chains: %s", out.String())
	}

	// A changed event, and a trail with an event left out, are broken.
	write := func(name string, ls []string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(strings.Join(ls, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	i := len(lines) / 2
	if !strings.Contains(lines[i], `"recorded":"2`) {
		t.Fatalf("no recorded time in an exported event: %.300s", lines[i])
	}
	changed := slices.Clone(lines)
	changed[i] = strings.Replace(lines[i], `"recorded":"2`, `"recorded":"1`, 1) // a year a millennium earlier
	dropped := slices.Delete(slices.Clone(lines), i, i+1)
	for name, p := range map[string]string{"changed": write("changed.ndjson", changed), "dropped": write("dropped.ndjson", dropped)} {
		out.Reset()
		err := run(context.Background(), []string{"audit", "verify", "--file", p}, nil, &out, &errOut, noEnv)
		if !errors.Is(err, app.ErrChainsBroken) || exitCode(err) != 1 || !strings.Contains(out.String(), "BROKEN") {
			t.Errorf("%s trail: %v (exit %d) %s; want it broken", name, err, exitCode(err), out.String())
		}
	}
	// Usage.
	for _, args := range [][]string{{"audit", "export", "--database-url", url}, {"audit", "verify", "--file"}, {"audit", "verify", "--file", file, "extra"}} {
		if err := run(context.Background(), args, nil, &out, &errOut, noEnv); exitCode(err) != 2 {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
}
