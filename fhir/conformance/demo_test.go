package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/fhir/go/jsonformat"
)

// demoDir is where the reference server's tests write the FHIR they
// emitted for the demo hospital (refserver/internal/server fhir_test.go:
// every patient's $everything, searchsets, the CapabilityStatement; and
// refserver/internal/protocol/fhir capability_test.go). The Makefile runs
// refserver's tests before this module's. Not committed (.gitignore).
const demoDir = "testdata/demo"

// TestDemoIsR4 validates every file of testdata/demo with google/fhir's
// strict R4 parser. A Bundle is validated whole (which validates every
// entry's resource); when it fails, each entry is validated alone too, so
// that the report names the entry at fault, with the file.
//
// Without the files the test is skipped, or fails under CI=true (where
// refserver's tests have run first and must have written them).
func TestDemoIsR4(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(demoDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		const msg = "no FHIR from the reference server in " + demoDir + ": run `cd refserver && go test -run 'TestFHIR|TestCapability' ./internal/server ./internal/protocol/fhir` first"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if os.Getenv("CI") == "true" {
		// What the refserver tests always write: the statement and at
		// least one patient's $everything.
		for _, pattern := range []string{"capability-statement.json", "server-everything-*.json", "server-metadata.json"} {
			if m, _ := filepath.Glob(filepath.Join(demoDir, pattern)); len(m) == 0 {
				t.Errorf("%s has no %s: did refserver's TestFHIRDemoEverythingIsR4 and TestCapabilityStatement run?", demoDir, pattern)
			}
		}
	}
	u := newValidator(t)
	entries := 0
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			n, problems := validateDemo(u, data)
			entries += n
			for _, p := range problems {
				t.Errorf("%s: %s", name, p)
			}
		})
	}
	t.Logf("%d files, %d Bundle entries validated", len(files), entries)
}

// collector is a google/fhir ErrorReporter that keeps every validation
// error with the path of the element, and lets validation go on.
type collector struct{ errs []string }

func (c *collector) ReportValidationError(path string, err error) error {
	c.errs = append(c.errs, fmt.Sprintf("%s: %v", path, err))
	return nil
}

func (c *collector) ReportValidationWarning(string, error) error { return nil }

// validate returns the problems of one resource: the parser's error (an
// unknown element, a malformed primitive: it stops at the first) and
// every validation error it reported.
func validate(u *jsonformat.Unmarshaller, data []byte) []string {
	c := &collector{}
	_, err := u.UnmarshalWithErrorReporter(data, c)
	out := c.errs
	if err != nil {
		out = append(out, strings.TrimSpace(err.Error()))
	}
	return out
}

// validateDemo validates a resource, Bundle-aware: it returns the number
// of entries of a Bundle and the problems found, those of a Bundle's
// entries named by their index, type and id.
func validateDemo(u *jsonformat.Unmarshaller, data []byte) (int, []string) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return 0, []string{"not JSON: " + err.Error()}
	}
	if b.ResourceType == "" {
		return 0, []string{"no resourceType"}
	}
	problems := validate(u, data)
	if b.ResourceType != "Bundle" || len(problems) == 0 {
		return len(b.Entry), problems
	}
	// Which entries are at fault.
	for i, e := range b.Entry {
		if len(e.Resource) == 0 {
			continue
		}
		var head struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		json.Unmarshal(e.Resource, &head)
		for _, p := range validate(u, e.Resource) {
			problems = append(problems, fmt.Sprintf("entry[%d] %s/%s (%s): %s", i, head.ResourceType, head.ID, e.FullURL, p))
		}
	}
	return len(b.Entry), problems
}
