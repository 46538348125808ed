package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/fhirmap"
	"github.com/historiaehr/historia/refserver/internal/i18n"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// Batch and transaction: POST [base] with a Bundle of type batch or
// transaction.
//
// Each entry is a request: POST [type] (create, with ifNoneExist), PUT
// [type]/[id] (update, with ifMatch), GET [type]/[id] (read), [type]/[id]
// /_history/[vid] (vread), [type]/[id]/_history (history) or [type]?...
// (search). DELETE is refused (405: records are never deleted), and so
// are PATCH and HEAD.
//
// Entries are processed in FHIR's order, DELETE, POST, PUT, GET, and the
// POSTs in the order of the registry (types: Patient, Practitioner,
// Encounter, ...), so that a record is created before the records that
// refer to it. Before an entry is decoded, every "reference" in it that
// names another entry is rewritten to Type/<id> of the resource that
// entry created or updated: a reference equal to the entry's fullUrl
// (urn:uuid:, urn:oid:, or an absolute URL such as another server's
// http://host/fhir/R4/Patient/123), or "Type/id" where the entry's
// fullUrl ends in Type/id or its resource has that id. So a Bundle of
// resources from another server or tenant (a patient's $everything)
// comes in with the ids this tenant gives them. A reference to this
// server's own base is made relative; a urn: that no entry has as
// fullUrl fails the entry; any other reference is left as it is and must
// name a resource of the caller's tenant (ehr answers not found).
//
// A transaction is all or nothing: every entry runs in one database
// transaction (ehr.Repository.InTx); the first entry that fails rolls it
// back, and the answer is that entry's status with an OperationOutcome
// naming it (Bundle.entry[i]...). Audit events of refused attempts are
// kept. A batch runs each entry on its own (each write in its own
// transaction) and answers 200 with a batch-response whose failed
// entries carry their status and OperationOutcome. Either response lists
// the entries in the request's order.

// maxEntries is the most entries a batch or transaction Bundle may have.
const maxEntries = 1000

// requestBundle is a batch or transaction Bundle as the server reads it
// (other elements are ignored).
type requestBundle struct {
	ResourceType string         `json:"resourceType"`
	Type         string         `json:"type"`
	Entry        []requestEntry `json:"entry"`
}

type requestEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Request  *entryRequest   `json:"request"`
}

// bundleJob is one entry of a batch or transaction: what it asks for, and
// how it went.
type bundleJob struct {
	index  int
	method string // POST, PUT, GET (others are refused)
	t      *resourceType
	// id is the id of request.url (PUT, and GET but a search).
	id string
	// tail is what follows the id of a GET: "", "_history" or
	// "_history/<vid>".
	tail string
	// search: a GET [type]?query, with query.
	search      bool
	query       string
	fullURL     string
	resource    json.RawMessage
	ifMatch     string
	ifNoneExist string
	// bad is what is wrong with the entry itself (answered in its turn).
	bad error

	// newID is the id that references to the entry are rewritten to: the
	// resource a POST created (or found), a PUT's id.
	newID string
	// res is the resource a POST or PUT left; get what a GET answered.
	res *written
	get *entryRecorder
	// failed is the response of an entry of a batch that failed.
	failed *entryResponse
}

// interaction is the CapabilityStatement interaction of j, as Narrow
// takes it.
func (j *bundleJob) interaction() string {
	switch {
	case j.method == http.MethodPost:
		return "create"
	case j.method == http.MethodPut:
		return "update"
	case j.search:
		return "search-type"
	case j.tail == "_history":
		return "history-instance"
	case j.tail != "":
		return "vread"
	}
	return "read"
}

// entryFailure is the error of the entry of a transaction that failed.
type entryFailure struct {
	job *bundleJob
	err error
}

func (e *entryFailure) Error() string {
	return fmt.Sprintf("fhir: Bundle.entry[%d]: %v", e.job.index, e.err)
}
func (e *entryFailure) Unwrap() error { return e.err }

// bundle is POST [base]: a batch or transaction Bundle.
func (x *server) bundle(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	raw, err := readBody(w, r)
	if err != nil {
		return err
	}
	var in requestBundle
	if err := json.Unmarshal(raw, &in); err != nil {
		return fail(http.StatusBadRequest, "structure", "the body is not a Bundle (JSON)")
	}
	if in.ResourceType != "Bundle" {
		return &outcome{status: http.StatusBadRequest, code: "invalid", expr: "Bundle",
			diag: "POST " + Root + " takes a Bundle of type batch or transaction"}
	}
	switch in.Type {
	case "batch", "transaction":
	default:
		return &outcome{status: http.StatusBadRequest, code: "invalid", expr: "Bundle.type",
			diag: "Bundle.type must be batch or transaction"}
	}
	if len(in.Entry) > maxEntries {
		return fail(http.StatusRequestEntityTooLarge, "too-costly", "a Bundle has at most %d entries", maxEntries)
	}
	base := baseURL(r)
	jobs := make([]*bundleJob, len(in.Entry))
	for i, e := range in.Entry {
		jobs[i] = parseEntry(base, i, e)
	}
	refs, err := newRefMap(base, jobs)
	if err != nil {
		return err
	}
	order := processingOrder(jobs)
	if in.Type == "transaction" {
		return x.transaction(w, r, c, jobs, order, refs)
	}
	return x.batch(w, r, c, jobs, order, refs)
}

// transaction runs every entry in one database transaction and answers
// the transaction-response, or the first failure.
func (x *server) transaction(w http.ResponseWriter, r *http.Request, c app.Caller, jobs []*bundleJob, order []int, refs *refMap) error {
	for _, i := range order {
		if j := jobs[i]; j.bad != nil {
			return x.failTransaction(w, r, j, j.bad)
		}
	}
	ctx := r.Context()
	err := x.records.InTx(ctx, func(tx *ehr.Repository) error {
		for _, i := range order {
			if err := x.runJob(ctx, tx, r, c, jobs[i], refs); err != nil {
				return &entryFailure{job: jobs[i], err: err}
			}
		}
		return nil
	})
	if err != nil {
		var ef *entryFailure
		if _, joined := err.(interface{ Unwrap() []error }); !joined && errors.As(err, &ef) {
			return x.failTransaction(w, r, ef.job, ef.err)
		}
		return err // the commit, or the audit of a refusal, failed
	}
	x.respondBundle(w, r, "transaction-response", jobs)
	return nil
}

// failTransaction answers the failure of entry j of a transaction: its
// status, with an OperationOutcome naming the entry. A server error is
// returned, for the kernel to log and answer.
func (x *server) failTransaction(w http.ResponseWriter, r *http.Request, j *bundleJob, err error) error {
	status, issues, ok := entryOutcome(r.Context(), j, err)
	if !ok {
		return err
	}
	issues = append(issues, issue{Severity: "information", Code: "informational",
		Diagnostics: fmt.Sprintf("Bundle.entry[%d] failed: the transaction was rolled back, nothing was written", j.index)})
	writeOutcome(w, status, issues...)
	return nil
}

// batch runs each entry on its own and answers the batch-response.
func (x *server) batch(w http.ResponseWriter, r *http.Request, c app.Caller, jobs []*bundleJob, order []int, refs *refMap) error {
	ctx := r.Context()
	for _, i := range order {
		j := jobs[i]
		var err error
		switch {
		case j.bad != nil:
			err = j.bad
		case j.method == http.MethodGet:
			err = x.runJob(ctx, x.records, r, c, j, refs)
		default:
			err = x.records.InTx(ctx, func(tx *ehr.Repository) error { return x.runJob(ctx, tx, r, c, j, refs) })
		}
		if err == nil {
			continue
		}
		j.res, j.get = nil, nil
		if j.method == http.MethodPost {
			j.newID = "" // references to it fail; a PUT's resource is there whatever became of the update
		}
		status, issues, ok := entryOutcome(ctx, j, err)
		if !ok {
			if x.web != nil {
				x.web.Log().ErrorContext(ctx, "fhir batch entry failed", "entry", j.index, "error", err)
			}
			status, issues = http.StatusInternalServerError, []issue{{Severity: "error", Code: "exception",
				Diagnostics: "the entry failed on the server"}}
		}
		oc, _ := json.Marshal(struct {
			ResourceType string  `json:"resourceType"`
			Issue        []issue `json:"issue"`
		}{"OperationOutcome", issues})
		j.failed = &entryResponse{Status: statusLine(status), Outcome: oc}
	}
	x.respondBundle(w, r, "batch-response", jobs)
	return nil
}

// runJob runs entry j through repo: a create or an update with its
// references rewritten, or a read or search through the server's own
// handlers. The Narrow seam is asked for each entry with the entry's type
// and interaction.
func (x *server) runJob(ctx context.Context, repo *ehr.Repository, r *http.Request, c app.Caller, j *bundleJob, refs *refMap) error {
	if j.bad != nil {
		return j.bad
	}
	if x.narrow != nil {
		if err := x.narrow(c, j.t.Name, j.interaction()); err != nil {
			return err
		}
	}
	switch j.method {
	case http.MethodPost, http.MethodPut:
		body, err := fhirmap.RewriteReferences(j.resource, func(path, ref string) (string, error) { return refs.resolve(j, path, ref) })
		if err != nil {
			return err
		}
		var res written
		if j.method == http.MethodPost {
			res, err = x.createRecord(ctx, repo, j.t, body, j.ifNoneExist)
		} else {
			res, err = x.updateRecord(ctx, repo, j.t, j.id, body, j.ifMatch)
		}
		if err != nil {
			return err
		}
		j.res, j.newID = &res, res.id
		return nil
	}
	return x.with(repo).getEntry(ctx, r, c, j)
}

// getEntry answers a GET entry with the server's read, vread, history or
// search handler, on a request made from r for the entry's URL.
func (x *server) getEntry(ctx context.Context, r *http.Request, c app.Caller, j *bundleJob) error {
	req := r.Clone(ctx)
	req.Method, req.Body, req.ContentLength = http.MethodGet, http.NoBody, 0
	for _, h := range []string{"Content-Type", "Content-Length", "If-Match", "If-None-Match", "If-None-Exist",
		"If-Modified-Since", "Prefer"} {
		req.Header.Del(h)
	}
	path := "/" + j.t.Name
	var h handler
	req.URL.RawQuery = ""
	switch {
	case j.search:
		h, req.URL.RawQuery = x.search(j.t), j.query
	case j.tail == "":
		h, path = x.read(j.t), path+"/"+j.id
		req.SetPathValue("id", j.id)
	case j.tail == "_history":
		h, path = x.history(j.t), path+"/"+j.id+"/_history"
		req.SetPathValue("id", j.id)
	default:
		h, path = x.vread(j.t), path+"/"+j.id+"/"+j.tail
		req.SetPathValue("id", j.id)
		req.SetPathValue("vid", strings.TrimPrefix(j.tail, "_history/"))
	}
	req.URL.Path, req.URL.RawPath = Root+path, ""
	req.RequestURI = req.URL.RequestURI()
	rec := &entryRecorder{header: http.Header{}}
	if err := h(rec, req, c); err != nil {
		return err
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status >= 300 {
		return fail(rec.status, issueCode(rec.status), "the read failed")
	}
	j.get = rec
	return nil
}

// entryRecorder is the http.ResponseWriter a GET entry's handler writes
// to.
type entryRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *entryRecorder) Header() http.Header { return w.header }

func (w *entryRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *entryRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// respondBundle answers the response Bundle of type typ: one entry per
// request entry, in the request's order.
func (x *server) respondBundle(w http.ResponseWriter, r *http.Request, typ string, jobs []*bundleJob) {
	minimal := preferReturn(r.Header) == "minimal"
	out := newBundle(typ)
	for _, j := range jobs {
		out.Entry = append(out.Entry, j.responseEntry(r, minimal))
	}
	writeJSON(w, http.StatusOK, out)
}

// responseEntry is the response entry of j: its status, location, ETag,
// last change and resource (without the resource of a write when
// minimal), or its failure.
func (j *bundleJob) responseEntry(r *http.Request, minimal bool) bundleEntry {
	switch {
	case j.failed != nil:
		return bundleEntry{Response: j.failed}
	case j.res != nil:
		res := j.res
		e := bundleEntry{FullURL: fullURL(r, res.t.Name, res.id), Response: &entryResponse{
			Status:   statusLine(res.status),
			Location: versionLocation(r, res.t.Name, res.id, res.version),
			Etag:     etag(res.version),
		}}
		if !res.updated.IsZero() {
			e.Response.LastModified = bundleInstant(res.updated)
		}
		if !minimal {
			e.Resource = res.body
		}
		return e
	case j.get != nil:
		g := j.get
		e := bundleEntry{Response: &entryResponse{Status: statusLine(g.status), Etag: g.header.Get("ETag")}}
		var probe struct {
			Meta struct {
				LastUpdated string `json:"lastUpdated"`
			} `json:"meta"`
		}
		if json.Unmarshal(g.body.Bytes(), &probe) == nil && probe.Meta.LastUpdated != "" && e.Response.Etag != "" {
			e.Response.LastModified = probe.Meta.LastUpdated // the resource's, to the microsecond
		} else if t, err := http.ParseTime(g.header.Get("Last-Modified")); err == nil {
			e.Response.LastModified = bundleInstant(t)
		}
		if !j.search && j.tail == "" {
			e.FullURL = fullURL(r, j.t.Name, j.id)
		}
		if g.body.Len() > 0 {
			e.Resource = g.body.Bytes()
		}
		return e
	}
	// Not run: a batch entry is always run or failed, a transaction
	// answers only when every entry ran.
	return bundleEntry{Response: &entryResponse{Status: statusLine(http.StatusInternalServerError)}}
}

// statusLine is the status of a response entry: "201 Created".
func statusLine(status int) string { return strconv.Itoa(status) + " " + http.StatusText(status) }

// bundleInstant formats t as a FHIR instant.
func bundleInstant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.999999Z07:00") }

// parseEntry reads entry i of a Bundle whose server base is base. What is
// wrong with it is kept in the job's bad, answered in its turn.
func parseEntry(base string, i int, e requestEntry) *bundleJob {
	j := &bundleJob{index: i, fullURL: e.FullURL, resource: e.Resource}
	if e.Request == nil || e.Request.Method == "" {
		j.bad = &outcome{status: http.StatusBadRequest, code: "required", expr: "request.method",
			diag: "every entry of a batch or transaction has a request with a method and a url"}
		return j
	}
	j.method = strings.ToUpper(e.Request.Method)
	j.ifMatch, j.ifNoneExist = e.Request.IfMatch, e.Request.IfNoneExist
	typ, id, tail, query, hasQuery, err := parseRequestURL(base, e.Request.URL)
	if err == nil {
		t, ok := typeNamed(typ)
		if !ok {
			err = &outcome{status: http.StatusBadRequest, code: "not-supported", expr: "request.url",
				diag: "request.url names no resource type this server serves"}
		}
		j.t = t
	}
	switch j.method {
	case http.MethodDelete:
		j.bad = &outcome{status: http.StatusMethodNotAllowed, code: "not-supported", expr: "request.method",
			diag: "records are never deleted: update the resource with status entered-in-error instead"}
		return j
	case http.MethodPatch, http.MethodHead:
		j.bad = &outcome{status: http.StatusMethodNotAllowed, code: "not-supported", expr: "request.method",
			diag: j.method + " is not supported: use PUT (update) or GET"}
		return j
	case http.MethodPost, http.MethodPut, http.MethodGet:
	default:
		j.bad = &outcome{status: http.StatusBadRequest, code: "invalid", expr: "request.method",
			diag: "request.method must be POST, PUT or GET"}
		return j
	}
	if err != nil {
		j.bad = err
		return j
	}
	urlErr := func(diag string) error {
		return &outcome{status: http.StatusBadRequest, code: "not-supported", expr: "request.url", diag: diag}
	}
	switch j.method {
	case http.MethodPost:
		if id != "" || hasQuery {
			j.bad = urlErr("a POST entry's request.url is the resource type: [type]")
		}
	case http.MethodPut:
		if id == "" || tail != "" || hasQuery {
			j.bad = urlErr("a PUT entry's request.url is [type]/[id] (conditional update is not supported)")
		}
		j.id = id
	case http.MethodGet:
		switch {
		case id == "":
			j.search, j.query = true, query
		case hasQuery:
			j.bad = urlErr("a read takes no parameters")
		case tail != "" && j.t.Kind == 0:
			j.bad = urlErr(j.t.Name + " has no version history")
		}
		j.id, j.tail = id, tail
	}
	if j.bad == nil && j.method != http.MethodGet && len(bytes.TrimSpace(j.resource)) == 0 {
		j.bad = &outcome{status: http.StatusBadRequest, code: "required", expr: "resource",
			diag: "a " + j.method + " entry carries the resource"}
	}
	return j
}

// parseRequestURL splits an entry's request.url, relative to the server's
// base (or absolute under it): [type], [type]/[id],
// [type]/[id]/_history, [type]/[id]/_history/[vid], or [type]?query.
func parseRequestURL(base, raw string) (typ, id, tail, query string, hasQuery bool, err error) {
	bad := func(diag string) error {
		return &outcome{status: http.StatusBadRequest, code: "invalid", expr: "request.url", diag: diag}
	}
	raw = strings.TrimSpace(raw)
	if rel, ok := relativeTo(base, raw); ok {
		raw = rel
	} else if strings.Contains(raw, "://") {
		return "", "", "", "", false, bad("request.url is relative to this server's base")
	}
	raw = strings.TrimPrefix(raw, "/")
	p, q, hasQuery := strings.Cut(raw, "?")
	segs := strings.Split(p, "/")
	if segs[0] == "" {
		return "", "", "", "", false, bad("request.url is required: [type], [type]/[id] or [type]?parameters")
	}
	typ = segs[0]
	switch {
	case len(segs) == 1:
	case len(segs) == 2 && segs[1] != "":
		id = segs[1]
	case len(segs) == 3 && segs[1] != "" && segs[2] == "_history":
		id, tail = segs[1], "_history"
	case len(segs) == 4 && segs[1] != "" && segs[2] == "_history" && segs[3] != "":
		id, tail = segs[1], "_history/"+segs[3]
	default:
		return "", "", "", "", false, &outcome{status: http.StatusBadRequest, code: "not-supported", expr: "request.url",
			diag: "request.url must be [type], [type]/[id], [type]/[id]/_history[/vid] or [type]?parameters"}
	}
	if strings.HasPrefix(id, "$") || strings.HasPrefix(id, "_") {
		return "", "", "", "", false, &outcome{status: http.StatusBadRequest, code: "not-supported", expr: "request.url",
			diag: "operations and _search are not supported in a Bundle entry"}
	}
	return typ, id, tail, q, hasQuery, nil
}

// relativeTo returns s relative to base ("Patient/1?x=y") when s is an
// absolute http(s) URL of base's host under base's path; the scheme is
// not compared (a proxy may end TLS).
func relativeTo(base, s string) (string, bool) {
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return "", false
	}
	b, err1 := url.Parse(base)
	u, err2 := url.Parse(s)
	if err1 != nil || err2 != nil || !strings.EqualFold(b.Host, u.Host) {
		return "", false
	}
	rest, ok := strings.CutPrefix(u.Path, strings.TrimSuffix(b.Path, "/")+"/")
	if !ok || rest == "" {
		return "", false
	}
	if u.RawQuery != "" {
		rest += "?" + u.RawQuery
	}
	return rest, true
}

// processingOrder returns the indexes of jobs in the order FHIR processes
// a transaction: DELETE, POST, PUT (and PATCH), GET (and HEAD), anything
// else last; the POSTs by their type (postRank); the request's order
// otherwise.
func processingOrder(jobs []*bundleJob) []int {
	rank := func(j *bundleJob) (int, int) {
		switch j.method {
		case http.MethodDelete:
			return 0, 0
		case http.MethodPost:
			return 1, postRank(j.t)
		case http.MethodPut, http.MethodPatch:
			return 2, 0
		case http.MethodGet, http.MethodHead:
			return 3, 0
		}
		return 4, 0
	}
	order := make([]int, len(jobs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ma, ta := rank(jobs[order[a]])
		mb, tb := rank(jobs[order[b]])
		if ma != mb {
			return ma < mb
		}
		return ta < tb
	})
	return order
}

// postRank is the place of type t among the POSTs of a Bundle: the
// registry's order (a record after those it refers to), except that
// CareTeam comes right after Practitioner. A membership refers to the
// patient and the practitioner only, and it is the care-team fact rbac
// checks for the clinical records that follow: a Bundle that registers a
// patient, assigns a physician and charts needs it first.
func postRank(t *resourceType) int {
	at := func(name string) int {
		for k, u := range types {
			if u.Name == name {
				return 2 * k
			}
		}
		return 2 * len(types)
	}
	switch {
	case t == nil:
		return at("")
	case t.Name == "CareTeam":
		return at("Practitioner") + 1
	}
	return at(t.Name)
}

// refMap resolves the references of a Bundle's entries to the entries
// that they name.
type refMap struct {
	// base is the server's base URL: a reference under it is made
	// relative.
	base string
	// keys maps each reference that names an entry (its fullUrl,
	// Type/id) to the entry.
	keys map[string]*bundleJob
}

// newRefMap indexes the POST and PUT entries of jobs by the references
// that name them (fhirmap.RefKeys). Two entries named alike are a 400.
func newRefMap(base string, jobs []*bundleJob) (*refMap, error) {
	m := &refMap{base: base, keys: map[string]*bundleJob{}}
	for _, j := range jobs {
		if j.bad != nil || j.t == nil || (j.method != http.MethodPost && j.method != http.MethodPut) {
			continue
		}
		rid := fhirmap.ResourceID(j.resource)
		if j.method == http.MethodPut {
			j.newID, rid = j.id, j.id
		}
		for _, k := range fhirmap.RefKeys(j.fullURL, j.t.Name, rid) {
			if o, dup := m.keys[k]; dup && o != j {
				return nil, &outcome{status: http.StatusBadRequest, code: "invalid", expr: fmt.Sprintf("Bundle.entry[%d].fullUrl", j.index),
					diag: fmt.Sprintf("Bundle.entry[%d] and Bundle.entry[%d] name the same resource", o.index, j.index)}
			}
			m.keys[k] = j
		}
	}
	return m, nil
}

// resolve returns what reference ref, at path (in the resource of entry
// self), becomes: Type/<id> of the entry it names, relative for an
// absolute URL of this server, itself otherwise. A urn that names no
// entry, or an entry that created nothing (yet, or in a batch because it
// failed), is a 400 naming the reference.
func (m *refMap) resolve(self *bundleJob, path, ref string) (string, error) {
	expr := self.t.Name + "." + path
	if j, ok := m.keys[ref]; ok {
		switch {
		case j.newID != "":
			return j.t.Name + "/" + j.newID, nil
		case j == self:
			return "", &outcome{status: http.StatusBadRequest, code: "invalid", expr: expr,
				diag: "a resource being created cannot refer to itself"}
		}
		return "", &outcome{status: http.StatusBadRequest, code: "processing", expr: expr,
			diag: fmt.Sprintf("refers to Bundle.entry[%d], which created nothing", j.index)}
	}
	if fhirmap.IsURN(ref) {
		return "", &outcome{status: http.StatusBadRequest, code: "not-found", expr: expr,
			diag: "refers to a urn that no entry of the Bundle has as fullUrl"}
	}
	if rel, ok := relativeTo(m.base, ref); ok {
		return rel, nil
	}
	return ref, nil
}

// entryPath is the FHIRPath of loc in entry i of a Bundle whose resource
// is of type typ: a location in the resource ("Patient.birthDate") is
// under Bundle.entry[i].resource, a request header under request, any
// other under the entry.
func entryPath(i int, typ, loc string) string {
	p := "Bundle.entry[" + strconv.Itoa(i) + "]"
	switch {
	case loc == "":
		return p
	case strings.HasPrefix(loc, "Bundle."):
		return loc
	case loc == "If-None-Exist":
		return p + ".request.ifNoneExist"
	case loc == "If-Match":
		return p + ".request.ifMatch"
	case typ != "" && loc == typ:
		return p + ".resource"
	case typ != "" && (strings.HasPrefix(loc, typ+".") || strings.HasPrefix(loc, typ+"[")):
		return p + ".resource" + loc[len(typ):]
	}
	return p + "." + loc
}

// entryOutcome returns the status and the OperationOutcome issues of the
// failure err of entry j, every issue located in the entry
// (Bundle.entry[i]...). ok is false for a server error (5xx), which the
// caller logs rather than describes.
func entryOutcome(ctx context.Context, j *bundleJob, err error) (status int, issues []issue, ok bool) {
	typ := ""
	if j.t != nil {
		typ = j.t.Name
	}
	var oc *outcome
	var oo *r4.OperationOutcome
	switch {
	case errors.As(err, &oc):
		return oc.status, []issue{{Severity: "error", Code: oc.code, Diagnostics: oc.diag,
			Expression: []string{entryPath(j.index, typ, oc.expr)}}}, oc.status < 500
	case errors.As(err, &oo):
		for _, is := range oo.Issues {
			issues = append(issues, issue{Severity: "error", Code: is.Code, Diagnostics: is.Diagnostics,
				Expression: []string{entryPath(j.index, typ, is.Location)}})
		}
		if len(issues) == 0 {
			issues = []issue{{Severity: "error", Code: "invalid", Expression: []string{entryPath(j.index, typ, "resource")}}}
		}
		return http.StatusBadRequest, issues, true
	}
	p := web.ProblemOf(ctx, err)
	if p.Status >= 500 {
		return p.Status, nil, false
	}
	is := issue{Severity: "error", Code: issueCode(p.Status),
		Details: &codeableConcept{Coding: []coding{{System: SystemError, Code: p.Code}}, Text: i18n.T(ctx, p.Key, p.Args...)}}
	for _, f := range p.Fields {
		is.Expression = append(is.Expression, entryPath(j.index, typ, fhirmap.FieldPath(typ, f.Field)))
		is.Diagnostics = strings.TrimPrefix(is.Diagnostics+"; "+f.Field+": "+f.Code, "; ")
	}
	if len(is.Expression) == 0 {
		is.Expression = []string{entryPath(j.index, typ, "")}
	}
	return p.Status, []issue{is}, true
}
