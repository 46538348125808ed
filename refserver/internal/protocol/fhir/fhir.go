package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/i18n"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// Root is where the FHIR R4 API is mounted.
const Root = "/fhir/R4"

// ContentType is the media type of every answer.
const ContentType = "application/fhir+json; charset=utf-8"

// maxBody is the largest request body read (a transaction Bundle of a
// long chart fits).
const maxBody = 32 << 20

// Narrow is the authorization seam for SMART on FHIR scopes: called
// before every interaction with the caller, the resource type and the
// interaction ("read", "vread", "history-instance", "search-type",
// "create", "update", "operation", "export"; and for each type an
// $export writes, "search-type"), it may refuse (an error wrapping
// ehr.ErrDenied answers 403). It can only narrow what the caller may do:
// whatever it allows, ehr still authorizes (rbac) and audits every record.
// nil allows everything rbac allows.
type Narrow func(c app.Caller, resourceType, interaction string) error

// Options configure Mount.
type Options struct {
	// Narrow, if set, is asked before every interaction (SMART scopes).
	Narrow Narrow
	// Context is the server's life: $export jobs are cancelled, and their
	// files removed, when it ends. nil is context.Background().
	Context context.Context
	// ExportDir is where $export jobs write their files (a directory of
	// this process is made in it); empty is historia-export under
	// os.TempDir().
	ExportDir string
	// ExportJobs is how many $export jobs a tenant may run at once (more
	// are refused with 429); 0 is 2.
	ExportJobs int
	// ExportExpiry is how long the files of a finished job are kept; 0 is
	// an hour.
	ExportExpiry time.Duration
}

// server is the FHIR front-end and what it uses.
type server struct {
	web     *web.Router
	records *ehr.Repository
	app     *app.App
	narrow  Narrow
	routes  []route
	exports *exports
}

// route is one routed interaction, as the CapabilityStatement describes
// it: the resource type ("" for system-level), the interaction code of
// the CapabilityStatement, and the mux pattern.
type route struct {
	Type        string
	Interaction string
	Pattern     string
}

// Mount registers the FHIR R4 API of a on rt under Root.
func Mount(rt *web.Router, a *app.App, opts ...Options) {
	x := &server{web: rt, records: a.Records, app: a}
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	x.narrow = o.Narrow
	x.exports = newExports(o)
	x.routesAll()
	// Bearer tokens only: cross-site requests forge nothing, and browser
	// apps of other origins may call the API (CORS, without credentials).
	rt.AllowCrossOrigin(Root)
	rt.AllowCrossOrigin(Root + "/")
}

// corsHeaders lets browser applications of any origin read the answers
// (the token they send is the credential; cookies are never read here).
func corsHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "ETag, Location, Last-Modified, Content-Location, WWW-Authenticate")
}

// preflight answers a CORS preflight (OPTIONS) for any FHIR path.
func (x *server) preflight(w http.ResponseWriter, r *http.Request) {
	corsHeaders(w)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, If-Match, If-None-Exist, If-None-Match, Prefer")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// Routes returns the interactions Mount registers (for the capability
// test and the documentation).
func Routes() []route {
	x := &server{}
	x.routesAll()
	return x.routes
}

// handler is a FHIR interaction: it writes its answer, or returns the
// error to answer as an OperationOutcome.
type handler func(w http.ResponseWriter, r *http.Request, c app.Caller) error

// handle registers h for method and path (under Root) for resource type
// rt ("" for system interactions) as interaction: behind bearer
// authentication, content negotiation and the SMART seam.
func (x *server) handle(method, path, resourceType, interaction string, h handler) {
	pattern := method + " " + Root + path
	x.routes = append(x.routes, route{Type: resourceType, Interaction: interaction, Pattern: pattern})
	if x.web == nil {
		return
	}
	x.web.HandleBearer(pattern, func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		corsHeaders(w)
		if err := negotiate(r); err != nil {
			return x.answer(w, r, err)
		}
		if x.narrow != nil {
			if err := x.narrow(c, resourceType, interaction); err != nil {
				return x.answer(w, r, err)
			}
		}
		return x.answer(w, r, h(w, r, c))
	}, x.writeProblem)
}

// handlePublic registers h for method and path without authentication.
func (x *server) handlePublic(method, path string, h func(w http.ResponseWriter, r *http.Request) error) {
	pattern := strings.TrimSpace(method + " " + Root + path)
	x.routes = append(x.routes, route{Pattern: pattern})
	if x.web == nil {
		return
	}
	x.web.HandlePublic(pattern, func(w http.ResponseWriter, r *http.Request) error {
		corsHeaders(w)
		if err := negotiate(r); err != nil {
			return x.answer(w, r, err)
		}
		return x.answer(w, r, h(w, r))
	}, x.writeProblem)
}

// outcome is an error answered with its own status and OperationOutcome
// issue (what web's error table does not know: 405, 406, 412, 415, 428,
// and the FHIR-level 400s).
type outcome struct {
	status int
	code   string // issue type
	diag   string // diagnostics, English, no personal data
	expr   string // FHIRPath of the element at fault, if any
	base   error  // what it wraps, if any
}

func (e *outcome) Error() string { return fmt.Sprintf("fhir: %d %s: %s", e.status, e.code, e.diag) }
func (e *outcome) Unwrap() error { return e.base }

func fail(status int, code, format string, args ...any) error {
	return &outcome{status: status, code: code, diag: fmt.Sprintf(format, args...)}
}

// badParam is a search or operation parameter the server refuses: 400
// with the parameter named.
func badParam(name, format string, args ...any) error {
	return &outcome{status: http.StatusBadRequest, code: "invalid", diag: name + ": " + fmt.Sprintf(format, args...), expr: name}
}

// answer writes the FHIR-level errors (outcome, a decoder's
// OperationOutcome) itself and returns the rest for web's error table.
func (x *server) answer(w http.ResponseWriter, r *http.Request, err error) error {
	if err == nil {
		return nil
	}
	var oc *outcome
	var oo *r4.OperationOutcome
	switch {
	case errors.As(err, &oc):
		is := issue{Severity: "error", Code: oc.code, Diagnostics: oc.diag}
		if oc.expr != "" {
			is.Expression = []string{oc.expr}
		}
		writeOutcome(w, oc.status, is)
	case errors.As(err, &oo):
		writeJSON(w, http.StatusBadRequest, oo)
	default:
		return err
	}
	return nil
}

// issue is an OperationOutcome.issue.
type issue struct {
	Severity    string           `json:"severity"`
	Code        string           `json:"code"`
	Details     *codeableConcept `json:"details,omitempty"`
	Diagnostics string           `json:"diagnostics,omitempty"`
	Expression  []string         `json:"expression,omitempty"`
}

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// SystemError is the code system of Historia's stable error codes (the
// JSON API's "error"), carried in OperationOutcome.issue.details.
const SystemError = r4.Base + "/sid/error"

// issueCode is the issue type of an HTTP status.
func issueCode(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "login"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not-found"
	case http.StatusConflict, http.StatusPreconditionFailed:
		return "conflict"
	case http.StatusUnprocessableEntity:
		return "invalid"
	case http.StatusTooManyRequests:
		return "throttled"
	case http.StatusBadRequest:
		return "invalid"
	case 499:
		return "incomplete"
	case http.StatusServiceUnavailable:
		return "transient"
	}
	if status >= 500 {
		return "exception"
	}
	return "processing"
}

// writeProblem answers p (web's error table) as an OperationOutcome: the
// issue type from the status, the stable code and the message in the
// request's language as details, and the fields at fault as expressions.
func (x *server) writeProblem(w http.ResponseWriter, r *http.Request, p web.Problem) {
	corsHeaders(w)
	is := issue{Severity: "error", Code: issueCode(p.Status),
		Details: &codeableConcept{Coding: []coding{{System: SystemError, Code: p.Code}}, Text: i18n.T(r.Context(), p.Key, p.Args...)}}
	for _, f := range p.Fields {
		is.Expression = append(is.Expression, fieldPath(r, f.Field))
		is.Diagnostics = strings.TrimPrefix(is.Diagnostics+"; "+f.Field+": "+f.Code, "; ")
	}
	writeOutcome(w, p.Status, is)
}

func writeOutcome(w http.ResponseWriter, status int, is ...issue) {
	writeJSON(w, status, struct {
		ResourceType string  `json:"resourceType"`
		Issue        []issue `json:"issue"`
	}{"OperationOutcome", is})
}

// writeJSON writes v as the FHIR JSON answer with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}`)
	}
	writeBody(w, status, b)
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	w.Write(b)
}

// writeResource writes one resource with its version headers (ETag,
// Last-Modified) and status.
func writeResource(w http.ResponseWriter, status int, body []byte, version int, updated time.Time) {
	if version > 0 {
		w.Header().Set("ETag", etag(version))
	}
	if !updated.IsZero() {
		w.Header().Set("Last-Modified", updated.UTC().Format(http.TimeFormat))
	}
	writeBody(w, status, body)
}

// etag is the weak ETag of a record version: W/"3".
func etag(version int) string { return `W/"` + strconv.Itoa(version) + `"` }

// parseETag reads the version of an If-Match value (W/"3", "3" or 3).
func parseETag(s string) (int, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	s = strings.Trim(s, `"`)
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

// negotiate refuses a request that wants an answer other than JSON (406)
// or sends a body other than FHIR JSON (415); the body of POST
// [type]/_search is a form (application/x-www-form-urlencoded) instead.
func negotiate(r *http.Request) error {
	if f := r.URL.Query().Get("_format"); f != "" {
		switch f {
		case "json", "application/json", "application/fhir+json":
		default:
			return fail(http.StatusNotAcceptable, "not-supported", "_format %q is not supported: this server speaks JSON only", clip(f))
		}
	} else if a := r.Header.Get("Accept"); a != "" && !acceptsJSON(a) {
		return fail(http.StatusNotAcceptable, "not-supported", "Accept names no JSON media type: this server speaks application/fhir+json only")
	}
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if isSearchPost(r) {
			if err != nil || mt != "application/x-www-form-urlencoded" {
				return fail(http.StatusUnsupportedMediaType, "not-supported", "the body of _search must be application/x-www-form-urlencoded")
			}
		} else if err != nil || mt != "application/fhir+json" && mt != "application/json" {
			return fail(http.StatusUnsupportedMediaType, "not-supported", "the body must be application/fhir+json")
		}
	}
	return nil
}

func acceptsJSON(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.TrimSpace(mt) {
		case "application/fhir+json", "application/json", "application/*", "*/*", "application/json+fhir":
			return true
		}
	}
	return false
}

// clip shortens a client's value quoted in diagnostics.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// readBody reads a request body of at most maxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, fail(http.StatusRequestEntityTooLarge, "too-costly", "the body is larger than %d bytes", maxBody)
	case err != nil:
		return nil, fail(http.StatusBadRequest, "structure", "the body could not be read")
	case len(b) == 0:
		return nil, fail(http.StatusBadRequest, "required", "the body is empty: a resource is expected")
	}
	return b, nil
}
