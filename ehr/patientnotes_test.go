package ehr_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
)

// patientNotes writes, on patient p, one note in each state a note can
// reach, by the physician med on p's care team, and returns their ids by
// name:
//
//	draft          v1 draft
//	draft-eie      v1 draft, v2 entered in error
//	signed         v1 signed
//	draft-signed   v1 draft, v2 signed
//	amended        v1 signed, v2 amended
//	signed-eie     v1 signed, v2 entered in error
func patientNotes(t *testing.T, h *ehrtest.Hospital, med context.Context, p ehr.Patient) map[string]string {
	t.Helper()
	repo := h.Repo
	create := func(title string, sign bool) ehr.Note {
		t.Helper()
		n, err := repo.CreateNote(med, ehr.Note{PatientID: p.ID, Title: title, Body: "Texto de " + title}, sign)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	ref := func(n ehr.Note, v int) ehr.RecordRef {
		return ehr.RecordRef{Kind: rbac.KindNote, PatientID: p.ID, ID: n.ID, Version: v}
	}
	ids := map[string]string{}
	n := create("borrador", false)
	ids["draft"] = n.ID
	n = create("borrador anulado", false)
	must(repo.MarkEnteredInError(med, ref(n, 1), "paciente equivocado"))
	ids["draft-eie"] = n.ID
	n = create("firmada", true)
	ids["signed"] = n.ID
	n = create("firmada después", false)
	must(repo.SignNote(med, ref(n, 1)))
	ids["draft-signed"] = n.ID
	n = create("enmendada", true)
	must(repo.AmendNote(med, ref(n, 1), "Texto corregido.", "dato omitido"))
	ids["amended"] = n.ID
	n = create("firmada anulada", true)
	must(repo.MarkEnteredInError(med, ref(n, 1), "paciente equivocado"))
	ids["signed-eie"] = n.ID
	return ids
}

func noteIDs(notes []ehr.Note) []string {
	var out []string
	for _, n := range notes {
		out = append(out, n.ID)
	}
	slices.Sort(out)
	return out
}

func idsOf(ids map[string]string, names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, ids[n])
	}
	slices.Sort(out)
	return out
}

// versionStatuses returns the note status of each version, oldest first.
func versionStatuses(t *testing.T, vs []ehr.Version) []string {
	t.Helper()
	var out []string
	for _, v := range vs {
		var row struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(v.Data, &row); err != nil {
			t.Fatal(err)
		}
		out = append(out, row.Status)
	}
	return out
}

// TestPatientReadsOnlySignedNotes: the library, not its front ends, keeps
// work in progress from a patient. Reading their own chart, a patient gets
// the signed and amended notes and a signed note later entered in error,
// never a draft (nor a draft entered in error); a note's history lists
// only its signed versions, and a draft's history is not found, as if the
// draft did not exist. The physician on the care team still reads every
// note and version.
func TestPatientReadsOnlySignedNotes(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	p := h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	med, me := h.As(h.Medico), h.As(h.PatientActor(p))
	ids := patientNotes(t, h, med, p)

	c := must(h.Repo.Chart(me, p.ID))
	if got, want := noteIDs(c.Notes), idsOf(ids, "signed", "draft-signed", "amended", "signed-eie"); !slices.Equal(got, want) {
		t.Errorf("patient's chart notes = %v, want the signed ones %v", got, want)
	}
	for _, n := range c.Notes {
		if n.Status == ehr.NoteDraft || n.SignedAt == nil {
			t.Errorf("patient's chart has note %s with status %s, signed at %v", n.ID, n.Status, n.SignedAt)
		}
	}
	if c := must(h.Repo.Chart(med, p.ID)); len(c.Notes) != len(ids) {
		t.Errorf("physician's chart has %d notes, want all %d", len(c.Notes), len(ids))
	}

	for name, want := range map[string][]string{
		"signed":       {ehr.NoteSigned},
		"draft-signed": {ehr.NoteSigned},
		"amended":      {ehr.NoteSigned, ehr.NoteAmended},
		"signed-eie":   {ehr.NoteSigned, ehr.StatusEnteredInError},
	} {
		vs, err := h.Repo.History(me, rbac.KindNote, p.ID, ids[name])
		if err != nil {
			t.Errorf("patient's history of the %s note: %v", name, err)
			continue
		}
		if got := versionStatuses(t, vs); !slices.Equal(got, want) {
			t.Errorf("patient's history of the %s note: statuses %v, want %v", name, got, want)
		}
	}
	if vs := must(h.Repo.History(me, rbac.KindNote, p.ID, ids["draft-signed"])); vs[0].Version != 2 {
		t.Errorf("patient's history of a note signed later starts at version %d, want 2 (the draft hidden)", vs[0].Version)
	}
	for _, name := range []string{"draft", "draft-eie"} {
		_, err := h.Repo.History(me, rbac.KindNote, p.ID, ids[name])
		if !errors.Is(err, ehr.ErrNotFound) || errors.Is(err, ehr.ErrDenied) {
			t.Errorf("patient's history of the %s note: %v, want not found", name, err)
		}
	}

	for name, want := range map[string][]string{
		"draft":        {ehr.NoteDraft},
		"draft-eie":    {ehr.NoteDraft, ehr.StatusEnteredInError},
		"draft-signed": {ehr.NoteDraft, ehr.NoteSigned},
	} {
		vs := must(h.Repo.History(med, rbac.KindNote, p.ID, ids[name]))
		if got := versionStatuses(t, vs); !slices.Equal(got, want) {
			t.Errorf("physician's history of the %s note: statuses %v, want %v", name, got, want)
		}
	}
}

// TestStaffWhoIsAPatientReadsOwnRecordAsPatient: a physician who is also
// a patient of the hospital (roles medico and paciente, PatientID their own
// chart) reads the drafts of the patients on their care team, as staff,
// and only the signed notes of their own record, as its patient.
func TestStaffWhoIsAPatientReadsOwnRecordAsPatient(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	theirs, own := h.NewPatient(t), h.NewPatient(t)
	dual, pr := h.NewMedico(t, "Dr. Doble")
	dual.Principal.Roles = append(dual.Principal.Roles, "paciente")
	dual.Principal.PatientID = own.ID
	h.OnCareTeam(t, theirs, pr)
	h.OnCareTeam(t, own, h.Practitioner)
	// Even on their own care team they read their record as its patient.
	h.OnCareTeam(t, own, pr)
	theirNotes := patientNotes(t, h, h.As(dual), theirs)
	ownNotes := patientNotes(t, h, h.As(h.Medico), own)
	ctx := h.As(dual)

	if c := must(h.Repo.Chart(ctx, theirs.ID)); len(c.Notes) != len(theirNotes) {
		t.Errorf("as physician: %d notes of their patient, want all %d", len(c.Notes), len(theirNotes))
	}
	if vs, err := h.Repo.History(ctx, rbac.KindNote, theirs.ID, theirNotes["draft"]); err != nil || len(vs) != 1 {
		t.Errorf("as physician: history of their patient's draft: %d versions, %v", len(vs), err)
	}
	c := must(h.Repo.Chart(ctx, own.ID))
	if got, want := noteIDs(c.Notes), idsOf(ownNotes, "signed", "draft-signed", "amended", "signed-eie"); !slices.Equal(got, want) {
		t.Errorf("own chart notes = %v, want the signed ones %v", got, want)
	}
	if _, err := h.Repo.History(ctx, rbac.KindNote, own.ID, ownNotes["draft"]); !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("history of a draft of their own record: %v, want not found", err)
	}
}

// TestEveryNoteReadIsCovered guards the rule's completeness: the methods
// of Repository that can return a clinical note or a version of one are
// the ones the tests above hold to the patient rule (CreateNote returns
// the note the caller wrote). A new one must join them.
func TestEveryNoteReadIsCovered(t *testing.T) {
	covered := []string{"Chart", "ChartView", "ChartSection", "History", "CreateNote"}
	noteTypes := []reflect.Type{reflect.TypeFor[ehr.Note](), reflect.TypeFor[ehr.Version](), reflect.TypeFor[ehr.Chart]()}
	var carries func(reflect.Type, int) bool
	carries = func(ty reflect.Type, depth int) bool {
		if depth > 4 {
			return false
		}
		if slices.Contains(noteTypes, ty) {
			return true
		}
		switch ty.Kind() {
		case reflect.Slice, reflect.Array, reflect.Pointer, reflect.Map:
			return carries(ty.Elem(), depth+1)
		case reflect.Struct:
			for i := range ty.NumField() {
				if carries(ty.Field(i).Type, depth+1) {
					return true
				}
			}
		}
		return false
	}
	rt := reflect.TypeFor[*ehr.Repository]()
	var found []string
	for i := range rt.NumMethod() {
		m := rt.Method(i)
		for o := range m.Type.NumOut() {
			if carries(m.Type.Out(o), 0) {
				found = append(found, m.Name)
				break
			}
		}
	}
	for _, name := range found {
		if !slices.Contains(covered, name) {
			t.Errorf("Repository.%s can return a note or its versions: hold it to the patient rule and list it here", name)
		}
	}
	if !slices.Contains(found, "Chart") || !slices.Contains(found, "History") {
		t.Fatalf("the guard found %v: it no longer sees Chart and History", found)
	}
}
