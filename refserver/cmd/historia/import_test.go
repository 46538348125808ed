package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/refserver/internal/fhirimport"
	"github.com/historiaehr/historia/refserver/internal/fhirimport/synth"
)

const importFixture = "testdata/import"

// importTables are the tables of patient data (and practitioners) an
// import writes.
var importTables = []string{"patients", "patient_identifiers", "encounters", "appointments", "appointment_slots", "care_team_members",
	"conditions", "allergies", "medication_requests", "observations", "clinical_notes", "record_versions", "practitioners"}

func tableCounts(t *testing.T, url string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tb := range importTables {
		out[tb] = count(t, url, "SELECT count(*) FROM "+tb)
	}
	return out
}

func sameCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

func readRejects(t *testing.T, path string) []fhirimport.Reject {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []fhirimport.Reject
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r fhirimport.Reject
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("rejects line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// TestImportCommand: the fixture (ndjson per type for two patients, a
// transaction Bundle for a third with urn:uuid references, types Historia
// does not map, one invalid resource) is imported; the patient with the
// invalid resource is rejected whole and reported; a second run creates
// nothing; every chain verifies.
func TestImportCommand(t *testing.T) {
	ctx := context.Background()
	url, tenant := userDB(t)
	rejects := filepath.Join(t.TempDir(), "rejects.ndjson")
	imp := func(extra ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args := append([]string{"import", "--database-url", url, "--source", "SYNTHEA", "--rejects", rejects}, extra...)
		if err := run(ctx, append(args, importFixture), nil, &out, &errOut, noEnv); err != nil {
			t.Fatalf("import %v: %v\n%s%s", extra, err, out.String(), errOut.String())
		}
		return out.String()
	}
	out := imp()
	for _, want := range []string{
		"13 files: 3 patients, 22 resources of the types Historia maps",
		"patients: 2 imported, 0 already present, 1 rejected",
		"resources imported: 15 (AllergyIntolerance 1, Appointment 1, CareTeam 1, Condition 2, DocumentReference 1, Encounter 3, MedicationRequest 1, Observation 3, Patient 2)",
		"types Historia does not map, not imported: Claim 2, Immunization 1, Organization 1",
		"practitioners: 3, 0 found, 3 created, 0 rejected",
		"rejects: 2, in " + rejects,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	first := tableCounts(t, url)
	want := map[string]int{"patients": 2, "encounters": 3, "appointments": 1, "care_team_members": 1, "conditions": 2, "allergies": 1,
		"medication_requests": 1, "observations": 4, "clinical_notes": 1, "practitioners": 3}
	for tb, n := range want {
		if first[tb] != n {
			t.Errorf("%s: %d rows, want %d", tb, first[tb], n)
		}
	}
	// The admission kept its two stays (two versions), its disposition
	// and times; records keep their source's people.
	if n := count(t, url, `SELECT count(*) FROM encounters WHERE class = 'inpatient' AND version = 2 AND ward = 'Cirugía' AND disposition = 'home'
  AND started_at = '2024-05-01T08:00:00Z' AND ended_at = '2024-05-04T12:00:00Z'`); n != 1 {
		t.Errorf("admission with its history: %d", n)
	}
	if n := count(t, url, `SELECT count(*) FROM conditions WHERE recorded_by = '7d1f9a80-3c55-4a57-b0f1-1f7a2b3c4d01' AND code = 'I10'`); n != 1 {
		t.Errorf("condition with its recorder: %d", n)
	}
	// Patient C's records name its encounter; A's appointment holds
	// the practitioner's slots.
	if n := count(t, url, `SELECT count(*) FROM observations o JOIN encounters e ON e.patient_id = o.patient_id AND e.id = o.encounter_id
  WHERE e.class = 'inpatient'`); n != 2 {
		t.Errorf("blood pressure observations of the admission: %d, want 2", n)
	}
	if n := count(t, url, `SELECT count(*) FROM appointment_slots`); n != 4 {
		t.Errorf("appointment slots: %d, want 4 (20 minutes)", n)
	}
	// Every record is audited as an import, by the importer's role.
	records := first["encounters"] + first["appointments"] + first["care_team_members"] + first["conditions"] + first["allergies"] +
		first["medication_requests"] + first["observations"] + first["clinical_notes"]
	if n := count(t, url, `SELECT count(*) FROM audit_events WHERE action = 'import' AND roles = $1 AND user_id = 'historia-cli'`, fhirimport.Role); n != records {
		t.Errorf("import events: %d, want %d", n, records)
	}

	// Rejects: the invalid observation and its patient, by file and
	// line, with the element; no names.
	rj := readRejects(t, rejects)
	if len(rj) != 2 {
		t.Fatalf("rejects: %+v", rj)
	}
	if r := rj[0]; r.File != filepath.Join(importFixture, "Observation.ndjson") || r.Line != 3 || r.ResourceType != "Observation" || r.ID != "obs-b1" ||
		len(r.Issues) != 1 || r.Issues[0].Location != "Observation.valueQuantity.code" || r.Reason == "" {
		t.Errorf("observation reject: %+v", r)
	}
	if r := rj[1]; r.ResourceType != "Patient" || r.ID != "pat-b" || r.Line != 2 || !strings.Contains(r.Reason, "1 of its resources") {
		t.Errorf("patient reject: %+v", r)
	}
	data, _ := os.ReadFile(rejects)
	for _, pii := range []string{"Pedro", "Ejemplo", "Marta", "10203040", "B-002", "Penicilina"} {
		if bytes.Contains(data, []byte(pii)) {
			t.Errorf("the rejects carry %q:\n%s", pii, data)
		}
	}

	// Again: nothing new.
	out = imp()
	if !strings.Contains(out, "patients: 0 imported, 2 already present, 1 rejected") || !strings.Contains(out, "3 found, 0 created") {
		t.Errorf("second run:\n%s", out)
	}
	if again := tableCounts(t, url); !sameCounts(again, first) {
		t.Errorf("second run wrote rows: %v, first %v", again, first)
	}
	verifyAll(t, url)

	// --partial: the rejected patient comes in without its observation.
	out = imp("--partial")
	if !strings.Contains(out, "patients: 1 imported, 2 already present, 0 rejected") || !strings.Contains(out, "rejects: 1,") {
		t.Errorf("partial run:\n%s", out)
	}
	if n := count(t, url, "SELECT count(*) FROM patients WHERE document_type = 'SYNTHEA' AND document_number = 'PAT-B'"); n != 1 {
		t.Errorf("patient without a document, identified by its source id: %d", n)
	}
	verifyAll(t, url)

	// An explicit tenant; one that does not exist.
	var errOut bytes.Buffer
	err := run(ctx, []string{"import", "--database-url", url, "--tenant", tenant, "--rejects", rejects, importFixture}, nil, &bytes.Buffer{}, &errOut, noEnv)
	if err != nil {
		t.Errorf("--tenant: %v", err)
	}
	err = run(ctx, []string{"import", "--database-url", url, "--tenant", "0190a1b2-0000-7000-8000-0000000000ff", importFixture}, nil, &bytes.Buffer{}, &errOut, noEnv)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "no tenant") {
		t.Errorf("unknown tenant: %v", err)
	}
}

// verifyAll runs historia audit verify on the database at url.
func verifyAll(t *testing.T, url string) {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify", "--database-url", url}, nil, &out, &bytes.Buffer{}, noEnv); err != nil ||
		!strings.Contains(out.String(), " 0 broken") {
		t.Fatalf("audit verify: %v\n%s", err, out.String())
	}
}

// TestImportDryRun: a dry run needs no database, reports what it would
// import and the rejects, and writes no rejects file when there are none.
func TestImportDryRun(t *testing.T) {
	dir := t.TempDir()
	rejects := filepath.Join(dir, "rejects.ndjson")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"import", "--dry-run", "--rejects", rejects, importFixture}, nil, &out, &errOut, noEnv); err != nil {
		t.Fatalf("dry run: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"dry run: nothing was written", "patients: 2 to import, 0 already present, 1 rejected", "rejects: 1,"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	rj := readRejects(t, rejects)
	if len(rj) != 1 || rj[0].ID != "pat-b" || !strings.Contains(rj[0].Issues[len(rj[0].Issues)-1].Diagnostics, "--source") {
		t.Fatalf("rejects: %+v", rj)
	}
	// The synthetic input has nothing to reject: no file.
	in := t.TempDir()
	if _, err := synth.Write(in, 0, 3, synth.DefaultShape); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"import", "--dry-run", "--rejects", rejects, in}, nil, &out, &errOut, noEnv); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(rejects); !errors.Is(err, os.ErrNotExist) || !strings.Contains(out.String(), "rejects: none") {
		t.Errorf("no rejects: the file is %v\n%s", err, out.String())
	}
}

func TestImportUsage(t *testing.T) {
	for _, args := range [][]string{
		{"import"},
		{"import", "--dry-run"},
		{"import", importFixture},
		{"import", "--dry-run", "--workers", "0", importFixture},
		{"import", "--dry-run", "--bogus", importFixture},
		{"import", "--dry-run", "--source", "synthea-2024", importFixture},
	} {
		err := run(context.Background(), args, nil, &bytes.Buffer{}, &bytes.Buffer{}, noEnv)
		if !errors.Is(err, errUsage) || exitCode(err) != 2 {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
	var errOut bytes.Buffer
	if err := run(context.Background(), []string{"import", "-h"}, nil, &bytes.Buffer{}, &errOut, noEnv); exitCode(err) != 2 ||
		!strings.Contains(errOut.String(), "already present") {
		t.Errorf("-h: %v\n%s", err, errOut.String())
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, nil, &out, &errOut, noEnv); err != nil || !strings.Contains(out.String(), "historia import") {
		t.Errorf("help lacks the import command: %v", err)
	}
}

// TestImportInterruptedAndResumed: an import stopped after some patients
// (Ctrl-C, in process) leaves whole patients only; running it again
// imports the rest, with no duplicate, and every chain verifies.
func TestImportInterruptedAndResumed(t *testing.T) {
	url, _ := userDB(t)
	in := t.TempDir()
	const n = 12
	if _, err := synth.Write(in, 0, n, synth.DefaultShape); err != nil {
		t.Fatal(err)
	}
	rejects := filepath.Join(t.TempDir(), "rejects.ndjson")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	importAfterPatient = func(done int) {
		if done == 4 {
			cancel()
		}
	}
	defer func() { importAfterPatient = nil }()
	var out bytes.Buffer
	err := run(ctx, []string{"import", "--database-url", url, "--rejects", rejects, "--batch", "1", in}, nil, &out, &bytes.Buffer{}, noEnv)
	if err == nil || !strings.Contains(err.Error(), "interrupted") || exitCode(err) != 1 {
		t.Fatalf("interrupted import: %v\n%s", err, out.String())
	}
	importAfterPatient = nil
	checkWhole(t, url)
	mid := count(t, url, "SELECT count(*) FROM patients")
	if mid < 4 || mid >= n {
		t.Fatalf("%d patients after the interruption", mid)
	}
	out.Reset()
	if err := run(context.Background(), []string{"import", "--database-url", url, "--rejects", rejects, in}, nil, &out, &bytes.Buffer{}, noEnv); err != nil {
		t.Fatalf("resumed: %v\n%s", err, out.String())
	}
	checkWhole(t, url)
	if got := count(t, url, "SELECT count(*) FROM patients"); got != n {
		t.Fatalf("%d patients at the end, want %d", got, n)
	}
	verifyAll(t, url)
}

// checkWhole fails unless every patient of the database has its whole
// synthetic chart, and no document is repeated.
func checkWhole(t *testing.T, url string) {
	t.Helper()
	s := synth.DefaultShape
	if n := count(t, url, `SELECT count(*) FROM patients p WHERE
  (SELECT count(*) FROM encounters WHERE patient_id = p.patient_id) <> $1 OR
  (SELECT count(*) FROM observations WHERE patient_id = p.patient_id) <> $2 OR
  (SELECT count(*) FROM conditions WHERE patient_id = p.patient_id) <> $3 OR
  (SELECT count(*) FROM clinical_notes WHERE patient_id = p.patient_id) <> $4`, s.Encounters, s.Observations, s.Conditions, s.Notes); n != 0 {
		t.Fatalf("%d patients are not whole", n)
	}
	if n := count(t, url, `SELECT count(*) FROM (SELECT document_number FROM patients GROUP BY 1 HAVING count(*) > 1) d`); n != 0 {
		t.Fatalf("%d documents repeated", n)
	}
	if n := count(t, url, `SELECT count(*) FROM (SELECT license FROM practitioners GROUP BY 1 HAVING count(*) > 1) d`); n != 0 {
		t.Fatalf("%d practitioners repeated", n)
	}
}

// TestImportKilled: `historia import`, built and run as a process, is
// killed (SIGKILL) in the middle; the database holds whole patients only,
// and the same command run again imports the rest with no duplicate,
// every chain verifying.
func TestImportKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	url, _ := userDB(t)
	in := t.TempDir()
	const n = 200
	if _, err := synth.Write(in, 0, n, synth.DefaultShape); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "historia")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	rejects := filepath.Join(t.TempDir(), "rejects.ndjson")
	// Batches of 10: the kill comes while most are still to be written.
	cmd := exec.Command(bin, "import", "--rejects", rejects, "--batch", "10", in)
	cmd.Env = append(os.Environ(), "HISTORIA_DATABASE_URL="+url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var got int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM patients").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got >= 20 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the import did not get going:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := count(t, url, "SELECT count(*) FROM patients")
	if killed >= n {
		// It was killed as soon as 20 of the patients were in: the rest
		// cannot have been imported meanwhile.
		t.Fatalf("the import finished (%d patients) before it was killed: the kill was not exercised", killed)
	}
	checkWhole(t, url)

	again := exec.Command(bin, "import", "--rejects", rejects, in)
	again.Env = cmd.Env
	res, err := again.CombinedOutput()
	if err != nil {
		t.Fatalf("re-run: %v\n%s", err, res)
	}
	if !strings.Contains(string(res), "already present") {
		t.Errorf("re-run:\n%s", res)
	}
	checkWhole(t, url)
	if got := count(t, url, "SELECT count(*) FROM patients"); got != n {
		t.Fatalf("%d patients at the end, want %d (killed at %d)", got, n, killed)
	}
	verifyAll(t, url)
	t.Logf("killed after %d of %d patients; the re-run imported the rest", killed, n)
}

// TestImportProgress: a terminal gets one line redrawn, with a bar, the
// rate and the ETA; anything else plain lines, at most every few seconds
// but the last.
func TestImportProgress(t *testing.T) {
	var tty bytes.Buffer
	p := &progressPrinter{w: &tty, tty: true}
	p.update(fhirimport.Progress{Phase: "practitioners", Elapsed: time.Second})
	p.update(fhirimport.Progress{Phase: "patients", Patients: 10, PatientsDone: 5, Resources: 100, ResourcesDone: 50, Elapsed: 2 * time.Second})
	p.update(fhirimport.Progress{Phase: "patients", Patients: 10, PatientsDone: 10, Resources: 100, ResourcesDone: 100, Elapsed: 3 * time.Second})
	p.end()
	got := tty.String()
	for _, want := range []string{"\r\033[K[############............]  50% patients 5/10  resources 50/100  50 resources/s  ETA 1s",
		"[########################] 100% patients 10/10"} {
		if !strings.Contains(got, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, got)
		}
	}
	if strings.Contains(got, "\n") || !strings.HasSuffix(got, "\r\033[K") {
		t.Errorf("terminal output: %q", got)
	}
	var plain bytes.Buffer
	p = newProgressPrinter(&plain)
	for i := 1; i <= 10; i++ {
		p.update(fhirimport.Progress{Phase: "patients", Patients: 10, PatientsDone: i, Resources: 100, ResourcesDone: 10 * i, Elapsed: time.Second})
	}
	p.end()
	if lines := strings.Split(strings.TrimSpace(plain.String()), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "patients 10/10") ||
		strings.Contains(plain.String(), "\r") {
		t.Errorf("plain output: %q", plain.String())
	}
}
