package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/fhirmap"
)

// The FHIR Bulk Data $export (protocol/fhir export.go, writer
// internal/bulkexport) through the whole handler against a real
// PostgreSQL: kick-off, polling, the manifest, the files (every line a
// resource the strict R4 decoders take), _type, _since, the refusals,
// only the requester may poll, download or delete, DELETE removes the
// files, and every exported patient's access log shows the export.

type exportManifest struct {
	TransactionTime     string `json:"transactionTime"`
	Request             string `json:"request"`
	RequiresAccessToken bool   `json:"requiresAccessToken"`
	Output              []struct {
		Type  string `json:"type"`
		URL   string `json:"url"`
		Count int    `json:"count"`
	} `json:"output"`
	Error []struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	} `json:"error"`
}

// kickOff starts an export at path (under /fhir/R4, with its query) and
// returns the status URL.
func (f *fixture) kickOff(t testing.TB, path, tok string) string {
	t.Helper()
	res := f.fhirGet(t, path, tok, "Prefer", "respond-async", "Accept", "application/fhir+json")
	mustFHIR(t, "kick-off "+path, res, http.StatusAccepted)
	loc := res.Header.Get("Content-Location")
	if !strings.Contains(loc, fhirRoot+"/$export-status/") {
		t.Fatalf("kick-off %s: Content-Location %q", path, loc)
	}
	return loc
}

// awaitExport polls the status URL until the manifest.
func (f *fixture) awaitExport(t testing.TB, status, tok string) exportManifest {
	t.Helper()
	for range 600 {
		res := f.fhirGet(t, status, tok)
		switch res.Status {
		case http.StatusAccepted:
			if res.Header.Get("X-Progress") == "" || res.Header.Get("Retry-After") == "" {
				t.Fatalf("poll: 202 without X-Progress and Retry-After: %v", res.Header)
			}
			time.Sleep(20 * time.Millisecond)
			continue
		case http.StatusOK:
			if res.Header.Get("Expires") == "" {
				t.Error("manifest without Expires")
			}
			var m exportManifest
			if err := json.Unmarshal(res.Body, &m); err != nil {
				t.Fatalf("manifest: %v: %s", err, res.Body)
			}
			if !m.RequiresAccessToken || m.TransactionTime == "" || !strings.Contains(m.Request, "$export") || m.Output == nil || m.Error == nil {
				t.Fatalf("manifest: %s", res.Body)
			}
			return m
		default:
			t.Fatalf("poll: %s", res)
		}
	}
	t.Fatal("the export did not finish")
	return exportManifest{}
}

// exportFiles downloads every output file of m and decodes every line
// with the strict decoders; it returns the resource ids by type and the
// OperationOutcomes of the error files.
func (f *fixture) exportFiles(t testing.TB, m exportManifest, tok string) (map[string][]string, []string) {
	t.Helper()
	ids := map[string][]string{}
	for _, o := range m.Output {
		res := f.fhirDo(t, "GET", o.URL, tok, nil, "Accept", "application/fhir+ndjson")
		if res.Status != http.StatusOK || res.Header.Get("Content-Type") != "application/fhir+ndjson" {
			t.Fatalf("file %s: %d %s", o.URL, res.Status, res.Header.Get("Content-Type"))
		}
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(res.Body))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			n++
			var head fHead
			if err := json.Unmarshal(sc.Bytes(), &head); err != nil || head.ResourceType != o.Type || head.ID == "" {
				t.Fatalf("%s line %d: %v %+v", o.Type, n, err, head)
			}
			if _, _, err := fhirmap.Decode(o.Type, sc.Bytes()); err != nil {
				t.Fatalf("%s line %d does not decode as R4: %v", o.Type, n, err)
			}
			ids[o.Type] = append(ids[o.Type], head.ID)
		}
		if n != o.Count || n == 0 {
			t.Errorf("%s: %d lines, manifest count %d", o.Type, n, o.Count)
		}
	}
	var outcomes []string
	for _, e := range m.Error {
		res := f.fhirDo(t, "GET", e.URL, tok, nil)
		if res.Status != http.StatusOK || e.Type != "OperationOutcome" {
			t.Fatalf("error file %s: %d", e.URL, res.Status)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(res.Body)), "\n") {
			var oo struct {
				ResourceType string
				Issue        []struct{ Severity, Code, Diagnostics string }
			}
			if err := json.Unmarshal([]byte(line), &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 {
				t.Fatalf("error line %q: %v", line, err)
			}
			outcomes = append(outcomes, oo.Issue[0].Code+" "+oo.Issue[0].Diagnostics)
		}
	}
	return ids, outcomes
}

func TestFHIRExport(t *testing.T) {
	dir := t.TempDir()
	f := newFixtureWith(t, func(c *Config) { c.ExportDir = dir })
	medico := f.token(t, f.a.TenantID, "medico")
	admision := f.token(t, f.a.TenantID, "admisionista")
	patients := f.patientsOf(t, f.a.TenantID)

	// Refusals, before any job starts.
	for _, c := range []struct {
		what, path, tok string
		hdr             []string
		want            int
	}{
		{"no Prefer", "/$export", medico, nil, http.StatusBadRequest},
		{"unknown type", "/$export?_type=Claim", medico, []string{"Prefer", "respond-async"}, http.StatusBadRequest},
		{"bad _since", "/$export?_since=yesterday", medico, []string{"Prefer", "respond-async"}, http.StatusBadRequest},
		{"bad _outputFormat", "/$export?_outputFormat=text/csv", medico, []string{"Prefer", "respond-async"}, http.StatusBadRequest},
		{"unsupported parameter", "/$export?_typeFilter=Observation%3Fcode%3Dx", medico, []string{"Prefer", "respond-async"}, http.StatusBadRequest},
		{"anonymous", "/$export", "", []string{"Prefer", "respond-async"}, http.StatusUnauthorized},
		{"an admin may not list the patients", "/$export", f.token(t, f.a.TenantID, "admin"), []string{"Prefer", "respond-async"}, http.StatusForbidden},
		// Any denial to a patient is "not found" (web's error table).
		{"a patient may not list the tenant", "/$export", f.token(t, f.a.TenantID, "paciente"), []string{"Prefer", "respond-async"}, http.StatusNotFound},
		{"unknown group", "/Group/everyone/$export", medico, []string{"Prefer", "respond-async"}, http.StatusNotFound},
	} {
		mustFHIR(t, c.what, f.fhirGet(t, c.path, c.tok, c.hdr...), c.want)
	}

	// System level, as a physician: every patient of the tenant, the
	// clinical records of those on the care team; the others' withheld
	// sections are reported.
	status := f.kickOff(t, "/$export", medico)
	m := f.awaitExport(t, status, medico)
	ids, outcomes := f.exportFiles(t, m, medico)
	slices.Sort(ids["Patient"])
	if want := slices.Sorted(slices.Values(patients)); !slices.Equal(ids["Patient"], want) {
		t.Errorf("exported patients %v, want every patient of the tenant %v", ids["Patient"], want)
	}
	if len(ids["Practitioner"]) == 0 || len(ids["Observation"]) == 0 {
		t.Errorf("exported %v", m.Output)
	}
	for _, id := range slices.Concat(ids["Patient"], ids["Practitioner"], ids["Observation"]) {
		if f.count(t, "SELECT count(*) FROM patients WHERE tenant_id::text = $2 AND patient_id::text = $1", id, f.b.TenantID) > 0 {
			t.Errorf("%s of the other tenant exported", id)
		}
	}
	for _, o := range outcomes {
		if !strings.HasPrefix(o, "suppressed Patient/") {
			t.Errorf("error file: %q", o)
		}
	}
	// Each exported patient's "who viewed my record" shows the export.
	medicoID := f.callerOf(t, "medico").UserID
	auditor := f.as(t, f.a.TenantID, "auditor")
	for _, pid := range patients {
		log, err := f.repo().AccessLog(auditor, pid, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(log, func(e ehr.AccessEntry) bool {
			return e.Action == ehr.AuditActionExport && e.UserID == medicoID && e.Kind == "chart"
		}) {
			t.Errorf("the access log of %s does not show the export: %+v", pid, log)
		}
	}

	// Only the requester polls, downloads and deletes.
	if res := f.fhirGet(t, status, admision); res.Status != http.StatusNotFound {
		t.Errorf("another user polls: %s", res)
	}
	if res := f.fhirDo(t, "GET", m.Output[0].URL, admision, nil); res.Status != http.StatusNotFound {
		t.Errorf("another user downloads: %s", res)
	}
	if res := f.fhirDo(t, "DELETE", status, admision, nil); res.Status != http.StatusNotFound {
		t.Errorf("another user deletes: %s", res)
	}
	if res := f.fhirDo(t, "GET", strings.Replace(m.Output[0].URL, "Patient.ndjson", "..%2F..%2Fetc%2Fpasswd", 1), medico, nil); res.Status != http.StatusNotFound {
		t.Errorf("a file not in the manifest: %s", res)
	}
	// DELETE removes the job and its files.
	if res := f.fhirDo(t, "DELETE", status, medico, nil); res.Status != http.StatusAccepted {
		t.Fatalf("delete: %s", res)
	}
	if res := f.fhirGet(t, status, medico); res.Status != http.StatusNotFound {
		t.Errorf("poll after delete: %s", res)
	}
	if res := f.fhirDo(t, "GET", m.Output[0].URL, medico, nil); res.Status != http.StatusNotFound {
		t.Errorf("download after delete: %s", res)
	}
	if files := filesUnder(t, dir); len(files) > 0 {
		t.Errorf("files left after delete: %v", files)
	}

	// DELETE right after the kick-off cancels the job, whether it still
	// runs or not, and leaves nothing.
	status = f.kickOff(t, "/$export", medico)
	if res := f.fhirDo(t, "DELETE", status, medico, nil); res.Status != http.StatusAccepted {
		t.Fatalf("delete at once: %s", res)
	}
	if res := f.fhirGet(t, status, medico); res.Status != http.StatusNotFound {
		t.Errorf("poll after cancel: %s", res)
	}
	if files := filesUnder(t, dir); len(files) > 0 {
		t.Errorf("files left after cancel: %v", files)
	}

	// _type and _since: the patient changed since an instant, alone.
	since := time.Now().UTC()
	changed := patients[len(patients)-1]
	adm := f.as(t, f.a.TenantID, "admisionista")
	p, err := f.repo().GetPatient(adm, changed)
	if err != nil {
		t.Fatal(err)
	}
	p.Contact.Phone = "+57 300 000 0000"
	if _, err := f.repo().UpdatePatient(adm, p); err != nil {
		t.Fatal(err)
	}
	status = f.kickOff(t, "/Patient/$export?_type=Patient,Observation&_since="+since.Format(time.RFC3339Nano), admision)
	m = f.awaitExport(t, status, admision)
	ids, _ = f.exportFiles(t, m, admision)
	if len(m.Output) != 1 || m.Output[0].Type != "Patient" || !slices.Equal(ids["Patient"], []string{changed}) {
		t.Errorf("_type=Patient,Observation&_since: %+v %v", m.Output, ids)
	}

	// Group/ward-[ward]: the patients admitted to the ward now.
	var ward string
	var inWard int
	if err := f.pool.QueryRow(context.Background(), `SELECT ward, count(DISTINCT patient_id) FROM encounters
		WHERE tenant_id::text = $1 AND class = 'inpatient' AND status = 'in-progress' GROUP BY ward ORDER BY ward LIMIT 1`,
		f.a.TenantID).Scan(&ward, &inWard); err != nil {
		t.Fatalf("a ward of the demo: %v", err)
	}
	m = f.awaitExport(t, f.kickOff(t, "/Group/ward-"+url.PathEscape(ward)+"/$export?_type=Patient", admision), admision)
	if ids, _ = f.exportFiles(t, m, admision); len(ids["Patient"]) != inWard {
		t.Errorf("Group/ward-%s: %d patients, want %d", ward, len(ids["Patient"]), inWard)
	}

	// Group/my-patients: the physician's care-team patients, and nothing
	// withheld.
	mine, err := f.repo().MyPatients(f.as(t, f.a.TenantID, "medico"))
	if err != nil || len(mine) == 0 {
		t.Fatalf("my patients: %v %v", mine, err)
	}
	m = f.awaitExport(t, f.kickOff(t, "/Group/my-patients/$export", medico), medico)
	ids, outcomes = f.exportFiles(t, m, medico)
	if len(ids["Patient"]) != len(mine) || len(outcomes) != 0 {
		t.Errorf("Group/my-patients: %d patients of %d, outcomes %v", len(ids["Patient"]), len(mine), outcomes)
	}
}

// callerOf returns the caller of demo user username of tenant A.
func (f *fixture) callerOf(t testing.TB, username string) app.Caller {
	t.Helper()
	c, _ := app.FromContext(f.as(t, f.a.TenantID, username))
	return c
}

// filesUnder lists the regular files under dir.
func filesUnder(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
