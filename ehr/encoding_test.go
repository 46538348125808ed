package ehr_test

import (
	"errors"
	"testing"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
)

// TestUncleanTextIsInvalid: text PostgreSQL cannot store (a NUL byte,
// invalid UTF-8) is ErrInvalid, not an internal error, and nothing is
// written.
func TestUncleanTextIsInvalid(t *testing.T) {
	db := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, db)
	p := h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	for name, body := range map[string]string{"nul": "evolución\x00oculta", "utf8": "evoluci\xf3n"} {
		_, err := h.Repo.CreateNote(h.As(h.Medico), ehr.Note{PatientID: p.ID, Title: "Nota", Body: body}, false)
		if !errors.Is(err, ehr.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	var n int
	if err := db.QueryRow(t.Context(), `SELECT count(*) FROM clinical_notes WHERE patient_id = $1`, p.ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d notes written (%v)", n, err)
	}
}
