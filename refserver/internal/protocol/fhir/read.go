package fhir

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
)

// notFound is the answer to an id that names no resource.
func notFound(typ, id string) error {
	return fmt.Errorf("fhir: %s/%s: %w", typ, id, ehr.ErrNotFound)
}

// logicalID checks a resource id from a path: ehr ids are UUIDs, so any
// other id names nothing (404, without asking the database).
func logicalID(typ, id string) error {
	if u, err := uuid.Parse(id); err != nil || len(id) != 36 || u.String() != id {
		return notFound(typ, id)
	}
	return nil
}

// current reads the current version of typ/id through ehr, which
// authorizes and audits the read: the patient's demographics (GetPatient),
// a practitioner, or a record of a patient, found with Locate and read
// with its versions (History), so that an encounter carries its location
// history.
func (x *server) current(ctx context.Context, t *resourceType, id string) (any, []byte, error) {
	if err := logicalID(t.Name, id); err != nil {
		return nil, nil, err
	}
	var v any
	var body []byte
	var err error
	switch {
	case t.Name == "Patient":
		var p ehr.Patient
		if p, err = x.records.GetPatient(ctx, id); err == nil {
			v = p
		}
	case t.Name == "Practitioner":
		var p ehr.Practitioner
		if p, err = x.records.GetPractitioner(ctx, id); err == nil {
			v = p
		}
	default:
		var vs []ehr.Version
		if vs, err = x.versions(ctx, t, id); err == nil {
			return x.encodeVersion(t, vs, len(vs)-1)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	body, err = t.encode(v)
	return v, body, err
}

// versions returns every version of typ/id the caller may read, oldest
// first (ehr.Repository.History, audited).
func (x *server) versions(ctx context.Context, t *resourceType, id string) ([]ehr.Version, error) {
	if err := logicalID(t.Name, id); err != nil {
		return nil, err
	}
	k := x.readKind(ctx, t)
	pid := id
	if t.PerPatient {
		var err error
		if pid, err = x.records.Locate(ctx, k, id); err != nil {
			return nil, err
		}
	}
	return x.records.History(ctx, k, pid, id)
}

// readKind is the kind a read of t is asked as: an Encounter is read as
// an admission (rbac KindAdmission: inpatient encounters only) by a
// caller whose roles may read admissions but not encounters (the
// admissions desk), so that the desk reads the encounters it manages and
// no other. The roles are asked of the policy's matrix, which audits
// nothing; ehr then authorizes and audits the read itself.
func (x *server) readKind(ctx context.Context, t *resourceType) rbac.Kind {
	if t.Kind == rbac.KindEncounter && x.app != nil {
		if c, ok := app.FromContext(ctx); ok && !x.app.Can(c, rbac.ActionRead, rbac.KindEncounter) &&
			x.app.Can(c, rbac.ActionRead, rbac.KindAdmission) {
			return rbac.KindAdmission
		}
	}
	return t.Kind
}

// encodeVersion decodes version i of vs and encodes it as t; an encounter
// carries the location history up to that version.
func (x *server) encodeVersion(t *resourceType, vs []ehr.Version, i int) (any, []byte, error) {
	v, err := vs[i].Record()
	if err != nil {
		return nil, nil, err
	}
	if e, ok := v.(ehr.Encounter); ok {
		stays, err := r4.Stays(vs[:i+1])
		if err != nil {
			return nil, nil, err
		}
		body, err := r4.EncodeEncounter(e, stays...)
		return v, body, err
	}
	body, err := t.encode(v)
	return v, body, err
}

// read is GET [type]/[id].
func (x *server) read(t *resourceType) handler {
	return func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		v, body, err := x.current(r.Context(), t, r.PathValue("id"))
		if err != nil {
			return err
		}
		m := metaOf(v)
		writeResource(w, http.StatusOK, body, m.Version, m.Updated)
		return nil
	}
}

// vread is GET [type]/[id]/_history/[vid].
func (x *server) vread(t *resourceType) handler {
	return func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		id := r.PathValue("id")
		vid, err := strconv.Atoi(r.PathValue("vid"))
		if err != nil || vid < 1 {
			return notFound(t.Name, id)
		}
		vs, err := x.versions(r.Context(), t, id)
		if err != nil {
			return err
		}
		for i := range vs {
			if vs[i].Version == vid {
				v, body, err := x.encodeVersion(t, vs, i)
				if err != nil {
					return err
				}
				writeResource(w, http.StatusOK, body, vid, metaOf(v).Updated)
				return nil
			}
		}
		return notFound(t.Name, id+"/_history/"+strconv.Itoa(vid))
	}
}

// history is GET [type]/[id]/_history: every version the caller may read,
// newest first, as a history Bundle.
func (x *server) history(t *resourceType) handler {
	return func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		id := r.PathValue("id")
		vs, err := x.versions(r.Context(), t, id)
		if err != nil {
			return err
		}
		b := newBundle("history")
		b.setTotal(len(vs))
		b.link(r, "self", "/"+t.Name+"/"+id+"/_history", nil)
		for i := len(vs) - 1; i >= 0; i-- {
			_, body, err := x.encodeVersion(t, vs, i)
			if err != nil {
				return err
			}
			method, status := "PUT", "200 OK"
			if vs[i].Version == 1 {
				method, status = "POST", "201 Created"
			}
			url := t.Name + "/" + id
			if method == "POST" {
				url = t.Name
			}
			b.Entry = append(b.Entry, bundleEntry{FullURL: fullURL(r, t.Name, id), Resource: body,
				Request:  &entryRequest{Method: method, URL: url},
				Response: &entryResponse{Status: status, Etag: etag(vs[i].Version), LastModified: vs[i].ChangedAt.UTC().Format("2006-01-02T15:04:05.999999Z07:00")}})
		}
		writeJSON(w, http.StatusOK, b)
		return nil
	}
}
