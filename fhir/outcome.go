package fhir

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is what every *OperationOutcome returned by a Decode function
// wraps: the input is not a FHIR R4 resource Historia accepts.
var ErrInvalid = errors.New("fhir: invalid resource")

// Issue types (OperationOutcome.issue.code, http://hl7.org/fhir/issue-type)
// that the decoders report.
const (
	// IssueStructure: not JSON, an unknown element, a value of the wrong
	// JSON type, an empty value or array, a null.
	IssueStructure = "structure"
	// IssueRequired: a required element is missing.
	IssueRequired = "required"
	// IssueValue: a value of the right type but a wrong format (a date,
	// an id, a reference of the wrong resource type).
	IssueValue = "value"
	// IssueCodeInvalid: a code outside the value set the element is
	// bound to (a required binding, or a code system Historia needs).
	IssueCodeInvalid = "code-invalid"
	// IssueNotSupported: valid FHIR that Historia does not store (a
	// second name, a resource type that is not the one expected).
	IssueNotSupported = "not-supported"
)

// Issue is one problem of a resource: its type (one of the Issue*
// constants), a FHIRPath-like location such as "Patient.birthDate" or
// "Observation.component[1].valueQuantity.code", and English diagnostics.
type Issue struct {
	Code        string
	Location    string
	Diagnostics string
}

// OperationOutcome is the error of a Decode function: the issues found,
// every one an error. It renders as a FHIR R4 OperationOutcome with
// encoding/json (MarshalJSON), so a server returns it as the body of a 400
// or 422 answer. errors.Is(err, ErrInvalid) holds.
type OperationOutcome struct {
	Issues []Issue
}

// Error returns "fhir: invalid resource: <location>: <diagnostics>" for
// the first issue, with the number of further issues.
func (o *OperationOutcome) Error() string {
	if len(o.Issues) == 0 {
		return ErrInvalid.Error()
	}
	i := o.Issues[0]
	s := fmt.Sprintf("%s: %s: %s", ErrInvalid, i.Location, i.Diagnostics)
	if n := len(o.Issues) - 1; n > 0 {
		s += fmt.Sprintf(" (and %d more)", n)
	}
	return s
}

// Unwrap returns ErrInvalid.
func (o *OperationOutcome) Unwrap() error { return ErrInvalid }

// MarshalJSON renders o as a FHIR R4 OperationOutcome resource: one issue
// of severity error per Issue, with its code, diagnostics, and the
// location as expression (FHIRPath; the XPath location is not given).
func (o *OperationOutcome) MarshalJSON() ([]byte, error) {
	type issue struct {
		Severity    string   `json:"severity"`
		Code        string   `json:"code"`
		Diagnostics string   `json:"diagnostics,omitempty"`
		Expression  []string `json:"expression,omitempty"`
	}
	out := struct {
		ResourceType string  `json:"resourceType"`
		Issue        []issue `json:"issue"`
	}{ResourceType: "OperationOutcome", Issue: []issue{}}
	for _, i := range o.Issues {
		is := issue{Severity: "error", Code: i.Code, Diagnostics: i.Diagnostics}
		if i.Location != "" {
			is.Expression = []string{i.Location}
		}
		out.Issue = append(out.Issue, is)
	}
	return json.Marshal(out)
}

// issues collects the issues of one decode.
type issues struct {
	list []Issue
}

func (is *issues) add(code, loc, format string, args ...any) {
	is.list = append(is.list, Issue{Code: code, Location: loc, Diagnostics: fmt.Sprintf(format, args...)})
}

// err returns the collected issues as an *OperationOutcome, or nil.
func (is *issues) err() error {
	if len(is.list) == 0 {
		return nil
	}
	return &OperationOutcome{Issues: is.list}
}

// path joins FHIRPath-like locations: path("Patient", "name", 0) is
// "Patient.name[0]".
func path(parts ...any) string {
	var b strings.Builder
	for _, p := range parts {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		}
	}
	return b.String()
}
