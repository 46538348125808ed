package ehr

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/historiaehr/historia/rbac"
)

// createRecord runs the creation of record id of kind for patient pid in a
// transaction: authorize (ActionCreate), check the patient is in the
// tenant, run, audit.
func (r *Repository) createRecord(ctx context.Context, op string, kind rbac.Kind, pid, id uuid.UUID,
	run func(tx pgx.Tx, a *access, now time.Time) error) error {
	return r.insertRecord(ctx, op, rbac.ActionCreate, kind, "", pid, id, run)
}

// insertRecord runs the insertion of record id of kind for patient pid in
// a transaction: authorize action on kind, check the patient is in the
// tenant, run, audit (as auditAction when it is not empty: an import).
func (r *Repository) insertRecord(ctx context.Context, op string, action rbac.Action, kind rbac.Kind, auditAction string,
	pid, id uuid.UUID, run func(tx pgx.Tx, a *access, now time.Time) error) error {
	a, err := newAccess(ctx, op, action, kind, pid)
	if err != nil {
		return err
	}
	a.record, a.actionName = id.String(), auditAction
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		if err := r.requirePatient(ctx, tx, op, a); err != nil {
			a.record = "" // the patient is what was not found
			return err
		}
		now := r.clock()
		if err := run(tx, a, now); err != nil {
			return err
		}
		return r.audit(ctx, tx, a, now)
	})
	return r.notFound(ctx, a, err)
}

// updateRecord runs a change of record id in a transaction: authorize
// action on kind, lock the row, check the version and that its status is
// not entered-in-error (and, when allowed is not empty, is one of
// allowed), run, audit. It returns what run returns (the new version).
func (r *Repository) updateRecord(ctx context.Context, op string, action rbac.Action, t table, kind rbac.Kind, pid, id uuid.UUID,
	version int, allowed []string, run func(tx pgx.Tx, a *access, now time.Time) (int, error)) (int, error) {
	a, err := newAccess(ctx, op, action, kind, pid)
	if err != nil {
		return 0, err
	}
	a.record = id.String()
	var nv int
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		var cur int
		var status string
		if err := tx.QueryRow(ctx, `SELECT version, status FROM `+t.name+` WHERE patient_id = $1 AND `+t.idCol+` = $2 AND tenant_id = $3 FOR UPDATE`,
			pid, id, a.tenant).Scan(&cur, &status); err != nil {
			return dbError(op+" "+id.String(), err)
		}
		if cur != version {
			return fmt.Errorf("ehr: %s %s: %w: version is %d", op, id, ErrConflict, cur)
		}
		ok := status != StatusEnteredInError
		if ok && len(allowed) > 0 {
			ok = false
			for _, s := range allowed {
				ok = ok || s == status
			}
		}
		if !ok {
			return fmt.Errorf("ehr: %s %s: %w: record is %s", op, id, ErrConflict, status)
		}
		now := r.clock()
		if nv, err = run(tx, a, now); err != nil {
			return err
		}
		return r.audit(ctx, tx, a, now)
	})
	return nv, r.notFound(ctx, a, err)
}

// refIDs validates and parses the ids and version of a change.
func refIDs(v *validator, patientID, id string, version int) (pid, rid uuid.UUID) {
	var err error
	pid, err = uuid.Parse(patientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	rid, err = uuid.Parse(id)
	v.check(err == nil, "ID", CodeInvalid, "must be a UUID")
	v.check(version > 0, "Version", CodeRequired, "must be the version read")
	return pid, rid
}

// oneOf reports whether s is one of set.
func oneOf(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// dateOnly reduces t to its calendar date at UTC midnight (nil stays nil).
func dateOnly(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	y, m, d := t.Date()
	u := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return &u
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// idText is the text of a scanned id, "" for NULL. pgtype.UUID scans the
// binary form directly; uuid.UUID would go through its sql.Scanner, from
// text, and allocate.
func idText(u pgtype.UUID) string {
	if !u.Valid {
		return ""
	}
	return uuid.UUID(u.Bytes).String()
}
