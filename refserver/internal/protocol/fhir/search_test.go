package fhir

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
)

// The parsing and matching of search parameters, without a database: the
// searches themselves (ehr's authorization and audit, the Bundles) are
// tested against PostgreSQL elsewhere.

func mustType(t *testing.T, name string) *resourceType {
	t.Helper()
	rt, ok := typeNamed(name)
	if !ok {
		t.Fatalf("no type %s", name)
	}
	return rt
}

// wantBadParam checks that err is a 400 naming param.
func wantBadParam(t *testing.T, err error, param string) {
	t.Helper()
	var oc *outcome
	if !errors.As(err, &oc) {
		t.Fatalf("err = %v, want a 400 naming %s", err, param)
	}
	if oc.status != http.StatusBadRequest || oc.expr != param {
		t.Fatalf("err = %d %q (%s), want 400 naming %s", oc.status, oc.expr, oc.diag, param)
	}
}

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func instant(s string) time.Time {
	d, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestSearchParseDate(t *testing.T) {
	for _, tc := range []struct {
		in       string
		prefix   string
		lo, hi   string
		dateOnly bool
	}{
		{"2024", "eq", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z", true},
		{"ge2024-02", "ge", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z", true},
		{"lt2024-02-29", "lt", "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z", true},
		{"2024-12", "eq", "2024-12-01T00:00:00Z", "2025-01-01T00:00:00Z", true},
		{"sa2024-03-01T10:00", "sa", "2024-03-01T10:00:00Z", "2024-03-01T10:01:00Z", false},
		{"2024-03-01T10:00:05Z", "eq", "2024-03-01T10:00:05Z", "2024-03-01T10:00:06Z", false},
		{"2024-03-01T10:00:05.5Z", "eq", "2024-03-01T10:00:05.5Z", "2024-03-01T10:00:05.6Z", false},
		{"2024-03-01T10:00:05.123456-05:00", "eq", "2024-03-01T15:00:05.123456Z", "2024-03-01T15:00:05.123457Z", false},
		// The + of an offset, decoded from a query string as a space.
		{"le2024-03-01T10:00:00 05:00", "le", "2024-03-01T05:00:00Z", "2024-03-01T05:00:01Z", false},
		{"ne2024-03-01T10:00:00+05:00", "ne", "2024-03-01T05:00:00Z", "2024-03-01T05:00:01Z", false},
	} {
		d, err := parseDateValue(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if d.prefix != tc.prefix || !d.lo.Equal(instant(tc.lo)) || !d.hi.Equal(instant(tc.hi)) || d.dateOnly != tc.dateOnly {
			t.Errorf("%s = %s [%s, %s) date %v, want %s [%s, %s) date %v", tc.in, d.prefix, d.lo.Format(time.RFC3339Nano),
				d.hi.Format(time.RFC3339Nano), d.dateOnly, tc.prefix, tc.lo, tc.hi, tc.dateOnly)
		}
	}
	for _, bad := range []string{"", "24", "0000", "2024-13", "2023-02-29", "2024-00-10", "2024-03-01T25:00", "2024-03-01T10",
		"2024-03-01T10:00+15:00", "ap2024", "xx2024", "2024-03-01 10:00", "2024-3-1", "ge", "2024-03-01T10:00:00.1234567890Z"} {
		if _, err := parseDateValue(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if _, err := parseDateValue("ap2024"); err == nil || !strings.Contains(err.Error(), "ap") {
		t.Errorf("ap: %v, want the prefix named", err)
	}
}

func TestSearchParseDateMatch(t *testing.T) {
	in := func(s string) time.Time { return instant(s) }
	before, first, last, after := in("2024-02-29T23:59:59Z"), in("2024-03-01T00:00:00Z"), in("2024-03-01T23:59:59.999Z"), in("2024-03-02T00:00:00Z")
	for _, tc := range []struct {
		prefix string
		want   [4]bool // before, first, last, after
	}{
		{"eq", [4]bool{false, true, true, false}},
		{"ne", [4]bool{true, false, false, true}},
		{"lt", [4]bool{true, false, false, false}},
		{"eb", [4]bool{true, false, false, false}},
		{"le", [4]bool{true, true, true, false}},
		{"gt", [4]bool{false, false, false, true}},
		{"sa", [4]bool{false, false, false, true}},
		{"ge", [4]bool{false, true, true, true}},
	} {
		d, err := parseDateValue(tc.prefix + "2024-03-01")
		if err != nil {
			t.Fatal(err)
		}
		for i, at := range []time.Time{before, first, last, after} {
			if got := d.match(at); got != tc.want[i] {
				t.Errorf("%s2024-03-01 match %s = %v, want %v", tc.prefix, at.Format(time.RFC3339Nano), got, tc.want[i])
			}
		}
	}
}

func TestSearchParseToken(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want tokenValue
	}{
		{"8867-4", tokenValue{code: "8867-4"}},
		{"http://loinc.org|8867-4", tokenValue{system: "http://loinc.org", code: "8867-4", hasSystem: true}},
		{"|8867-4", tokenValue{code: "8867-4", hasSystem: true}},
		{"http://loinc.org|", tokenValue{system: "http://loinc.org", hasSystem: true}},
		{`a\|b|c\,d`, tokenValue{system: "a|b", code: "c,d", hasSystem: true}},
	} {
		if got := parseToken(tc.in); got != tc.want {
			t.Errorf("%s = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	cs := []coding{{System: r4.SystemLOINC, Code: "8867-4"}}
	for in, want := range map[string]bool{
		"8867-4": true, r4.SystemLOINC + "|8867-4": true, r4.SystemLOINC + "|": true, "|8867-4": false,
		r4.SystemICD10 + "|8867-4": false, "8310-5": false, r4.SystemICD10 + "|": false,
	} {
		if got := parseToken(in).match(cs); got != want {
			t.Errorf("%s match = %v, want %v", in, got, want)
		}
	}
	if !parseToken("e11.9").match([]coding{{System: r4.SystemICD10, Code: "E11.9"}}) {
		t.Error("codes compare ignoring case")
	}
}

func TestSearchParseSplit(t *testing.T) {
	got := splitValues(`a,b\,c,,d\\`)
	want := []string{"a", `b\,c`, "", `d\\`}
	if !slices.Equal(got, want) {
		t.Fatalf("split = %q, want %q", got, want)
	}
	if u := unescape(`b\,c\|d\$e\\f\g`); u != `b,c|d$e\f\g` {
		t.Errorf("unescape = %q", u)
	}
}

func TestSearchParseReference(t *testing.T) {
	for _, tc := range []struct {
		in, mod string
		want    refValue
	}{
		{"abc", "", refValue{id: "abc"}},
		{"Patient/abc", "", refValue{typ: "Patient", id: "abc"}},
		{"https://h.example/fhir/R4/Patient/abc/_history/2", "", refValue{typ: "Patient", id: "abc"}},
		{"abc", "Patient", refValue{typ: "Patient", id: "abc"}},
		{"Group/abc", "Patient", refValue{typ: "\x00", id: "abc"}},
	} {
		if got := parseReference(tc.in, tc.mod); got != tc.want {
			t.Errorf("%s (:%s) = %+v, want %+v", tc.in, tc.mod, got, tc.want)
		}
	}
	refs := []string{"Patient/abc", "Practitioner/def"}
	if !parseReference("abc", "").match(refs) || !parseReference("Practitioner/def", "").match(refs) ||
		parseReference("Practitioner/abc", "").match(refs) || parseReference("Group/abc", "Patient").match(refs) {
		t.Error("reference matching")
	}
}

func TestSearchParseText(t *testing.T) {
	for _, tc := range []struct {
		text, q, mod string
		want         bool
	}{
		{"María José González", "gonzalez", "", true},
		{"María José González", "GON jo", "", true},
		{"María José González", "onzalez", "", false},
		{"María José González", "onzál", "contains", true},
		{"María José González", "josé gon", "contains", true},
		{"María José González", "María José González ", "exact", true},
		{"María José González", "maria jose gonzalez", "exact", false},
		{"Ana O'Neil", "oneil", "", false},
		{"Ana O'Neil", "o nei", "", true},
	} {
		if got := matchText(tc.text, tc.q, tc.mod); got != tc.want {
			t.Errorf("%q %s:%s = %v, want %v", tc.text, tc.q, tc.mod, got, tc.want)
		}
	}
}

func TestSearchParsePrefer(t *testing.T) {
	for v, want := range map[string]bool{
		"handling=strict": true, "return=minimal, handling=strict": true, "handling = strict": true,
		"handling=lenient": false, "": false, "respond-async; handling=strict": true,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Prefer", v)
		}
		if got := preferStrict(h); got != want {
			t.Errorf("Prefer %q strict = %v", v, got)
		}
	}
}

func TestSearchParseParams(t *testing.T) {
	obs := mustType(t, "Observation")
	q, err := parseSearch(obs, url.Values{"patient": {"Patient/p1"}, "colour": {"blue"}, "code": {"8867-4,8310-5"},
		"date": {"ge2024-01-01", "lt2024-02-01"}, "_count": {"500"}, "_sort": {"-_lastUpdated"}, "_format": {"json"},
		"status": {""}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(q.ignored, []string{"colour", "status"}) {
		t.Errorf("ignored = %v", q.ignored)
	}
	if q.count != maxCount || q.sort != (sortSpec{key: "_lastUpdated", desc: true}) || len(q.criteria) != 4 {
		t.Errorf("count %d sort %+v criteria %d", q.count, q.sort, len(q.criteria))
	}
	want := url.Values{"patient": {"Patient/p1"}, "code": {"8867-4,8310-5"}, "date": {"ge2024-01-01", "lt2024-02-01"},
		"_count": {"200"}, "_sort": {"-_lastUpdated"}}
	if q.applied.Encode() != want.Encode() {
		t.Errorf("applied = %s, want %s", q.applied.Encode(), want.Encode())
	}

	// Prefer: handling=strict refuses what would be ignored.
	for _, params := range []url.Values{
		{"colour": {"blue"}}, {"status": {""}}, {"_sort": {"code"}}, {"_include": {"Observation:performer"}},
		{"_revinclude": {"Observation:subject"}}, {"_include:iterate": {"Observation:subject"}},
	} {
		_, err := parseSearch(obs, params, true)
		var k string
		for k = range params {
		}
		wantBadParam(t, err, k)
		if _, err := parseSearch(obs, params, false); err != nil {
			t.Errorf("%v lenient: %v", params, err)
		}
	}

	// Malformed values and unsupported modifiers are refused however the
	// request prefers.
	for _, tc := range []struct {
		params url.Values
		param  string
	}{
		{url.Values{"date": {"yesterday"}}, "date"},
		{url.Values{"_lastUpdated": {"ap2024"}}, "_lastUpdated"},
		{url.Values{"_count": {"-1"}}, "_count"},
		{url.Values{"_count": {"ten"}}, "_count"},
		{url.Values{"_count": {"1", "2"}}, "_count"},
		{url.Values{"code:text": {"pulse"}}, "code:text"},
		{url.Values{"date:missing": {"true"}}, "date:missing"},
		{url.Values{"_include": {"Observation"}}, "_include"},
		{url.Values{"_cursor": {"not-a-cursor"}}, "_cursor"},
	} {
		_, err := parseSearch(obs, tc.params, false)
		wantBadParam(t, err, tc.param)
	}

	// :not on the tokens matched here; not on ehr's.
	if _, err := parseSearch(obs, url.Values{"status:not": {"entered-in-error"}}, true); err != nil {
		t.Error(err)
	}
	_, err = parseSearch(mustType(t, "Patient"), url.Values{"gender:not": {"male"}}, false)
	wantBadParam(t, err, "gender:not")
	_, err = parseSearch(mustType(t, "Practitioner"), url.Values{"active": {"yes"}}, false)
	wantBadParam(t, err, "active")
}

func TestSearchParseSort(t *testing.T) {
	for _, tc := range []struct {
		typ, in string
		want    sortSpec
		ok      bool
	}{
		{"Observation", "date", sortSpec{key: "date"}, true},
		{"Observation", "-date", sortSpec{key: "date", desc: true}, true},
		{"Encounter", "_lastUpdated", sortSpec{key: "_lastUpdated"}, true},
		{"Encounter", "date,_id", sortSpec{}, false},
		{"Observation", "code", sortSpec{}, false},
		{"Patient", "family", sortSpec{}, true},
		{"Patient", "birthdate", sortSpec{}, false},
		{"Patient", "-family", sortSpec{}, false},
		{"Practitioner", "-name", sortSpec{key: "name", desc: true}, true},
		{"Practitioner", "date", sortSpec{}, false},
	} {
		got, ok := parseSort(mustType(t, tc.typ), tc.in)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("%s _sort=%s = %+v %v, want %+v %v", tc.typ, tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if defaultSort(mustType(t, "Observation")) != (sortSpec{key: "date", desc: true}) {
		t.Error("records default to newest first")
	}
}

func TestSearchParseInclude(t *testing.T) {
	for _, tc := range []struct {
		typ, in string
		want    includeSpec
		ok      bool
	}{
		{"Observation", "Observation:subject", includeSpec{param: "subject"}, true},
		{"Observation", "Observation:patient", includeSpec{param: "patient"}, true},
		{"Observation", "Observation:subject:Patient", includeSpec{param: "subject", target: "Patient"}, true},
		{"Observation", "Observation:subject:Group", includeSpec{}, false},
		{"Observation", "Observation:encounter", includeSpec{}, false},
		{"Observation", "Observation:performer", includeSpec{}, false},
		{"Observation", "Condition:subject", includeSpec{}, false},
		{"Encounter", "Encounter:participant", includeSpec{param: "participant"}, true},
		{"Encounter", "Encounter:practitioner", includeSpec{param: "practitioner"}, true},
		{"Appointment", "Appointment:actor:Practitioner", includeSpec{param: "actor", target: "Practitioner"}, true},
		{"Appointment", "Appointment:practitioner", includeSpec{param: "practitioner"}, true},
		{"CareTeam", "CareTeam:participant", includeSpec{param: "participant"}, true},
		{"MedicationRequest", "MedicationRequest:requester", includeSpec{}, false},
		{"Patient", "Patient:general-practitioner", includeSpec{}, false},
	} {
		got, ok, err := parseInclude(mustType(t, tc.typ), tc.in)
		if err != nil || ok != tc.ok || ok && got != tc.want {
			t.Errorf("%s _include=%s = %+v %v %v, want %+v %v", tc.typ, tc.in, got, ok, err, tc.want, tc.ok)
		}
	}
	if _, _, err := parseInclude(mustType(t, "Observation"), "subject"); err == nil {
		t.Error("_include=subject parsed")
	}
	pt := mustType(t, "Patient")
	for in, ok := range map[string]bool{
		"Observation:subject": true, "Condition:patient": true, "AllergyIntolerance:patient": true, "Appointment:actor": true,
		"Appointment:patient": true, "CareTeam:subject:Patient": true, "Observation:encounter": false,
		"Encounter:participant": false, "Practitioner:name": false, "Observation:subject:Group": false,
	} {
		spec, got, err := parseRevinclude(pt, in)
		if err != nil || got != ok || ok && spec.source.Name != strings.Split(in, ":")[0] {
			t.Errorf("_revinclude=%s = %v %v", in, got, err)
		}
	}
	if _, ok, _ := parseRevinclude(mustType(t, "Encounter"), "Observation:encounter"); ok {
		t.Error("_revinclude is offered on Patient searches only")
	}
	// A _revinclude caps the page: each Patient costs a chart read.
	q, err := parseSearch(pt, url.Values{"_revinclude": {"Observation:subject"}, "_count": {"100"}}, true)
	if err != nil || q.count != maxRevincludeCount || q.applied.Get("_count") != "50" {
		t.Errorf("count %d %s %v", q.count, q.applied.Encode(), err)
	}
}

func TestSearchParseCursor(t *testing.T) {
	obs := mustType(t, "Observation")
	params := url.Values{"patient": {"p1"}, "code": {"8867-4"}}
	q, err := parseSearch(obs, params, false)
	if err != nil {
		t.Fatal(err)
	}
	c := searchCursor{T: "Observation", Q: q.fp, V: "2024-01-01T00:00:00.000000000Z", I: "x"}.encode()

	// The same search, another page size: the cursor is its own.
	next := url.Values{"patient": {"p1"}, "code": {"8867-4"}, "_count": {"5"}, "_cursor": {c}}
	q2, err := parseSearch(obs, next, false)
	if err != nil || q2.cursor == nil || q2.cursor.I != "x" || q2.applied.Get("_cursor") != c {
		t.Fatalf("cursor of the same search: %+v %v", q2, err)
	}
	// Another filter, another order, another type: refused.
	for _, other := range []url.Values{
		{"patient": {"p1"}, "code": {"8310-5"}, "_cursor": {c}},
		{"patient": {"p1"}, "code": {"8867-4"}, "_sort": {"date"}, "_cursor": {c}},
	} {
		_, err := parseSearch(obs, other, false)
		wantBadParam(t, err, "_cursor")
	}
	_, err = parseSearch(mustType(t, "Condition"), next, false)
	wantBadParam(t, err, "_cursor")
}

func TestSearchParsePatientQuery(t *testing.T) {
	pt := mustType(t, "Patient")
	parse := func(params url.Values) (ehr.PatientQuery, bool, error) {
		t.Helper()
		q, err := parseSearch(pt, params, true)
		if err != nil {
			return ehr.PatientQuery{}, false, err
		}
		return patientQuery(q)
	}
	for _, tc := range []struct {
		params url.Values
		want   ehr.PatientQuery
	}{
		{url.Values{"name": {"gonzalez"}}, ehr.PatientQuery{Name: "gonzalez"}},
		{url.Values{"name": {"jose", "perez"}}, ehr.PatientQuery{Name: "jose perez"}},
		{url.Values{"name:exact": {"José Pérez"}}, ehr.PatientQuery{Name: "José Pérez", NameMatch: ehr.MatchExact}},
		{url.Values{"family:contains": {"rez"}, "given": {"jo"}}, ehr.PatientQuery{Family: "rez", FamilyMatch: ehr.MatchContains, Given: "jo"}},
		{url.Values{"identifier": {"123"}}, ehr.PatientQuery{DocumentNumber: "123"}},
		{url.Values{"identifier": {r4.DocumentSystem("CC") + "|123"}}, ehr.PatientQuery{DocumentNumber: "123", IdentifierSystem: "CC"}},
		{url.Values{"identifier": {r4.SystemIdentifierPrefix + "MRN|"}}, ehr.PatientQuery{IdentifierSystem: "MRN"}},
		{url.Values{"birthdate": {"1990-05-17"}}, ehr.PatientQuery{BirthFrom: day("1990-05-17"), BirthTo: day("1990-05-17")}},
		{url.Values{"birthdate": {"1990-05"}}, ehr.PatientQuery{BirthFrom: day("1990-05-01"), BirthTo: day("1990-05-31")}},
		{url.Values{"birthdate": {"ge1990", "lt2000"}}, ehr.PatientQuery{BirthFrom: day("1990-01-01"), BirthTo: day("1999-12-31")}},
		{url.Values{"birthdate": {"gt1990", "le2000-02"}}, ehr.PatientQuery{BirthFrom: day("1991-01-01"), BirthTo: day("2000-02-29")}},
		{url.Values{"birthdate": {"eb1990-05-17", "sa1980"}}, ehr.PatientQuery{BirthFrom: day("1981-01-01"), BirthTo: day("1990-05-16")}},
		{url.Values{"birthdate": {"ne1990"}}, ehr.PatientQuery{BirthNotFrom: day("1990-01-01"), BirthNotTo: day("1990-12-31")}},
		{url.Values{"gender": {"FEMALE"}}, ehr.PatientQuery{Sex: ehr.SexFemale}},
		{url.Values{"gender": {"http://hl7.org/fhir/administrative-gender|male"}}, ehr.PatientQuery{Sex: ehr.SexMale}},
		{url.Values{"_id": {"0190f1a2-0000-7000-8000-000000000001,nope"}}, ehr.PatientQuery{IDs: []string{"0190f1a2-0000-7000-8000-000000000001"}}},
		{url.Values{"_lastUpdated": {"ge2024-03-01", "lt2024-03-02T10:00Z"}},
			ehr.PatientQuery{UpdatedFrom: day("2024-03-01"), UpdatedTo: instant("2024-03-02T10:00:00Z")}},
		{url.Values{"_lastUpdated": {"2024-03"}}, ehr.PatientQuery{UpdatedFrom: day("2024-03-01"), UpdatedTo: day("2024-04-01")}},
	} {
		got, none, err := parse(tc.params)
		if err != nil || none {
			t.Errorf("%s: none %v err %v", tc.params.Encode(), none, err)
			continue
		}
		if !patientQueryEqual(got, tc.want) {
			t.Errorf("%s = %+v, want %+v", tc.params.Encode(), got, tc.want)
		}
	}
	// Searches that match nothing, without asking ehr.
	for _, params := range []url.Values{
		{"identifier": {"http://other.example/ids|123"}},
		{"identifier": {"|123"}},
		{"identifier": {r4.SystemDocumentPrefix + "|123"}},
		{"gender": {"male", "female"}},
		{"gender": {"http://other.example|male"}},
		{"_id": {"nope"}},
		{"_id": {"0190f1a2-0000-7000-8000-000000000001", "0190f1a2-0000-7000-8000-000000000002"}},
	} {
		if _, none, err := parse(params); err != nil || !none {
			t.Errorf("%s: none %v err %v, want none", params.Encode(), none, err)
		}
	}
	for _, tc := range []struct {
		params url.Values
		param  string
	}{
		{url.Values{"name": {"ana,maria"}}, "name"},
		{url.Values{"name:exact": {"Ana"}, "name": {"ma"}}, "name"},
		{url.Values{"identifier": {"1", "2"}}, "identifier"},
		{url.Values{"birthdate": {"1990-05-17T10:00Z"}}, "birthdate"},
		{url.Values{"birthdate": {"ne1990", "ne1991"}}, "birthdate"},
		{url.Values{"birthdate": {"1990,1991"}}, "birthdate"},
		{url.Values{"gender": {"dragon"}}, "gender"},
		{url.Values{"_lastUpdated": {"ne2024"}}, "_lastUpdated"},
		{url.Values{"_count": {"0"}}, "_count"},
		{url.Values{"phone": {"555"}}, "phone"},
	} {
		_, _, err := parse(tc.params)
		wantBadParam(t, err, tc.param)
	}
	if patientParamOf("IDs[3]") != "_id" || patientParamOf("BirthNotFrom") != "birthdate" || patientParamOf("IdentifierSystem") != "identifier" {
		t.Error("ehr's fields are named as parameters")
	}
}

func patientQueryEqual(a, b ehr.PatientQuery) bool {
	return a.Name == b.Name && a.NameMatch == b.NameMatch && a.Family == b.Family && a.FamilyMatch == b.FamilyMatch &&
		a.Given == b.Given && a.GivenMatch == b.GivenMatch && a.DocumentNumber == b.DocumentNumber &&
		a.IdentifierSystem == b.IdentifierSystem && slices.Equal(a.IDs, b.IDs) && a.BirthDate.Equal(b.BirthDate) &&
		a.BirthFrom.Equal(b.BirthFrom) && a.BirthTo.Equal(b.BirthTo) && a.BirthNotFrom.Equal(b.BirthNotFrom) &&
		a.BirthNotTo.Equal(b.BirthNotTo) && a.Sex == b.Sex && a.UpdatedFrom.Equal(b.UpdatedFrom) && a.UpdatedTo.Equal(b.UpdatedTo)
}

func TestSearchParsePatients(t *testing.T) {
	parse := func(typ string, params url.Values) *searchQuery {
		t.Helper()
		q, err := parseSearch(mustType(t, typ), params, true)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	for _, tc := range []struct {
		typ    string
		params url.Values
		ids    []string
		named  bool
	}{
		{"Observation", url.Values{"patient": {"b"}}, []string{"b"}, true},
		{"Observation", url.Values{"subject": {"Patient/b"}, "patient": {"b,a"}}, []string{"b"}, true},
		{"Observation", url.Values{"patient": {"b,a"}}, []string{"a", "b"}, true},
		{"Observation", url.Values{"subject:Patient": {"a"}}, []string{"a"}, true},
		{"Observation", url.Values{"subject": {"Group/a"}}, nil, true},
		{"Observation", url.Values{"patient": {"a"}, "subject": {"b"}}, nil, true},
		{"Observation", url.Values{"code": {"8867-4"}}, nil, false},
		{"Appointment", url.Values{"actor": {"Patient/a"}}, []string{"a"}, true},
		{"Appointment", url.Values{"actor": {"Practitioner/p"}}, nil, false},
		{"Appointment", url.Values{"actor": {"a"}}, nil, false},
	} {
		ids, named := parse(tc.typ, tc.params).patientIDs()
		if named != tc.named || !slices.Equal(ids, tc.ids) {
			t.Errorf("%s?%s = %v %v, want %v %v", tc.typ, tc.params.Encode(), ids, named, tc.ids, tc.named)
		}
	}
	if pr := parse("Appointment", url.Values{"actor": {"Practitioner/p"}, "date": {"ge2024-03-01"}}).practitionerID(); pr != "p" {
		t.Errorf("practitioner = %q", pr)
	}
	if pr := parse("Appointment", url.Values{"practitioner": {"p,q"}}).practitionerID(); pr != "" {
		t.Errorf("practitioner = %q, want none of two", pr)
	}
	ids, given := parse("Condition", url.Values{"_id": {"a,b", "b,c"}}).ids()
	if !given || !slices.Equal(ids, []string{"b"}) {
		t.Errorf("_id = %v %v", ids, given)
	}

	// An agenda's range: the bounds of the date criteria.
	from, to := parse("Appointment", url.Values{"date": {"ge2024-03-01", "lt2024-04-01", "ne2024-03-15"}}).dateBounds("date")
	if !from.Equal(day("2024-03-01")) || !to.Equal(day("2024-04-01")) {
		t.Errorf("bounds %v %v", from, to)
	}
	from, to = parse("Appointment", url.Values{"date": {"2024-03,2024-05"}}).dateBounds("date")
	if !from.Equal(day("2024-03-01")) || !to.Equal(day("2024-06-01")) {
		t.Errorf("bounds of a or b %v %v", from, to)
	}
	if from, to = parse("Appointment", url.Values{"date": {"ge2024-03-01,lt2024-01-01"}}).dateBounds("date"); !from.IsZero() || !to.IsZero() {
		t.Errorf("an open alternative leaves the range open: %v %v", from, to)
	}

	for params, want := range map[string]bool{
		"class=IMP&status=in-progress":                                              true,
		"class=" + url.QueryEscape(r4.SystemActCode+"|IMP") + "&status=in-progress": true,
		"class=IMP":                                false,
		"class=IMP,AMB&status=in-progress":         false,
		"class=IMP&status:not=in-progress":         false,
		"class=IMP&status=in-progress&date=ge2024": true,
	} {
		v, _ := url.ParseQuery(params)
		if got := parse("Encounter", v).admissions(); got != want {
			t.Errorf("%s admissions = %v", params, got)
		}
	}
}

// observations are n vital signs of one patient, an hour apart, the
// newest last.
func observations(n int) []any {
	var out []any
	at := instant("2024-03-01T08:00:00Z")
	for i := range n {
		code := ehr.CodeHeartRate
		if i%2 == 1 {
			code = ehr.CodeBodyTemp
		}
		out = append(out, ehr.Observation{ID: "0190f1a2-0000-7000-8000-00000000000" + string(rune('a'+i)), PatientID: "p1",
			Category: ehr.CategoryVitalSigns, Code: code, EffectiveAt: at.Add(time.Duration(i) * time.Hour), UpdatedAt: at})
	}
	return out
}

func matching(t *testing.T, typ string, params url.Values, pool []any) []string {
	t.Helper()
	q, err := parseSearch(mustType(t, typ), params, true)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range pool {
		if q.matches(v) {
			ids = append(ids, metaOf(v).ID[len(metaOf(v).ID)-1:])
		}
	}
	return ids
}

func TestSearchParseMatch(t *testing.T) {
	pool := observations(6)
	o := pool[3].(ehr.Observation)
	o.Status = ehr.StatusEnteredInError
	pool[3] = o
	for _, tc := range []struct {
		params string
		want   string
	}{
		{"patient=p1", "abcdef"},
		{"patient=Patient/p2", ""},
		{"code=" + ehr.CodeHeartRate, "ace"},
		{"code=" + url.QueryEscape(r4.SystemLOINC+"|"+ehr.CodeBodyTemp), "bdf"},
		{"code=" + url.QueryEscape(r4.SystemICD10+"|"+ehr.CodeBodyTemp), ""},
		{"code=" + ehr.CodeHeartRate + "," + ehr.CodeBodyTemp, "abcdef"},
		{"status=final", "abcef"},
		{"status:not=entered-in-error", "abcef"},
		{"status:not=final,entered-in-error", ""},
		{"category=vital-signs&category=laboratory", ""},
		{"date=ge2024-03-01T10:00Z&date=lt2024-03-01T12:00Z", "cd"},
		{"date=2024-03-01T10:00", "c"},
		{"date=ne2024-03-01T10:00", "abdef"},
		{"date=le2024-03-01T09:59:59Z", "ab"},
		{"_id=0190f1a2-0000-7000-8000-00000000000e", "e"},
		{"_lastUpdated=2024-03-01", "abcdef"},
		{"_lastUpdated=gt2024-03-01", ""},
	} {
		v, err := url.ParseQuery(tc.params)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(matching(t, "Observation", v, pool), ""); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.params, got, tc.want)
		}
	}

	// Pulse oximetry is also found by 2708-6, as it is encoded.
	spo2 := []any{ehr.Observation{ID: "x", PatientID: "p1", Category: ehr.CategoryVitalSigns, Code: ehr.CodeOxygenSat}}
	if got := matching(t, "Observation", url.Values{"code": {r4.CodeOxygenSatArterial}}, spo2); len(got) != 1 {
		t.Error("2708-6 does not find pulse oximetry")
	}

	// Statuses as FHIR writes them.
	appts := []any{ehr.Appointment{ID: "1", Status: ehr.AppointmentNoShow}, ehr.Appointment{ID: "2", Status: ehr.AppointmentBooked}}
	if got := matching(t, "Appointment", url.Values{"status": {"noshow"}}, appts); !slices.Equal(got, []string{"1"}) {
		t.Errorf("noshow = %v", got)
	}
	notes := []any{ehr.Note{ID: "1", Status: ehr.NoteDraft}, ehr.Note{ID: "2", Status: ehr.NoteSigned}, ehr.Note{ID: "3", Status: ehr.StatusEnteredInError}}
	for params, want := range map[string]string{"status=current": "12", "status=entered-in-error": "3", "doc-status=final": "2",
		"doc-status=preliminary,amended": "1"} {
		v, _ := url.ParseQuery(params)
		if got := strings.Join(matching(t, "DocumentReference", v, notes), ""); got != want {
			t.Errorf("DocumentReference?%s = %q, want %q", params, got, want)
		}
	}
	conds := []any{ehr.Condition{ID: "1", Code: "E11.9", Status: "active"}, ehr.Condition{ID: "2", Code: "J45", Status: ehr.StatusEnteredInError}}
	for params, want := range map[string]string{"clinical-status=active": "1", "verification-status=entered-in-error": "2",
		"code=" + url.QueryEscape(r4.SystemICD10+"|e11.9"): "1", "onset-date=ge2000": ""} {
		v, _ := url.ParseQuery(params)
		if got := strings.Join(matching(t, "Condition", v, conds), ""); got != want {
			t.Errorf("Condition?%s = %q, want %q", params, got, want)
		}
	}
	encs := []any{ehr.Encounter{ID: "1", Class: ehr.ClassInpatient, Status: ehr.EncounterInProgress, PractitionerID: "pr"},
		ehr.Encounter{ID: "2", Class: ehr.ClassAmbulatory, Status: ehr.EncounterFinished}}
	for params, want := range map[string]string{"class=IMP": "1", "class=" + url.QueryEscape(r4.SystemActCode+"|AMB"): "2",
		"participant=Practitioner/pr": "1", "practitioner=pr": "1", "status=finished": "2"} {
		v, _ := url.ParseQuery(params)
		if got := strings.Join(matching(t, "Encounter", v, encs), ""); got != want {
			t.Errorf("Encounter?%s = %q, want %q", params, got, want)
		}
	}
	prs := []any{ehr.Practitioner{ID: "1", Name: "Dra. María González", License: "RM-1", Active: true},
		ehr.Practitioner{ID: "2", Name: "Dr. Juan Pérez", License: "RM-2"}}
	for params, want := range map[string]string{"name=gonzalez": "1", "name=per": "2", "name=dr": "12", "name=dra": "1", "name:contains=r": "12",
		"identifier=RM-2": "2", "identifier=" + url.QueryEscape(r4.SystemLicense+"|RM-1"): "1", "active=true": "1", "active=false": "2"} {
		v, _ := url.ParseQuery(params)
		if got := strings.Join(matching(t, "Practitioner", v, prs), ""); got != want {
			t.Errorf("Practitioner?%s = %q, want %q", params, got, want)
		}
	}
}

// TestSearchParsePaging follows the next links of a search through its
// pages while records are added: every record that existed when the
// search began is seen once, in order.
func TestSearchParsePaging(t *testing.T) {
	obs := mustType(t, "Observation")
	pool := observations(7)
	params := url.Values{"patient": {"p1"}, "_count": {"3"}}
	var seen []string
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("too many pages")
		}
		q, err := parseSearch(obs, params, true)
		if err != nil {
			t.Fatal(err)
		}
		var matches []any
		for _, v := range pool {
			if q.matches(v) {
				matches = append(matches, v)
			}
		}
		page, next, err := q.pageOf(matches, pool)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page {
			id := metaOf(v).ID
			seen = append(seen, id[len(id)-1:])
		}
		if next == "" {
			break
		}
		params.Set("_cursor", next)
		// A newer record, written concurrently, does not shift the
		// pages.
		n := len(pool)
		pool = append(pool, ehr.Observation{ID: "0190f1a2-0000-7000-8000-00000000001" + string(rune('a'+n)), PatientID: "p1",
			EffectiveAt: instant("2024-03-02T08:00:00Z")})
	}
	if got := strings.Join(seen, ""); got != "gfedcba" {
		t.Errorf("pages = %q, want gfedcba (newest first, each once)", got)
	}

	// Equal dates are ordered by id, and the cursor sits between them.
	same := []any{}
	for _, id := range []string{"c", "a", "b"} {
		same = append(same, ehr.Observation{ID: id, PatientID: "p1", EffectiveAt: instant("2024-03-01T08:00:00Z")})
	}
	q, _ := parseSearch(obs, url.Values{"patient": {"p1"}, "_count": {"1"}, "_sort": {"date"}}, true)
	var got []string
	for range 3 {
		page, next, err := q.pageOf(same, same)
		if err != nil || len(page) != 1 {
			t.Fatalf("page %v %v", page, err)
		}
		got = append(got, metaOf(page[0]).ID)
		if next == "" {
			break
		}
		c, _ := decodeSearchCursor(next)
		q.cursor = &c
	}
	if strings.Join(got, "") != "abc" {
		t.Errorf("ties = %v", got)
	}

	// _count=0: the total alone.
	q, _ = parseSearch(obs, url.Values{"patient": {"p1"}, "_count": {"0"}}, true)
	if page, next, _ := q.pageOf(pool, pool); len(page) != 0 || next != "" {
		t.Errorf("_count=0: %d entries, next %q", len(page), next)
	}
}

// TestSearchParsePractitionerPaging: a name-ordered cursor carries the
// id only (no name in a URL); the name is found again by the id.
func TestSearchParsePractitionerPaging(t *testing.T) {
	pr := mustType(t, "Practitioner")
	pool := []any{ehr.Practitioner{ID: "1", Name: "Zoe"}, ehr.Practitioner{ID: "2", Name: "Álvaro"}, ehr.Practitioner{ID: "3", Name: "bruno"}}
	q, _ := parseSearch(pr, url.Values{"_count": {"2"}}, true)
	page, next, err := q.pageOf(pool, pool)
	if err != nil || len(page) != 2 || metaOf(page[0]).ID != "2" || metaOf(page[1]).ID != "3" || next == "" {
		t.Fatalf("page 1: %v %q %v", page, next, err)
	}
	c, _ := decodeSearchCursor(next)
	if c.V != "" || c.I != "3" {
		t.Errorf("cursor %+v carries a name", c)
	}
	q, err = parseSearch(pr, url.Values{"_count": {"2"}, "_cursor": {next}}, true)
	if err != nil {
		t.Fatal(err)
	}
	page, next, err = q.pageOf(pool, pool)
	if err != nil || len(page) != 1 || metaOf(page[0]).ID != "1" || next != "" {
		t.Fatalf("page 2: %v %q %v", page, next, err)
	}
	// A cursor whose practitioner is gone is refused.
	_, _, err = q.pageOf(pool[:2], pool[:2])
	wantBadParam(t, err, "_cursor")
}

func TestSearchParseNegotiate(t *testing.T) {
	for _, tc := range []struct {
		method, path, ctype string
		status              int
	}{
		{"POST", Root + "/Patient/_search", "application/x-www-form-urlencoded", 0},
		{"POST", Root + "/Patient/_search", "application/x-www-form-urlencoded; charset=utf-8", 0},
		{"POST", Root + "/Patient/_search", "application/fhir+json", http.StatusUnsupportedMediaType},
		{"POST", Root + "/Patient", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"POST", Root + "/Patient", "application/fhir+json", 0},
	} {
		r := httptest.NewRequest(tc.method, tc.path, strings.NewReader("name=ana"))
		r.Header.Set("Content-Type", tc.ctype)
		err := negotiate(r)
		var oc *outcome
		switch {
		case tc.status == 0 && err != nil:
			t.Errorf("%s %s %s: %v", tc.method, tc.path, tc.ctype, err)
		case tc.status != 0 && (!errors.As(err, &oc) || oc.status != tc.status):
			t.Errorf("%s %s %s: %v, want %d", tc.method, tc.path, tc.ctype, err, tc.status)
		}
	}
	// The body and the query string combine.
	r := httptest.NewRequest("POST", Root+"/Patient/_search?gender=female", strings.NewReader("name=ana&birthdate=ge1990"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	v, err := formOf(r)
	if err != nil || v.Get("gender") != "female" || v.Get("name") != "ana" || v.Get("birthdate") != "ge1990" {
		t.Errorf("form %v %v", v, err)
	}
}
