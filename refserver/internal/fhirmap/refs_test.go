package fhirmap_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/historiaehr/historia/refserver/internal/fhirmap"
)

func TestRewriteReferences(t *testing.T) {
	m := map[string]string{
		"urn:uuid:0b2f":                    "Patient/new-p",
		"http://other.test/fhir/Patient/9": "Patient/new-p",
		"Encounter/old-e":                  "Encounter/new-e",
	}
	var paths []string
	resolve := func(path, ref string) (string, error) {
		paths = append(paths, path)
		if n, ok := m[ref]; ok {
			return n, nil
		}
		if strings.HasPrefix(ref, "urn:") {
			return "", fmt.Errorf("unknown %s at %s", ref, path)
		}
		return ref, nil
	}
	in := []byte(`{"resourceType":"Observation","subject":{"reference":"urn:uuid:0b2f"},` +
		`"encounter":{"reference":"Encounter/old-e"},"valueQuantity":{"value":120.50,"unit":"mm[Hg]"},` +
		`"performer":[{"type":"Practitioner","identifier":{"system":"s","value":"u"}},{"reference":"Practitioner/keep"}],` +
		`"note":[{"text":"a <b> & c"}]}`)
	out, err := fhirmap.RewriteReferences(in, resolve)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{`"reference":"Patient/new-p"`, `"reference":"Encounter/new-e"`, `"reference":"Practitioner/keep"`,
		`"value":120.50`, `"text":"a <b> & c"`} {
		if !strings.Contains(s, want) {
			t.Errorf("rewritten resource lacks %s: %s", want, s)
		}
	}
	wantPaths := []string{"encounter.reference", "performer[1].reference", "subject.reference"}
	if !reflect.DeepEqual(paths, wantPaths) {
		t.Errorf("paths = %v, want %v", paths, wantPaths)
	}

	// Nothing to change: the same bytes.
	same := []byte(`{"resourceType":"Patient",  "id":"x"}`)
	if out, err := fhirmap.RewriteReferences(same, resolve); err != nil || string(out) != string(same) {
		t.Errorf("unchanged: %s, %v", out, err)
	}
	// A reference that does not resolve fails, naming its path.
	_, err = fhirmap.RewriteReferences([]byte(`{"subject":{"reference":"urn:uuid:nope"}}`), resolve)
	if err == nil || !strings.Contains(err.Error(), "subject.reference") {
		t.Errorf("unresolved urn: %v", err)
	}
	// Not JSON: as it is.
	if out, err := fhirmap.RewriteReferences([]byte(`{"a":`), resolve); err != nil || string(out) != `{"a":` {
		t.Errorf("not JSON: %s, %v", out, err)
	}
}

func TestRefKeys(t *testing.T) {
	for _, tc := range []struct {
		full, typ, rid string
		want           []string
	}{
		{"urn:uuid:0b2f", "Patient", "", []string{"urn:uuid:0b2f"}},
		{"urn:uuid:0b2f", "Patient", "9", []string{"urn:uuid:0b2f", "Patient/9"}},
		{"http://other.test/fhir/R4/Patient/9", "Patient", "9", []string{"http://other.test/fhir/R4/Patient/9", "Patient/9"}},
		{"http://other.test/fhir/R4/Patient/9", "Patient", "", []string{"http://other.test/fhir/R4/Patient/9", "Patient/9"}},
		{"http://other.test/fhir/R4/Observation/9", "Patient", "", []string{"http://other.test/fhir/R4/Observation/9"}},
		{"", "Patient", "9", []string{"Patient/9"}},
		{"", "Patient", "", nil},
	} {
		if got := fhirmap.RefKeys(tc.full, tc.typ, tc.rid); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("refKeys(%q, %q, %q) = %v, want %v", tc.full, tc.typ, tc.rid, got, tc.want)
		}
	}
}
