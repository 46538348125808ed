package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
)

// newValidator returns google/fhir's R4 unmarshaller with validation: it
// rejects unknown elements, wrong types, malformed primitives, codes outside
// required bindings and references to the wrong resource type.
func newValidator(tb testing.TB) *jsonformat.Unmarshaller {
	tb.Helper()
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// TestGoldenResourcesAreR4 validates every resource package fhir emits
// (its golden files, written by its tests from ehr records) against R4.
func TestGoldenResourcesAreR4(t *testing.T) {
	files, err := filepath.Glob("../testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("found %d golden resources in ../testdata; run go test ./fhir first", len(files))
	}
	u := newValidator(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := u.Unmarshal(data); err != nil {
				t.Errorf("not valid R4: %v\n%s", err, data)
			}
		})
	}
}

// TestValidatorIsStrict shows the validator rejects what FromFHIR must
// reject, so that the test above can fail.
func TestValidatorIsStrict(t *testing.T) {
	u := newValidator(t)
	for name, doc := range map[string]string{
		"unknown element":      `{"resourceType":"Patient","id":"a","colour":"blue"}`,
		"wrong type":           `{"resourceType":"Patient","id":"a","active":"yes"}`,
		"bad date":             `{"resourceType":"Patient","id":"a","birthDate":"1990-13-45"}`,
		"code outside binding": `{"resourceType":"Patient","id":"a","gender":"dragon"}`,
		"wrong reference type": `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Practitioner/1"}}`,
	} {
		if _, err := u.Unmarshal([]byte(doc)); err == nil {
			t.Errorf("%s: accepted %s", name, doc)
		} else if strings.TrimSpace(err.Error()) == "" {
			t.Errorf("%s: empty error", name)
		}
	}
}
