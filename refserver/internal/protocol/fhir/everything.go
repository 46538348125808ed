package fhir

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/refserver/internal/app"
)

// everything is GET Patient/[id]/$everything: the patient's whole chart
// as the caller may read it (ehr.Repository.Chart, one audited read on the
// patient's chain; and the versions of each admission that changed, for
// its location history), and the practitioners it references, as a searchset
// Bundle. _since keeps the records changed at or after an instant; _type
// (comma-separated) keeps the types named. Sections the policy withholds
// from the caller are left out and named in an OperationOutcome entry
// (search.mode outcome, severity information), so the receiver knows the
// bundle is partial.
func (x *server) everything(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	id := r.PathValue("id")
	if err := logicalID("Patient", id); err != nil {
		return err
	}
	q, err := formOf(r)
	if err != nil {
		return err
	}
	var since time.Time
	if s := q.Get("_since"); s != "" {
		if since, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return badParam("_since", "must be an instant (YYYY-MM-DDThh:mm:ss with a time zone)")
		}
	}
	want := func(string) bool { return true }
	if s := q.Get("_type"); s != "" {
		names := strings.Split(s, ",")
		for _, n := range names {
			if _, ok := typeNamed(strings.TrimSpace(n)); !ok {
				return badParam("_type", "%q is not a resource type this server serves", clip(n))
			}
		}
		want = func(n string) bool {
			return slices.ContainsFunc(names, func(s string) bool { return strings.TrimSpace(s) == n })
		}
	}
	for k := range q {
		if k != "_since" && k != "_type" && k != "_format" && k != "_count" {
			if strings.Contains(r.Header.Get("Prefer"), "handling=strict") {
				return badParam(k, "is not a parameter of $everything")
			}
		}
	}
	ctx := r.Context()
	ch, err := x.records.Chart(ctx, id)
	if err != nil {
		return err
	}
	b := newBundle("searchset")
	b.link(r, "self", "/Patient/"+id+"/$everything", q)
	keep := func(v any) bool { return since.IsZero() || !metaOf(v).Updated.Before(since) }
	add := func(v any) error {
		t := typeOf(v)
		if !want(t.Name) || !keep(v) {
			return nil
		}
		body, err := t.encode(v)
		if e, ok := v.(ehr.Encounter); ok && e.Class == ehr.ClassInpatient && e.Version > 1 {
			// An admission that changed carries its location history
			// (one more audited read: its versions).
			var vs []ehr.Version
			if vs, err = x.versions(ctx, t, e.ID); err == nil {
				_, body, err = x.encodeVersion(t, vs, len(vs)-1)
			}
		}
		if err != nil {
			return err
		}
		b.addResource(r, t.Name, metaOf(v).ID, body, "match")
		return nil
	}
	if err := add(ch.Patient); err != nil {
		return err
	}
	// The practitioners the chart names, once each, before the records
	// that reference them.
	var prs []string
	note := func(id string) {
		if id != "" && !slices.Contains(prs, id) {
			prs = append(prs, id)
		}
	}
	for _, e := range ch.Encounters {
		note(e.PractitionerID)
	}
	for _, a := range ch.Appointments {
		note(a.PractitionerID)
	}
	for _, m := range ch.CareTeam {
		note(m.PractitionerID)
	}
	if want("Practitioner") {
		for _, pid := range prs {
			p, err := x.records.GetPractitioner(ctx, pid)
			if err != nil {
				return err
			}
			if err := add(p); err != nil {
				return err
			}
		}
	}
	for _, t := range types {
		if !t.PerPatient {
			continue
		}
		for _, v := range t.chart(&ch) {
			if err := add(v); err != nil {
				return err
			}
		}
	}
	if len(ch.Withheld) > 0 {
		var names []string
		for _, k := range ch.Withheld {
			if t := typeOfKind(k); t != nil && want(t.Name) {
				names = append(names, t.Name)
			}
		}
		if len(names) > 0 {
			b.Entry = append(b.Entry, bundleEntry{Resource: withheldOutcome(names), Search: &entrySearch{Mode: "outcome"}})
		}
	}
	n := 0
	for _, e := range b.Entry {
		if e.Search != nil && e.Search.Mode == "match" {
			n++
		}
	}
	b.setTotal(n)
	writeJSON(w, http.StatusOK, b)
	return nil
}

// withheldOutcome is the OperationOutcome that says which resource types
// the policy withheld from a partial answer.
func withheldOutcome(names []string) []byte {
	return []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"suppressed","diagnostics":"not included: the policy does not let the caller read ` +
		strings.Join(names, ", ") + ` of this patient"}]}`)
}

// formOf returns the parameters of a request: the query string, and for
// a form POST the form body too.
func formOf(r *http.Request) (url.Values, error) {
	if err := r.ParseForm(); err != nil {
		return nil, fail(http.StatusBadRequest, "structure", "the parameters could not be read")
	}
	return r.Form, nil
}
