package ehr

import (
	"context"
	"fmt"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/historiaehr/historia/rbac"
)

// Encounter classes.
const (
	ClassAmbulatory = "ambulatory"
	ClassEmergency  = "emergency"
	ClassInpatient  = "inpatient"
)

// Encounter statuses.
const (
	EncounterInProgress = "in-progress"
	EncounterFinished   = "finished"
	EncounterCancelled  = "cancelled"
)

// Encounter is a contact between a patient and the hospital: ambulatory,
// emergency or inpatient. An admission is an inpatient encounter, opened by
// Admit, moved by Transfer and closed by Discharge; a patient has at most
// one open admission. Every change is a new version.
type Encounter struct {
	ID        string
	TenantID  string
	PatientID string
	Class     string
	Status    string
	// PractitionerID is the attending practitioner.
	PractitionerID string
	Ward           string
	Bed            string
	Reason         string
	// Disposition says how the encounter ended (home, transfer, ...).
	Disposition string
	StartedAt   time.Time
	// EndedAt is nil while the encounter is in progress.
	EndedAt   *time.Time
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
}

const encounterColumns = `id, tenant_id, patient_id, class, status, practitioner_id, ward, bed, reason, disposition,
  started_at, ended_at, version, created_at, updated_at`

func scanEncounter(row pgx.Row) (Encounter, error) {
	var e Encounter
	var id, tenant, patient pgtype.UUID
	var pr pgtype.UUID
	err := row.Scan(&id, &tenant, &patient, &e.Class, &e.Status, &pr, &e.Ward, &e.Bed, &e.Reason, &e.Disposition,
		&e.StartedAt, &e.EndedAt, &e.Version, &e.CreatedAt, &e.UpdatedAt)
	e.ID, e.TenantID, e.PatientID = idText(id), idText(tenant), idText(patient)
	e.PractitionerID = idText(pr)
	e.StartedAt, e.CreatedAt, e.UpdatedAt = e.StartedAt.UTC(), e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	if e.EndedAt != nil {
		t := e.EndedAt.UTC()
		e.EndedAt = &t
	}
	return e, err
}

// optionalID parses an optional UUID field; "" is nil.
func optionalID(v *validator, field, s string) *uuid.UUID {
	if s == "" {
		return nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		v.add(field, CodeInvalid, "must be a UUID")
		return nil
	}
	return &id
}

func (e *Encounter) validate(v *validator, now time.Time) (pid uuid.UUID, pr *uuid.UUID) {
	pid, err := uuid.Parse(e.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	pr = optionalID(v, "PractitionerID", e.PractitionerID)
	v.check(len(e.Ward) <= 100, "Ward", CodeTooLong, "is too long")
	v.check(len(e.Bed) <= 50, "Bed", CodeTooLong, "is too long")
	v.check(len(e.Reason) <= 2000, "Reason", CodeTooLong, "is too long")
	v.check(!e.StartedAt.After(now.Add(5*time.Minute)), "StartedAt", CodeInFuture, "is in the future")
	return pid, pr
}

const insertEncounterSQL = `INSERT INTO encounters (patient_id, id, tenant_id, class, status, practitioner_id, ward, bed,
  reason, started_at, version, created_at, updated_at, updated_by)
VALUES ($1, $2, $3, $4, 'in-progress', $5, $6, $7, $8, $9, 1, $10, $10, $11)`

// StartEncounter opens an ambulatory or emergency encounter (in
// progress) and returns it. StartedAt defaults to now.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound for an unknown
// patient or practitioner, ErrDenied unless the actor may create
// encounters for the patient (a physician on the care team).
func (r *Repository) StartEncounter(ctx context.Context, e Encounter) (Encounter, error) {
	const op = "start encounter"
	now := r.clock()
	var v validator
	v.check(e.Class == ClassAmbulatory || e.Class == ClassEmergency, "Class", CodeNotAllowed, "must be ambulatory or emergency (use Admit for inpatient)")
	pid, pr := e.validate(&v, now)
	if err := v.err(); err != nil {
		return Encounter{}, err
	}
	if e.StartedAt.IsZero() {
		e.StartedAt = now
	}
	return r.openEncounter(ctx, op, rbac.ActionCreate, rbac.KindEncounter, e, pid, pr, now, false)
}

// Admission is a request to admit a patient.
type Admission struct {
	PatientID string
	// AttendingID is the attending practitioner, added to the care team.
	AttendingID string
	Ward        string
	Bed         string
	Reason      string
	// At is the admission time (default now).
	At time.Time
}

// Admit admits a patient: it opens an inpatient encounter in the ward and
// bed given and puts the attending practitioner on the patient's care
// team (role "attending"). It returns the encounter.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound for an unknown
// patient or practitioner, ErrConflict when the patient is already
// admitted, ErrDenied unless the actor may admit (rbac ActionAdmit on
// KindAdmission).
func (r *Repository) Admit(ctx context.Context, ad Admission) (Encounter, error) {
	const op = "admit"
	now := r.clock()
	e := Encounter{PatientID: ad.PatientID, Class: ClassInpatient, PractitionerID: ad.AttendingID,
		Ward: trim(ad.Ward), Bed: trim(ad.Bed), Reason: trim(ad.Reason), StartedAt: ad.At}
	var v validator
	v.check(ad.AttendingID != "", "AttendingID", CodeRequired, "is required")
	v.check(e.Ward != "", "Ward", CodeRequired, "is required")
	pid, pr := e.validate(&v, now)
	if err := v.err(); err != nil {
		return Encounter{}, err
	}
	if e.StartedAt.IsZero() {
		e.StartedAt = now
	}
	return r.openEncounter(ctx, op, rbac.ActionAdmit, rbac.KindAdmission, e, pid, pr, now, true)
}

func (r *Repository) openEncounter(ctx context.Context, op string, action rbac.Action, kind rbac.Kind, e Encounter,
	pid uuid.UUID, pr *uuid.UUID, now time.Time, attending bool) (Encounter, error) {
	id := newID()
	a, err := newAccess(ctx, op, action, kind, pid)
	if err != nil {
		return Encounter{}, err
	}
	a.record = id.String()
	e.ID, e.Status, e.Version, e.CreatedAt, e.UpdatedAt, e.EndedAt = id.String(), EncounterInProgress, 1, now, now, nil
	e.StartedAt = e.StartedAt.UTC().Truncate(time.Microsecond)
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		if err := r.requirePatient(ctx, tx, op, a); err != nil {
			return err
		}
		if pr != nil {
			if _, err := r.getPractitioner(ctx, tx, a.tenant, *pr); err != nil {
				return err
			}
		}
		if _, err := write(ctx, tx, op, tEncounters, insertEncounterSQL, pid, id, a.tenant, e.Class, pr,
			e.Ward, e.Bed, e.Reason, e.StartedAt, now, a.actor.Principal.UserID); err != nil {
			return err
		}
		e.TenantID = a.tenantID
		if attending {
			if err := r.addCareTeam(ctx, tx, op, a, CareTeamMember{PatientID: e.PatientID, PractitionerID: e.PractitionerID,
				Role: "attending", Reason: "admission " + e.ID, StartsAt: e.StartedAt}, *pr, now); err != nil {
				return err
			}
		}
		return r.audit(ctx, tx, a, now)
	})
	if err != nil {
		return Encounter{}, err
	}
	return e, nil
}

// EncounterRef names the version of an encounter the caller read.
type EncounterRef struct {
	PatientID string
	ID        string
	Version   int
}

func (ref EncounterRef) parse(v *validator) (pid, id uuid.UUID) {
	var err error
	pid, err = uuid.Parse(ref.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	id, err = uuid.Parse(ref.ID)
	v.check(err == nil, "ID", CodeInvalid, "must be a UUID")
	v.check(ref.Version > 0, "Version", CodeRequired, "must be the version read")
	return pid, id
}

// Transfer moves an admitted patient to another ward and bed, and, when
// attendingID is not empty, to another attending practitioner (who joins
// the care team). It returns the encounter's new version.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound, ErrConflict
// (stale version, or the encounter is not an open admission), ErrDenied
// unless the actor may transfer (rbac ActionTransfer on KindAdmission).
func (r *Repository) Transfer(ctx context.Context, ref EncounterRef, ward, bed, attendingID string) (Encounter, error) {
	const op = "transfer"
	var v validator
	pid, id := ref.parse(&v)
	ward, bed = trim(ward), trim(bed)
	v.text("Ward", ward, 100)
	v.check(len(bed) <= 50, "Bed", CodeTooLong, "is too long")
	pr := optionalID(&v, "AttendingID", attendingID)
	if err := v.err(); err != nil {
		return Encounter{}, err
	}
	return r.changeAdmission(ctx, op, rbac.ActionTransfer, ref, pid, id, func(ctx context.Context, tx pgx.Tx, a *access, now time.Time) error {
		if pr != nil {
			if _, err := r.getPractitioner(ctx, tx, a.tenant, *pr); err != nil {
				return err
			}
			if err := r.addCareTeam(ctx, tx, op, a, CareTeamMember{PatientID: ref.PatientID, PractitionerID: attendingID,
				Role: "attending", Reason: "transfer " + ref.ID, StartsAt: now}, *pr, now); err != nil {
				return err
			}
		}
		_, err := write(ctx, tx, op, tEncounters, `UPDATE encounters SET ward = $5, bed = $6,
  practitioner_id = coalesce($7, practitioner_id), change_reason = '', version = version + 1, updated_at = $8, updated_by = $9
WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 AND version = $4`, pid, id, a.tenant, ref.Version, ward, bed, pr, now, a.actor.Principal.UserID)
		return err
	})
}

// Discharge ends an admission with a disposition ("home", "transfer",
// "deceased", ...). It returns the encounter's new version.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound, ErrConflict
// (stale version, or not an open admission), ErrDenied unless the actor may
// discharge (rbac ActionDischarge on KindAdmission).
func (r *Repository) Discharge(ctx context.Context, ref EncounterRef, disposition string) (Encounter, error) {
	const op = "discharge"
	var v validator
	pid, id := ref.parse(&v)
	disposition = trim(disposition)
	v.text("Disposition", disposition, 200)
	if err := v.err(); err != nil {
		return Encounter{}, err
	}
	return r.changeAdmission(ctx, op, rbac.ActionDischarge, ref, pid, id, func(ctx context.Context, tx pgx.Tx, a *access, now time.Time) error {
		_, err := write(ctx, tx, op, tEncounters, `UPDATE encounters SET status = 'finished', ended_at = $5, disposition = $6,
  change_reason = '', version = version + 1, updated_at = $5, updated_by = $7
WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 AND version = $4`, pid, id, a.tenant, ref.Version, now, disposition, a.actor.Principal.UserID)
		return err
	})
}

// changeAdmission authorizes action on an open admission, checks it is
// one, runs change and returns the new version of the encounter.
func (r *Repository) changeAdmission(ctx context.Context, op string, action rbac.Action, ref EncounterRef, pid, id uuid.UUID,
	change func(ctx context.Context, tx pgx.Tx, a *access, now time.Time) error) (Encounter, error) {
	a, err := newAccess(ctx, op, action, rbac.KindAdmission, pid)
	if err != nil {
		return Encounter{}, err
	}
	a.record = ref.ID
	var out Encounter
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		cur, err := scanEncounter(tx.QueryRow(ctx, `SELECT `+encounterColumns+` FROM encounters
WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 FOR UPDATE`, pid, id, a.tenant))
		if err != nil {
			return dbError(op+" "+ref.ID, err)
		}
		switch {
		case cur.Version != ref.Version:
			return fmt.Errorf("ehr: %s %s: %w: version is %d", op, ref.ID, ErrConflict, cur.Version)
		case cur.Class != ClassInpatient || cur.Status != EncounterInProgress:
			return fmt.Errorf("ehr: %s %s: %w: not an open admission", op, ref.ID, ErrConflict)
		}
		now := r.clock()
		if err := change(ctx, tx, a, now); err != nil {
			return err
		}
		if out, err = scanEncounter(tx.QueryRow(ctx, `SELECT `+encounterColumns+` FROM encounters
WHERE patient_id = $1 AND id = $2 AND tenant_id = $3`, pid, id, a.tenant)); err != nil {
			return dbError(op, err)
		}
		return r.audit(ctx, tx, a, now)
	})
	return out, err
}

// FinishEncounter closes an ambulatory or emergency encounter. It returns
// the encounter's new version.
//
// It returns ErrInvalid, ErrNotFound, ErrConflict (stale version or not in
// progress), ErrDenied unless the actor may update encounters of the
// patient.
func (r *Repository) FinishEncounter(ctx context.Context, ref EncounterRef) (Encounter, error) {
	const op = "finish encounter"
	var v validator
	pid, id := ref.parse(&v)
	if err := v.err(); err != nil {
		return Encounter{}, err
	}
	a, err := newAccess(ctx, op, rbac.ActionUpdate, rbac.KindEncounter, pid)
	if err != nil {
		return Encounter{}, err
	}
	a.record = ref.ID
	var out Encounter
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		now := r.clock()
		_, err := write(ctx, tx, op, tEncounters, `UPDATE encounters SET status = 'finished', ended_at = $5,
  change_reason = '', version = version + 1, updated_at = $5, updated_by = $6
WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 AND version = $4 AND class <> 'inpatient' AND status = 'in-progress'`,
			pid, id, a.tenant, ref.Version, now, a.actor.Principal.UserID)
		if err != nil {
			return err
		}
		if out, err = scanEncounter(tx.QueryRow(ctx, `SELECT `+encounterColumns+` FROM encounters
WHERE patient_id = $1 AND id = $2 AND tenant_id = $3`, pid, id, a.tenant)); err != nil {
			return dbError(op, err)
		}
		return r.audit(ctx, tx, a, now)
	})
	return out, err
}

// AdmissionEntry is an open admission with the patient's name, for the
// admissions desk's list.
type AdmissionEntry struct {
	Encounter   Encounter
	GivenNames  string
	FamilyNames string
}

// ListAdmissions lists the open admissions of the actor's tenant, oldest
// first, optionally in one ward. It is audited on the tenant's chain.
//
// It returns ErrDenied unless the actor may search admissions (rbac
// ActionSearch on KindAdmission).
func (r *Repository) ListAdmissions(ctx context.Context, ward string) ([]AdmissionEntry, error) {
	const op = "list admissions"
	a, err := newAccess(ctx, op, rbac.ActionSearch, rbac.KindAdmission, uuid.Nil)
	if err != nil {
		return nil, err
	}
	qb := psql.Select(`e.id, e.tenant_id, e.patient_id, e.class, e.status, e.practitioner_id, e.ward, e.bed,
  e.reason, e.disposition, e.started_at, e.ended_at, e.version, e.created_at, e.updated_at, p.given_names, p.family_names`).
		Prefix("/* fanout: admissions list */").From("encounters e").Join("patients p ON p.patient_id = e.patient_id").
		Where(sq.Eq{"e.tenant_id": a.tenant, "e.class": ClassInpatient, "e.status": EncounterInProgress})
	if ward = trim(ward); ward != "" {
		qb = qb.Where(sq.Eq{"e.ward": ward})
	}
	sqlText, args, err := qb.OrderBy("e.started_at", "e.id").ToSql()
	if err != nil {
		return nil, fmt.Errorf("ehr: %s: build query: %w", op, err)
	}
	var out []AdmissionEntry
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sqlText, args...)
		if err != nil {
			return dbError(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			var ae AdmissionEntry
			var id, tenant, patient uuid.UUID
			var pr *uuid.UUID
			e := &ae.Encounter
			if err := rows.Scan(&id, &tenant, &patient, &e.Class, &e.Status, &pr, &e.Ward, &e.Bed, &e.Reason, &e.Disposition,
				&e.StartedAt, &e.EndedAt, &e.Version, &e.CreatedAt, &e.UpdatedAt, &ae.GivenNames, &ae.FamilyNames); err != nil {
				return dbError(op, err)
			}
			e.ID, e.TenantID, e.PatientID = id.String(), tenant.String(), patient.String()
			if pr != nil {
				e.PractitionerID = pr.String()
			}
			out = append(out, ae)
		}
		if err := rows.Err(); err != nil {
			return dbError(op, err)
		}
		return r.audit(ctx, tx, a, r.clock())
	})
	return out, err
}
