package ehr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/historiaehr/historia/rbac"
)

// SlotDuration is the granularity of a practitioner's agenda: appointments
// start and end on multiples of it. Each slot an appointment covers is a
// row of appointment_slots whose primary key (practitioner, slot start)
// makes double booking impossible in the database itself, without the
// btree_gist extension an exclusion constraint would need.
const SlotDuration = 5 * time.Minute

// MaxAppointment is the longest appointment.
const MaxAppointment = 12 * time.Hour

// Appointment statuses.
const (
	AppointmentBooked    = "booked"
	AppointmentArrived   = "arrived"
	AppointmentFulfilled = "fulfilled"
	AppointmentCancelled = "cancelled"
	AppointmentNoShow    = "no-show"
)

// Appointment is a patient's appointment with a practitioner.
type Appointment struct {
	ID             string
	TenantID       string
	PatientID      string
	PractitionerID string
	Start          time.Time
	End            time.Time
	Status         string
	Reason         string
	Version        int
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

const appointmentColumns = `id, tenant_id, patient_id, practitioner_id, starts_at, ends_at, status, reason, version, created_at, updated_at`

func scanAppointment(row pgx.Row, extra ...any) (Appointment, error) {
	var ap Appointment
	var id, tenant, patient, pr pgtype.UUID
	dest := append([]any{&id, &tenant, &patient, &pr, &ap.Start, &ap.End, &ap.Status, &ap.Reason, &ap.Version,
		&ap.CreatedAt, &ap.UpdatedAt}, extra...)
	err := row.Scan(dest...)
	ap.ID, ap.TenantID, ap.PatientID, ap.PractitionerID = idText(id), idText(tenant), idText(patient), idText(pr)
	ap.Start, ap.End, ap.CreatedAt, ap.UpdatedAt = ap.Start.UTC(), ap.End.UTC(), ap.CreatedAt.UTC(), ap.UpdatedAt.UTC()
	return ap, err
}

// validateSlot checks start and end.
func validateSlot(v *validator, start, end time.Time) {
	switch {
	case start.IsZero():
		v.add("Start", CodeRequired, "is required")
	case !start.Equal(start.Truncate(SlotDuration)):
		v.add("Start", CodeMisaligned, "must be a multiple of SlotDuration")
	}
	switch {
	case end.IsZero():
		v.add("End", CodeRequired, "is required")
	case !end.After(start):
		v.add("End", CodeBeforeStart, "must be after Start")
	case end.Sub(start) > MaxAppointment:
		v.add("End", CodeTooLong, "appointment is too long")
	case !end.Equal(end.Truncate(SlotDuration)):
		v.add("End", CodeMisaligned, "must be a multiple of SlotDuration")
	}
}

// claimSlotsSQL returns the INSERT of n slots of one practitioner: $1
// tenant, $2 practitioner, $3 patient, $4 appointment, then the n slot
// starts. It is a multi-row VALUES on purpose: every row has the same
// distribution value, so on Citus it is one single-shard statement whose
// unique violation comes back as SQLSTATE 23505. An INSERT ... SELECT
// from generate_series goes through the coordinator instead (COPY into
// the shards), where a duplicate slot is reported as an internal error
// (XX000) and a double booking looked like a server failure.
func claimSlotsSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO appointment_slots (tenant_id, practitioner_id, slot_start, patient_id, appointment_id) VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "($1, $2, $%d, $3, $4)", i+5)
	}
	return b.String()
}

const releaseSlotsSQL = `DELETE FROM appointment_slots WHERE practitioner_id = $1 AND appointment_id = $2 AND tenant_id = $3`

func claimSlots(ctx context.Context, tx pgx.Tx, op string, a *access, pr, appt uuid.UUID, start, end time.Time) error {
	args := []any{a.tenant, pr, a.patient, appt}
	for s := start; s.Before(end); s = s.Add(SlotDuration) {
		args = append(args, s)
	}
	_, err := tx.Exec(ctx, claimSlotsSQL(len(args)-4), args...)
	if err != nil {
		err = dbError(op, err)
		if errors.Is(err, ErrConflict) {
			return fmt.Errorf("ehr: %s: %w: practitioner %s is already booked in that time", op, ErrConflict, pr)
		}
	}
	return err
}

// releaseSlots frees the slots of appointment appt of patient a.patient.
func releaseSlots(ctx context.Context, tx pgx.Tx, op string, a *access, appt uuid.UUID) error {
	var pr uuid.UUID
	if err := tx.QueryRow(ctx, `SELECT practitioner_id FROM appointments WHERE patient_id = $1 AND id = $2 AND tenant_id = $3`,
		a.patient, appt, a.tenant).Scan(&pr); err != nil {
		return dbError(op, err)
	}
	if _, err := tx.Exec(ctx, releaseSlotsSQL, pr, appt, a.tenant); err != nil {
		return dbError(op, err)
	}
	return nil
}

// BookAppointment books an appointment of a patient with a practitioner
// and returns it (status booked, version 1). Start and End are multiples
// of SlotDuration.
//
// It returns a *ValidationError (ErrInvalid; End before Start, unaligned
// times), ErrNotFound for an unknown patient or practitioner, ErrConflict
// when the practitioner is already booked at any moment of that time,
// ErrDenied unless the actor may schedule (rbac ActionSchedule on
// KindAppointment).
func (r *Repository) BookAppointment(ctx context.Context, ap Appointment) (Appointment, error) {
	const op = "book appointment"
	var v validator
	pid, err := uuid.Parse(ap.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	pr, err := uuid.Parse(ap.PractitionerID)
	v.check(err == nil, "PractitionerID", CodeInvalid, "must be a UUID")
	ap.Start, ap.End, ap.Reason = ap.Start.UTC(), ap.End.UTC(), trim(ap.Reason)
	validateSlot(&v, ap.Start, ap.End)
	v.check(len(ap.Reason) <= 1000, "Reason", CodeTooLong, "is too long")
	if err := v.err(); err != nil {
		return Appointment{}, err
	}
	id := newID()
	a, err := newAccess(ctx, op, rbac.ActionSchedule, rbac.KindAppointment, pid)
	if err != nil {
		return Appointment{}, err
	}
	a.record = id.String()
	now := r.clock()
	ap.ID, ap.TenantID, ap.Status, ap.Version, ap.CreatedAt, ap.UpdatedAt = id.String(), a.tenantID, AppointmentBooked, 1, now, now
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		if err := r.requirePatient(ctx, tx, op, a); err != nil {
			return err
		}
		p, err := r.getPractitioner(ctx, tx, a.tenant, pr)
		if err != nil {
			return err
		}
		if !p.Active {
			return fmt.Errorf("ehr: %s: %w: practitioner %s is inactive", op, ErrConflict, p.ID)
		}
		if err := claimSlots(ctx, tx, op, a, pr, id, ap.Start, ap.End); err != nil {
			return err
		}
		if _, err := write(ctx, tx, op, tAppointments, `INSERT INTO appointments (patient_id, id, tenant_id, practitioner_id,
  starts_at, ends_at, status, reason, version, created_at, updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, 'booked', $7, 1, $8, $8, $9)`, pid, id, a.tenant, pr, ap.Start, ap.End, ap.Reason, now, a.actor.Principal.UserID); err != nil {
			return err
		}
		return r.audit(ctx, tx, a, now)
	})
	if err != nil {
		return Appointment{}, err
	}
	return ap, nil
}

// changeAppointment authorizes action on appointment ref, locks it, checks
// its version and that its status is one of from, runs change and returns
// the new version.
func (r *Repository) changeAppointment(ctx context.Context, op string, action rbac.Action, ref RecordRef, from []string,
	change func(ctx context.Context, tx pgx.Tx, a *access, cur Appointment, now time.Time) error) (Appointment, error) {
	var v validator
	pid, err := uuid.Parse(ref.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	id, err := uuid.Parse(ref.ID)
	v.check(err == nil, "ID", CodeInvalid, "must be a UUID")
	v.check(ref.Version > 0, "Version", CodeRequired, "must be the version read")
	if err := v.err(); err != nil {
		return Appointment{}, err
	}
	a, err := newAccess(ctx, op, action, rbac.KindAppointment, pid)
	if err != nil {
		return Appointment{}, err
	}
	a.record = ref.ID
	var out Appointment
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		cur, err := scanAppointment(tx.QueryRow(ctx, `SELECT `+appointmentColumns+` FROM appointments
WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 FOR UPDATE`, pid, id, a.tenant))
		if err != nil {
			return dbError(op+" "+ref.ID, err)
		}
		if cur.Version != ref.Version {
			return fmt.Errorf("ehr: %s %s: %w: version is %d", op, ref.ID, ErrConflict, cur.Version)
		}
		ok := false
		for _, s := range from {
			ok = ok || cur.Status == s
		}
		if !ok {
			return fmt.Errorf("ehr: %s %s: %w: appointment is %s", op, ref.ID, ErrConflict, cur.Status)
		}
		now := r.clock()
		if err := change(ctx, tx, a, cur, now); err != nil {
			return err
		}
		if out, err = scanAppointment(tx.QueryRow(ctx, `SELECT `+appointmentColumns+` FROM appointments
WHERE patient_id = $1 AND id = $2 AND tenant_id = $3`, pid, id, a.tenant)); err != nil {
			return dbError(op, err)
		}
		return r.audit(ctx, tx, a, now)
	})
	return out, err
}

const setAppointmentStatusSQL = `UPDATE appointments SET status = $5, change_reason = $6, version = version + 1,
  updated_at = $7, updated_by = $8 WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 AND version = $4`

// RescheduleAppointment moves a booked appointment to another time,
// releasing its slots and claiming the new ones. It returns the new
// version.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound, ErrConflict
// (stale version, not booked, or the new time is taken), ErrDenied unless
// the actor may schedule.
func (r *Repository) RescheduleAppointment(ctx context.Context, ref RecordRef, start, end time.Time) (Appointment, error) {
	const op = "reschedule appointment"
	var v validator
	start, end = start.UTC(), end.UTC()
	validateSlot(&v, start, end)
	if err := v.err(); err != nil {
		return Appointment{}, err
	}
	return r.changeAppointment(ctx, op, rbac.ActionSchedule, ref, []string{AppointmentBooked},
		func(ctx context.Context, tx pgx.Tx, a *access, cur Appointment, now time.Time) error {
			id := uuid.MustParse(cur.ID)
			pr := uuid.MustParse(cur.PractitionerID)
			if _, err := tx.Exec(ctx, releaseSlotsSQL, pr, id, a.tenant); err != nil {
				return dbError(op, err)
			}
			if err := claimSlots(ctx, tx, op, a, pr, id, start, end); err != nil {
				return err
			}
			_, err := write(ctx, tx, op, tAppointments, `UPDATE appointments SET starts_at = $5, ends_at = $6, change_reason = '',
  version = version + 1, updated_at = $7, updated_by = $8 WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 AND version = $4`,
				a.patient, id, a.tenant, cur.Version, start, end, now, a.actor.Principal.UserID)
			return err
		})
}

// CancelAppointment cancels a booked or arrived appointment, with a
// reason, and frees its time. It returns the new version.
//
// It returns ErrInvalid, ErrNotFound, ErrConflict (stale version or
// already closed), ErrDenied unless the actor may cancel (rbac
// ActionCancel on KindAppointment).
func (r *Repository) CancelAppointment(ctx context.Context, ref RecordRef, reason string) (Appointment, error) {
	const op = "cancel appointment"
	if len(reason) > 500 {
		return Appointment{}, invalid("Reason", CodeTooLong, "is too long")
	}
	return r.changeAppointment(ctx, op, rbac.ActionCancel, ref, []string{AppointmentBooked, AppointmentArrived},
		func(ctx context.Context, tx pgx.Tx, a *access, cur Appointment, now time.Time) error {
			id := uuid.MustParse(cur.ID)
			if _, err := tx.Exec(ctx, releaseSlotsSQL, uuid.MustParse(cur.PractitionerID), id, a.tenant); err != nil {
				return dbError(op, err)
			}
			_, err := write(ctx, tx, op, tAppointments, setAppointmentStatusSQL, a.patient, id, a.tenant, cur.Version,
				AppointmentCancelled, trim(reason), now, a.actor.Principal.UserID)
			return err
		})
}

// CheckIn marks that the patient arrived for a booked appointment. It
// returns the new version.
//
// It returns ErrInvalid, ErrNotFound, ErrConflict (stale version or not
// booked), ErrDenied unless the actor may check in (rbac ActionCheckIn).
func (r *Repository) CheckIn(ctx context.Context, ref RecordRef) (Appointment, error) {
	const op = "check in"
	return r.changeAppointment(ctx, op, rbac.ActionCheckIn, ref, []string{AppointmentBooked},
		func(ctx context.Context, tx pgx.Tx, a *access, cur Appointment, now time.Time) error {
			_, err := write(ctx, tx, op, tAppointments, setAppointmentStatusSQL, a.patient, uuid.MustParse(cur.ID), a.tenant,
				cur.Version, AppointmentArrived, "", now, a.actor.Principal.UserID)
			return err
		})
}

// CloseAppointment records how an appointment ended: AppointmentFulfilled
// (from booked or arrived) or AppointmentNoShow (from booked). It returns
// the new version.
//
// It returns ErrInvalid, ErrNotFound, ErrConflict, ErrDenied unless the
// actor may update appointments.
func (r *Repository) CloseAppointment(ctx context.Context, ref RecordRef, status string) (Appointment, error) {
	const op = "close appointment"
	from := []string{AppointmentBooked, AppointmentArrived}
	switch status {
	case AppointmentFulfilled:
	case AppointmentNoShow:
		from = from[:1]
	default:
		return Appointment{}, invalid("Status", CodeNotAllowed, "must be fulfilled or no-show")
	}
	return r.changeAppointment(ctx, op, rbac.ActionUpdate, ref, from,
		func(ctx context.Context, tx pgx.Tx, a *access, cur Appointment, now time.Time) error {
			_, err := write(ctx, tx, op, tAppointments, setAppointmentStatusSQL, a.patient, uuid.MustParse(cur.ID), a.tenant,
				cur.Version, status, "", now, a.actor.Principal.UserID)
			return err
		})
}

// AppointmentQuery selects appointments for ListAppointments.
type AppointmentQuery struct {
	// PatientID lists one patient's appointments (a patient's own list);
	// otherwise PractitionerID, or all of the tenant's, within From..To.
	PatientID      string
	PractitionerID string
	// From and To bound Start: From <= Start < To. Both are required
	// unless PatientID is set; the span is at most 62 days.
	From, To time.Time
	// IncludeCancelled includes cancelled appointments.
	IncludeCancelled bool
}

// AppointmentEntry is an appointment with the patient's names, for an
// agenda.
type AppointmentEntry struct {
	Appointment Appointment
	GivenNames  string
	FamilyNames string
}

const appointmentEntryColumns = `a.id, a.tenant_id, a.patient_id, a.practitioner_id, a.starts_at, a.ends_at, a.status,
  a.reason, a.version, a.created_at, a.updated_at, p.given_names, p.family_names`

// appointmentsQuery builds the listing of ListAppointments from its
// optional filters. One patient's appointments filter both tables on the
// patient, a single-shard query on Citus; a practitioner's or the tenant's
// agenda asks every shard (appointments are distributed by patient).
// PractitionerID filters the agenda only, as AppointmentQuery says.
func appointmentsQuery(tenant uuid.UUID, pid, pr *uuid.UUID, q AppointmentQuery) sq.SelectBuilder {
	b := psql.Select(appointmentEntryColumns).From("appointments a").Join("patients p ON p.patient_id = a.patient_id").
		Where(sq.Eq{"a.tenant_id": tenant})
	switch {
	case pid != nil:
		b = b.Where(sq.Eq{"a.patient_id": *pid}).Where(sq.Eq{"p.patient_id": *pid}).Where(sq.Eq{"p.tenant_id": tenant})
	case pr != nil:
		b = b.Prefix("/* fanout: agenda */").Where(sq.Eq{"a.practitioner_id": *pr})
	default:
		b = b.Prefix("/* fanout: agenda */")
	}
	if !q.From.IsZero() {
		b = b.Where(sq.GtOrEq{"a.starts_at": q.From})
	}
	if !q.To.IsZero() {
		b = b.Where(sq.Lt{"a.starts_at": q.To})
	}
	if !q.IncludeCancelled {
		b = b.Where(sq.NotEq{"a.status": []string{AppointmentCancelled, StatusEnteredInError}})
	}
	return b.OrderBy("a.starts_at", "a.id")
}

// ListAppointments lists appointments ordered by start: one patient's
// (rbac ActionRead on KindAppointment of that patient: the patient
// themselves, the front desk, physicians), or a practitioner's or the
// tenant's agenda for a period (rbac ActionSearch on KindAppointment). It
// is audited.
//
// It returns a *ValidationError (ErrInvalid), ErrDenied.
func (r *Repository) ListAppointments(ctx context.Context, q AppointmentQuery) ([]AppointmentEntry, error) {
	const op = "list appointments"
	var v validator
	pid := optionalID(&v, "PatientID", q.PatientID)
	pr := optionalID(&v, "PractitionerID", q.PractitionerID)
	if pid == nil {
		v.check(!q.From.IsZero(), "From", CodeRequired, "is required")
		v.check(!q.To.IsZero(), "To", CodeRequired, "is required")
		v.check(q.To.IsZero() || q.To.After(q.From), "To", CodeBeforeStart, "must be after From")
		v.check(q.To.Sub(q.From) <= 62*24*time.Hour, "To", CodeTooLong, "period is longer than 62 days")
	} else {
		v.check(q.To.IsZero() || q.To.After(q.From), "To", CodeBeforeStart, "must be after From")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	var a *access
	var err error
	if pid != nil {
		a, err = newAccess(ctx, op, rbac.ActionRead, rbac.KindAppointment, *pid)
	} else {
		a, err = newAccess(ctx, op, rbac.ActionSearch, rbac.KindAppointment, uuid.Nil)
		if pr != nil {
			a.record = pr.String()
		}
	}
	if err != nil {
		return nil, err
	}
	sqlText, args, err := appointmentsQuery(a.tenant, pid, pr, q).ToSql()
	if err != nil {
		return nil, fmt.Errorf("ehr: %s: build query: %w", op, err)
	}
	var out []AppointmentEntry
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		if pid != nil {
			// Only a patient of the tenant: an unknown id (or another
			// tenant's) is not found, and opens no audit chain.
			if err := r.requirePatient(ctx, tx, op, a); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, sqlText, args...)
		if err != nil {
			return dbError(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			var e AppointmentEntry
			if e.Appointment, err = scanAppointment(rows, &e.GivenNames, &e.FamilyNames); err != nil {
				return dbError(op, err)
			}
			out = append(out, e)
		}
		if err := rows.Err(); err != nil {
			return dbError(op, err)
		}
		return r.audit(ctx, tx, a, r.clock())
	})
	return out, err
}
