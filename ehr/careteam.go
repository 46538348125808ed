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

// Care-team membership statuses.
const (
	CareTeamActive = "active"
	CareTeamEnded  = "ended"
)

// CareTeamMember says that a practitioner treats a patient, from when to
// when, in which role and why. An active membership is the care-team fact
// that rbac's ConditionCareTeam checks (Target.OnCareTeam).
type CareTeamMember struct {
	ID             string
	TenantID       string
	PatientID      string
	PractitionerID string
	// UserID is the practitioner's staff user, copied at assignment.
	UserID string
	// Role is the member's role in the team ("attending", "consultant",
	// "nurse", ...).
	Role     string
	Reason   string
	StartsAt time.Time
	// EndsAt is nil for an open-ended membership.
	EndsAt    *time.Time
	Status    string
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
}

const careTeamColumns = `id, tenant_id, patient_id, practitioner_id, user_id, role, reason, starts_at, ends_at, status,
  version, created_at, updated_at`

func scanCareTeam(row pgx.Row) (CareTeamMember, error) {
	var m CareTeamMember
	var id, tenant, patient, pr, user pgtype.UUID
	err := row.Scan(&id, &tenant, &patient, &pr, &user, &m.Role, &m.Reason, &m.StartsAt, &m.EndsAt, &m.Status,
		&m.Version, &m.CreatedAt, &m.UpdatedAt)
	m.ID, m.TenantID, m.PatientID, m.PractitionerID, m.UserID = idText(id), idText(tenant), idText(patient), idText(pr), idText(user)
	m.StartsAt, m.CreatedAt, m.UpdatedAt = m.StartsAt.UTC(), m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	if m.EndsAt != nil {
		t := m.EndsAt.UTC()
		m.EndsAt = &t
	}
	return m, err
}

// AssignCareTeam puts a practitioner on a patient's care team and returns
// the membership. StartsAt defaults to now; EndsAt, when set, must be after
// it.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound for an unknown
// patient or practitioner, ErrConflict when the practitioner already is an
// active member, ErrDenied unless the actor may create care-team
// memberships (the admissions desk).
func (r *Repository) AssignCareTeam(ctx context.Context, m CareTeamMember) (CareTeamMember, error) {
	const op = "assign care team"
	now := r.clock()
	var v validator
	pid, err := uuid.Parse(m.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	pr, err := uuid.Parse(m.PractitionerID)
	v.check(err == nil, "PractitionerID", CodeInvalid, "must be a UUID")
	m.Role, m.Reason = trim(m.Role), trim(m.Reason)
	v.text("Role", m.Role, 50)
	v.check(len(m.Reason) <= 500, "Reason", CodeTooLong, "is too long")
	if m.StartsAt.IsZero() {
		m.StartsAt = now
	}
	v.check(m.EndsAt == nil || m.EndsAt.After(m.StartsAt), "EndsAt", CodeBeforeStart, "must be after StartsAt")
	if err := v.err(); err != nil {
		return CareTeamMember{}, err
	}
	a, err := newAccess(ctx, op, rbac.ActionCreate, rbac.KindCareTeam, pid)
	if err != nil {
		return CareTeamMember{}, err
	}
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		if err := r.requirePatient(ctx, tx, op, a); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, activeMemberSQL, pid, pr, a.tenant, now).Scan(&exists); err != nil {
			return dbError(op, err)
		}
		if exists {
			return fmt.Errorf("ehr: %s: %w: practitioner %s already on the care team", op, ErrConflict, m.PractitionerID)
		}
		if err := r.addCareTeamRow(ctx, tx, op, a, &m, pr, now); err != nil {
			return err
		}
		a.record = m.ID
		return r.audit(ctx, tx, a, now)
	})
	if err != nil {
		return CareTeamMember{}, err
	}
	return m, nil
}

const activeMemberSQL = `SELECT EXISTS (SELECT 1 FROM care_team_members
WHERE patient_id = $1 AND practitioner_id = $2 AND tenant_id = $3 AND status = 'active' AND (ends_at IS NULL OR ends_at > $4))`

// addCareTeam adds m unless the practitioner already is an active member
// (used by Admit and Transfer, whose own access is audited).
func (r *Repository) addCareTeam(ctx context.Context, tx pgx.Tx, op string, a *access, m CareTeamMember, pr uuid.UUID, now time.Time) error {
	var exists bool
	if err := tx.QueryRow(ctx, activeMemberSQL, a.patient, pr, a.tenant, now).Scan(&exists); err != nil {
		return dbError(op, err)
	}
	if exists {
		return nil
	}
	return r.addCareTeamRow(ctx, tx, op, a, &m, pr, now)
}

func (r *Repository) addCareTeamRow(ctx context.Context, tx pgx.Tx, op string, a *access, m *CareTeamMember, pr uuid.UUID, now time.Time) error {
	p, err := r.getPractitioner(ctx, tx, a.tenant, pr)
	if err != nil {
		return err
	}
	if !p.Active {
		return fmt.Errorf("ehr: %s: %w: practitioner %s is inactive", op, ErrConflict, p.ID)
	}
	id := newID()
	m.ID, m.TenantID, m.UserID, m.Status, m.Version, m.CreatedAt, m.UpdatedAt = id.String(), a.tenantID, p.UserID, CareTeamActive, 1, now, now
	m.StartsAt = m.StartsAt.UTC().Truncate(time.Microsecond)
	_, err = write(ctx, tx, op, tCareTeam, `INSERT INTO care_team_members (patient_id, id, tenant_id, practitioner_id, user_id,
  role, reason, starts_at, ends_at, status, version, created_at, updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', 1, $10, $10, $11)`,
		a.patient, id, a.tenant, pr, p.UserID, m.Role, m.Reason, m.StartsAt, m.EndsAt, now, a.actor.Principal.UserID)
	return err
}

// EndCareTeam ends a care-team membership now, with a reason; the
// practitioner loses the care-team fact. It returns the new version.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound, ErrConflict
// (stale version, or the membership is not active: already ended, or
// entered in error), ErrDenied unless the actor may update care-team
// memberships.
func (r *Repository) EndCareTeam(ctx context.Context, ref RecordRef, reason string) (int, error) {
	const op = "end care team"
	var v validator
	pid, err := uuid.Parse(ref.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	id, err := uuid.Parse(ref.ID)
	v.check(err == nil, "ID", CodeInvalid, "must be a UUID")
	v.check(ref.Version > 0, "Version", CodeRequired, "must be the version read")
	v.maxLen("Reason", trim(reason), 500)
	if err := v.err(); err != nil {
		return 0, err
	}
	a, err := newAccess(ctx, op, rbac.ActionUpdate, rbac.KindCareTeam, pid)
	if err != nil {
		return 0, err
	}
	a.record = ref.ID
	var nv int
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		now := r.clock()
		nv, err = write(ctx, tx, op, tCareTeam, `UPDATE care_team_members SET status = 'ended', ends_at = $5,
  change_reason = $6, version = version + 1, updated_at = $5, updated_by = $7
WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 AND version = $4 AND status = 'active'`, pid, id, a.tenant, ref.Version, now, trim(reason), a.actor.Principal.UserID)
		if err != nil {
			return err
		}
		return r.audit(ctx, tx, a, now)
	})
	return nv, err
}
