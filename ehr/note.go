package ehr

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/historiaehr/historia/rbac"
)

// Clinical note statuses.
const (
	NoteDraft   = "draft"
	NoteSigned  = "signed"
	NoteAmended = "amended"
)

// Note is a clinical note. A draft may be edited; a signed note can only
// be amended, with a reason; every edit is a new version.
type Note struct {
	ID          string
	TenantID    string
	PatientID   string
	EncounterID string
	AuthorID    string
	Title       string
	Body        string
	Status      string
	SignedAt    *time.Time
	SignedBy    string
	Version     int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// What a patient reads of their own notes: what their physician signed.
// A signed or amended note, or a signed note later entered in error (kept,
// marked as such); never a draft, nor a draft entered in error (it was
// never signed). patientNoteSQL is the condition on a clinical_notes row,
// patientNoteVersionSQL the same condition on a version's snapshot
// (record_versions.data).
const (
	patientNoteSQL        = `(status IN ('signed', 'amended') OR (status = 'entered-in-error' AND signed_at IS NOT NULL))`
	patientNoteVersionSQL = `(data->>'status' IN ('signed', 'amended') OR (data->>'status' = 'entered-in-error' AND data->>'signed_at' IS NOT NULL))`
)

const noteColumns = `id, tenant_id, patient_id, encounter_id, author_id, title, body, status, signed_at, signed_by,
  version, created_at, updated_at`

func scanNote(row pgx.Row) (Note, error) {
	var n Note
	var id, tenant, patient pgtype.UUID
	var enc pgtype.UUID
	err := row.Scan(&id, &tenant, &patient, &enc, &n.AuthorID, &n.Title, &n.Body, &n.Status, &n.SignedAt, &n.SignedBy,
		&n.Version, &n.CreatedAt, &n.UpdatedAt)
	n.ID, n.TenantID, n.PatientID, n.EncounterID = idText(id), idText(tenant), idText(patient), idText(enc)
	n.SignedAt, n.CreatedAt, n.UpdatedAt = utcPtr(n.SignedAt), n.CreatedAt.UTC(), n.UpdatedAt.UTC()
	return n, err
}

func validateNoteText(v *validator, title, body string) {
	v.text("Title", title, 200)
	v.text("Body", body, 100000)
}

// CreateNote writes a draft note (or a signed one when sign is true) by
// the actor and returns it.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound for an unknown
// patient or encounter, ErrDenied unless the actor may create notes for
// the patient (a physician on the care team, or with break-the-glass).
func (r *Repository) CreateNote(ctx context.Context, n Note, sign bool) (Note, error) {
	const op = "create note"
	var v validator
	pid, err := uuid.Parse(n.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	enc := optionalID(&v, "EncounterID", n.EncounterID)
	n.Title, n.Body = trim(n.Title), trim(n.Body)
	validateNoteText(&v, n.Title, n.Body)
	if err := v.err(); err != nil {
		return Note{}, err
	}
	id := newID()
	err = r.createRecord(ctx, op, rbac.KindNote, pid, id, func(tx pgx.Tx, a *access, now time.Time) error {
		n.ID, n.TenantID, n.AuthorID, n.Status, n.Version, n.CreatedAt, n.UpdatedAt = id.String(), a.tenantID, a.actor.Principal.UserID, NoteDraft, 1, now, now
		if sign {
			n.Status, n.SignedAt, n.SignedBy = NoteSigned, &now, a.actor.Principal.UserID
		}
		_, err := write(ctx, tx, op, tNotes, `INSERT INTO clinical_notes (patient_id, id, tenant_id, encounter_id, author_id,
  title, body, status, signed_at, signed_by, version, created_at, updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11, $5)`,
			pid, id, a.tenant, enc, n.AuthorID, n.Title, n.Body, n.Status, n.SignedAt, n.SignedBy, now)
		return err
	})
	if err != nil {
		return Note{}, err
	}
	return n, nil
}

// UpdateNote changes the title and body of a draft note; n.Version must be
// the version read. It returns the new version.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound, ErrConflict
// (stale version, or the note is signed: amend it), ErrDenied.
func (r *Repository) UpdateNote(ctx context.Context, n Note) (int, error) {
	const op = "update note"
	var v validator
	pid, id := refIDs(&v, n.PatientID, n.ID, n.Version)
	n.Title, n.Body = trim(n.Title), trim(n.Body)
	validateNoteText(&v, n.Title, n.Body)
	if err := v.err(); err != nil {
		return 0, err
	}
	return r.updateRecord(ctx, op, rbac.ActionUpdate, tNotes, rbac.KindNote, pid, id, n.Version, []string{NoteDraft},
		func(tx pgx.Tx, a *access, now time.Time) (int, error) {
			return write(ctx, tx, op, tNotes, `UPDATE clinical_notes SET title = $5, body = $6, change_reason = '',
  version = version + 1, updated_at = $7, updated_by = $8 WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 AND version = $4`,
				pid, id, a.tenant, n.Version, n.Title, n.Body, now, a.actor.Principal.UserID)
		})
}

// SignNote signs a draft note as the actor. It returns the new version.
//
// It returns ErrInvalid, ErrNotFound, ErrConflict (stale version or not a
// draft), ErrDenied.
func (r *Repository) SignNote(ctx context.Context, ref RecordRef) (int, error) {
	const op = "sign note"
	var v validator
	pid, id := refIDs(&v, ref.PatientID, ref.ID, ref.Version)
	if err := v.err(); err != nil {
		return 0, err
	}
	return r.updateRecord(ctx, op, rbac.ActionUpdate, tNotes, rbac.KindNote, pid, id, ref.Version, []string{NoteDraft},
		func(tx pgx.Tx, a *access, now time.Time) (int, error) {
			return write(ctx, tx, op, tNotes, `UPDATE clinical_notes SET status = 'signed', signed_at = $5, signed_by = $6,
  change_reason = '', version = version + 1, updated_at = $5, updated_by = $6
WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 AND version = $4`, pid, id, a.tenant, ref.Version, now, a.actor.Principal.UserID)
		})
}

// AmendNote replaces the body of a signed note, with a reason (required,
// kept in the version history). The note's status becomes amended. It
// returns the new version.
//
// It returns a *ValidationError (ErrInvalid: no reason, empty body),
// ErrNotFound, ErrConflict (stale version, or a draft: edit it instead),
// ErrDenied unless the actor may amend notes (rbac ActionAmend).
func (r *Repository) AmendNote(ctx context.Context, ref RecordRef, body, reason string) (int, error) {
	const op = "amend note"
	var v validator
	pid, id := refIDs(&v, ref.PatientID, ref.ID, ref.Version)
	body, reason = trim(body), trim(reason)
	v.text("Body", body, 100000)
	v.reason("Reason", reason, 3, 1000)
	if err := v.err(); err != nil {
		return 0, err
	}
	return r.updateRecord(ctx, op, rbac.ActionAmend, tNotes, rbac.KindNote, pid, id, ref.Version, []string{NoteSigned, NoteAmended},
		func(tx pgx.Tx, a *access, now time.Time) (int, error) {
			return write(ctx, tx, op, tNotes, `UPDATE clinical_notes SET body = $5, status = 'amended', change_reason = $6,
  version = version + 1, updated_at = $7, updated_by = $8 WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 AND version = $4`,
				pid, id, a.tenant, ref.Version, body, reason, now, a.actor.Principal.UserID)
		})
}
