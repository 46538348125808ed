package fhirimport

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
	"github.com/historiaehr/historia/refserver/internal/fhirmap"
)

// Reject is one line of the rejects file: a resource (or an input file)
// that was not imported, where it is, and why. It names the resource by
// its place in the input and its source id, and carries the reasons of
// the fhir package and of ehr (element paths, codes, ids), never a name,
// a text or a note of the resource.
type Reject struct {
	File string `json:"file"`
	// Line is the 1-based line where the resource starts.
	Line int `json:"line"`
	// Entry is its index in a Bundle's entry (absent in ndjson).
	Entry        *int    `json:"entry,omitempty"`
	ResourceType string  `json:"resourceType,omitempty"`
	ID           string  `json:"id,omitempty"`
	Reason       string  `json:"reason"`
	Issues       []Issue `json:"issues,omitempty"`
}

// Issue is one problem of a rejected resource: the element (FHIRPath) and
// what is wrong with it.
type Issue struct {
	Location    string `json:"location,omitempty"`
	Diagnostics string `json:"diagnostics,omitempty"`
}

// maxDiagnostics bounds a diagnostics text.
const maxDiagnostics = 300

// rejectWriter writes Rejects as ndjson, from several workers.
type rejectWriter struct {
	mu  sync.Mutex
	w   io.Writer
	n   int
	err error
}

func (rw *rejectWriter) write(rs ...Reject) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.n += len(rs)
	if rw.w == nil || rw.err != nil {
		return
	}
	for _, r := range rs {
		b, err := json.Marshal(r)
		if err == nil {
			b = append(b, '\n')
			_, err = rw.w.Write(b)
		}
		if err != nil {
			rw.err = err
			return
		}
	}
}

// dataError reports whether err is a problem of the data (the resource
// is rejected, the import goes on): an invalid resource, a record ehr
// refuses, something it names that is not found, a conflict with what is
// stored. Anything else (the database, a cancelled context, a denial,
// which means the import's policy does not allow what it needs) stops
// the import.
func dataError(err error) bool {
	if errors.Is(err, ehr.ErrDenied) {
		return false
	}
	var oo *r4.OperationOutcome
	var re *refError
	return errors.As(err, &oo) || errors.As(err, &re) ||
		errors.Is(err, ehr.ErrInvalid) || errors.Is(err, ehr.ErrNotFound) || errors.Is(err, ehr.ErrConflict)
}

// refError is a reference of a resource that the import cannot resolve.
type refError struct {
	loc, diag string
}

func (e *refError) Error() string { return e.loc + ": " + e.diag }

// explain returns the reason and the issues of err, a data error about a
// resource of type typ.
func explain(typ string, err error) (string, []Issue) {
	var oo *r4.OperationOutcome
	var ve *ehr.ValidationError
	var re *refError
	switch {
	case errors.As(err, &re):
		return "a reference the import cannot resolve", []Issue{{Location: re.loc, Diagnostics: clip(re.diag)}}
	case errors.As(err, &oo):
		var is []Issue
		for _, i := range oo.Issues {
			is = append(is, Issue{Location: i.Location, Diagnostics: clip(i.Code + ": " + i.Diagnostics)})
		}
		return "not a resource Historia stores (FHIR mapping)", is
	case errors.As(err, &ve):
		var is []Issue
		for _, f := range ve.Fields {
			field := f.Field
			if strings.HasPrefix(field, "Stays[") {
				field = "Ward" // an admission's location history
			}
			is = append(is, Issue{Location: fhirmap.FieldPath(typ, field), Diagnostics: clip(f.Code + ": " + f.Message)})
		}
		return "refused by ehr's validation", is
	case errors.Is(err, ehr.ErrNotFound):
		return "refused by ehr: something it names is not found", []Issue{{Location: typ, Diagnostics: clip(err.Error())}}
	case errors.Is(err, ehr.ErrConflict):
		return "refused by ehr: a conflict with what is stored", []Issue{{Location: typ, Diagnostics: clip(err.Error())}}
	}
	return "refused", []Issue{{Location: typ, Diagnostics: clip(err.Error())}}
}

func clip(s string) string {
	if len(s) <= maxDiagnostics {
		return s
	}
	return strings.ToValidUTF8(s[:maxDiagnostics], "") + "…"
}
