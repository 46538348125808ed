package fhirimport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/refserver/internal/fhirimport"
	"github.com/historiaehr/historia/refserver/internal/fhirimport/synth"
)

func TestMain(m *testing.M) { ehrtest.Main(m) }

// tables are the tables an import writes rows of patient data to.
var tables = []string{"patients", "patient_identifiers", "encounters", "appointments", "care_team_members", "conditions",
	"allergies", "medication_requests", "observations", "clinical_notes", "record_versions", "practitioners"}

// rowCounts counts the rows of every table in tables.
func rowCounts(t testing.TB, pool *pgxpool.Pool) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tb := range tables {
		var n int
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+tb).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", tb, err)
		}
		out[tb] = n
	}
	return out
}

// importer is a tenant and the context an import of it runs with.
type importer struct {
	pool   *pgxpool.Pool
	repo   *ehr.Repository
	tenant string
	ctx    context.Context
}

func newImporter(t testing.TB, pool *pgxpool.Pool) *importer {
	t.Helper()
	tn, err := ehr.NewRepository(pool).CreateTenant(context.Background(), "Hospital de importación")
	if err != nil {
		t.Fatal(err)
	}
	ctx := ehr.NewContext(context.Background(), fhirimport.Actor(tn.ID, "historia-cli", fhirimport.NewRequestID()))
	return &importer{pool: pool, repo: ehr.NewRepository(pool, ehr.WithAuthorizer(fhirimport.Engine())), tenant: tn.ID, ctx: ctx}
}

func (im *importer) run(t testing.TB, opt fhirimport.Options) (*fhirimport.Summary, []fhirimport.Reject) {
	t.Helper()
	var rejects bytes.Buffer
	opt.Repo, opt.Rejects = im.repo, &rejects
	sum, err := fhirimport.Run(im.ctx, opt)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return sum, parseRejects(t, rejects.Bytes())
}

func parseRejects(t testing.TB, data []byte) []fhirimport.Reject {
	t.Helper()
	var out []fhirimport.Reject
	for _, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var r fhirimport.Reject
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("reject line %s: %v", l, err)
		}
		out = append(out, r)
	}
	return out
}

// verifyChains verifies the audit chain of every patient of the tenant
// and the tenant's own.
func verifyChains(t testing.TB, im *importer) {
	t.Helper()
	ctx := context.Background()
	rows, err := im.pool.Query(ctx, "SELECT patient_id::text FROM patients WHERE tenant_id = $1", im.tenant)
	if err != nil {
		t.Fatal(err)
	}
	chains := []string{im.tenant}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		chains = append(chains, id)
	}
	rows.Close()
	auditor := ehr.NewContext(ctx, ehrtest.Staff(im.tenant, "auditor"))
	repo := ehr.NewRepository(im.pool)
	for _, c := range chains {
		if _, err := repo.VerifyChain(auditor, c); err != nil {
			t.Errorf("chain %s: %v", c, err)
		}
	}
}

// TestImportSynthetic: synthetic charts are imported whole, with their
// practitioners; a second run creates nothing; every chain verifies.
func TestImportSynthetic(t *testing.T) {
	pool := ehrtest.NewDB(t)
	im := newImporter(t, pool)
	dir := t.TempDir()
	shape := synth.DefaultShape
	shape.Unknown = true
	n, err := synth.Write(dir, 0, 4, shape)
	if err != nil {
		t.Fatal(err)
	}
	sum, rejects := im.run(t, fhirimport.Options{Paths: []string{dir}, Workers: 2})
	if len(rejects) > 0 {
		t.Fatalf("rejects: %+v", rejects)
	}
	if sum.Imported != 4 || sum.Present != 0 || sum.Rejected != 0 || sum.ImportedResources() != n-synth.Practitioners {
		t.Fatalf("summary %+v, want 4 patients and %d resources imported", sum, n-synth.Practitioners)
	}
	if sum.PractitionersCreated != synth.Practitioners || sum.Unknown["Claim"] != 4 || sum.Unknown["Organization"] != 1 {
		t.Fatalf("summary %+v", sum)
	}
	before := rowCounts(t, pool)
	if before["observations"] != 4*shape.Observations || before["patients"] != 4 {
		t.Fatalf("rows %v", before)
	}
	verifyChains(t, im)

	sum, rejects = im.run(t, fhirimport.Options{Paths: []string{dir}, Workers: 2})
	if len(rejects) > 0 || sum.Imported != 0 || sum.Present != 4 || sum.PractitionersMatched != synth.Practitioners || sum.PractitionersCreated != 0 {
		t.Fatalf("second run: %+v %+v", sum, rejects)
	}
	if after := rowCounts(t, pool); !equal(after, before) {
		t.Fatalf("second run wrote rows: %v, before %v", after, before)
	}
	verifyChains(t, im)
}

func equal(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestImportInterrupted: an import cancelled midway leaves whole patients
// only; the next run imports the others, with no duplicate.
func TestImportInterrupted(t *testing.T) {
	pool := ehrtest.NewDB(t)
	im := newImporter(t, pool)
	dir := t.TempDir()
	if _, err := synth.Write(dir, 0, 6, synth.DefaultShape); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(im.ctx)
	defer cancel()
	var rejects bytes.Buffer
	_, err := fhirimport.Run(ctx, fhirimport.Options{Paths: []string{dir}, Workers: 2, BatchSize: 1, Repo: im.repo, Rejects: &rejects,
		AfterPatient: func(done int) {
			if done == 2 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled import: %v", err)
	}
	mid := rowCounts(t, pool)
	if mid["patients"] < 2 || mid["patients"] >= 6 {
		t.Fatalf("patients after the interruption: %d", mid["patients"])
	}
	if mid["observations"] != mid["patients"]*synth.DefaultShape.Observations {
		t.Fatalf("a patient was half imported: %v", mid)
	}
	sum, rj := im.run(t, fhirimport.Options{Paths: []string{dir}, Workers: 2})
	if len(rj) > 0 || sum.Present != mid["patients"] || sum.Imported != 6-mid["patients"] {
		t.Fatalf("resumed: %+v %+v", sum, rj)
	}
	end := rowCounts(t, pool)
	if end["patients"] != 6 || end["observations"] != 6*synth.DefaultShape.Observations || end["practitioners"] != synth.Practitioners {
		t.Fatalf("rows at the end: %v", end)
	}
	verifyChains(t, im)
}

// TestImportRejects: a patient with an invalid resource is rejected whole
// by default, imported without it with Partial; the rejects name the
// file, line, element and reason, and no personal data.
func TestImportRejects(t *testing.T) {
	pool := ehrtest.NewDB(t)
	dir := t.TempDir()
	if _, err := synth.Write(dir, 0, 2, synth.DefaultShape); err != nil {
		t.Fatal(err)
	}
	// Break one observation of patient 1: a code outside LOINC.
	path := filepath.Join(dir, "Observation.ndjson")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	bad := -1
	for i, l := range lines {
		if strings.Contains(l, synth.PatientID(1)) {
			lines[i] = strings.Replace(l, "http://loinc.org", "http://example.org/codes", 1)
			bad = i
			break
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	im := newImporter(t, pool)
	sum, rejects := im.run(t, fhirimport.Options{Paths: []string{dir}})
	if sum.Imported != 1 || sum.Rejected != 1 || len(rejects) != 2 {
		t.Fatalf("summary %+v, rejects %+v", sum, rejects)
	}
	r := rejects[0]
	if r.File != path || r.Line != bad+1 || r.ResourceType != "Observation" || len(r.Issues) == 0 || !strings.HasPrefix(r.Issues[0].Location, "Observation.code") {
		t.Fatalf("reject %+v", r)
	}
	if p := rejects[1]; p.ResourceType != "Patient" || p.ID != synth.PatientID(1) || !strings.Contains(p.Reason, "1 of its resources") {
		t.Fatalf("patient reject %+v", p)
	}
	if n := rowCounts(t, pool)["patients"]; n != 1 {
		t.Fatalf("patients: %d, want 1", n)
	}

	// Partial: patient 1 without the observation.
	im2 := newImporter(t, pool)
	sum, rejects = im2.run(t, fhirimport.Options{Paths: []string{dir}, Partial: true})
	if sum.Imported != 2 || sum.Rejected != 0 || len(rejects) != 1 || sum.Records["Observation"] != 2*synth.DefaultShape.Observations-1 {
		t.Fatalf("partial: %+v %+v", sum, rejects)
	}
	for _, rj := range rejects {
		b, _ := json.Marshal(rj)
		if strings.Contains(string(b), "Sintético") || strings.Contains(string(b), synth.Document(1)) {
			t.Fatalf("a reject carries personal data: %s", b)
		}
	}
}

// TestDryRunInputs: the shapes of input the first pass reads (a BOM, CRLF
// and blank lines in ndjson; a pretty-printed Bundle whose entry comes
// before its resourceType; a single resource in a .json file; references
// by absolute URL and by version) and what it refuses (a line that is not
// JSON, a Bundle type it does not import, a record whose patient is not in
// the input, a duplicate Patient), checked with a dry run, which needs no
// database.
func TestDryRunInputs(t *testing.T) {
	dir := t.TempDir()
	src := t.TempDir()
	if _, err := synth.Write(src, 0, 2, synth.Shape{Observations: 3}); err != nil {
		t.Fatal(err)
	}
	read := func(name string) []string {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	patients, practs, obs := read("Patient.ndjson"), read("Practitioner.ndjson"), read("Observation.ndjson")
	p0, p1 := synth.PatientID(0), synth.PatientID(1)
	// obs[0:3] are patient 0's, obs[3:6] patient 1's.
	ref := func(o, from, to string) string {
		out := strings.Replace(o, `"reference":"`+from+`"`, `"reference":"`+to+`"`, 1)
		if out == o {
			t.Fatalf("no reference %s in %s", from, o)
		}
		return out
	}
	// ndjson: a BOM, CRLF, blank lines, a line that is not JSON, an
	// observation of patient 0 by absolute URL, one of a patient not in
	// the input, the practitioners.
	o0 := ref(obs[0], "Patient/"+p0, "https://other.example/fhir/Patient/"+p0)
	stray := ref(obs[1], "Patient/"+p0, "Patient/00000000-0000-4000-8000-000000000000")
	write("a.ndjson", "\xEF\xBB\xBF"+patients[0]+"\r\n\r\n"+o0+"\r\n{not json\n"+stray+"\n"+strings.Join(practs, "\n"))
	// A pretty-printed collection Bundle, entry before resourceType:
	// patient 1 (by urn), its observation by a version-specific
	// reference, and patient 0 again (a duplicate).
	obj := func(s string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	b, _ := json.MarshalIndent(map[string]any{"entry": []any{
		map[string]any{"fullUrl": "urn:uuid:" + p1, "resource": obj(patients[1])},
		map[string]any{"resource": obj(ref(obs[3], "Patient/"+p1, "Patient/"+p1+"/_history/3"))},
		map[string]any{"resource": obj(patients[0])},
	}, "type": "collection", "resourceType": "Bundle"}, "", "  ")
	write("b.json", string(b))
	write("c.json", `{"resourceType":"Bundle","type":"history","entry":[]}`)
	// A single resource: patient 1's observation naming an encounter the
	// input does not hold.
	write("d.json", "\n  "+strings.Replace(obs[4], `"subject"`, `"encounter":{"reference":"Encounter/e-404"},"subject"`, 1)+"\n")

	var rejects bytes.Buffer
	sum, err := fhirimport.Run(context.Background(), fhirimport.Options{Paths: []string{dir}, DryRun: true, Rejects: &rejects, Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	rj := parseRejects(t, rejects.Bytes())
	if sum.Files != 4 || sum.Patients != 2 || sum.Imported != 2 || sum.Practitioners != synth.Practitioners || sum.Records["Observation"] != 2 {
		t.Errorf("summary %+v; rejects %+v", sum, rj)
	}
	find := func(pred func(fhirimport.Reject) bool) *fhirimport.Reject {
		for i := range rj {
			if pred(rj[i]) {
				return &rj[i]
			}
		}
		return nil
	}
	if r := find(func(r fhirimport.Reject) bool { return r.Reason == "not a JSON resource" }); r == nil || r.File != filepath.Join(dir, "a.ndjson") || r.Line != 4 {
		t.Errorf("not JSON: %+v", rj)
	}
	if r := find(func(r fhirimport.Reject) bool { return r.Reason == "its patient is not in the input" }); r == nil || r.Line != 5 || r.ResourceType != "Observation" {
		t.Errorf("stray observation: %+v", rj)
	}
	if r := find(func(r fhirimport.Reject) bool { return strings.HasPrefix(r.Reason, "Bundle.type") }); r == nil || r.File != filepath.Join(dir, "c.json") {
		t.Errorf("history Bundle: %+v", rj)
	}
	if r := find(func(r fhirimport.Reject) bool { return strings.HasPrefix(r.Reason, "duplicate: the same Patient as ") }); r == nil ||
		r.Entry == nil || *r.Entry != 2 || r.Line < 10 || !strings.Contains(r.Reason, "a.ndjson line 1") {
		t.Errorf("duplicate patient: %+v", r)
	}
	if r := find(func(r fhirimport.Reject) bool { return r.File == filepath.Join(dir, "d.json") }); r == nil || r.Line != 2 ||
		len(r.Issues) != 1 || r.Issues[0].Location != "Observation.encounter.reference" {
		t.Errorf("observation whose encounter is not in the input: %+v", r)
	}
	if len(rj) != 5 {
		t.Errorf("%d rejects: %+v", len(rj), rj)
	}
}
