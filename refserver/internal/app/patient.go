package app

import (
	"encoding/json"
	"time"

	"github.com/historiaehr/historia/ehr"
)

// PatientNotes returns the notes a patient reads of their own chart: what
// their physician signed (signed or amended), never work in progress. A
// signed note later entered in error stays, marked as such; a draft
// entered in error was never signed and stays hidden. The portal page and
// the API apply it to a patient-only caller.
func PatientNotes(notes []ehr.Note) []ehr.Note {
	out := notes[:0:0]
	for _, n := range notes {
		switch {
		case n.Status == ehr.NoteSigned, n.Status == ehr.NoteAmended:
		case n.Status == ehr.StatusEnteredInError && n.SignedAt != nil:
		default:
			continue
		}
		out = append(out, n)
	}
	return out
}

// PatientReadsVersion reports whether data, a note version's row (from
// ehr's History), is one a patient may read: signed, amended, or a signed
// note entered in error.
func PatientReadsVersion(data json.RawMessage) bool {
	var row struct {
		Status   string  `json:"status"`
		SignedAt *string `json:"signed_at"`
	}
	if json.Unmarshal(data, &row) != nil {
		return false
	}
	n := ehr.Note{Status: row.Status}
	if row.SignedAt != nil {
		n.SignedAt = new(time.Time)
	}
	return len(PatientNotes([]ehr.Note{n})) == 1
}
