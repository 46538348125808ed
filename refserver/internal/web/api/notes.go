package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/web"
)

func (x *api) routesNotes() {
	x.handle("POST /api/v1/patients/{id}/notes", x.createNote)
	x.handle("POST /api/v1/patients/{id}/notes/{note}/sign", x.signNote)
	x.handle("POST /api/v1/patients/{id}/notes/{note}/amend", x.amendNote)
	x.handle("GET /api/v1/patients/{id}/notes/{note}/history", x.noteHistory)
}

// NoteJSON is a clinical note.
type NoteJSON struct {
	ID        string     `json:"id"`
	PatientID string     `json:"patient_id"`
	AuthorID  string     `json:"author_id"`
	Title     string     `json:"title"`
	Body      string     `json:"body"`
	Status    string     `json:"status"`
	SignedAt  *time.Time `json:"signed_at,omitempty"`
	Version   int        `json:"version"`
	CreatedAt time.Time  `json:"created_at"`
}

func noteJSON(n ehr.Note) NoteJSON {
	return NoteJSON{n.ID, n.PatientID, n.AuthorID, n.Title, n.Body, n.Status, n.SignedAt, n.Version, n.CreatedAt}
}

func noteRef(r *http.Request, version int) ehr.RecordRef {
	return ehr.RecordRef{Kind: rbac.KindNote, PatientID: r.PathValue("id"), ID: r.PathValue("note"), Version: version}
}

func (x *api) createNote(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	var in struct {
		Title string `json:"title"`
		Body  string `json:"body"`
		Sign  bool   `json:"sign"`
	}
	if err := web.Decode(w, r, &in); err != nil {
		return err
	}
	n, err := x.records.CreateNote(r.Context(), ehr.Note{PatientID: r.PathValue("id"), Title: in.Title, Body: in.Body}, in.Sign)
	return reply(w, err, http.StatusCreated, noteJSON(n))
}

func (x *api) signNote(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	var in struct {
		Version int `json:"version"`
	}
	if err := web.Decode(w, r, &in); err != nil {
		return err
	}
	v, err := x.records.SignNote(r.Context(), noteRef(r, in.Version))
	return reply(w, err, http.StatusOK, versionJSON{r.PathValue("note"), v})
}

func (x *api) amendNote(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	var in struct {
		Version int    `json:"version"`
		Body    string `json:"body"`
		Reason  string `json:"reason"`
	}
	if err := web.Decode(w, r, &in); err != nil {
		return err
	}
	v, err := x.records.AmendNote(r.Context(), noteRef(r, in.Version), in.Body, in.Reason)
	return reply(w, err, http.StatusOK, versionJSON{r.PathValue("note"), v})
}

// noteHistory lists every version of a note; a patient gets the versions
// app.PatientReadsVersion lets them read, and a draft's history is, to
// them, not found.
func (x *api) noteHistory(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	vs, err := x.records.History(r.Context(), rbac.KindNote, r.PathValue("id"), r.PathValue("note"))
	if err != nil {
		return err
	}
	type version struct {
		Version   int             `json:"version"`
		ChangedAt time.Time       `json:"changed_at"`
		ChangedBy string          `json:"changed_by"`
		Reason    string          `json:"reason,omitempty"`
		Data      json.RawMessage `json:"data"`
	}
	out := []version{}
	for _, v := range vs {
		if c.PatientOnly() && !app.PatientReadsVersion(v.Data) {
			continue
		}
		out = append(out, version{v.Version, v.ChangedAt, v.ChangedBy, v.Reason, v.Data})
	}
	if len(out) == 0 && c.PatientOnly() {
		return ehr.ErrNotFound // a draft: as if it did not exist
	}
	return reply(w, nil, http.StatusOK, map[string]any{"versions": out})
}
