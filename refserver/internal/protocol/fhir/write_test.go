package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
	"github.com/historiaehr/historia/rbac"
)

// Pure unit tests of the write path: no database.

const testBase = "http://fhir.test" + Root

func TestVersionToMatch(t *testing.T) {
	for _, tc := range []struct {
		ifMatch string
		body    int
		want    int
		status  int // 0: no error
	}{
		{`W/"3"`, 0, 3, 0},
		{`"3"`, 0, 3, 0},
		{`3`, 0, 3, 0},
		{` W/"12" `, 0, 12, 0},
		{`W/"3"`, 7, 3, 0}, // If-Match wins over meta.versionId
		{``, 7, 7, 0},      // meta.versionId when no If-Match
		{``, 0, 0, http.StatusPreconditionRequired},
		{`*`, 0, 0, http.StatusPreconditionRequired},
		{`*`, 7, 0, http.StatusPreconditionRequired},
		{`W/"0"`, 0, 0, http.StatusBadRequest},
		{`W/"-1"`, 0, 0, http.StatusBadRequest},
		{`W/"abc"`, 0, 0, http.StatusBadRequest},
		{`W/"1", W/"2"`, 0, 0, http.StatusBadRequest},
	} {
		got, err := versionToMatch(tc.ifMatch, tc.body)
		if tc.status == 0 {
			if err != nil || got != tc.want {
				t.Errorf("versionToMatch(%q, %d) = %d, %v; want %d", tc.ifMatch, tc.body, got, err, tc.want)
			}
			continue
		}
		var oc *outcome
		if !errors.As(err, &oc) || oc.status != tc.status {
			t.Errorf("versionToMatch(%q, %d) = %d, %v; want status %d", tc.ifMatch, tc.body, got, err, tc.status)
		}
	}
}

func TestStaleOr(t *testing.T) {
	staleErr := fmt.Errorf("ehr: update condition x: %w: version is 4", ehr.ErrConflict)
	var oc *outcome
	if err := staleOr(staleErr, 3); !errors.As(err, &oc) || oc.status != http.StatusPreconditionFailed || !errors.Is(err, ehr.ErrConflict) {
		t.Errorf("stale version: %v, want a 412 wrapping ErrConflict", err)
	}
	// The version named is the current one: the state conflicts (409).
	if err := staleOr(staleErr, 4); err != staleErr {
		t.Errorf("version is the one sent: %v, want the error as it is", err)
	}
	booked := fmt.Errorf("ehr: book appointment: %w: practitioner x is already booked in that time", ehr.ErrConflict)
	if err := staleOr(booked, 1); err != booked {
		t.Errorf("double booking: %v, want the error as it is", err)
	}
	state := fmt.Errorf("ehr: transfer x: %w: not an open admission", ehr.ErrConflict)
	if err := staleOr(state, 1); err != state {
		t.Errorf("state conflict: %v, want the error as it is", err)
	}
	if err := staleOr(ehr.ErrNotFound, 1); err != ehr.ErrNotFound {
		t.Errorf("not found: %v", err)
	}
}

func TestPreferReturn(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "representation",
		"return=minimal":   "minimal",
		`return="minimal"`: "minimal",
		"handling=strict, return=OperationOutcome": "OperationOutcome",
		"return=representation; x=y":               "representation",
		"return=bogus":                             "representation",
		"respond-async, RETURN=minimal":            "minimal",
	} {
		h := http.Header{}
		if in != "" {
			h.Set("Prefer", in)
		}
		if got := preferReturn(h); got != want {
			t.Errorf("preferReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTakeReason(t *testing.T) {
	body := []byte(`{"resourceType":"DocumentReference","id":"a","extension":[` +
		`{"url":"` + r4.ExtTenant + `","valueId":"t"},` +
		`{"url":"` + ExtChangeReason + `","valueString":"corrected <dose> & route"}],"status":"current"}`)
	out, reason, err := takeReason(body)
	if err != nil {
		t.Fatal(err)
	}
	if reason != "corrected <dose> & route" {
		t.Errorf("reason = %q", reason)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	exts := got["extension"].([]any)
	if len(exts) != 1 || exts[0].(map[string]any)["url"] != r4.ExtTenant {
		t.Errorf("extensions left: %v", exts)
	}
	if got["status"] != "current" || got["id"] != "a" {
		t.Errorf("other elements changed: %v", got)
	}

	// The only extension: the array goes.
	out, reason, err = takeReason([]byte(`{"resourceType":"Condition","extension":[{"url":"` + ExtChangeReason + `","valueString":"dup"}]}`))
	if err != nil || reason != "dup" || strings.Contains(string(out), "extension") {
		t.Errorf("takeReason = %s, %q, %v", out, reason, err)
	}
	// None: the body as it is.
	in := []byte(`{"resourceType":"Condition", "extension":[{"url":"x"}]}`)
	if out, reason, err := takeReason(in); err != nil || reason != "" || string(out) != string(in) {
		t.Errorf("no reason: %s, %q, %v", out, reason, err)
	}
	// Not JSON: for the decoder to refuse.
	if out, _, err := takeReason([]byte(`{`)); err != nil || string(out) != "{" {
		t.Errorf("not JSON: %s, %v", out, err)
	}
	// Without a valueString, or twice: 400.
	for _, b := range []string{
		`{"extension":[{"url":"` + ExtChangeReason + `","valueCode":"x"}]}`,
		`{"extension":[{"url":"` + ExtChangeReason + `","valueString":"a"},{"url":"` + ExtChangeReason + `","valueString":"b"}]}`,
	} {
		var oc *outcome
		if _, _, err := takeReason([]byte(b)); !errors.As(err, &oc) || oc.status != http.StatusBadRequest {
			t.Errorf("takeReason(%s) = %v, want 400", b, err)
		}
	}
}

// entries builds request entries: method, url, fullUrl, resource.
func entries(spec ...[4]string) []*bundleJob {
	var jobs []*bundleJob
	for i, s := range spec {
		e := requestEntry{FullURL: s[2], Request: &entryRequest{Method: s[0], URL: s[1]}}
		if s[3] != "" {
			e.Resource = json.RawMessage(s[3])
		}
		jobs = append(jobs, parseEntry(testBase, i, e))
	}
	return jobs
}

func TestProcessingOrder(t *testing.T) {
	jobs := entries(
		[4]string{"GET", "Patient/1", "", ""},                                               // 0
		[4]string{"POST", "Observation", "urn:uuid:o", `{"resourceType":"Observation"}`},    // 1
		[4]string{"PUT", "Condition/2", "", `{"resourceType":"Condition"}`},                 // 2
		[4]string{"POST", "Encounter", "urn:uuid:e", `{"resourceType":"Encounter"}`},        // 3
		[4]string{"DELETE", "Patient/3", "", ""},                                            // 4
		[4]string{"POST", "Patient", "urn:uuid:p", `{"resourceType":"Patient"}`},            // 5
		[4]string{"GET", "Observation?patient=1", "", ""},                                   // 6
		[4]string{"POST", "Encounter", "urn:uuid:e2", `{"resourceType":"Encounter"}`},       // 7
		[4]string{"POST", "Practitioner", "urn:uuid:pr", `{"resourceType":"Practitioner"}`}, // 8
		[4]string{"PUT", "Patient/4", "", `{"resourceType":"Patient"}`},                     // 9
		[4]string{"POST", "Condition", "urn:uuid:c", `{"resourceType":"Condition"}`},        // 10
		[4]string{"POST", "CareTeam", "urn:uuid:ct", `{"resourceType":"CareTeam"}`},         // 11
	)
	// CareTeam right after Practitioner: the care-team fact of what follows.
	want := []int{4, 5, 8, 11, 3, 7, 10, 1, 2, 9, 0, 6}
	if got := processingOrder(jobs); !reflect.DeepEqual(got, want) {
		t.Errorf("processingOrder = %v, want %v", got, want)
	}
}

func TestParseEntry(t *testing.T) {
	jobs := entries(
		[4]string{"DELETE", "Patient/1", "", ""},
		[4]string{"PATCH", "Patient/1", "", "{}"},
		[4]string{"PUT", "Patient", "", `{}`},
		[4]string{"PUT", "Patient/1", "", ""},
		[4]string{"POST", "Patient/1", "", `{}`},
		[4]string{"POST", "Unknown", "", `{}`},
		[4]string{"GET", testBase + "/Patient/1", "", ""},
		[4]string{"GET", "Observation/5/_history/2", "", ""},
		[4]string{"GET", "Practitioner/5/_history", "", ""},
		[4]string{"GET", "/Condition?patient=Patient/1&_count=5", "", ""},
		[4]string{"GET", "http://elsewhere.test/fhir/R4/Patient/1", "", ""},
		[4]string{"GET", "Patient/1/$everything", "", ""},
		[4]string{"TRACE", "Patient/1", "", ""},
		[4]string{"put", "Patient/1", "", `{}`},
	)
	wantStatus := []int{405, 405, 400, 400, 400, 400, 0, 0, 400, 0, 400, 400, 400, 0}
	for i, j := range jobs {
		status := 0
		var oc *outcome
		if errors.As(j.bad, &oc) {
			status = oc.status
		} else if j.bad != nil {
			status = -1
		}
		if status != wantStatus[i] {
			t.Errorf("entry %d: bad = %v, want status %d", i, j.bad, wantStatus[i])
		}
	}
	if j := jobs[6]; j.t.Name != "Patient" || j.id != "1" || j.search || j.interaction() != "read" {
		t.Errorf("absolute read: %+v", j)
	}
	if j := jobs[7]; j.id != "5" || j.tail != "_history/2" || j.interaction() != "vread" {
		t.Errorf("vread: %+v", j)
	}
	if j := jobs[9]; !j.search || j.query != "patient=Patient/1&_count=5" || j.t.Name != "Condition" || j.interaction() != "search-type" {
		t.Errorf("search: %+v", j)
	}
	if j := jobs[13]; j.method != "PUT" || j.id != "1" || j.interaction() != "update" {
		t.Errorf("lower-case method: %+v", j)
	}
}

func TestRefMapResolve(t *testing.T) {
	jobs := entries(
		[4]string{"POST", "Patient", "urn:uuid:p", `{"resourceType":"Patient","id":"old-p"}`},
		[4]string{"POST", "Encounter", "http://other.test/fhir/R4/Encounter/old-e", `{"resourceType":"Encounter","id":"old-e"}`},
		[4]string{"PUT", "Condition/c1", "urn:uuid:c", `{"resourceType":"Condition","id":"c1"}`},
		[4]string{"POST", "Observation", "urn:uuid:o", `{"resourceType":"Observation"}`},
	)
	m, err := newRefMap(testBase, jobs)
	if err != nil {
		t.Fatal(err)
	}
	obs := jobs[3]
	// Not created yet: a reference to it fails.
	if _, err := m.resolve(obs, "subject.reference", "urn:uuid:p"); err == nil {
		t.Error("reference to an entry not yet created resolved")
	}
	jobs[0].newID, jobs[1].newID = "new-p", "new-e"
	for ref, want := range map[string]string{
		"urn:uuid:p":    "Patient/new-p",
		"Patient/old-p": "Patient/new-p", // the resource's id
		"http://other.test/fhir/R4/Encounter/old-e": "Encounter/new-e",
		"Encounter/old-e":                     "Encounter/new-e", // the fullUrl's tail
		"urn:uuid:c":                          "Condition/c1",    // a PUT: its id
		testBase + "/Patient/existing":        "Patient/existing",
		"Patient/existing":                    "Patient/existing",
		"http://other.test/fhir/R4/Patient/x": "http://other.test/fhir/R4/Patient/x", // for the decoder to refuse
	} {
		got, err := m.resolve(obs, "subject.reference", ref)
		if err != nil || got != want {
			t.Errorf("resolve(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	// A urn no entry has, and a reference to itself.
	for _, ref := range []string{"urn:uuid:unknown", "urn:oid:1.2.3", "urn:uuid:o"} {
		_, err := m.resolve(obs, "subject.reference", ref)
		var oc *outcome
		if !errors.As(err, &oc) || oc.status != http.StatusBadRequest || oc.expr != "Observation.subject.reference" {
			t.Errorf("resolve(%q) = %v, want 400 naming Observation.subject.reference", ref, err)
		}
		if oc != nil && strings.Contains(oc.diag, ref) {
			t.Errorf("diagnostics quote the reference: %q", oc.diag)
		}
	}
	if got := entryPath(3, "Observation", "Observation.subject.reference"); got != "Bundle.entry[3].resource.subject.reference" {
		t.Errorf("entryPath = %q", got)
	}

	// Two entries with the same fullUrl: 400.
	dup := entries(
		[4]string{"POST", "Patient", "urn:uuid:p", `{"resourceType":"Patient"}`},
		[4]string{"POST", "Patient", "urn:uuid:p", `{"resourceType":"Patient"}`},
	)
	if _, err := newRefMap(testBase, dup); err == nil {
		t.Error("duplicate fullUrl accepted")
	}
}

func TestRelativeTo(t *testing.T) {
	for in, want := range map[string]string{
		testBase + "/Patient/1":                              "Patient/1",
		"https://fhir.test" + Root + "/Patient/1":            "Patient/1", // the scheme is not compared
		"http://FHIR.test" + Root + "/Observation?patient=1": "Observation?patient=1",
		"http://fhir.test/other/Patient/1":                   "",
		"http://elsewhere.test" + Root + "/Patient/1":        "",
		"Patient/1": "",
		testBase:    "",
	} {
		got, ok := relativeTo(testBase, in)
		if got != want || ok != (want != "") {
			t.Errorf("relativeTo(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestEntryPath(t *testing.T) {
	for _, tc := range [][3]string{
		{"Patient", "Patient.birthDate", "Bundle.entry[2].resource.birthDate"},
		{"Patient", "Patient", "Bundle.entry[2].resource"},
		{"Observation", "Observation.component[1].valueQuantity", "Bundle.entry[2].resource.component[1].valueQuantity"},
		{"Patient", "request.url", "Bundle.entry[2].request.url"},
		{"Patient", "If-None-Exist", "Bundle.entry[2].request.ifNoneExist"},
		{"Patient", "If-Match", "Bundle.entry[2].request.ifMatch"},
		{"Patient", "", "Bundle.entry[2]"},
		{"Patient", "PatientID", "Bundle.entry[2].PatientID"},
		{"", "request.method", "Bundle.entry[2].request.method"},
		{"Patient", "Bundle.entry[5].fullUrl", "Bundle.entry[5].fullUrl"},
	} {
		if got := entryPath(2, tc[0], tc[1]); got != tc[2] {
			t.Errorf("entryPath(2, %q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}

func TestEntryOutcome(t *testing.T) {
	patient, _ := typeNamed("Patient")
	j := &bundleJob{index: 4, t: patient, method: "POST"}
	ctx := context.Background()

	// A decoder's OperationOutcome: 400, every issue in the entry.
	_, err := r4.DecodePatient([]byte(`{"resourceType":"Patient","gender":"x","birthDate":"1/2/3"}`))
	status, issues, ok := entryOutcome(ctx, j, err)
	if !ok || status != http.StatusBadRequest || len(issues) == 0 {
		t.Fatalf("decoder error: %d %v %v", status, issues, ok)
	}
	for _, is := range issues {
		if len(is.Expression) != 1 || !strings.HasPrefix(is.Expression[0], "Bundle.entry[4].resource") {
			t.Errorf("issue not in the entry: %+v", is)
		}
	}

	// ehr's validation error: 422, the field as FHIRPath.
	verr := &ehr.ValidationError{Fields: []ehr.FieldError{{Field: "BirthDate", Code: ehr.CodeInFuture, Message: "is in the future"}}}
	status, issues, ok = entryOutcome(ctx, j, verr)
	if !ok || status != http.StatusUnprocessableEntity || len(issues) != 1 ||
		!reflect.DeepEqual(issues[0].Expression, []string{"Bundle.entry[4].resource.birthDate"}) ||
		issues[0].Details == nil || issues[0].Details.Coding[0].Code != "invalid" {
		t.Errorf("validation error: %d %+v %v", status, issues, ok)
	}

	// Not found: 404 naming the entry.
	status, issues, ok = entryOutcome(ctx, j, fmt.Errorf("ehr: record condition: %w", ehr.ErrNotFound))
	if !ok || status != http.StatusNotFound || issues[0].Code != "not-found" || issues[0].Expression[0] != "Bundle.entry[4]" {
		t.Errorf("not found: %d %+v %v", status, issues, ok)
	}

	// A write's own outcome: its status and element.
	status, issues, ok = entryOutcome(ctx, j, unsupported("Patient.active", "x"))
	if !ok || status != http.StatusUnprocessableEntity || issues[0].Expression[0] != "Bundle.entry[4].resource.active" {
		t.Errorf("outcome: %d %+v %v", status, issues, ok)
	}

	// A server error is not described.
	if _, _, ok := entryOutcome(ctx, j, errors.New("boom")); ok {
		t.Error("a server error was described")
	}
}

func TestFlatFields(t *testing.T) {
	err := flatFields(&ehr.ValidationError{Fields: []ehr.FieldError{
		{Field: "Observations[1].Value", Code: ehr.CodeRequired}, {Field: "PatientID", Code: ehr.CodeInvalid}}})
	var ve *ehr.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ehr.ErrInvalid) || ve.Fields[0].Field != "Value" || ve.Fields[1].Field != "PatientID" {
		t.Errorf("flatFields = %v", err)
	}
	if e := errors.New("x"); flatFields(e) != e {
		t.Error("flatFields changed another error")
	}
}

func TestStatusLine(t *testing.T) {
	if got := statusLine(http.StatusCreated); got != "201 Created" {
		t.Errorf("statusLine = %q", got)
	}
}

func TestWriteWritten(t *testing.T) {
	patient, _ := typeNamed("Patient")
	res := written{t: patient, status: http.StatusCreated, id: "p1", version: 1, updated: time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC),
		body: []byte(`{"resourceType":"Patient","id":"p1"}`)}
	for _, tc := range []struct {
		prefer, body string
	}{
		{"", `{"resourceType":"Patient","id":"p1"}`},
		{"return=representation", `{"resourceType":"Patient","id":"p1"}`},
		{"return=minimal", ``},
		{"return=OperationOutcome", `"resourceType":"OperationOutcome"`},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", Root+"/Patient", nil)
		r.Host = "fhir.test"
		if tc.prefer != "" {
			r.Header.Set("Prefer", tc.prefer)
		}
		writeWritten(w, r, res)
		if w.Code != http.StatusCreated || w.Header().Get("Location") != testBase+"/Patient/p1/_history/1" ||
			w.Header().Get("ETag") != `W/"1"` || w.Header().Get("Last-Modified") != "Wed, 01 May 2024 08:00:00 GMT" {
			t.Errorf("%q: %d %v", tc.prefer, w.Code, w.Header())
		}
		if got := w.Body.String(); (tc.body == "" && got != "") || !strings.Contains(got, tc.body) {
			t.Errorf("%q: body %s", tc.prefer, got)
		}
	}
	// An update answers 200 without Location.
	res.status = http.StatusOK
	w := httptest.NewRecorder()
	writeWritten(w, httptest.NewRequest("PUT", Root+"/Patient/p1", nil), res)
	if w.Code != http.StatusOK || w.Header().Get("Location") != "" || w.Header().Get("ETag") != `W/"1"` {
		t.Errorf("update: %d %v", w.Code, w.Header())
	}
}

// TestIsImport: a create goes to ehr's workflow method for a record in
// the state it creates, by the caller; to ehr.Repository.ImportRecord for
// a record in any other state or naming someone else.
func TestIsImport(t *testing.T) {
	const me, other = "user-me", "user-other"
	ctx := ehr.NewContext(context.Background(), ehr.Actor{Principal: rbac.Principal{UserID: me, TenantID: "t"}})
	end := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		rec      any
		stays    int
		imported bool
	}{
		{"patient", ehr.Patient{Status: ehr.StatusEnteredInError}, 0, false},
		{"practitioner", ehr.Practitioner{}, 0, false},
		{"open encounter", ehr.Encounter{Status: ehr.EncounterInProgress}, 1, false},
		{"finished encounter", ehr.Encounter{Status: ehr.EncounterFinished, EndedAt: &end}, 1, true},
		{"open encounter with an end", ehr.Encounter{Status: ehr.EncounterInProgress, EndedAt: &end}, 1, true},
		{"open admission with a disposition", ehr.Encounter{Status: ehr.EncounterInProgress, Disposition: "home"}, 1, true},
		{"transferred admission", ehr.Encounter{Status: ehr.EncounterInProgress, Class: ehr.ClassInpatient}, 2, true},
		{"encounter in error", ehr.Encounter{Status: ehr.StatusEnteredInError}, 0, true},
		{"booked", ehr.Appointment{Status: ehr.AppointmentBooked}, 0, false},
		{"fulfilled", ehr.Appointment{Status: ehr.AppointmentFulfilled}, 0, true},
		{"cancelled", ehr.Appointment{Status: ehr.AppointmentCancelled}, 0, true},
		{"active member", ehr.CareTeamMember{Status: ehr.CareTeamActive, EndsAt: &end}, 0, false},
		{"ended member", ehr.CareTeamMember{Status: ehr.CareTeamEnded, EndsAt: &end}, 0, true},
		{"draft", ehr.Note{Status: ehr.NoteDraft}, 0, false},
		{"final by me", ehr.Note{Status: ehr.NoteSigned, AuthorID: me, SignedBy: me}, 0, false},
		{"final by another", ehr.Note{Status: ehr.NoteSigned, AuthorID: other, SignedBy: other}, 0, true},
		{"final with its signing time", ehr.Note{Status: ehr.NoteSigned, SignedAt: &end}, 0, true},
		{"amended", ehr.Note{Status: ehr.NoteAmended}, 0, true},
		{"condition", ehr.Condition{Status: "resolved"}, 0, false},
		{"condition by me", ehr.Condition{Status: "resolved", RecordedBy: me}, 0, false},
		{"condition by another", ehr.Condition{Status: "active", RecordedBy: other}, 0, true},
		{"condition in error", ehr.Condition{Status: ehr.StatusEnteredInError}, 0, true},
		{"allergy by another", ehr.Allergy{RecordedBy: other}, 0, true},
		{"allergy", ehr.Allergy{Status: "inactive"}, 0, false},
		{"prescription by another", ehr.MedicationRequest{Status: "completed", PrescriberID: other}, 0, true},
		{"completed prescription", ehr.MedicationRequest{Status: "completed"}, 0, false},
		{"final observation", ehr.Observation{Status: "final", RecordedBy: me}, 0, false},
		{"amended observation", ehr.Observation{Status: "amended"}, 0, true},
		{"observation by another", ehr.Observation{Status: "final", RecordedBy: other}, 0, true},
		{"panel", []ehr.Observation{{Status: "final"}, {Status: "final"}}, 0, false},
		{"panel in error", []ehr.Observation{{Status: ehr.StatusEnteredInError}, {Status: ehr.StatusEnteredInError}}, 0, true},
	} {
		stays := make([]r4.Stay, tc.stays)
		if got := isImport(ctx, tc.rec, stays); got != tc.imported {
			t.Errorf("%s: isImport = %v, want %v", tc.name, got, tc.imported)
		}
	}
}
