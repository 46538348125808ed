package fhir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/bulkexport"
	"github.com/historiaehr/historia/refserver/internal/fhirmap"
)

// FHIR Bulk Data Access (v2) $export: kick-off at the system, Patient and
// Group levels answers 202 with Content-Location, the status URL; polling
// it answers 202 with X-Progress while the job runs, then 200 with the
// manifest; DELETE cancels the job and removes its files; the files are
// served as application/fhir+ndjson to the caller who started the job
// only. The job runs in this process (bulkexport.Run, as the caller);
// nothing of it survives a restart. docs/export.md.

// Defaults of the export options.
const (
	defaultExportJobs   = 2
	defaultExportExpiry = time.Hour
	// exportRetryAfter is the Retry-After of a status poll (seconds).
	exportRetryAfter = "2"
	// ndjson is the media type of the files.
	ndjson = "application/fhir+ndjson"
	// Group ids (Historia models no Group resource: two virtual groups).
	groupMyPatients = "my-patients"
	groupWardPrefix = "ward-"
)

// exports are the export jobs of this process.
type exports struct {
	ctx     context.Context // the server's life: jobs end with it
	base    string          // where the jobs' directory is made
	maxJobs int             // running jobs per tenant
	expiry  time.Duration   // how long a finished job's files are kept

	mu   sync.Mutex
	root string // this process's directory of jobs, made on first use
	jobs map[string]*exportJob
}

// exportJob is one kick-off.
type exportJob struct {
	id      string
	user    string // who started it: only they may poll, download, delete
	tenant  string
	request string // the kick-off URL
	dir     string
	cancel  context.CancelFunc
	done    chan struct{}

	mu       sync.Mutex
	progress bulkexport.Progress
	result   *bulkexport.Result
	err      error
	expires  time.Time // set when it ends
}

func newExports(o Options) *exports {
	e := &exports{ctx: o.Context, base: o.ExportDir, maxJobs: o.ExportJobs, expiry: o.ExportExpiry, jobs: map[string]*exportJob{}}
	if e.ctx == nil {
		e.ctx = context.Background()
	}
	if e.base == "" {
		e.base = filepath.Join(os.TempDir(), "historia-export")
	}
	if e.maxJobs <= 0 {
		e.maxJobs = defaultExportJobs
	}
	if e.expiry <= 0 {
		e.expiry = defaultExportExpiry
	}
	// Server shutdown cancels the jobs and removes every file.
	context.AfterFunc(e.ctx, e.closeAll)
	return e
}

// closeAll cancels every job, waits for them and removes the directory.
func (e *exports) closeAll() {
	e.mu.Lock()
	jobs := e.jobs
	e.jobs = map[string]*exportJob{}
	root := e.root
	e.mu.Unlock()
	for _, j := range jobs {
		j.cancel()
		<-j.done
	}
	if root != "" {
		_ = os.RemoveAll(root)
	}
}

// sweep removes the jobs whose files expired. Called with e.mu held.
func (e *exports) sweep(now time.Time) {
	for id, j := range e.jobs {
		j.mu.Lock()
		expired := !j.expires.IsZero() && now.After(j.expires)
		j.mu.Unlock()
		if expired {
			delete(e.jobs, id)
			_ = os.RemoveAll(j.dir)
		}
	}
}

// exportParams are the kick-off parameters Historia takes.
var exportParams = []string{"_outputFormat", "_since", "_type", "_format"}

// Export levels.
const (
	levelSystem  = "system"
	levelPatient = "Patient"
	levelGroup   = "Group"
)

// exportKickOff answers GET [base]/$export (level system: every patient of
// the tenant and every practitioner), Patient/$export (every patient and
// the practitioners their records name) and Group/[id]/$export (the
// patients of a virtual group, see groupPatients).
func (x *server) exportKickOff(level string) handler {
	return func(w http.ResponseWriter, r *http.Request, c app.Caller) error { return x.kickOff(w, r, c, level) }
}

func (x *server) kickOff(w http.ResponseWriter, r *http.Request, c app.Caller, level string) error {
	prefer := r.Header.Get("Prefer")
	if !strings.Contains(prefer, "respond-async") {
		return fail(http.StatusBadRequest, "invalid", "$export is asynchronous: send the header Prefer: respond-async")
	}
	q, err := formOf(r)
	if err != nil {
		return err
	}
	lenient := strings.Contains(prefer, "handling=lenient")
	for k := range q {
		if !slices.Contains(exportParams, k) && !lenient {
			return badParam(k, "is not a parameter of $export this server supports (send Prefer: handling=lenient to have it ignored)")
		}
	}
	switch f := q.Get("_outputFormat"); f {
	case "", ndjson, "application/ndjson", "ndjson":
	default:
		return badParam("_outputFormat", "%q is not supported: application/fhir+ndjson only", clip(f))
	}
	var opt bulkexport.Options
	if s := q.Get("_since"); s != "" {
		if opt.Since, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return badParam("_since", "must be an instant (YYYY-MM-DDThh:mm:ss with a time zone)")
		}
	}
	for _, v := range q["_type"] {
		for _, n := range strings.Split(v, ",") {
			n = strings.TrimSpace(n)
			if !bulkexport.ValidType(n) {
				return badParam("_type", "%q is not a resource type this server exports", clip(n))
			}
			if !slices.Contains(opt.Types, n) {
				opt.Types = append(opt.Types, n)
			}
		}
	}
	// The SMART seam: a type the token may not search is refused when
	// named, left out otherwise.
	if x.narrow != nil {
		named := len(opt.Types) > 0
		if !named {
			opt.Types = slices.Clone(fhirmap.Types)
		}
		kept := opt.Types[:0]
		for _, t := range opt.Types {
			if err := x.narrow(c, t, "search-type"); err != nil {
				if named {
					return err
				}
				continue
			}
			kept = append(kept, t)
		}
		if opt.Types = kept; len(kept) == 0 {
			return fmt.Errorf("fhir: $export: no type may be read: %w", ehr.ErrDenied)
		}
	}
	ctx := r.Context()
	switch level {
	case levelGroup:
		if opt.Patients, err = x.groupPatients(ctx, r.PathValue("id")); err != nil {
			return err
		}
	default:
		// Whether the caller may list the tenant's patients is decided,
		// and audited, now, not in the background: a first page of one.
		if _, err := x.records.SearchPatients(ctx, ehr.PatientQuery{Limit: 1}); err != nil {
			return err
		}
		opt.AllPractitioners = level == levelSystem
	}
	j, err := x.exports.start(r, c, opt, x.records)
	if errors.Is(err, errTooManyExports) {
		w.Header().Set("Retry-After", "30")
		return fail(http.StatusTooManyRequests, "throttled", "the tenant already runs %d exports: try again later", x.exports.maxJobs)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Location", baseURL(r)+"/$export-status/"+j.id)
	writeOutcome(w, http.StatusAccepted, issue{Severity: "information", Code: "informational",
		Diagnostics: "export " + j.id + " started: poll the Content-Location"})
	return nil
}

// groupPatients lists the patients of Group id, as the caller: Historia
// models no Group resource, and answers two virtual groups,
// "my-patients" (the caller's care-team patients, ehr MyPatients) and
// "ward-[ward]" (the patients admitted to a ward now, ehr
// ListAdmissions); any other id is not found.
func (x *server) groupPatients(ctx context.Context, id string) (bulkexport.Lister, error) {
	var ids []string
	switch {
	case id == groupMyPatients:
		ps, err := x.records.MyPatients(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
	case strings.HasPrefix(id, groupWardPrefix) && len(id) > len(groupWardPrefix):
		ads, err := x.records.ListAdmissions(ctx, strings.TrimPrefix(id, groupWardPrefix))
		if err != nil {
			return nil, err
		}
		for _, a := range ads {
			if !slices.Contains(ids, a.Encounter.PatientID) {
				ids = append(ids, a.Encounter.PatientID)
			}
		}
	default:
		return nil, fail(http.StatusNotFound, "not-found", "Group/%s is not known: Historia models no Group resource; the groups are %q and %q[ward]",
			clip(id), groupMyPatients, groupWardPrefix)
	}
	return bulkexport.FixedPatients(ids), nil
}

// start starts a job for c, unless the tenant already runs as many as it
// may (429).
func (e *exports) start(r *http.Request, c app.Caller, opt bulkexport.Options, repo *ehr.Repository) (*exportJob, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx.Err() != nil {
		return nil, fail(http.StatusServiceUnavailable, "transient", "the server is shutting down")
	}
	e.sweep(time.Now())
	running := 0
	for _, j := range e.jobs {
		if j.tenant == c.TenantID && !j.finished() {
			running++
		}
	}
	if running >= e.maxJobs {
		return nil, errTooManyExports
	}
	if e.root == "" {
		if err := os.MkdirAll(e.base, 0o700); err != nil {
			return nil, fmt.Errorf("fhir: $export: %w", err)
		}
		root, err := os.MkdirTemp(e.base, "jobs-")
		if err != nil {
			return nil, fmt.Errorf("fhir: $export: %w", err)
		}
		e.root = root
	}
	id := uuid.NewString()
	dir := filepath.Join(e.root, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("fhir: $export: %w", err)
	}
	ctx, cancel := context.WithCancel(app.NewContext(e.ctx, c))
	j := &exportJob{id: id, user: c.UserID, tenant: c.TenantID, request: requestURL(r), dir: dir, cancel: cancel, done: make(chan struct{})}
	opt.Repo, opt.Dir = repo, dir
	opt.Progress = func(p bulkexport.Progress) {
		j.mu.Lock()
		j.progress = p
		j.mu.Unlock()
	}
	e.jobs[id] = j
	go func() {
		defer close(j.done)
		defer cancel()
		res, err := bulkexport.Run(ctx, opt)
		j.mu.Lock()
		j.result, j.err, j.expires = res, err, time.Now().Add(e.expiry)
		j.mu.Unlock()
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	return j, nil
}

func (j *exportJob) finished() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// errTooManyExports refuses a kick-off over the tenant's limit of
// running jobs (429).
var errTooManyExports = errors.New("fhir: $export: the tenant runs as many exports as it may")

// requestURL is the absolute URL of the kick-off request.
func requestURL(r *http.Request) string {
	u := strings.TrimSuffix(baseURL(r), Root) + r.URL.Path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	return u
}

// job returns the job of the request's path that c started, or answers
// 404: another caller's job is not found either.
func (x *server) job(r *http.Request, c app.Caller) (*exportJob, error) {
	x.exports.mu.Lock()
	defer x.exports.mu.Unlock()
	x.exports.sweep(time.Now())
	j := x.exports.jobs[r.PathValue("job")]
	if j == nil || j.user != c.UserID || j.tenant != c.TenantID {
		return nil, fail(http.StatusNotFound, "not-found", "no such export job (it expired, was deleted, or is another caller's)")
	}
	return j, nil
}

// manifest is the completion manifest of an export.
type manifest struct {
	TransactionTime     string         `json:"transactionTime"`
	Request             string         `json:"request"`
	RequiresAccessToken bool           `json:"requiresAccessToken"`
	Output              []manifestFile `json:"output"`
	Error               []manifestFile `json:"error"`
}

type manifestFile struct {
	Type  string `json:"type"`
	URL   string `json:"url"`
	Count int    `json:"count,omitempty"`
}

// exportStatus answers GET on a status URL: 202 with X-Progress while the
// job runs, 500 with an OperationOutcome when it failed, 200 with the
// manifest when it is done.
func (x *server) exportStatus(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	j, err := x.job(r, c)
	if err != nil {
		return err
	}
	// Finished first: the result is set before done is closed.
	finished := j.finished()
	j.mu.Lock()
	p, res, jerr, expires := j.progress, j.result, j.err, j.expires
	j.mu.Unlock()
	if !finished {
		w.Header().Set("X-Progress", fmt.Sprintf("%d patients read (%d skipped), %d resources written", p.Patients, p.Skipped, p.Resources))
		w.Header().Set("Retry-After", exportRetryAfter)
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	if jerr != nil {
		if errors.Is(jerr, ehr.ErrDenied) {
			return fail(http.StatusForbidden, "forbidden", "the export was refused: the caller may no longer list the patients")
		}
		return fail(http.StatusInternalServerError, "exception", "the export failed; nothing was kept (see the server log for request %s)", c.RequestID)
	}
	file := func(f bulkexport.File) manifestFile {
		return manifestFile{Type: f.Type, URL: baseURL(r) + "/$export-file/" + j.id + "/" + f.Name, Count: f.Count}
	}
	m := manifest{TransactionTime: res.TransactionTime.Format(time.RFC3339Nano), Request: j.request, RequiresAccessToken: true,
		Output: []manifestFile{}, Error: []manifestFile{}}
	for _, f := range res.Output {
		m.Output = append(m.Output, file(f))
	}
	for _, f := range res.Errors {
		m.Error = append(m.Error, file(f))
	}
	w.Header().Set("Expires", expires.UTC().Format(http.TimeFormat))
	writeJSON(w, http.StatusOK, m)
	return nil
}

// exportDelete answers DELETE on a status URL: the job is cancelled if
// it runs, and its files removed (202).
func (x *server) exportDelete(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	j, err := x.job(r, c)
	if err != nil {
		return err
	}
	j.cancel()
	<-j.done
	x.exports.mu.Lock()
	delete(x.exports.jobs, j.id)
	x.exports.mu.Unlock()
	if err := os.RemoveAll(j.dir); err != nil {
		return fmt.Errorf("fhir: $export: delete %s: %w", j.id, err)
	}
	writeOutcome(w, http.StatusAccepted, issue{Severity: "information", Code: "informational", Diagnostics: "export " + j.id + " deleted"})
	return nil
}

// exportFile answers GET on a file URL of the manifest: the ndjson file,
// to the caller who started the job.
func (x *server) exportFile(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	j, err := x.job(r, c)
	if err != nil {
		return err
	}
	if a := r.Header.Get("Accept"); a != "" && !acceptsNDJSON(a) {
		return fail(http.StatusNotAcceptable, "not-supported", "the files are application/fhir+ndjson")
	}
	finished := j.finished()
	j.mu.Lock()
	res := j.result
	j.mu.Unlock()
	name := r.PathValue("file")
	known := false
	if res != nil && finished {
		for _, f := range slices.Concat(res.Output, res.Errors) {
			known = known || f.Name == name
		}
	}
	if !known {
		return fail(http.StatusNotFound, "not-found", "no such file in this export")
	}
	f, err := os.Open(filepath.Join(j.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return fail(http.StatusNotFound, "not-found", "no such file in this export (it expired or was deleted)")
	}
	if err != nil {
		return fmt.Errorf("fhir: $export file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	}
	w.Header().Set("Content-Type", ndjson)
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, f)
	return nil
}

func acceptsNDJSON(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		switch mt {
		case ndjson, "application/ndjson", "application/x-ndjson", "application/*", "*/*", "application/fhir+json", "application/json":
			return true
		}
	}
	return false
}

// handleExport registers h, an export status or file URL, behind bearer
// authentication like handle but without its negotiation (a file is
// ndjson, a DELETE has no body to negotiate) and outside the
// CapabilityStatement: these are URLs the kick-off hands out, not
// interactions.
func (x *server) handleExport(method, path string, h handler) {
	pattern := method + " " + Root + path
	x.routes = append(x.routes, route{Interaction: "export-job", Pattern: pattern})
	if x.web == nil {
		return
	}
	x.web.HandleBearer(pattern, func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		corsHeaders(w)
		return x.answer(w, r, h(w, r, c))
	}, x.writeProblem)
}
