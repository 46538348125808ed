package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/demo"
)

// The FHIR R4 API (/fhir/R4, package protocol/fhir) against a real
// PostgreSQL, through the whole handler: what it emits is R4 (written for
// fhir/conformance's google/fhir validation), a chart survives the trip
// into another tenant, the search semantics, the interactions, the
// transactions, the security and the policy table.

const fhirRoot = "/fhir/R4"

// ---- Helpers ----

// fhirRes is an answer of the FHIR API.
type fhirRes struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r fhirRes) String() string {
	b := r.Body
	if len(b) > 2000 {
		b = append(b[:2000:2000], "…"...)
	}
	return fmt.Sprintf("%d %s", r.Status, b)
}

// fhirDo sends a request to the FHIR API: path is under the server (or a
// link's absolute URL), tok a bearer token ("" for none), body a resource
// (sent as application/fhir+json unless the headers say otherwise), hdr
// header name and value pairs.
func (f *fixture) fhirDo(t testing.TB, method, path, tok string, body []byte, hdr ...string) fhirRes {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	if body != nil {
		r.Header.Set("Content-Type", "application/fhir+json")
	}
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return fhirRes{Status: w.Code, Header: w.Header(), Body: w.Body.Bytes()}
}

// fhirGet is a GET under /fhir/R4: path is relative to it ("/Patient"),
// or a link (an absolute URL, or a path under /fhir/R4).
func (f *fixture) fhirGet(t testing.TB, path, tok string, hdr ...string) fhirRes {
	t.Helper()
	if strings.HasPrefix(path, "http") || strings.HasPrefix(path, fhirRoot+"/") {
		return f.fhirDo(t, "GET", path, tok, nil, hdr...)
	}
	return f.fhirDo(t, "GET", fhirRoot+path, tok, nil, hdr...)
}

// mustFHIR fails the test unless res has status want and is FHIR JSON.
func mustFHIR(t testing.TB, what string, res fhirRes, want int) {
	t.Helper()
	if res.Status != want {
		t.Fatalf("%s: %s, want %d", what, res, want)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Fatalf("%s: Content-Type %q, want application/fhir+json", what, ct)
	}
}

type fBundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Total        *int   `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []fEntry `json:"entry"`
}

type fEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Search   *struct {
		Mode string `json:"mode"`
	} `json:"search"`
	Request *struct {
		Method      string `json:"method"`
		URL         string `json:"url"`
		IfNoneExist string `json:"ifNoneExist,omitempty"`
	} `json:"request"`
	Response *struct {
		Status   string          `json:"status"`
		Location string          `json:"location"`
		Etag     string          `json:"etag"`
		Outcome  json.RawMessage `json:"outcome"`
	} `json:"response"`
}

// fHead is what every resource has.
type fHead struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         *struct {
		VersionID   string `json:"versionId"`
		LastUpdated string `json:"lastUpdated"`
	} `json:"meta"`
}

func headOf(t testing.TB, raw []byte) fHead {
	t.Helper()
	var h fHead
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("resource: %v: %.300s", err, raw)
	}
	return h
}

type fOutcome struct {
	ResourceType string `json:"resourceType"`
	Issue        []struct {
		Severity    string   `json:"severity"`
		Code        string   `json:"code"`
		Diagnostics string   `json:"diagnostics"`
		Expression  []string `json:"expression"`
		Details     *struct {
			Coding []struct{ System, Code string } `json:"coding"`
			Text   string                          `json:"text"`
		} `json:"details"`
	} `json:"issue"`
}

// outcomeOf decodes an OperationOutcome answer, failing the test if it
// is not one.
func outcomeOf(t testing.TB, what string, res fhirRes) fOutcome {
	t.Helper()
	var oo fOutcome
	if err := json.Unmarshal(res.Body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("%s: not an OperationOutcome: %s", what, res)
	}
	return oo
}

// names reports whether the outcome names s in an expression (or, when
// it has none, in its diagnostics).
func (oo fOutcome) names(s string) bool {
	for _, is := range oo.Issue {
		for _, e := range is.Expression {
			if strings.Contains(e, s) {
				return true
			}
		}
	}
	return false
}

func (oo fOutcome) String() string {
	b, _ := json.Marshal(oo)
	return string(b)
}

func bundleOf(t testing.TB, what string, res fhirRes) fBundle {
	t.Helper()
	var b fBundle
	if err := json.Unmarshal(res.Body, &b); err != nil || b.ResourceType != "Bundle" {
		t.Fatalf("%s: not a Bundle (%v): %s", what, err, res)
	}
	return b
}

// matches returns the ids of the entries of type typ with search mode
// match (every type when typ is "").
func (b fBundle) matches(t testing.TB, typ string) []string {
	return b.mode(t, typ, "match")
}

func (b fBundle) mode(t testing.TB, typ, mode string) []string {
	t.Helper()
	var out []string
	for _, e := range b.Entry {
		if e.Search == nil || e.Search.Mode != mode {
			continue
		}
		h := headOf(t, e.Resource)
		if typ == "" || h.ResourceType == typ {
			out = append(out, h.ID)
		}
	}
	return out
}

// resources returns the resources of type typ in b, decoded into maps.
func (b fBundle) resources(t testing.TB, typ string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range b.Entry {
		var m map[string]any
		if err := json.Unmarshal(e.Resource, &m); err != nil {
			t.Fatal(err)
		}
		if m["resourceType"] == typ {
			out = append(out, m)
		}
	}
	return out
}

func (b fBundle) next() string {
	for _, l := range b.Link {
		if l.Relation == "next" {
			return l.URL
		}
	}
	return ""
}

// patientResource is a Patient as a client sends it.
func patientResource(doc, given, family, birth, gender string) []byte {
	p := map[string]any{
		"resourceType": "Patient",
		"identifier":   []any{map[string]any{"use": "official", "system": r4.DocumentSystem("CC"), "value": doc}},
		"name":         []any{map[string]any{"use": "official", "family": family, "given": strings.Fields(given)}},
		"gender":       gender,
		"birthDate":    birth,
	}
	b, _ := json.Marshal(p)
	return b
}

// createPatient creates a patient through POST /fhir/R4/Patient and
// returns the resource's head.
func (f *fixture) createPatient(t testing.TB, tok, doc, given, family, birth, gender string) fHead {
	t.Helper()
	res := f.fhirDo(t, "POST", fhirRoot+"/Patient", tok, patientResource(doc, given, family, birth, gender))
	mustFHIR(t, "create patient "+doc, res, http.StatusCreated)
	return headOf(t, res.Body)
}

// repo is an ehr repository over the fixture's database, with the
// server's policy: the tests' oracle and their fast setup.
func (f *fixture) repo() *ehr.Repository {
	return ehr.NewRepository(f.pool, ehr.WithAuthorizer(rbac.Default()))
}

// as returns a context acting as a demo user of tenant (by username),
// with the user's roles.
func (f *fixture) as(t testing.TB, tenant, username string) context.Context {
	t.Helper()
	u, err := auth.NewStore(f.pool, auth.StoreConfig{}).UserByUsername(context.Background(), tenant, username)
	if err != nil {
		t.Fatalf("user %s: %v", username, err)
	}
	return app.NewContext(context.Background(), app.Caller{UserID: u.ID, TenantID: tenant, PatientID: u.PatientID, Roles: u.Roles, RequestID: "fhir-test"})
}

// practitionerOf returns the practitioner of a medico user of tenant.
func (f *fixture) practitionerOf(t testing.TB, tenant, username string) ehr.Practitioner {
	t.Helper()
	ctx := f.as(t, tenant, username)
	c, _ := app.FromContext(ctx)
	p, err := f.repo().PractitionerByUser(ctx, c.UserID)
	if err != nil {
		t.Fatalf("practitioner of %s: %v", username, err)
	}
	return p
}

// patientsOf returns the patient ids of tenant, oldest first.
func (f *fixture) patientsOf(t testing.TB, tenant string) []string {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), "SELECT patient_id::text FROM patients WHERE tenant_id = $1 ORDER BY created_at, patient_id", tenant)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := collectStrings(rows)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func collectStrings(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close()
}) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// count runs a count(*) query.
func (f *fixture) count(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// deniedEvents counts the denied audit events of a chain.
func (f *fixture) deniedEvents(t testing.TB, chain string) int {
	return f.count(t, "SELECT count(*) FROM audit_events WHERE patient_id::text = $1 AND outcome = $2", chain, ehr.OutcomeDenied)
}

// conformanceDir is fhir/conformance/testdata/demo of the repository,
// where the FHIR the server emitted is written for fhir/conformance's
// TestDemoIsR4 (google/fhir's R4 validation); the Makefile runs this
// module's tests before that module's.
func conformanceDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if isRootModule(filepath.Join(dir, "go.mod")) {
			out := filepath.Join(dir, "fhir", "conformance", "testdata", "demo")
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			return out
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("the root module github.com/historiaehr/historia is not above the working directory")
		}
		dir = parent
	}
}

func isRootModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); strings.HasPrefix(line, "module ") {
			return strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "module ")), `"`) == "github.com/historiaehr/historia"
		}
	}
	return false
}

// writeFHIR writes an answer of the server for the R4 validation
// (server-<name>.json).
func writeFHIR(t testing.TB, name string, body []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(conformanceDir(t), "server-"+name+".json"), body, 0o644); err != nil {
		t.Fatal(err)
	}
}

// references returns every literal reference ("Type/id") in a resource.
func references(v any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if s, ok := c.(string); ok && k == "reference" {
					out = append(out, s)
					continue
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	return out
}

// checkSearchset checks the shape of a searchset Bundle: every match
// and include entry has a fullUrl ending in its Type/id and a resource;
// an outcome entry is an OperationOutcome; total counts the matches (when
// the whole result is on the page).
func checkSearchset(t testing.TB, what string, b fBundle) {
	t.Helper()
	if b.Type != "searchset" {
		t.Errorf("%s: Bundle.type %q, want searchset", what, b.Type)
	}
	matches := 0
	for i, e := range b.Entry {
		if e.Search == nil {
			t.Errorf("%s: entry %d has no search.mode", what, i)
			continue
		}
		if len(e.Resource) == 0 {
			t.Errorf("%s: entry %d has no resource", what, i)
			continue
		}
		h := headOf(t, e.Resource)
		switch e.Search.Mode {
		case "match", "include":
			if h.ResourceType == "" || h.ID == "" {
				t.Errorf("%s: entry %d has no resourceType or id", what, i)
			}
			if !strings.HasSuffix(e.FullURL, fhirRoot+"/"+h.ResourceType+"/"+h.ID) || !strings.HasPrefix(e.FullURL, "http") {
				t.Errorf("%s: entry %d fullUrl %q is not the absolute URL of %s/%s", what, i, e.FullURL, h.ResourceType, h.ID)
			}
			if h.Meta == nil || h.Meta.VersionID == "" || h.Meta.LastUpdated == "" {
				t.Errorf("%s: entry %d (%s) has no meta.versionId or meta.lastUpdated", what, i, h.ResourceType)
			}
			if e.Search.Mode == "match" {
				matches++
			}
		case "outcome":
			if h.ResourceType != "OperationOutcome" {
				t.Errorf("%s: outcome entry %d is a %s", what, i, h.ResourceType)
			}
		default:
			t.Errorf("%s: entry %d search.mode %q", what, i, e.Search.Mode)
		}
	}
	if b.Total != nil && b.next() == "" && *b.Total < matches {
		t.Errorf("%s: total %d, but %d matches on the page", what, *b.Total, matches)
	}
}

// ---- 1. What the server emits is R4 ----

// TestFHIRDemoEverythingIsR4: $everything of every patient of the demo
// (both tenants), as the physician on their care team (who may read
// every section: nothing is withheld), answers 200 with a searchset that
// holds the whole chart, whose references resolve inside the Bundle. The
// Bundles, the CapabilityStatement and a few searchsets are written for
// fhir/conformance's TestDemoIsR4.
func TestFHIRDemoEverythingIsR4(t *testing.T) {
	f := newFixture(t)
	// Files of an earlier run are stale.
	old, _ := filepath.Glob(filepath.Join(conformanceDir(t), "server-*.json"))
	for _, p := range old {
		os.Remove(p)
	}
	meta := f.fhirGet(t, "/metadata", "")
	mustFHIR(t, "metadata", meta, 200)
	writeFHIR(t, "metadata", meta.Body)

	for _, tenant := range []struct {
		name, id string
	}{{"a", f.a.TenantID}, {"b", f.b.TenantID}} {
		tok := f.token(t, tenant.id, "medico")
		ctx := f.as(t, tenant.id, "medico")
		pids := f.patientsOf(t, tenant.id)
		if len(pids) == 0 {
			t.Fatalf("tenant %s has no patients", tenant.name)
		}
		for n, pid := range pids {
			what := fmt.Sprintf("$everything of patient %d of tenant %s", n, tenant.name)
			res := f.fhirGet(t, "/Patient/"+pid+"/$everything", tok)
			mustFHIR(t, what, res, 200)
			writeFHIR(t, fmt.Sprintf("everything-%s-%d", tenant.name, n), res.Body)
			b := bundleOf(t, what, res)
			checkSearchset(t, what, b)
			if len(b.Entry) == 0 || headOf(t, b.Entry[0].Resource).ID != pid || headOf(t, b.Entry[0].Resource).ResourceType != "Patient" {
				t.Errorf("%s: the first entry is not the Patient", what)
			}
			if out := b.mode(t, "", "outcome"); len(out) > 0 {
				t.Errorf("%s: the physician on the care team is told something was withheld: %s", what, res)
			}
			if b.Total == nil || *b.Total != len(b.matches(t, "")) {
				t.Errorf("%s: total %v, %d matches", what, b.Total, len(b.matches(t, "")))
			}
			// Every reference resolves to an entry.
			have := map[string]bool{}
			for _, e := range b.Entry {
				h := headOf(t, e.Resource)
				have[h.ResourceType+"/"+h.ID] = true
			}
			for _, e := range b.Entry {
				var m map[string]any
				json.Unmarshal(e.Resource, &m)
				for _, ref := range references(m) {
					if !have[ref] {
						t.Errorf("%s: %s/%v references %s, which is not in the Bundle", what, m["resourceType"], m["id"], ref)
					}
				}
			}
			// The whole chart, as ehr gives it to the same physician.
			ch, err := f.repo().Chart(ctx, pid)
			if err != nil {
				t.Fatal(err)
			}
			if len(ch.Withheld) > 0 {
				t.Fatalf("%s: ehr withholds %v from the medico: pick another role", what, ch.Withheld)
			}
			for typ, want := range map[string]int{"Patient": 1, "Encounter": len(ch.Encounters), "Appointment": len(ch.Appointments),
				"CareTeam": len(ch.CareTeam), "Condition": len(ch.Conditions), "AllergyIntolerance": len(ch.Allergies),
				"MedicationRequest": len(ch.Medications), "Observation": len(ch.Observations), "DocumentReference": len(ch.Notes)} {
				if got := len(b.matches(t, typ)); got != want {
					t.Errorf("%s: %d %s, the chart has %d", what, got, typ, want)
				}
			}
			if len(ch.Observations) == 0 || len(ch.Encounters) == 0 || len(ch.CareTeam) == 0 || len(ch.Notes) == 0 {
				t.Errorf("%s: the demo chart is not rich enough to test (%d observations, %d encounters, %d care team, %d notes)",
					what, len(ch.Observations), len(ch.Encounters), len(ch.CareTeam), len(ch.Notes))
			}
		}
		// A searchset with _include, and a page of patients with a next
		// link, for the R4 validation too.
		res := f.fhirGet(t, "/Observation?patient="+pids[0]+"&_include=Observation:subject&_count=5", tok)
		mustFHIR(t, "observation search", res, 200)
		checkSearchset(t, "observation search", bundleOf(t, "observation search", res))
		writeFHIR(t, "search-observation-"+tenant.name, res.Body)
		res = f.fhirGet(t, "/Patient?_count=2&name=a&foo=bar", f.token(t, tenant.id, "admisionista"))
		mustFHIR(t, "patient search", res, 200)
		checkSearchset(t, "patient search", bundleOf(t, "patient search", res))
		writeFHIR(t, "search-patient-"+tenant.name, res.Body)
	}
	// Errors are OperationOutcomes: an unknown id, a bad parameter.
	tok := f.token(t, f.a.TenantID, "medico")
	res := f.fhirGet(t, "/Patient/"+randomUUID, tok)
	mustFHIR(t, "unknown patient", res, 404)
	outcomeOf(t, "unknown patient", res)
	writeFHIR(t, "outcome-404", res.Body)
	res = f.fhirGet(t, "/Observation?code=8867-4", tok)
	mustFHIR(t, "search without patient", res, 400)
	writeFHIR(t, "outcome-400", res.Body)
}

// ---- 3. Search ----

// TestFHIRSearchPatients: the string, token and date parameters of a
// Patient search, and paging through next links while patients are being
// registered.
func TestFHIRSearchPatients(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, f.a.TenantID, "admisionista")
	jose := f.createPatient(t, tok, "FH1001", "José", "González Pérez", "1980-05-17", "male")
	ana := f.createPatient(t, tok, "FH1002", "Ana", "Gonzalez", "1990-02-03", "female")
	luz := f.createPatient(t, tok, "FH1003", "Luz", "Martínez", "1990-12-31", "female")
	mine := map[string]string{jose.ID: "José", ana.ID: "Ana", luz.ID: "Luz"}
	// found returns who of the three a search finds.
	found := func(query string, hdr ...string) []string {
		t.Helper()
		res := f.fhirGet(t, "/Patient?"+query, tok, hdr...)
		mustFHIR(t, "Patient?"+query, res, 200)
		b := bundleOf(t, "Patient?"+query, res)
		checkSearchset(t, "Patient?"+query, b)
		var out []string
		for _, id := range b.matches(t, "Patient") {
			if n, ok := mine[id]; ok {
				out = append(out, n)
			}
		}
		sort.Strings(out)
		return out
	}
	q := url.QueryEscape
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"name=gonzalez", []string{"Ana", "José"}},
		{"name=GONZ", []string{"Ana", "José"}},
		{"name=Gonzá", []string{"Ana", "José"}},
		{"name=" + q("pérez josé"), []string{"José"}},
		{"name:contains=nzal", []string{"Ana", "José"}},
		{"name:contains=ARTI", []string{"Luz"}},
		{"name:exact=Gonzalez", []string{"Ana"}},
		{"name:exact=gonzalez", nil},
		{"name:exact=" + q("González Pérez"), []string{"José"}},
		{"name:exact=" + q("José González Pérez"), []string{"José"}},
		{"name:exact=Gonz", nil},
		{"family=martinez", []string{"Luz"}},
		{"family=perez", []string{"José"}},
		{"family=jose", nil},
		{"given=ana", []string{"Ana"}},
		{"given=JOS", []string{"José"}},
		{"given=gonzalez", nil},
		{"identifier=" + q(r4.DocumentSystem("CC")+"|FH1002"), []string{"Ana"}},
		{"identifier=FH1002", []string{"Ana"}},
		{"identifier=fh1002", []string{"Ana"}},
		{"identifier=" + q(r4.DocumentSystem("DNI")+"|FH1002"), nil},
		{"identifier=" + q("http://example.org/other|FH1002"), nil},
		{"birthdate=1990", []string{"Ana", "Luz"}},
		{"birthdate=1990-02", []string{"Ana"}},
		{"birthdate=1990-02-03", []string{"Ana"}},
		{"birthdate=eq1990-02-03", []string{"Ana"}},
		{"birthdate=ne1990", []string{"José"}},
		{"birthdate=ne1990-02-03&name=gonzalez", []string{"José"}},
		{"birthdate=lt1990-02-03", []string{"José"}},
		{"birthdate=le1990-02-03", []string{"Ana", "José"}},
		{"birthdate=gt1990-02-03", []string{"Luz"}},
		{"birthdate=ge1990-02-03", []string{"Ana", "Luz"}},
		{"birthdate=gt1990", nil},
		{"birthdate=lt1990", []string{"José"}},
		{"birthdate=ge1990-12&birthdate=le1990-12-31", []string{"Luz"}},
		{"gender=female", []string{"Ana", "Luz"}},
		{"gender=male&name=gonzalez", []string{"José"}},
		{"gender=" + q("http://hl7.org/fhir/administrative-gender|female") + "&name=gonzalez", []string{"Ana"}},
		{"_id=" + jose.ID + "," + luz.ID, []string{"José", "Luz"}},
		{"_id=" + jose.ID + "&_id=" + luz.ID, nil},
		{"name=gonzalez&gender=female", []string{"Ana"}},
		// Unknown parameters are ignored.
		{"name=gonzalez&colour=blue", []string{"Ana", "José"}},
	} {
		if got := found(tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("Patient?%s found %v, want %v", tc.query, got, tc.want)
		}
	}
	// _lastUpdated: around the instant the second patient was written,
	// and its day (the three may straddle midnight).
	at := ana.Meta.LastUpdated
	day := at[:10]
	onDay := func(cmp func(d string) bool) []string {
		var out []string
		for _, p := range []fHead{jose, ana, luz} {
			if cmp(p.Meta.LastUpdated[:10]) {
				out = append(out, mine[p.ID])
			}
		}
		sort.Strings(out)
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"_lastUpdated=ge" + q(at), []string{"Ana", "Luz"}},
		{"_lastUpdated=gt" + q(at), []string{"Luz"}},
		{"_lastUpdated=lt" + q(at), []string{"José"}},
		{"_lastUpdated=le" + q(at), []string{"Ana", "José"}},
		{"_lastUpdated=" + day, onDay(func(d string) bool { return d == day })},
		{"_lastUpdated=lt" + day, onDay(func(d string) bool { return d < day })},
		{"_lastUpdated=ge" + day, onDay(func(d string) bool { return d >= day })},
	} {
		if got := found(tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("Patient?%s found %v, want %v", tc.query, got, tc.want)
		}
	}
	// POST _search with a form body finds the same.
	r := httptest.NewRequest("POST", fhirRoot+"/Patient/_search", strings.NewReader("name=gonzalez&gender=female"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if w.Code != 200 || !strings.Contains(w.Body.String(), ana.ID) || strings.Contains(w.Body.String(), jose.ID) {
		t.Errorf("POST Patient/_search with a form: %d %.500s", w.Code, w.Body.String())
	}
	// Strict handling refuses an unknown parameter, naming it.
	res := f.fhirGet(t, "/Patient?name=gonzalez&colour=blue", tok, "Prefer", "handling=strict")
	mustFHIR(t, "strict unknown parameter", res, 400)
	if oo := outcomeOf(t, "strict", res); !oo.names("colour") {
		t.Errorf("strict: the outcome does not name the parameter: %s", oo)
	}
	// Malformed values are a 400 naming the parameter.
	for param, v := range map[string]string{"birthdate": "17-05-1980", "_count": "many", "gender": "dragon", "_lastUpdated": "yesterday"} {
		res := f.fhirGet(t, "/Patient?"+param+"="+v, tok)
		mustFHIR(t, "Patient?"+param+"="+v, res, 400)
		if oo := outcomeOf(t, param, res); !oo.names(param) {
			t.Errorf("Patient?%s=%s: the outcome does not name %s: %s", param, v, param, oo)
		}
	}
}

// TestFHIRSearchPaging: following the next links of a Patient search
// while another goroutine registers patients: no patient is given twice,
// and every patient that existed before the first page is given.
func TestFHIRSearchPaging(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, f.a.TenantID, "admisionista")
	families := []string{"Aguirre", "Zamora", "Martín", "Blanco", "Ortega", "Núñez", "Ibáñez", "Castro"}
	for i := range 24 {
		f.createPatient(t, tok, fmt.Sprintf("FP%04d", i), "Paciente", families[i%len(families)]+" Previo", "1970-01-01", "female")
	}
	before := map[string]bool{}
	for _, id := range f.patientsOf(t, f.a.TenantID) {
		before[id] = true
	}
	// The inserter registers patients, whose names sort anywhere, until
	// the paging is done; after each page the reader waits for one more.
	var inserted atomic.Int64
	done := make(chan struct{})
	tick := make(chan struct{}, 1)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			body := patientResource(fmt.Sprintf("FC%05d", i), "Concurrente", families[(i*3)%len(families)]+" Nuevo", "1971-02-02", "male")
			r := httptest.NewRequest("POST", fhirRoot+"/Patient", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/fhir+json")
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, r)
			if w.Code != http.StatusCreated {
				select {
				case errs <- fmt.Errorf("concurrent create: %d %.300s", w.Code, w.Body.String()):
				default:
				}
				return
			}
			inserted.Add(1)
			select {
			case tick <- struct{}{}:
			default:
			}
		}
	}()
	stop := func() { close(done); wg.Wait() }
	seen := map[string]int{}
	next := fhirRoot + "/Patient?_count=5"
	pages := 0
	for next != "" {
		pages++
		if pages > 200 {
			stop()
			t.Fatalf("more than 200 pages of 5 for %d patients: the next links go round", len(before))
		}
		res := f.fhirGet(t, next, tok)
		if res.Status != 200 {
			stop()
			t.Fatalf("page %d (%s): %s", pages, next, res)
		}
		b := bundleOf(t, "page", res)
		ids := b.matches(t, "Patient")
		if len(ids) > 5 {
			t.Errorf("page %d has %d patients, _count was 5", pages, len(ids))
		}
		for _, id := range ids {
			seen[id]++
		}
		next = b.next()
		select {
		case <-tick:
		case err := <-errs:
			stop()
			t.Fatal(err)
		case <-time.After(time.Minute):
			stop()
			t.Fatal("the inserter is stuck")
		}
	}
	stop()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("patient %s is on %d pages", id, n)
		}
	}
	for id := range before {
		if seen[id] == 0 {
			t.Errorf("patient %s, registered before the first page, is on no page", id)
		}
	}
	if pages < 5 || inserted.Load() < int64(pages-1) {
		t.Errorf("%d pages, %d patients registered meanwhile: the test did not interleave", pages, inserted.Load())
	}
	t.Logf("%d pages, %d patients before, %d registered while paging, %d seen", pages, len(before), inserted.Load(), len(seen))
}

// richChart gives patient pid of tenant A, through ehr as the demo
// physician on the care team, a condition resolved and one active, an
// allergy, a medication and a laboratory result, so that every section
// has something to search.
func (f *fixture) richChart(t testing.TB, pid string) {
	t.Helper()
	repo := f.repo()
	med := f.as(t, f.a.TenantID, "medico")
	onset := time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC)
	c, err := repo.RecordCondition(med, ehr.Condition{PatientID: pid, Code: "J45.909", Display: "Asma no especificada", OnsetDate: &onset, Note: "Desde la infancia"})
	if err != nil {
		t.Fatal(err)
	}
	c.Status = "resolved"
	if _, err := repo.UpdateCondition(med, c); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.RecordCondition(med, ehr.Condition{PatientID: pid, Code: "I10", Display: "Hipertensión esencial (primaria)"}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.RecordAllergy(med, ehr.Allergy{PatientID: pid, Substance: "Látex", Reaction: "Urticaria", Severity: "mild"}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.PrescribeMedication(med, ehr.MedicationRequest{PatientID: pid, Medication: "Enalapril", Dose: 10, DoseUnit: "mg", Route: "oral", Frequency: "cada 12 horas"}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.RecordObservation(med, ehr.Observation{PatientID: pid, Category: ehr.CategoryLaboratory, Code: "2345-7", Display: "Glucosa",
		Value: ptr(98.0), Unit: "mg/dL", EffectiveAt: time.Now().Add(-36 * time.Hour).Truncate(time.Second)}); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestFHIRSearchRecords: the searches of a patient's records, checked
// against the chart ehr gives the same physician.
func TestFHIRSearchRecords(t *testing.T) {
	f := newFixture(t)
	x := f.a.PatientID
	f.richChart(t, x)
	tok := f.token(t, f.a.TenantID, "medico")
	ch, err := f.repo().Chart(f.as(t, f.a.TenantID, "medico"), x)
	if err != nil {
		t.Fatal(err)
	}
	total := func(query string, hdr ...string) (int, fBundle) {
		t.Helper()
		res := f.fhirGet(t, query, tok, hdr...)
		mustFHIR(t, query, res, 200)
		b := bundleOf(t, query, res)
		checkSearchset(t, query, b)
		if b.Total == nil {
			t.Fatalf("%s: no total", query)
		}
		return *b.Total, b
	}
	countObs := func(keep func(o ehr.Observation) bool) int {
		n := 0
		for _, o := range ch.Observations {
			if keep(o) {
				n++
			}
		}
		return n
	}
	q := url.QueryEscape
	base := "/Observation?patient=" + x
	if n, _ := total(base); n != len(ch.Observations) {
		t.Errorf("%s: total %d, the chart has %d observations", base, n, len(ch.Observations))
	}
	hr := countObs(func(o ehr.Observation) bool { return o.Code == ehr.CodeHeartRate })
	if hr == 0 {
		t.Fatal("the demo patient has no heart rate")
	}
	for query, want := range map[string]int{
		base + "&code=" + q(r4.SystemLOINC+"|"+ehr.CodeHeartRate):        hr,
		base + "&code=" + ehr.CodeHeartRate:                              hr,
		base + "&code=" + q("http://snomed.info/sct|"+ehr.CodeHeartRate): 0,
		base + "&code=" + q(r4.SystemLOINC+"|"+ehr.CodeHeartRate+","+r4.SystemLOINC+"|"+ehr.CodeBodyTemp): hr +
			countObs(func(o ehr.Observation) bool { return o.Code == ehr.CodeBodyTemp }),
		base + "&category=vital-signs":                               countObs(func(o ehr.Observation) bool { return o.Category == ehr.CategoryVitalSigns }),
		base + "&category=" + q(r4.SystemObsCategory+"|laboratory"):  countObs(func(o ehr.Observation) bool { return o.Category == ehr.CategoryLaboratory }),
		"/Observation?subject=Patient/" + x + "&category=laboratory": 1,
		"/Observation?subject:Patient=" + x + "&category=laboratory": 1,
	} {
		if n, b := total(query + "&_count=200"); n != want || len(b.matches(t, "Observation")) != want {
			t.Errorf("%s: total %d, %d entries, want %d", query, n, len(b.matches(t, "Observation")), want)
		}
	}
	// Dates: an instant in the middle of the observations, and its day.
	sorted := slices.Clone(ch.Observations)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].EffectiveAt.Before(sorted[j].EffectiveAt) })
	pivot := sorted[len(sorted)/2].EffectiveAt
	dayStart := time.Date(pivot.Year(), pivot.Month(), pivot.Day(), 0, 0, 0, 0, time.UTC)
	dayEnd := dayStart.AddDate(0, 0, 1)
	ts := pivot.UTC().Format(time.RFC3339)
	day := dayStart.Format("2006-01-02")
	for query, want := range map[string]int{
		base + "&date=ge" + q(ts): countObs(func(o ehr.Observation) bool { return !o.EffectiveAt.Before(pivot) }),
		base + "&date=lt" + q(ts): countObs(func(o ehr.Observation) bool { return o.EffectiveAt.Before(pivot) }),
		base + "&date=gt" + q(ts): countObs(func(o ehr.Observation) bool { return !o.EffectiveAt.Before(pivot.Add(time.Second)) }),
		base + "&date=" + day:     countObs(func(o ehr.Observation) bool { return !o.EffectiveAt.Before(dayStart) && o.EffectiveAt.Before(dayEnd) }),
		base + "&date=eq" + day:   countObs(func(o ehr.Observation) bool { return !o.EffectiveAt.Before(dayStart) && o.EffectiveAt.Before(dayEnd) }),
		base + "&date=ne" + day:   countObs(func(o ehr.Observation) bool { return o.EffectiveAt.Before(dayStart) || !o.EffectiveAt.Before(dayEnd) }),
		base + "&date=le" + day:   countObs(func(o ehr.Observation) bool { return o.EffectiveAt.Before(dayEnd) }),
		base + "&date=lt" + day:   countObs(func(o ehr.Observation) bool { return o.EffectiveAt.Before(dayStart) }),
		base + "&date=ge" + day:   countObs(func(o ehr.Observation) bool { return !o.EffectiveAt.Before(dayStart) }),
		base + "&date=gt" + day:   countObs(func(o ehr.Observation) bool { return !o.EffectiveAt.Before(dayEnd) }),
		base + "&date=ge" + day + "&date=lt" + dayEnd.Format("2006-01-02"): countObs(func(o ehr.Observation) bool {
			return !o.EffectiveAt.Before(dayStart) && o.EffectiveAt.Before(dayEnd)
		}),
	} {
		if n, _ := total(query); n != want {
			t.Errorf("%s: total %d, want %d", query, n, want)
		}
	}
	// Order: _sort=-date newest first, _sort=date oldest first, over
	// pages too.
	for _, order := range []string{"date", "-date"} {
		var dates []time.Time
		next := fhirRoot + base + "&_sort=" + order + "&_count=50"
		for next != "" {
			res := f.fhirGet(t, next, tok)
			mustFHIR(t, "sorted page", res, 200)
			b := bundleOf(t, "sorted page", res)
			for _, o := range b.resources(t, "Observation") {
				d, err := time.Parse(time.RFC3339Nano, o["effectiveDateTime"].(string))
				if err != nil {
					t.Fatal(err)
				}
				dates = append(dates, d)
			}
			next = b.next()
		}
		if len(dates) != len(ch.Observations) {
			t.Errorf("_sort=%s: %d observations over the pages, want %d", order, len(dates), len(ch.Observations))
		}
		for i := 1; i < len(dates); i++ {
			if order == "date" && dates[i].Before(dates[i-1]) || order == "-date" && dates[i].After(dates[i-1]) {
				t.Errorf("_sort=%s: %s after %s", order, dates[i], dates[i-1])
				break
			}
		}
	}
	// Conditions by clinical status; notes by status.
	active := 0
	for _, c := range ch.Conditions {
		if c.Status == "active" {
			active++
		}
	}
	if n, _ := total("/Condition?patient=" + x + "&clinical-status=active"); n != active || active == 0 {
		t.Errorf("Condition?clinical-status=active: %d, want %d", n, active)
	}
	if n, _ := total("/Condition?patient=" + x + "&clinical-status=resolved"); n != 1 {
		t.Errorf("Condition?clinical-status=resolved: %d, want 1", n)
	}
	if n, _ := total("/Condition?patient=" + x + "&code=" + q(r4.SystemICD10+"|I10")); n < 1 {
		t.Errorf("Condition?code=I10: %d", n)
	}
	drafts, eie := 0, 0
	for _, n := range ch.Notes {
		switch n.Status {
		case ehr.NoteDraft:
			drafts++
		case ehr.StatusEnteredInError:
			eie++
		}
	}
	if n, _ := total("/DocumentReference?patient=" + x + "&status=current"); n != len(ch.Notes)-eie {
		t.Errorf("DocumentReference?status=current: %d, want %d", n, len(ch.Notes)-eie)
	}
	if n, _ := total("/DocumentReference?patient=" + x + "&status=entered-in-error"); n != eie {
		t.Errorf("DocumentReference?status=entered-in-error: %d, want %d", n, eie)
	}
	if drafts == 0 {
		t.Fatal("the portal's patient has no draft note")
	}
	// _include brings the patient once, as an include.
	_, b := total(base + "&_include=Observation:subject&_count=10")
	if inc := b.mode(t, "Patient", "include"); len(inc) != 1 || inc[0] != x {
		t.Errorf("_include=Observation:subject: included %v, want [%s]", inc, x)
	}
	if len(b.matches(t, "Patient")) != 0 {
		t.Error("_include: the patient is given as a match")
	}
	// _revinclude brings the patient's observations with the patient.
	_, b = total("/Patient?_id=" + x + "&_revinclude=Observation:patient")
	if m := b.matches(t, "Patient"); len(m) != 1 || m[0] != x {
		t.Errorf("_revinclude: matches %v", m)
	}
	if inc := b.mode(t, "Observation", "include"); len(inc) != len(ch.Observations) {
		t.Errorf("_revinclude=Observation:patient: %d observations included, the chart has %d", len(inc), len(ch.Observations))
	}
	for _, o := range b.resources(t, "Observation") {
		if ref := o["subject"].(map[string]any)["reference"]; ref != "Patient/"+x {
			t.Errorf("_revinclude: an observation of %v", ref)
		}
	}
	// An unknown parameter: ignored (and said so), or refused when strict.
	if n, b := total(base + "&colour=blue"); n != len(ch.Observations) || len(b.mode(t, "OperationOutcome", "outcome")) != 1 {
		t.Errorf("unknown parameter: total %d (want %d), outcome entries %d (want 1)", n, len(ch.Observations), len(b.mode(t, "OperationOutcome", "outcome")))
	}
	res := f.fhirGet(t, base+"&colour=blue", tok, "Prefer", "handling=strict")
	mustFHIR(t, "strict", res, 400)
	if oo := outcomeOf(t, "strict", res); !oo.names("colour") {
		t.Errorf("strict: %s does not name colour", oo)
	}
	// The patient is required.
	res = f.fhirGet(t, "/Observation?code="+q(r4.SystemLOINC+"|"+ehr.CodeHeartRate), tok)
	mustFHIR(t, "Observation without patient", res, 400)
	if oo := outcomeOf(t, "no patient", res); !oo.names("patient") {
		t.Errorf("Observation without patient: %s does not name patient", oo)
	}
	// A malformed date names the parameter.
	res = f.fhirGet(t, base+"&date=ayer", tok)
	mustFHIR(t, "bad date", res, 400)
	if oo := outcomeOf(t, "bad date", res); !oo.names("date") {
		t.Errorf("bad date: %s does not name date", oo)
	}
}

// TestFHIRDeclaredSearchParams: every search parameter the
// CapabilityStatement declares is accepted by the search, strict (a
// parameter the search does not know is refused with 400 then).
func TestFHIRDeclaredSearchParams(t *testing.T) {
	f := newFixture(t)
	x := f.a.PatientID
	tok := f.token(t, f.a.TenantID, "medico")
	var st struct {
		Rest []struct {
			Resource []struct {
				Type             string
				SearchParam      []struct{ Name, Type string } `json:"searchParam"`
				SearchInclude    []string                      `json:"searchInclude"`
				SearchRevInclude []string                      `json:"searchRevInclude"`
			}
		}
	}
	res := f.fhirGet(t, "/metadata", "")
	mustFHIR(t, "metadata", res, 200)
	if err := json.Unmarshal(res.Body, &st); err != nil || len(st.Rest) == 0 {
		t.Fatalf("metadata: %v", err)
	}
	pr := f.practitionerOf(t, f.a.TenantID, "medico").ID
	n := 0
	for _, r := range st.Rest[0].Resource {
		for _, sp := range r.SearchParam {
			var v string
			switch {
			case sp.Name == "_id":
				v = randomUUID
			case sp.Name == "gender":
				v = "female"
			case sp.Name == "active":
				v = "true"
			case sp.Name == "class":
				v = "IMP"
			case sp.Name == "patient" || sp.Name == "subject":
				v = "Patient/" + x
			case sp.Type == "reference" && (sp.Name == "practitioner" || sp.Name == "participant" || sp.Name == "actor" || sp.Name == "performer"):
				v = "Practitioner/" + pr
			case sp.Type == "reference":
				v = "Encounter/" + randomUUID
			case sp.Type == "date":
				v = "ge2000-01-01"
			case sp.Type == "string":
				v = "a"
			default:
				v = "x"
			}
			query := sp.Name + "=" + url.QueryEscape(v)
			if r.Type != "Patient" && r.Type != "Practitioner" && sp.Name != "patient" && sp.Name != "subject" {
				query += "&patient=" + x
			}
			res := f.fhirGet(t, "/"+r.Type+"?"+query, tok, "Prefer", "handling=strict")
			n++
			if res.Status != 200 {
				t.Errorf("declared %s search parameter %s (%s): %s", r.Type, sp.Name, sp.Type, res)
			}
		}
	}
	if n < 30 {
		t.Errorf("only %d search parameters declared", n)
	}
	// And every _include and _revinclude it declares.
	incs := 0
	for _, r := range st.Rest[0].Resource {
		for _, inc := range r.SearchInclude {
			query := "/" + r.Type + "?_include=" + url.QueryEscape(inc)
			if r.Type != "Patient" && r.Type != "Practitioner" {
				query += "&patient=" + x
			}
			incs++
			if res := f.fhirGet(t, query, tok, "Prefer", "handling=strict"); res.Status != 200 {
				t.Errorf("declared _include %s: %s", inc, res)
			}
		}
		for _, inc := range r.SearchRevInclude {
			incs++
			res := f.fhirGet(t, "/"+r.Type+"?_id="+x+"&_revinclude="+url.QueryEscape(inc), tok, "Prefer", "handling=strict")
			if res.Status != 200 {
				t.Errorf("declared _revinclude %s: %s", inc, res)
			}
		}
	}
	if incs < 10 {
		t.Errorf("only %d _include and _revinclude declared", incs)
	}
}

// ---- 4. Interactions ----

// TestFHIRInteractions: read, vread, history, create, update with
// versions, conditional create, DELETE refused, invalid resources refused
// writing nothing, entered-in-error by update, content negotiation.
func TestFHIRInteractions(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, f.a.TenantID, "admisionista")
	patients := func() int { return f.count(t, "SELECT count(*) FROM patients WHERE tenant_id = $1", f.a.TenantID) }

	// Create: 201, Location of version 1, ETag.
	body := patientResource("FI2001", "Remedios", "Varo Uranga", "1958-12-16", "female")
	res := f.fhirDo(t, "POST", fhirRoot+"/Patient", tok, body)
	mustFHIR(t, "create", res, http.StatusCreated)
	p := headOf(t, res.Body)
	if p.ID == "" || p.Meta == nil || p.Meta.VersionID != "1" {
		t.Fatalf("created: %s", res)
	}
	if loc := res.Header.Get("Location"); !strings.HasSuffix(loc, fhirRoot+"/Patient/"+p.ID+"/_history/1") {
		t.Errorf("Location %q", loc)
	}
	if e := res.Header.Get("ETag"); e != `W/"1"` {
		t.Errorf("create ETag %q", e)
	}
	// Read: ETag, Last-Modified.
	res = f.fhirGet(t, "/Patient/"+p.ID, tok)
	mustFHIR(t, "read", res, 200)
	if e := res.Header.Get("ETag"); e != `W/"1"` {
		t.Errorf("read ETag %q", e)
	}
	if lm, err := http.ParseTime(res.Header.Get("Last-Modified")); err != nil || lm.IsZero() {
		t.Errorf("Last-Modified %q", res.Header.Get("Last-Modified"))
	}
	if h := headOf(t, res.Body); h.ID != p.ID || h.ResourceType != "Patient" {
		t.Errorf("read gave %+v", h)
	}
	var current map[string]any
	json.Unmarshal(res.Body, &current)
	// Update with If-Match: version 2.
	current["name"] = []any{map[string]any{"use": "official", "family": "Varo Uranga", "given": []any{"María", "Remedios"}}}
	upd, _ := json.Marshal(current)
	res = f.fhirDo(t, "PUT", fhirRoot+"/Patient/"+p.ID, tok, upd, "If-Match", `W/"1"`)
	mustFHIR(t, "update", res, 200)
	if h := headOf(t, res.Body); h.Meta == nil || h.Meta.VersionID != "2" {
		t.Errorf("update answered %s", res)
	}
	if e := res.Header.Get("ETag"); e != `W/"2"` {
		t.Errorf("update ETag %q", e)
	}
	// Stale If-Match: 412, nothing written.
	res = f.fhirDo(t, "PUT", fhirRoot+"/Patient/"+p.ID, tok, upd, "If-Match", `W/"1"`)
	mustFHIR(t, "stale If-Match", res, http.StatusPreconditionFailed)
	outcomeOf(t, "stale", res)
	// Neither If-Match nor meta.versionId: 428.
	delete(current, "meta")
	noVersion, _ := json.Marshal(current)
	res = f.fhirDo(t, "PUT", fhirRoot+"/Patient/"+p.ID, tok, noVersion)
	mustFHIR(t, "update without version", res, http.StatusPreconditionRequired)
	outcomeOf(t, "428", res)
	// meta.versionId names the version instead of If-Match.
	current["meta"] = map[string]any{"versionId": "2"}
	current["gender"] = "other"
	withMeta, _ := json.Marshal(current)
	res = f.fhirDo(t, "PUT", fhirRoot+"/Patient/"+p.ID, tok, withMeta)
	mustFHIR(t, "update with meta.versionId", res, 200)
	if h := headOf(t, res.Body); h.Meta == nil || h.Meta.VersionID != "3" {
		t.Errorf("update by meta.versionId answered %s", res)
	}
	// The id of the body must be the id of the URL.
	current["id"], current["meta"] = randomUUID, map[string]any{"versionId": "3"}
	other, _ := json.Marshal(current)
	if res := f.fhirDo(t, "PUT", fhirRoot+"/Patient/"+p.ID, tok, other); res.Status != 400 {
		t.Errorf("update with another id in the body: %s, want 400", res)
	}
	// vread and history.
	res = f.fhirGet(t, "/Patient/"+p.ID+"/_history/1", tok)
	mustFHIR(t, "vread 1", res, 200)
	if !strings.Contains(string(res.Body), `"Remedios"`) || strings.Contains(string(res.Body), `"María"`) || res.Header.Get("ETag") != `W/"1"` {
		t.Errorf("vread 1 is not the first version: %s", res)
	}
	res = f.fhirGet(t, "/Patient/"+p.ID+"/_history/2", tok)
	mustFHIR(t, "vread 2", res, 200)
	if !strings.Contains(string(res.Body), `"María"`) {
		t.Errorf("vread 2 is not the second version: %s", res)
	}
	if res := f.fhirGet(t, "/Patient/"+p.ID+"/_history/9", tok); res.Status != 404 {
		t.Errorf("vread of a version that does not exist: %s", res)
	}
	res = f.fhirGet(t, "/Patient/"+p.ID+"/_history", tok)
	mustFHIR(t, "history", res, 200)
	writeFHIR(t, "history-patient", res.Body)
	h := bundleOf(t, "history", res)
	if h.Type != "history" || len(h.Entry) != 3 {
		t.Fatalf("history: type %s, %d entries", h.Type, len(h.Entry))
	}
	for i, want := range []string{"3", "2", "1"} {
		if v := headOf(t, h.Entry[i].Resource).Meta.VersionID; v != want {
			t.Errorf("history entry %d is version %s, want %s (newest first)", i, v, want)
		}
		if h.Entry[i].Request == nil || h.Entry[i].Response == nil {
			t.Errorf("history entry %d has no request or response", i)
		}
	}
	// DELETE: 405, and the patient is still there.
	res = f.fhirDo(t, "DELETE", fhirRoot+"/Patient/"+p.ID, tok, nil)
	mustFHIR(t, "delete", res, http.StatusMethodNotAllowed)
	outcomeOf(t, "delete", res)
	if res := f.fhirGet(t, "/Patient/"+p.ID, tok); res.Status != 200 {
		t.Errorf("read after DELETE: %s", res)
	}

	// Conditional create: the identifier exists: 200, the same patient,
	// nothing created.
	n := patients()
	ifNone := "identifier=" + r4.DocumentSystem("CC") + "|FI2001"
	res = f.fhirDo(t, "POST", fhirRoot+"/Patient", tok, patientResource("FI2001", "Otra", "Persona", "1990-01-01", "female"), "If-None-Exist", ifNone)
	mustFHIR(t, "conditional create of an existing patient", res, 200)
	if h := headOf(t, res.Body); h.ID != p.ID {
		t.Errorf("conditional create found %s, want %s", h.ID, p.ID)
	}
	if patients() != n {
		t.Error("conditional create of an existing patient created one")
	}
	// A new identifier: created once, found the second time.
	ifNone = "identifier=" + r4.DocumentSystem("CC") + "|FI2002"
	res = f.fhirDo(t, "POST", fhirRoot+"/Patient", tok, patientResource("FI2002", "Leonora", "Carrington", "1917-04-06", "female"), "If-None-Exist", ifNone)
	mustFHIR(t, "conditional create of a new patient", res, http.StatusCreated)
	first := headOf(t, res.Body).ID
	res = f.fhirDo(t, "POST", fhirRoot+"/Patient", tok, patientResource("FI2002", "Leonora", "Carrington", "1917-04-06", "female"), "If-None-Exist", ifNone)
	mustFHIR(t, "conditional create again", res, 200)
	if headOf(t, res.Body).ID != first || patients() != n+1 {
		t.Errorf("the second conditional create gave %s (want %s), %d patients (want %d)", headOf(t, res.Body).ID, first, patients(), n+1)
	}
	// Without If-None-Exist, the same document is a conflict.
	if res := f.fhirDo(t, "POST", fhirRoot+"/Patient", tok, patientResource("FI2002", "Leonora", "Carrington", "1917-04-06", "female")); res.Status != http.StatusConflict {
		t.Errorf("create of a document that exists: %s, want 409", res)
	}

	// Invalid resources: 400 naming the element, nothing written.
	med := f.token(t, f.a.TenantID, "medico")
	x := f.a.PatientID
	obsCount := func() int { return f.count(t, "SELECT count(*) FROM observations WHERE patient_id = $1", x) }
	n, o := patients(), obsCount()
	hrObs := func(mut func(m map[string]any)) []byte {
		m := map[string]any{"resourceType": "Observation", "status": "final",
			"category": []any{map[string]any{"coding": []any{map[string]any{"system": r4.SystemObsCategory, "code": "vital-signs"}}}},
			"code":     map[string]any{"coding": []any{map[string]any{"system": r4.SystemLOINC, "code": ehr.CodeHeartRate}}},
			"subject":  map[string]any{"reference": "Patient/" + x}, "effectiveDateTime": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
			"valueQuantity": map[string]any{"value": 71, "unit": "/min", "system": r4.SystemUCUM, "code": "/min"}}
		if mut != nil {
			mut(m)
		}
		b, _ := json.Marshal(m)
		return b
	}
	// The valid one is accepted (so the refusals below are the mutations').
	res = f.fhirDo(t, "POST", fhirRoot+"/Observation", med, hrObs(nil))
	mustFHIR(t, "valid observation", res, http.StatusCreated)
	o++
	for _, tc := range []struct {
		name, typ, tok string
		body           []byte
		expr           string
	}{
		{"unknown element", "Patient", tok, []byte(`{"resourceType":"Patient","identifier":[{"system":"` + r4.DocumentSystem("CC") + `","value":"FI2003"}],"name":[{"family":"Kahlo","given":["Frida"]}],"birthDate":"1907-07-06","gender":"female","colour":"blue"}`), "Patient.colour"},
		{"code outside binding", "Patient", tok, patientResource("FI2004", "Frida", "Kahlo", "1907-07-06", "dragon"), "Patient.gender"},
		{"malformed date", "Patient", tok, patientResource("FI2005", "Frida", "Kahlo", "1907-13-45", "female"), "Patient.birthDate"},
		{"wrong reference type", "Observation", med, hrObs(func(m map[string]any) { m["subject"] = map[string]any{"reference": "Practitioner/" + randomUUID} }), "Observation.subject"},
		{"vital sign in the wrong unit", "Observation", med, hrObs(func(m map[string]any) {
			m["valueQuantity"] = map[string]any{"value": 71, "unit": "kg", "system": r4.SystemUCUM, "code": "kg"}
		}), "Observation.valueQuantity"},
		{"observation status outside binding", "Observation", med, hrObs(func(m map[string]any) { m["status"] = "done" }), "Observation.status"},
	} {
		res := f.fhirDo(t, "POST", fhirRoot+"/"+tc.typ, tc.tok, tc.body)
		if res.Status != 400 && res.Status != 422 {
			t.Errorf("%s: %s, want 400", tc.name, res)
			continue
		}
		if oo := outcomeOf(t, tc.name, res); !oo.names(tc.expr) {
			t.Errorf("%s: the outcome does not name %s: %s", tc.name, tc.expr, oo)
		}
		if tc.name == "unknown element" {
			writeFHIR(t, "outcome-invalid", res.Body)
		}
	}
	if patients() != n || obsCount() != o {
		t.Errorf("invalid resources wrote: %d patients (want %d), %d observations (want %d)", patients(), n, obsCount(), o)
	}

	// Entered in error by update: the condition is withdrawn, kept with
	// its versions.
	c, err := f.repo().RecordCondition(f.as(t, f.a.TenantID, "medico"), ehr.Condition{PatientID: x, Code: "E11.9", Display: "Diabetes mellitus tipo 2"})
	if err != nil {
		t.Fatal(err)
	}
	res = f.fhirGet(t, "/Condition/"+c.ID, med)
	mustFHIR(t, "read condition", res, 200)
	var cond map[string]any
	json.Unmarshal(res.Body, &cond)
	delete(cond, "clinicalStatus")
	cond["verificationStatus"] = map[string]any{"coding": []any{map[string]any{"system": r4.SystemConditionVerification, "code": "entered-in-error"}}}
	eie, _ := json.Marshal(cond)
	res = f.fhirDo(t, "PUT", fhirRoot+"/Condition/"+c.ID, med, eie, "If-Match", res.Header.Get("ETag"))
	mustFHIR(t, "entered in error", res, 200)
	if st := f.recordState(t, "conditions", c.ID); st != "2/entered-in-error" {
		t.Errorf("the condition is %s, want 2/entered-in-error", st)
	}
	res = f.fhirGet(t, "/Condition/"+c.ID+"/_history", med)
	if b := bundleOf(t, "condition history", res); len(b.Entry) != 2 {
		t.Errorf("condition history: %d versions", len(b.Entry))
	}

	// Negotiation with a token: a text body is 415, XML 406.
	res = f.fhirDo(t, "POST", fhirRoot+"/Patient", tok, []byte("hola"), "Content-Type", "text/plain")
	mustFHIR(t, "text body", res, http.StatusUnsupportedMediaType)
	res = f.fhirGet(t, "/Patient/"+p.ID+"?_format=xml", tok)
	mustFHIR(t, "_format=xml", res, http.StatusNotAcceptable)
	res = f.fhirGet(t, "/Patient/"+p.ID, tok, "Accept", "application/fhir+xml")
	mustFHIR(t, "Accept xml", res, http.StatusNotAcceptable)
	// A resource of another type than the URL's.
	res = f.fhirDo(t, "POST", fhirRoot+"/Patient", tok, hrObs(nil))
	if res.Status != 400 {
		t.Errorf("an Observation posted to Patient: %s", res)
	}
}

// ---- 5. Transactions ----

// superUser creates a user of tenant with the roles medico, admisionista
// and secretaria, and a practitioner record (licence), and returns its
// token and practitioner: one caller who may write every kind of record
// of a chart (the physician part needs the care team).
func (f *fixture) superUser(t testing.TB, tenant, username, license string) (string, ehr.Practitioner) {
	t.Helper()
	a := app.New(app.Config{Users: auth.NewStore(f.pool, auth.StoreConfig{}), Records: f.repo(), DB: f.pool})
	op := app.Operator(tenant, app.RoleAdmin)
	acct, err := a.Staff.Create(app.NewContext(context.Background(), op), app.NewStaff{Username: username, Password: testPassword,
		Roles: []string{app.RoleMedico, app.RoleAdmisionista, app.RoleSecretaria}, PractitionerName: "Dra. Importadora " + username,
		Specialty: "Medicina interna", License: license})
	if err != nil {
		t.Fatalf("user %s: %v", username, err)
	}
	if acct.Practitioner == nil {
		t.Fatalf("user %s has no practitioner", username)
	}
	return f.token(t, tenant, username), *acct.Practitioner
}

// txEntry is an entry of a transaction or batch Bundle.
func txEntry(fullURL, method, url string, resource map[string]any) map[string]any {
	e := map[string]any{"request": map[string]any{"method": method, "url": url}}
	if fullURL != "" {
		e["fullUrl"] = fullURL
	}
	if resource != nil {
		e["resource"] = resource
	}
	return e
}

func bundleBody(typ string, entries ...map[string]any) []byte {
	es := make([]any, len(entries))
	for i, e := range entries {
		es[i] = e
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": typ, "entry": es})
	return b
}

func patientMap(doc, given, family string) map[string]any {
	var m map[string]any
	json.Unmarshal(patientResource(doc, given, family, "1985-06-15", "female"), &m)
	return m
}

func heartRate(subject string, value float64, at time.Time) map[string]any {
	return map[string]any{"resourceType": "Observation", "status": "final",
		"category": []any{map[string]any{"coding": []any{map[string]any{"system": r4.SystemObsCategory, "code": "vital-signs"}}}},
		"code":     map[string]any{"coding": []any{map[string]any{"system": r4.SystemLOINC, "code": ehr.CodeHeartRate}}},
		"subject":  map[string]any{"reference": subject}, "effectiveDateTime": at.UTC().Format(time.RFC3339),
		"valueQuantity": map[string]any{"value": value, "unit": "/min", "system": r4.SystemUCUM, "code": "/min"}}
}

func careTeam(subject, practitioner string) map[string]any {
	return map[string]any{"resourceType": "CareTeam", "status": "active", "subject": map[string]any{"reference": subject},
		"period":      map[string]any{"start": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)},
		"participant": []any{map[string]any{"member": map[string]any{"reference": "Practitioner/" + practitioner}, "role": []any{map[string]any{"text": "attending"}}}}}
}

// searchByIdentifier returns the ids of the patients of a document.
func (f *fixture) searchByIdentifier(t testing.TB, tok, doc string) []string {
	t.Helper()
	res := f.fhirGet(t, "/Patient?identifier="+url.QueryEscape(r4.DocumentSystem("CC")+"|"+doc), tok)
	mustFHIR(t, "search "+doc, res, 200)
	return bundleOf(t, "search", res).matches(t, "Patient")
}

// TestFHIRTransaction: a transaction is all or nothing; a valid one
// answers a transaction-response in request order with references
// resolved; a batch answers each entry on its own.
func TestFHIRTransaction(t *testing.T) {
	f := newFixture(t)
	tok, pr := f.superUser(t, f.a.TenantID, "importadora", "MED-TX-0001")
	at := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	patients := func() int { return f.count(t, "SELECT count(*) FROM patients WHERE tenant_id = $1", f.a.TenantID) }
	observations := func() int {
		return f.count(t, "SELECT count(*) FROM observations WHERE tenant_id = $1", f.a.TenantID)
	}

	// One invalid entry: nothing is written.
	const pu = "urn:uuid:7d0c4b9e-2f1a-4c3b-8e5d-6a7b8c9d0e1f"
	np, no := patients(), observations()
	bad := map[string]any{"resourceType": "Condition", "subject": map[string]any{"reference": pu},
		"code":           map[string]any{"coding": []any{map[string]any{"system": r4.SystemICD10, "code": "I10"}}},
		"clinicalStatus": map[string]any{"coding": []any{map[string]any{"system": r4.SystemConditionClinical, "code": "dragon"}}}}
	body := bundleBody("transaction",
		txEntry(pu, "POST", "Patient", patientMap("FT3001", "Rosalía", "de Castro")),
		txEntry("urn:uuid:0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b", "POST", "CareTeam", careTeam(pu, pr.ID)),
		txEntry("urn:uuid:1c2d3e4f-5061-4728-9bac-1d2e3f4a5b6c", "POST", "Observation", heartRate(pu, 64, at)),
		txEntry("urn:uuid:2d3e4f50-6172-4839-acbd-2e3f4a5b6c7d", "POST", "Condition", bad),
	)
	res := f.fhirDo(t, "POST", fhirRoot, tok, body)
	if res.Status < 400 {
		t.Fatalf("transaction with an invalid entry: %s", res)
	}
	mustFHIR(t, "failed transaction", res, res.Status)
	if oo := outcomeOf(t, "failed transaction", res); !oo.names("clinicalStatus") {
		t.Errorf("the outcome does not name the entry at fault: %s", oo)
	}
	if ids := f.searchByIdentifier(t, tok, "FT3001"); len(ids) != 0 {
		t.Errorf("the failed transaction left the patient %v", ids)
	}
	if patients() != np || observations() != no {
		t.Errorf("the failed transaction wrote: %d patients (want %d), %d observations (want %d)", patients(), np, observations(), no)
	}

	// The same without the invalid entry: 200, one response per entry
	// in request order, references resolved.
	body = bundleBody("transaction",
		txEntry(pu, "POST", "Patient", patientMap("FT3001", "Rosalía", "de Castro")),
		txEntry("urn:uuid:0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b", "POST", "CareTeam", careTeam(pu, pr.ID)),
		txEntry("urn:uuid:1c2d3e4f-5061-4728-9bac-1d2e3f4a5b6c", "POST", "Observation", heartRate(pu, 64, at)),
	)
	res = f.fhirDo(t, "POST", fhirRoot, tok, body)
	mustFHIR(t, "transaction", res, 200)
	writeFHIR(t, "transaction-response", res.Body)
	b := bundleOf(t, "transaction", res)
	if b.Type != "transaction-response" || len(b.Entry) != 3 {
		t.Fatalf("transaction: %s", res)
	}
	var locs []string
	for i, want := range []string{"Patient", "CareTeam", "Observation"} {
		e := b.Entry[i]
		if e.Response == nil || !strings.HasPrefix(e.Response.Status, "201") || !strings.Contains(e.Response.Location, want+"/") {
			t.Fatalf("entry %d: %+v, want 201 of a %s", i, e.Response, want)
		}
		locs = append(locs, e.Response.Location)
	}
	ids := f.searchByIdentifier(t, tok, "FT3001")
	if len(ids) != 1 || !strings.Contains(locs[0], "Patient/"+ids[0]) {
		t.Fatalf("the patient of the transaction: %v, location %s", ids, locs[0])
	}
	obsPath := locs[2][strings.Index(locs[2], "/Observation/"):]
	if i := strings.Index(obsPath, "/_history"); i > 0 {
		obsPath = obsPath[:i]
	}
	res = f.fhirGet(t, obsPath, tok)
	mustFHIR(t, "the observation of the transaction", res, 200)
	var obs map[string]any
	json.Unmarshal(res.Body, &obs)
	if ref := obs["subject"].(map[string]any)["reference"]; ref != "Patient/"+ids[0] {
		t.Errorf("the observation's subject is %v, want Patient/%s (the urn:uuid resolved)", ref, ids[0])
	}
	if patients() != np+1 || observations() != no+1 {
		t.Errorf("the transaction wrote %d patients, %d observations", patients()-np, observations()-no)
	}

	// A batch: each entry on its own.
	np = patients()
	body = bundleBody("batch",
		txEntry("", "POST", "Patient", patientMap("FT3002", "Emilia", "Pardo Bazán")),
		txEntry("", "POST", "Patient", map[string]any{"resourceType": "Patient", "colour": "blue"}),
		txEntry("", "POST", "Observation", heartRate("Patient/"+ids[0], 66, at.Add(time.Minute))),
	)
	res = f.fhirDo(t, "POST", fhirRoot, tok, body)
	mustFHIR(t, "batch", res, 200)
	writeFHIR(t, "batch-response", res.Body)
	b = bundleOf(t, "batch", res)
	if b.Type != "batch-response" || len(b.Entry) != 3 {
		t.Fatalf("batch: %s", res)
	}
	for i, want := range []string{"201", "400", "201"} {
		if e := b.Entry[i]; e.Response == nil || !strings.HasPrefix(e.Response.Status, want) {
			t.Errorf("batch entry %d: %+v, want %s", i, e.Response, want)
		} else if want == "400" && len(e.Response.Outcome) == 0 {
			t.Errorf("batch entry %d: no outcome", i)
		}
	}
	if patients() != np+1 || len(f.searchByIdentifier(t, tok, "FT3002")) != 1 {
		t.Errorf("the batch wrote %d patients, want 1", patients()-np)
	}
	// A Bundle that is neither is refused.
	res = f.fhirDo(t, "POST", fhirRoot, tok, bundleBody("collection", txEntry("", "POST", "Patient", patientMap("FT3003", "A", "B"))))
	if res.Status != 400 {
		t.Errorf("a collection Bundle posted: %s, want 400", res)
	}
}

// ---- 6. Security ----

// TestFHIRSecurity: bearer tokens only, another tenant's ids are not
// found, refusals are 403 OperationOutcomes audited on the patient's
// chain, and every read is audited.
func TestFHIRSecurity(t *testing.T) {
	f := newFixture(t)
	x := f.a.PatientID
	med := f.token(t, f.a.TenantID, "medico")
	// A browser session is not accepted.
	cookies, _ := f.browserLogin(t, f.a.TenantID, "medico")
	r := httptest.NewRequest("GET", fhirRoot+"/Patient/"+x, nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("a session cookie on /fhir: %d %q, want 401 with the bearer challenge", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	// No token; a bad token.
	res := f.fhirGet(t, "/Patient/"+x, "")
	mustFHIR(t, "no token", res, 401)
	if c := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(c, "Bearer") {
		t.Errorf("no token: WWW-Authenticate %q", c)
	}
	outcomeOf(t, "no token", res)
	res = f.fhirGet(t, "/Patient/"+x, "not-a-token")
	mustFHIR(t, "bad token", res, 401)
	if c := res.Header.Get("WWW-Authenticate"); !strings.Contains(c, "invalid_token") {
		t.Errorf("bad token: WWW-Authenticate %q", c)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
	}

	// Records of the patient, by type.
	f.richChart(t, x)
	ch, err := f.repo().Chart(f.as(t, f.a.TenantID, "medico"), x)
	if err != nil {
		t.Fatal(err)
	}
	obs, note := ch.Observations[0].ID, ""
	for _, n := range ch.Notes {
		if n.Status == ehr.NoteSigned {
			note = n.ID
		}
	}

	// Another tenant's ids are not found, by any role of tenant B.
	for _, role := range []string{"medico", "admisionista", "secretaria", "paciente"} {
		tokB := f.token(t, f.b.TenantID, role)
		for _, path := range []string{"/Patient/" + x, "/Patient/" + x + "/_history", "/Patient/" + x + "/$everything",
			"/Observation/" + obs, "/Observation/" + obs + "/_history/1", "/DocumentReference/" + note, "/Observation?patient=" + x} {
			res := f.fhirGet(t, path, tokB)
			mustFHIR(t, role+" of tenant B GET "+path, res, 404)
			outcomeOf(t, "other tenant", res)
		}
	}

	// A refusal is a 403 OperationOutcome, audited as denied on the
	// patient's chain.
	sec := f.token(t, f.a.TenantID, "secretaria")
	med2 := f.token(t, f.a.TenantID, demo.SecondMedico)
	for _, tc := range []struct {
		who, tok, path string
	}{
		{"secretaria", sec, "/Observation/" + obs},
		{"secretaria", sec, "/Observation?patient=" + x},
		{"medico outside the care team", med2, "/DocumentReference/" + note},
		{"medico outside the care team", med2, "/Patient/" + x + "/$everything"},
	} {
		before := f.deniedEvents(t, x)
		res := f.fhirGet(t, tc.path, tc.tok)
		if tc.path == "/Patient/"+x+"/$everything" && res.Status == 200 {
			// A physician outside the care team reads the demographics:
			// the clinical sections are withheld, and said so.
			b := bundleOf(t, "withheld", res)
			if len(b.mode(t, "OperationOutcome", "outcome")) != 1 || len(b.matches(t, "Observation")) != 0 || len(b.matches(t, "DocumentReference")) != 0 {
				t.Errorf("%s GET %s: the clinical sections are not withheld: %s", tc.who, tc.path, res)
			}
			continue
		}
		mustFHIR(t, tc.who+" GET "+tc.path, res, 403)
		if oo := outcomeOf(t, "denied", res); oo.Issue[0].Code != "forbidden" {
			t.Errorf("%s GET %s: issue code %q", tc.who, tc.path, oo.Issue[0].Code)
		}
		if after := f.deniedEvents(t, x); after != before+1 {
			t.Errorf("%s GET %s: %d denied events on the patient's chain, want %d", tc.who, tc.path, after, before+1)
		}
	}

	// Every successful read leaves an event on the patient's chain.
	for _, path := range []string{"/Patient/" + x, "/Observation/" + obs, "/Observation/" + obs + "/_history/1",
		"/Observation/" + obs + "/_history", "/DocumentReference/" + note, "/Observation?patient=" + x + "&code=" + ehr.CodeHeartRate,
		"/Condition?patient=" + x, "/Patient/" + x + "/$everything"} {
		before := f.chainLength(t, x)
		res := f.fhirGet(t, path, med)
		mustFHIR(t, "medico GET "+path, res, 200)
		if after := f.chainLength(t, x); after <= before {
			t.Errorf("GET %s left no audit event on the patient's chain", path)
		}
	}
	// A patient search is audited on the tenant's chain.
	before := f.trailLength(t, f.a.TenantID)
	mustFHIR(t, "patient search", f.fhirGet(t, "/Patient?name=a", med), 200)
	if f.trailLength(t, f.a.TenantID) <= before {
		t.Error("a patient search left no audit event on the tenant's chain")
	}
	// Scanning ids leaves a trace too.
	before = f.trailLength(t, f.a.TenantID)
	mustFHIR(t, "unknown observation", f.fhirGet(t, "/Observation/"+randomUUID, med), 404)
	if f.trailLength(t, f.a.TenantID) <= before {
		t.Error("reading an unknown id left no audit event on the tenant's chain")
	}

	// The patient: their own chart, signed notes only; another patient
	// is not found.
	pac := f.token(t, f.a.TenantID, "paciente")
	res = f.fhirGet(t, "/Patient/"+x+"/$everything", pac)
	mustFHIR(t, "own $everything", res, 200)
	b := bundleOf(t, "own", res)
	for _, d := range b.resources(t, "DocumentReference") {
		if d["docStatus"] == "preliminary" {
			t.Errorf("the patient receives a draft note: %v", d["id"])
		}
	}
	if len(b.matches(t, "Observation")) == 0 || len(b.matches(t, "DocumentReference")) == 0 {
		t.Errorf("the patient's own $everything lacks observations or notes")
	}
	for _, n := range ch.Notes {
		res := f.fhirGet(t, "/DocumentReference/"+n.ID, pac)
		if want := map[bool]int{true: 404, false: 200}[n.Status == ehr.NoteDraft]; res.Status != want {
			t.Errorf("the patient reads a %s note: %d, want %d", n.Status, res.Status, want)
		}
	}
	if res := f.fhirGet(t, "/DocumentReference?patient="+x+"&doc-status=preliminary", pac); res.Status != 200 || strings.Contains(string(res.Body), `"preliminary"`) {
		t.Errorf("the patient searches drafts: %s", res)
	}
	for _, path := range []string{"/Patient/" + f.patientB, "/Patient/" + f.patientB + "/$everything", "/Observation?patient=" + f.patientB} {
		res := f.fhirGet(t, path, pac)
		mustFHIR(t, "patient GET "+path, res, 404)
	}
}

// ---- 7. The policy table ----

// TestFHIRPolicyTable: every demo user of tenant A (and the second
// physician, outside the care team) × resource type × interaction, on
// the portal patient's records, answers as the policy decides: allowed
// 2xx, denied 403 (404 for the patient, who learns nothing by probing);
// a user of tenant B gets 404 for all.
func TestFHIRPolicyTable(t *testing.T) {
	f := newFixture(t)
	x := f.a.PatientID
	f.richChart(t, x)
	engine := rbac.Default()
	medCtx := f.as(t, f.a.TenantID, "medico")
	ch, err := f.repo().Chart(medCtx, x)
	if err != nil {
		t.Fatal(err)
	}
	medTok := f.token(t, f.a.TenantID, "medico")
	pr := f.practitionerOf(t, f.a.TenantID, "medico")
	// One record of each type, a signed note.
	ids := map[string]string{"Patient": x, "Practitioner": pr.ID, "Encounter": ch.Encounters[0].ID, "Appointment": ch.Appointments[0].ID,
		"CareTeam": ch.CareTeam[0].ID, "Condition": ch.Conditions[0].ID, "AllergyIntolerance": ch.Allergies[0].ID,
		"MedicationRequest": ch.Medications[0].ID, "Observation": ch.Observations[0].ID}
	for _, n := range ch.Notes {
		if n.Status == ehr.NoteSigned {
			ids["DocumentReference"] = n.ID
		}
	}
	kinds := map[string]rbac.Kind{"Patient": rbac.KindDemographics, "Encounter": rbac.KindEncounter, "Appointment": rbac.KindAppointment,
		"CareTeam": rbac.KindCareTeam, "Condition": rbac.KindCondition, "AllergyIntolerance": rbac.KindAllergy,
		"MedicationRequest": rbac.KindMedication, "Observation": rbac.KindObservation, "DocumentReference": rbac.KindNote}
	typeNames := []string{"Patient", "Practitioner", "Encounter", "Appointment", "CareTeam", "Condition", "AllergyIntolerance",
		"MedicationRequest", "Observation", "DocumentReference"}
	// The users: each demo role, and the second physician.
	type user struct {
		name, role string
		onTeam     bool
		self       bool
	}
	var users []user
	for _, role := range demo.Roles {
		users = append(users, user{name: role, role: role, onTeam: role == app.RoleMedico, self: role == app.RolePaciente})
	}
	users = append(users, user{name: demo.SecondMedico, role: app.RoleMedico})
	decide := func(u user, act rbac.Action, k rbac.Kind) bool {
		p := rbac.Principal{UserID: "u", TenantID: "t", Roles: []string{u.role}}
		if u.self {
			p.PatientID = "p"
		}
		return engine.Decide(p, act, k, rbac.Target{TenantID: "t", PatientID: "p", OnCareTeam: u.onTeam}).Allowed
	}
	// readable: what the policy lets u read of a record of type typ.
	readable := func(u user, typ string) bool {
		switch typ {
		case "Practitioner":
			return true // the tenant's directory
		case "Encounter":
			// The portal patient's encounter is an admission, which
			// KindAdmission reads too.
			return decide(u, rbac.ActionRead, rbac.KindEncounter) || ch.Encounters[0].Class == ehr.ClassInpatient && decide(u, rbac.ActionRead, rbac.KindAdmission)
		}
		return decide(u, rbac.ActionRead, kinds[typ])
	}
	nAllowed, nDenied := 0, 0
	check := func(u user, what string, res fhirRes, allowed bool) {
		t.Helper()
		if allowed {
			nAllowed++
		} else {
			nDenied++
		}
		switch {
		case allowed && (res.Status < 200 || res.Status > 299):
			t.Errorf("%s %s: %s, the policy allows it", u.name, what, res)
		case !allowed && u.self && res.Status != 403 && res.Status != 404:
			t.Errorf("%s %s: %s, the policy denies it (want 404 or 403)", u.name, what, res)
		case !allowed && !u.self && res.Status != 403:
			t.Errorf("%s %s: %s, the policy denies it (want 403)", u.name, what, res)
		case !allowed:
			outcomeOf(t, u.name+" "+what, res)
		}
	}
	toks := map[string]string{}
	defer func() { t.Logf("%d answers allowed, %d denied, as the policy says", nAllowed, nDenied) }()
	for _, u := range users {
		toks[u.name] = f.token(t, f.a.TenantID, u.name)
	}
	// Read and search.
	for _, u := range users {
		tok := toks[u.name]
		for _, typ := range typeNames {
			check(u, "read "+typ, f.fhirGet(t, "/"+typ+"/"+ids[typ], tok), readable(u, typ))
			var query string
			var allowed bool
			switch typ {
			case "Patient":
				query, allowed = "/Patient?_id="+x, decide(u, rbac.ActionSearch, rbac.KindDemographics)
			case "Practitioner":
				query, allowed = "/Practitioner?name=ruiz", true
			default:
				// A search of the patient's records reads the chart: the
				// demographics and the section.
				query, allowed = "/"+typ+"?patient="+x, decide(u, rbac.ActionRead, rbac.KindDemographics) && readable(u, typ)
			}
			check(u, "search "+query, f.fhirGet(t, query, tok), allowed)
		}
		check(u, "$everything", f.fhirGet(t, "/Patient/"+x+"/$everything", tok), decide(u, rbac.ActionRead, rbac.KindDemographics))
	}
	// Create: a copy of a record of the chart (its id, meta and
	// extensions dropped), or a new patient.
	everything := bundleOf(t, "everything", f.fhirGet(t, "/Patient/"+x+"/$everything", medTok))
	template := func(typ string) map[string]any {
		if ms := everything.resources(t, typ); len(ms) > 0 {
			m := ms[0]
			delete(m, "id")
			delete(m, "meta")
			delete(m, "extension")
			// The caller's own entry: nobody else named as its author
			// (that would make it an import of another's record).
			for _, who := range []string{"author", "authenticator", "recorder", "requester", "performer"} {
				delete(m, who)
			}
			return m
		}
		t.Fatalf("no %s in the chart", typ)
		return nil
	}
	for i, u := range users {
		tok := toks[u.name]
		pat := patientMap(fmt.Sprintf("FPT%03d", i), "Política", "Tabla")
		b, _ := json.Marshal(pat)
		check(u, "create Patient", f.fhirDo(t, "POST", fhirRoot+"/Patient", tok, b), decide(u, rbac.ActionCreate, rbac.KindDemographics))
		for _, typ := range []string{"Condition", "AllergyIntolerance", "MedicationRequest", "Observation", "DocumentReference"} {
			m := template(typ)
			if typ == "AllergyIntolerance" {
				// One allergy to a substance: a new one each time.
				m["code"] = map[string]any{"text": "Sustancia " + u.name}
			}
			b, _ := json.Marshal(m)
			check(u, "create "+typ, f.fhirDo(t, "POST", fhirRoot+"/"+typ, tok, b), decide(u, rbac.ActionCreate, kinds[typ]))
		}
		// An appointment in a slot of its own.
		ap := template("Appointment")
		start := time.Now().AddDate(0, 2, i).Truncate(time.Hour).UTC()
		ap["status"], ap["start"], ap["end"] = "booked", start.Format(time.RFC3339), start.Add(20*time.Minute).Format(time.RFC3339)
		b, _ = json.Marshal(ap)
		check(u, "create Appointment", f.fhirDo(t, "POST", fhirRoot+"/Appointment", tok, b), decide(u, rbac.ActionSchedule, rbac.KindAppointment))
	}
	// Update: the current version with a change (an update that changes
	// nothing writes nothing).
	marks := []string{"Alfa", "Beta", "Gamma", "Delta", "Épsilon", "Zeta", "Eta", "Theta"}
	for i, u := range users {
		tok := toks[u.name]
		mark := marks[i%len(marks)]
		for _, typ := range []string{"Patient", "Condition", "AllergyIntolerance", "MedicationRequest", "Observation", "Practitioner"} {
			cur := f.fhirGet(t, "/"+typ+"/"+ids[typ], medTok)
			mustFHIR(t, "read "+typ, cur, 200)
			var m map[string]any
			if err := json.Unmarshal(cur.Body, &m); err != nil {
				t.Fatal(err)
			}
			switch typ {
			case "Patient": // an identity change (UpdatePatient)
				name := m["name"].([]any)[0].(map[string]any)
				name["given"] = []any{"Prueba", mark}
			case "Condition", "MedicationRequest":
				m["note"] = []any{map[string]any{"text": "Nota " + mark}}
			case "AllergyIntolerance":
				m["code"] = map[string]any{"text": "Sustancia " + mark}
			case "Observation":
				q := m["valueQuantity"].(map[string]any)
				q["value"] = q["value"].(float64) + 1
			case "Practitioner":
				m["name"] = []any{map[string]any{"text": "Dra. Elena Ruiz Navarro " + mark}}
			}
			body, _ := json.Marshal(m)
			allowed := typ == "Practitioner" && decide(u, rbac.ActionManage, rbac.KindUser) ||
				typ != "Practitioner" && decide(u, rbac.ActionUpdate, kinds[typ])
			res := f.fhirDo(t, "PUT", fhirRoot+"/"+typ+"/"+ids[typ], tok, body, "If-Match", cur.Header.Get("ETag"))
			check(u, "update "+typ, res, allowed)
			if allowed && res.Status == 200 {
				if h := headOf(t, res.Body); h.Meta == nil || h.Meta.VersionID == headOf(t, cur.Body).Meta.VersionID {
					t.Errorf("%s update %s: no new version: %s", u.name, typ, res)
				}
			}
		}
	}
	// Tenant B: nothing of A is found.
	for _, role := range demo.Roles {
		tok := f.token(t, f.b.TenantID, role)
		for _, typ := range typeNames {
			if typ == "Practitioner" {
				continue
			}
			if res := f.fhirGet(t, "/"+typ+"/"+ids[typ], tok); res.Status != 404 {
				t.Errorf("%s of tenant B reads %s of tenant A: %s, want 404", role, typ, res)
			}
			cur := f.fhirGet(t, "/"+typ+"/"+ids[typ], medTok)
			if res := f.fhirDo(t, "PUT", fhirRoot+"/"+typ+"/"+ids[typ], tok, cur.Body, "If-Match", cur.Header.Get("ETag")); res.Status != 404 {
				t.Errorf("%s of tenant B updates %s of tenant A: %s, want 404", role, typ, res)
			}
		}
		if res := f.fhirGet(t, "/Practitioner/"+pr.ID, tok); res.Status != 404 {
			t.Errorf("%s of tenant B reads a practitioner of tenant A: %s, want 404", role, res)
		}
	}
}

// ---- 2. A chart into another tenant ----

// TestFHIRRoundTripIntoAnotherTenant: the $everything of a rich chart of
// tenant A (an admission with a transfer, signed and draft notes,
// conditions, an allergy, medications, vital signs and a laboratory
// result, appointments, the care team), turned into a transaction Bundle
// (every entry POST [type], its fullUrl kept so that the references
// resolve), is posted by a user of tenant B; B's chart then equals A's
// field by field, but for what B gives it: ids, tenant, versions, the
// times of creation and change, and who recorded, authored or signed.
//
// Practitioners are the tenant's directory, not the patient's record:
// the Bundle's Practitioner entries become conditional creates by
// licence (If-None-Exist) that find the practitioners B already has, to
// whom the test maps A's (B's own, new, so that the demo agenda of B
// does not collide with A's appointments). The user of B is the
// physician A's attending maps to, with the admissions and front-desk
// roles too: the one caller who may write every part of a chart.
func TestFHIRRoundTripIntoAnotherTenant(t *testing.T) {
	f := newFixture(t)
	// Not the portal patient: the demo gives B's patient the same
	// identity document (B would refuse a second patient with it).
	x := f.patientB
	repo := f.repo()
	f.richChart(t, x)
	medA := f.as(t, f.a.TenantID, "medico")
	if _, err := repo.CreateNote(medA, ehr.Note{PatientID: x, Title: "Plan de alta", Body: "Pendiente de revisar la analítica."}, false); err != nil {
		t.Fatal(err)
	}
	ch0, err := repo.Chart(medA, x)
	if err != nil {
		t.Fatal(err)
	}
	var adm ehr.Encounter
	for _, e := range ch0.Encounters {
		if e.Class == ehr.ClassInpatient && e.Status == ehr.EncounterInProgress {
			adm = e
		}
	}
	if adm.ID == "" {
		t.Fatal("the portal patient has no open admission")
	}
	if _, err := repo.Transfer(f.as(t, f.a.TenantID, "admisionista"), ehr.EncounterRef{PatientID: x, ID: adm.ID, Version: adm.Version},
		"Cardiología", "305", ""); err != nil {
		t.Fatal(err)
	}
	chA, err := repo.Chart(medA, x)
	if err != nil {
		t.Fatal(err)
	}
	if len(chA.Withheld) > 0 || len(chA.Appointments) == 0 || len(chA.Notes) < 2 || len(chA.CareTeam) == 0 {
		t.Fatalf("chart of A: withheld %v, %d appointments, %d notes, %d care team", chA.Withheld, len(chA.Appointments), len(chA.Notes), len(chA.CareTeam))
	}

	// B's practitioners for A's: new physicians of B.
	prA1 := f.practitionerOf(t, f.a.TenantID, "medico")
	prA2 := f.practitionerOf(t, f.a.TenantID, demo.SecondMedico)
	tokB, prB1 := f.superUser(t, f.b.TenantID, "importador", "MED-RT-0001")
	_, prB2 := f.superUser(t, f.b.TenantID, "importador2", "MED-RT-0002")
	licence := map[string]string{prA1.ID: prB1.License, prA2.ID: prB2.License}
	prMap := map[string]string{prA1.ID: prB1.ID, prA2.ID: prB2.ID}

	// $everything of A, as a transaction.
	res := f.fhirGet(t, "/Patient/"+x+"/$everything", f.token(t, f.a.TenantID, "medico"))
	mustFHIR(t, "$everything of A", res, 200)
	ev := bundleOf(t, "$everything of A", res)
	// $everything gives each resource as a read does: the admission with
	// its location history (the ward before the transfer, and after).
	for _, m := range ev.resources(t, "Encounter") {
		read := f.fhirGet(t, "/Encounter/"+m["id"].(string), f.token(t, f.a.TenantID, "medico"))
		mustFHIR(t, "read encounter", read, 200)
		var r map[string]any
		json.Unmarshal(read.Body, &r)
		if a, b := fmt.Sprint(m["location"]), fmt.Sprint(r["location"]); a != b {
			t.Errorf("Encounter %v: $everything gives the location %s, a read %s", m["id"], a, b)
		}
	}
	type source struct{ typ, id string }
	var sources []source
	var entries []map[string]any
	for _, e := range ev.Entry {
		if e.Search == nil || e.Search.Mode != "match" {
			t.Fatalf("$everything of A has a %v entry: the chart is not whole", e.Search)
		}
		var m map[string]any
		if err := json.Unmarshal(e.Resource, &m); err != nil {
			t.Fatal(err)
		}
		typ, id := m["resourceType"].(string), m["id"].(string)
		entry := txEntry(e.FullURL, "POST", typ, m)
		if typ == "Practitioner" {
			lic, ok := licence[id]
			if !ok {
				t.Fatalf("the chart names a practitioner %s the test does not map", id)
			}
			m["identifier"] = []any{map[string]any{"use": "official", "system": r4.SystemLicense, "value": lic}}
			entry["request"].(map[string]any)["ifNoneExist"] = "identifier=" + r4.SystemLicense + "|" + lic
		}
		sources = append(sources, source{typ, id})
		entries = append(entries, entry)
	}
	body := bundleBody("transaction", entries...)
	writeFHIR(t, "roundtrip-transaction", body)
	patientsB := len(f.patientsOf(t, f.b.TenantID))
	res = f.fhirDo(t, "POST", fhirRoot, tokB, body)
	mustFHIR(t, "the transaction into B", res, 200)
	out := bundleOf(t, "transaction-response", res)
	if out.Type != "transaction-response" || len(out.Entry) != len(entries) {
		t.Fatalf("transaction-response: type %s, %d entries for %d", out.Type, len(out.Entry), len(entries))
	}
	// What each entry became in B.
	newID := map[string]string{} // Type/idA -> idB
	for i, e := range out.Entry {
		s := sources[i]
		want := "201"
		if s.typ == "Practitioner" {
			want = "200" // found, not created
		}
		if e.Response == nil || !strings.HasPrefix(e.Response.Status, want) {
			t.Fatalf("entry %d (%s): %+v, want %s", i, s.typ, e.Response, want)
		}
		loc := e.Response.Location
		rest := loc[strings.Index(loc, "/"+s.typ+"/")+len(s.typ)+2:]
		id, _, _ := strings.Cut(rest, "/")
		newID[s.typ+"/"+s.id] = id
	}
	for a, b := range prMap {
		if got := newID["Practitioner/"+a]; got != b {
			t.Errorf("A's practitioner %s became %s in B, want %s (found by licence)", a, got, b)
		}
	}
	pB := newID["Patient/"+x]
	if got := len(f.patientsOf(t, f.b.TenantID)); got != patientsB+1 {
		t.Errorf("B has %d patients more, want 1", got-patientsB)
	}

	// B's chart, as the importing physician, against A's.
	chB, err := repo.Chart(f.as(t, f.b.TenantID, "importador"), pB)
	if err != nil {
		t.Fatal(err)
	}
	if len(chB.Withheld) > 0 {
		t.Fatalf("B withholds %v from the importer", chB.Withheld)
	}
	enc := func(id string) string {
		if id == "" {
			return ""
		}
		if n, ok := newID["Encounter/"+id]; ok {
			return n
		}
		return "unmapped encounter " + id
	}
	pr := func(id string) string {
		if n, ok := prMap[id]; ok {
			return n
		}
		return "unmapped practitioner " + id
	}
	// Each section, normalized: what B gives its own is blanked, A's
	// references mapped to B's, sorted by content.
	type section struct {
		name string
		a, b []any
	}
	var sections []section
	add := func(name string, a, b []any) { sections = append(sections, section{name, a, b}) }
	{
		pa, pb := chA.Patient, chB.Patient
		for _, p := range []*ehr.Patient{&pa, &pb} {
			p.ID, p.TenantID, p.Version, p.CreatedAt, p.UpdatedAt = "", "", 0, time.Time{}, time.Time{}
		}
		add("Patient", []any{pa}, []any{pb})
	}
	var sa, sb []any
	for _, e := range chA.Encounters {
		e.ID, e.TenantID, e.PatientID, e.Version, e.CreatedAt, e.UpdatedAt = "", "", "", 0, time.Time{}, time.Time{}
		e.PractitionerID = pr(e.PractitionerID)
		sa = append(sa, e)
	}
	for _, e := range chB.Encounters {
		e.ID, e.TenantID, e.PatientID, e.Version, e.CreatedAt, e.UpdatedAt = "", "", "", 0, time.Time{}, time.Time{}
		sb = append(sb, e)
	}
	add("Encounter", sa, sb)
	sa, sb = nil, nil
	for _, m := range chA.CareTeam {
		m.ID, m.TenantID, m.PatientID, m.UserID, m.Version, m.CreatedAt, m.UpdatedAt = "", "", "", "", 0, time.Time{}, time.Time{}
		m.PractitionerID = pr(m.PractitionerID)
		sa = append(sa, m)
	}
	for _, m := range chB.CareTeam {
		m.ID, m.TenantID, m.PatientID, m.UserID, m.Version, m.CreatedAt, m.UpdatedAt = "", "", "", "", 0, time.Time{}, time.Time{}
		sb = append(sb, m)
	}
	add("CareTeam", sa, sb)
	sa, sb = nil, nil
	for _, ap := range chA.Appointments {
		ap.ID, ap.TenantID, ap.PatientID, ap.Version, ap.CreatedAt, ap.UpdatedAt = "", "", "", 0, time.Time{}, time.Time{}
		ap.PractitionerID = pr(ap.PractitionerID)
		sa = append(sa, ap)
	}
	for _, ap := range chB.Appointments {
		ap.ID, ap.TenantID, ap.PatientID, ap.Version, ap.CreatedAt, ap.UpdatedAt = "", "", "", 0, time.Time{}, time.Time{}
		sb = append(sb, ap)
	}
	add("Appointment", sa, sb)
	sa, sb = nil, nil
	for i, n := range append(slices.Clone(chA.Notes), chB.Notes...) {
		if i < len(chA.Notes) {
			n.EncounterID = enc(n.EncounterID)
		}
		n.ID, n.TenantID, n.PatientID, n.AuthorID, n.SignedBy, n.SignedAt, n.Version, n.CreatedAt, n.UpdatedAt = "", "", "", "", "", nil, 0, time.Time{}, time.Time{}
		if i < len(chA.Notes) {
			sa = append(sa, n)
		} else {
			sb = append(sb, n)
		}
	}
	add("DocumentReference", sa, sb)
	sa, sb = nil, nil
	for i, c := range append(slices.Clone(chA.Conditions), chB.Conditions...) {
		if i < len(chA.Conditions) {
			c.EncounterID = enc(c.EncounterID)
		}
		c.ID, c.TenantID, c.PatientID, c.RecordedBy, c.Version, c.CreatedAt, c.UpdatedAt = "", "", "", "", 0, time.Time{}, time.Time{}
		if i < len(chA.Conditions) {
			sa = append(sa, c)
		} else {
			sb = append(sb, c)
		}
	}
	add("Condition", sa, sb)
	sa, sb = nil, nil
	for i, al := range append(slices.Clone(chA.Allergies), chB.Allergies...) {
		al.ID, al.TenantID, al.PatientID, al.RecordedBy, al.Version, al.CreatedAt, al.UpdatedAt = "", "", "", "", 0, time.Time{}, time.Time{}
		if i < len(chA.Allergies) {
			sa = append(sa, al)
		} else {
			sb = append(sb, al)
		}
	}
	add("AllergyIntolerance", sa, sb)
	sa, sb = nil, nil
	for i, m := range append(slices.Clone(chA.Medications), chB.Medications...) {
		if i < len(chA.Medications) {
			m.EncounterID = enc(m.EncounterID)
		}
		m.ID, m.TenantID, m.PatientID, m.PrescriberID, m.Version, m.CreatedAt, m.UpdatedAt = "", "", "", "", 0, time.Time{}, time.Time{}
		if i < len(chA.Medications) {
			sa = append(sa, m)
		} else {
			sb = append(sb, m)
		}
	}
	add("MedicationRequest", sa, sb)
	sa, sb = nil, nil
	for i, o := range append(slices.Clone(chA.Observations), chB.Observations...) {
		if i < len(chA.Observations) {
			o.EncounterID = enc(o.EncounterID)
		}
		o.ID, o.TenantID, o.PatientID, o.RecordedBy, o.Version, o.CreatedAt, o.UpdatedAt = "", "", "", "", 0, time.Time{}, time.Time{}
		if i < len(chA.Observations) {
			sa = append(sa, o)
		} else {
			sb = append(sb, o)
		}
	}
	add("Observation", sa, sb)
	for _, s := range sections {
		ka, kb := sortedKeys(s.a), sortedKeys(s.b)
		if len(ka) == 0 {
			t.Errorf("%s: A has none: the test compares nothing", s.name)
		}
		if !slices.Equal(ka, kb) {
			t.Errorf("%s differs: %d in A, %d in B\n%s", s.name, len(ka), len(kb), diffLines(ka, kb))
		}
	}
	// The encounter keeps its location history: a ward and bed before
	// the transfer, and after.
	res = f.fhirGet(t, "/Encounter/"+newID["Encounter/"+adm.ID], tokB)
	mustFHIR(t, "the admission in B", res, 200)
	var e struct {
		Location []struct {
			Location struct{ Display string }
			Status   string
		}
	}
	json.Unmarshal(res.Body, &e)
	var wards []string
	for _, l := range e.Location {
		wards = append(wards, l.Location.Display+"/"+l.Status)
	}
	if !slices.Contains(wards, adm.Ward+"/completed") || !slices.Contains(wards, "Cardiología/active") || !slices.Contains(wards, "305/active") {
		t.Errorf("the admission in B went through %v, want %s then Cardiología, bed 305", wards, adm.Ward)
	}
	// Nothing of B's own patient changed, and B's chart is B's.
	if pB == x {
		t.Error("the patient kept A's id in B")
	}
	if _, err := repo.Chart(f.as(t, f.a.TenantID, "medico"), pB); err == nil {
		t.Error("A's physician reads the copy in B")
	}
}

// sortedKeys returns the values as JSON, sorted (optional fields are
// pointers: JSON shows what they point to).
func sortedKeys(vs []any) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		b, _ := json.Marshal(v)
		out[i] = string(b)
	}
	sort.Strings(out)
	return out
}

// diffLines lists the values only in a (-) and only in b (+).
func diffLines(a, b []string) string {
	var s strings.Builder
	for _, v := range a {
		if !slices.Contains(b, v) {
			s.WriteString("- A: " + v + "\n")
		}
	}
	for _, v := range b {
		if !slices.Contains(a, v) {
			s.WriteString("+ B: " + v + "\n")
		}
	}
	return s.String()
}

// TestFHIRNarrowOnlyNarrows: the SMART seam (Config.FHIRNarrow) is asked
// before every interaction with the caller, the type and the
// interaction; what it refuses answers 403, and what it allows is still
// decided by rbac (it can narrow, never widen).
func TestFHIRNarrowOnlyNarrows(t *testing.T) {
	var asked []string
	f := newFixtureWith(t, func(c *Config) {
		c.FHIRNarrow = func(caller app.Caller, typ, interaction string) error {
			asked = append(asked, typ+" "+interaction)
			if typ == "Observation" {
				return fmt.Errorf("scope patient/Observation.read not granted: %w", ehr.ErrDenied)
			}
			return nil
		}
	})
	pid := f.a.PatientID
	med := f.token(t, f.a.TenantID, "medico")
	mustFHIR(t, "medico reads the patient", f.fhirGet(t, "/Patient/"+pid, med), http.StatusOK)
	mustFHIR(t, "medico searches conditions", f.fhirGet(t, "/Condition?patient="+pid, med), http.StatusOK)
	res := f.fhirGet(t, "/Observation?patient="+pid, med)
	if res.Status != http.StatusForbidden || !strings.Contains(string(res.Body), `"forbidden"`) {
		t.Fatalf("an Observation search the seam refuses: %s, want 403 forbidden", res)
	}
	if !slices.Contains(asked, "Patient read") || !slices.Contains(asked, "Observation search-type") {
		t.Fatalf("the seam was asked %v", asked)
	}
	// Allowed by the seam, refused by rbac: the front desk reads no
	// conditions whatever the scopes say.
	sec := f.token(t, f.a.TenantID, "secretaria")
	if res := f.fhirGet(t, "/Condition?patient="+pid, sec); res.Status != http.StatusForbidden {
		t.Fatalf("secretaria's Condition search with the seam allowing it: %s, want 403", res)
	}
}
