package ehr

import (
	"context"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/historiaehr/historia/rbac"
)

// icd10RE is the shape of an ICD-10 code: a letter, two digits (the
// second may be a letter in some chapters), and optionally a dot and one
// to four more characters (E11.9, S72.001A, C4A.0). U is reserved for
// special purposes and accepted.
var icd10RE = regexp.MustCompile(`^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$`)

// ValidICD10 reports whether code has the shape of an ICD-10 code
// ("J45.909", "E11", "S72.001A"). It checks the format only, not that the
// code exists in a release of the classification.
func ValidICD10(code string) bool { return icd10RE.MatchString(code) }

// Condition statuses (clinical status).
var conditionStatuses = []string{"active", "recurrence", "relapse", "inactive", "remission", "resolved"}

// Condition is a diagnosis or problem coded in ICD-10.
type Condition struct {
	ID          string
	TenantID    string
	PatientID   string
	EncounterID string
	// Code is the ICD-10 code, such as "E11.9".
	Code    string
	Display string
	// Status is the clinical status: active, recurrence, relapse,
	// inactive, remission or resolved (or StatusEnteredInError).
	Status     string
	OnsetDate  *time.Time
	Note       string
	RecordedBy string
	Version    int
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

const conditionColumns = `id, tenant_id, patient_id, encounter_id, code, display, status, onset_date, note, recorded_by,
  version, created_at, updated_at`

func scanCondition(row pgx.Row) (Condition, error) {
	var c Condition
	var id, tenant, patient pgtype.UUID
	var enc pgtype.UUID
	err := row.Scan(&id, &tenant, &patient, &enc, &c.Code, &c.Display, &c.Status, &c.OnsetDate, &c.Note, &c.RecordedBy,
		&c.Version, &c.CreatedAt, &c.UpdatedAt)
	c.ID, c.TenantID, c.PatientID, c.EncounterID = idText(id), idText(tenant), idText(patient), idText(enc)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, err
}

func (c *Condition) validate(v *validator, now time.Time) {
	c.Code, c.Display, c.Note, c.Status = strings.ToUpper(trim(c.Code)), trim(c.Display), trim(c.Note), trim(c.Status)
	if c.Status == "" {
		c.Status = "active"
	}
	c.OnsetDate = dateOnly(c.OnsetDate)
	v.check(ValidICD10(c.Code), "Code", CodeUnknownCode, "is not an ICD-10 code")
	v.text("Display", c.Display, 500)
	v.check(oneOf(c.Status, conditionStatuses...), "Status", CodeNotAllowed, "must be one of "+strings.Join(conditionStatuses, ", "))
	v.check(c.OnsetDate == nil || !c.OnsetDate.After(now), "OnsetDate", CodeInFuture, "is in the future")
	v.check(len(c.Note) <= 10000, "Note", CodeTooLong, "is too long")
}

// RecordCondition records a diagnosis and returns it. Status defaults to
// active.
//
// It returns a *ValidationError (ErrInvalid: a code that is not ICD-10),
// ErrNotFound for an unknown patient or encounter, ErrDenied.
func (r *Repository) RecordCondition(ctx context.Context, c Condition) (Condition, error) {
	const op = "record condition"
	var v validator
	pid, err := uuid.Parse(c.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	enc := optionalID(&v, "EncounterID", c.EncounterID)
	c.validate(&v, r.clock())
	if err := v.err(); err != nil {
		return Condition{}, err
	}
	id := newID()
	err = r.createRecord(ctx, op, rbac.KindCondition, pid, id, func(tx pgx.Tx, a *access, now time.Time) error {
		c.ID, c.TenantID, c.RecordedBy, c.Version, c.CreatedAt, c.UpdatedAt = id.String(), a.tenantID, a.actor.Principal.UserID, 1, now, now
		_, err := write(ctx, tx, op, tConditions, `INSERT INTO conditions (patient_id, id, tenant_id, encounter_id, code, display,
  status, onset_date, note, recorded_by, version, created_at, updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11, $10)`,
			pid, id, a.tenant, enc, c.Code, c.Display, c.Status, c.OnsetDate, c.Note, c.RecordedBy, now)
		return err
	})
	if err != nil {
		return Condition{}, err
	}
	return c, nil
}

// UpdateCondition writes a new version of a condition (code, display,
// status, onset, note); c.Version must be the version read. It returns the
// new version.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound, ErrConflict,
// ErrDenied.
func (r *Repository) UpdateCondition(ctx context.Context, c Condition) (int, error) {
	const op = "update condition"
	var v validator
	pid, id := refIDs(&v, c.PatientID, c.ID, c.Version)
	c.validate(&v, r.clock())
	if err := v.err(); err != nil {
		return 0, err
	}
	return r.updateRecord(ctx, op, rbac.ActionUpdate, tConditions, rbac.KindCondition, pid, id, c.Version, nil,
		func(tx pgx.Tx, a *access, now time.Time) (int, error) {
			return write(ctx, tx, op, tConditions, `UPDATE conditions SET code = $5, display = $6, status = $7, onset_date = $8,
  note = $9, change_reason = '', version = version + 1, updated_at = $10, updated_by = $11
WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 AND version = $4`,
				pid, id, a.tenant, c.Version, c.Code, c.Display, c.Status, c.OnsetDate, c.Note, now, a.actor.Principal.UserID)
		})
}

// Allergy is an allergy or intolerance.
type Allergy struct {
	ID        string
	TenantID  string
	PatientID string
	Substance string
	Reaction  string
	// Severity is mild, moderate or severe.
	Severity string
	// Status is active, inactive or resolved (or StatusEnteredInError).
	Status     string
	RecordedBy string
	Version    int
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

const allergyColumns = `id, tenant_id, patient_id, substance, reaction, severity, status, recorded_by, version, created_at, updated_at`

func scanAllergy(row pgx.Row) (Allergy, error) {
	var al Allergy
	var id, tenant, patient pgtype.UUID
	err := row.Scan(&id, &tenant, &patient, &al.Substance, &al.Reaction, &al.Severity, &al.Status, &al.RecordedBy,
		&al.Version, &al.CreatedAt, &al.UpdatedAt)
	al.ID, al.TenantID, al.PatientID = idText(id), idText(tenant), idText(patient)
	al.CreatedAt, al.UpdatedAt = al.CreatedAt.UTC(), al.UpdatedAt.UTC()
	return al, err
}

func (al *Allergy) validate(v *validator) {
	al.Substance, al.Reaction, al.Severity, al.Status = trim(al.Substance), trim(al.Reaction), trim(al.Severity), trim(al.Status)
	if al.Status == "" {
		al.Status = "active"
	}
	v.text("Substance", al.Substance, 200)
	v.check(len(al.Reaction) <= 1000, "Reaction", CodeTooLong, "is too long")
	v.check(oneOf(al.Severity, "mild", "moderate", "severe"), "Severity", CodeNotAllowed, "must be mild, moderate or severe")
	v.check(oneOf(al.Status, "active", "inactive", "resolved"), "Status", CodeNotAllowed, "must be active, inactive or resolved")
}

// RecordAllergy records an allergy and returns it. Status defaults to
// active.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound, ErrDenied.
func (r *Repository) RecordAllergy(ctx context.Context, al Allergy) (Allergy, error) {
	const op = "record allergy"
	var v validator
	pid, err := uuid.Parse(al.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	al.validate(&v)
	if err := v.err(); err != nil {
		return Allergy{}, err
	}
	id := newID()
	err = r.createRecord(ctx, op, rbac.KindAllergy, pid, id, func(tx pgx.Tx, a *access, now time.Time) error {
		al.ID, al.TenantID, al.RecordedBy, al.Version, al.CreatedAt, al.UpdatedAt = id.String(), a.tenantID, a.actor.Principal.UserID, 1, now, now
		_, err := write(ctx, tx, op, tAllergies, `INSERT INTO allergies (patient_id, id, tenant_id, substance, reaction, severity,
  status, recorded_by, version, created_at, updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9, $8)`, pid, id, a.tenant, al.Substance, al.Reaction, al.Severity, al.Status, al.RecordedBy, now)
		return err
	})
	if err != nil {
		return Allergy{}, err
	}
	return al, nil
}

// UpdateAllergy writes a new version of an allergy; al.Version must be the
// version read. It returns the new version.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound, ErrConflict,
// ErrDenied.
func (r *Repository) UpdateAllergy(ctx context.Context, al Allergy) (int, error) {
	const op = "update allergy"
	var v validator
	pid, id := refIDs(&v, al.PatientID, al.ID, al.Version)
	al.validate(&v)
	if err := v.err(); err != nil {
		return 0, err
	}
	return r.updateRecord(ctx, op, rbac.ActionUpdate, tAllergies, rbac.KindAllergy, pid, id, al.Version, nil,
		func(tx pgx.Tx, a *access, now time.Time) (int, error) {
			return write(ctx, tx, op, tAllergies, `UPDATE allergies SET substance = $5, reaction = $6, severity = $7, status = $8,
  change_reason = '', version = version + 1, updated_at = $9, updated_by = $10
WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 AND version = $4`,
				pid, id, a.tenant, al.Version, al.Substance, al.Reaction, al.Severity, al.Status, now, a.actor.Principal.UserID)
		})
}

// Medication request statuses.
var medicationStatuses = []string{"active", "on-hold", "completed", "stopped", "cancelled"}

// MedicationRequest is a prescription: what, how much, how and how often.
type MedicationRequest struct {
	ID          string
	TenantID    string
	PatientID   string
	EncounterID string
	Medication  string
	// Dose is the amount per administration, in DoseUnit; it must be
	// positive.
	Dose      float64
	DoseUnit  string
	Route     string
	Frequency string
	// Status is active, on-hold, completed, stopped or cancelled (or
	// StatusEnteredInError).
	Status       string
	StartsOn     *time.Time
	EndsOn       *time.Time
	Note         string
	PrescriberID string
	Version      int
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

const medicationColumns = `id, tenant_id, patient_id, encounter_id, medication, dose, dose_unit, route, frequency, status,
  starts_on, ends_on, note, prescriber_id, version, created_at, updated_at`

func scanMedication(row pgx.Row) (MedicationRequest, error) {
	var m MedicationRequest
	var id, tenant, patient pgtype.UUID
	var enc pgtype.UUID
	err := row.Scan(&id, &tenant, &patient, &enc, &m.Medication, &m.Dose, &m.DoseUnit, &m.Route, &m.Frequency, &m.Status,
		&m.StartsOn, &m.EndsOn, &m.Note, &m.PrescriberID, &m.Version, &m.CreatedAt, &m.UpdatedAt)
	m.ID, m.TenantID, m.PatientID, m.EncounterID = idText(id), idText(tenant), idText(patient), idText(enc)
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	return m, err
}

func (m *MedicationRequest) validate(v *validator) {
	m.Medication, m.DoseUnit, m.Route, m.Frequency = trim(m.Medication), trim(m.DoseUnit), trim(m.Route), trim(m.Frequency)
	m.Note, m.Status = trim(m.Note), trim(m.Status)
	if m.Status == "" {
		m.Status = "active"
	}
	m.StartsOn, m.EndsOn = dateOnly(m.StartsOn), dateOnly(m.EndsOn)
	v.text("Medication", m.Medication, 500)
	v.check(m.Dose > 0 && !math.IsInf(m.Dose, 0) && m.Dose < 1e9, "Dose", CodeOutOfRange, "must be positive")
	v.text("DoseUnit", m.DoseUnit, 50)
	v.text("Route", m.Route, 100)
	v.text("Frequency", m.Frequency, 100)
	v.check(oneOf(m.Status, medicationStatuses...), "Status", CodeNotAllowed, "must be one of "+strings.Join(medicationStatuses, ", "))
	v.check(m.StartsOn == nil || m.EndsOn == nil || !m.EndsOn.Before(*m.StartsOn), "EndsOn", CodeBeforeStart, "must not be before StartsOn")
	v.check(len(m.Note) <= 10000, "Note", CodeTooLong, "is too long")
}

// PrescribeMedication records a medication request by the actor and
// returns it. Status defaults to active.
//
// It returns a *ValidationError (ErrInvalid: a dose that is not positive,
// EndsOn before StartsOn), ErrNotFound, ErrDenied.
func (r *Repository) PrescribeMedication(ctx context.Context, m MedicationRequest) (MedicationRequest, error) {
	const op = "prescribe medication"
	var v validator
	pid, err := uuid.Parse(m.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	enc := optionalID(&v, "EncounterID", m.EncounterID)
	m.validate(&v)
	if err := v.err(); err != nil {
		return MedicationRequest{}, err
	}
	id := newID()
	err = r.createRecord(ctx, op, rbac.KindMedication, pid, id, func(tx pgx.Tx, a *access, now time.Time) error {
		m.ID, m.TenantID, m.PrescriberID, m.Version, m.CreatedAt, m.UpdatedAt = id.String(), a.tenantID, a.actor.Principal.UserID, 1, now, now
		_, err := write(ctx, tx, op, tMedications, `INSERT INTO medication_requests (patient_id, id, tenant_id, encounter_id,
  medication, dose, dose_unit, route, frequency, status, starts_on, ends_on, note, prescriber_id, version, created_at,
  updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, $15, $15, $14)`,
			pid, id, a.tenant, enc, m.Medication, m.Dose, m.DoseUnit, m.Route, m.Frequency, m.Status, m.StartsOn, m.EndsOn,
			m.Note, m.PrescriberID, now)
		return err
	})
	if err != nil {
		return MedicationRequest{}, err
	}
	return m, nil
}

// UpdateMedication writes a new version of a medication request (dose,
// status, dates, ...); m.Version must be the version read. It returns the
// new version.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound, ErrConflict,
// ErrDenied.
func (r *Repository) UpdateMedication(ctx context.Context, m MedicationRequest) (int, error) {
	const op = "update medication"
	var v validator
	pid, id := refIDs(&v, m.PatientID, m.ID, m.Version)
	m.validate(&v)
	if err := v.err(); err != nil {
		return 0, err
	}
	return r.updateRecord(ctx, op, rbac.ActionUpdate, tMedications, rbac.KindMedication, pid, id, m.Version, nil,
		func(tx pgx.Tx, a *access, now time.Time) (int, error) {
			return write(ctx, tx, op, tMedications, `UPDATE medication_requests SET medication = $5, dose = $6, dose_unit = $7,
  route = $8, frequency = $9, status = $10, starts_on = $11, ends_on = $12, note = $13, change_reason = '',
  version = version + 1, updated_at = $14, updated_by = $15
WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 AND version = $4`,
				pid, id, a.tenant, m.Version, m.Medication, m.Dose, m.DoseUnit, m.Route, m.Frequency, m.Status, m.StartsOn,
				m.EndsOn, m.Note, now, a.actor.Principal.UserID)
		})
}

// Observation categories.
const (
	CategoryVitalSigns = "vital-signs"
	CategoryLaboratory = "laboratory"
)

// Common vital-sign codes (LOINC).
const (
	CodeHeartRate   = "8867-4"
	CodeSystolicBP  = "8480-6"
	CodeDiastolicBP = "8462-4"
	CodeBodyTemp    = "8310-5"
	CodeRespRate    = "9279-1"
	CodeOxygenSat   = "59408-5"
	CodeBodyWeight  = "29463-7"
	CodeBodyHeight  = "8302-2"
)

// Observation is a vital sign or a laboratory result: a code (LOINC or
// local), a numeric value with its unit or a text value, and when it was
// taken.
type Observation struct {
	ID          string
	TenantID    string
	PatientID   string
	EncounterID string
	// Category is CategoryVitalSigns or CategoryLaboratory.
	Category string
	Code     string
	Display  string
	// Value is the numeric value; nil for a text-only result.
	Value     *float64
	ValueText string
	Unit      string
	// EffectiveAt is when it was measured (default now).
	EffectiveAt time.Time
	// Status is final, amended (after UpdateObservation) or
	// StatusEnteredInError.
	Status     string
	RecordedBy string
	Version    int
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

const observationColumns = `id, tenant_id, patient_id, encounter_id, category, code, display, value, value_text, unit,
  effective_at, status, recorded_by, version, created_at, updated_at`

func scanObservation(row pgx.Row) (Observation, error) {
	var o Observation
	var id, tenant, patient pgtype.UUID
	var enc pgtype.UUID
	err := row.Scan(&id, &tenant, &patient, &enc, &o.Category, &o.Code, &o.Display, &o.Value, &o.ValueText, &o.Unit,
		&o.EffectiveAt, &o.Status, &o.RecordedBy, &o.Version, &o.CreatedAt, &o.UpdatedAt)
	o.ID, o.TenantID, o.PatientID, o.EncounterID = idText(id), idText(tenant), idText(patient), idText(enc)
	o.EffectiveAt, o.CreatedAt, o.UpdatedAt = o.EffectiveAt.UTC(), o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, err
}

var obsCodeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.\-_:]{0,63}$`)

func (o *Observation) validate(v *validator, field string, now time.Time) {
	o.Category, o.Code, o.Display, o.ValueText, o.Unit = trim(o.Category), trim(o.Code), trim(o.Display), trim(o.ValueText), trim(o.Unit)
	v.check(oneOf(o.Category, CategoryVitalSigns, CategoryLaboratory), field+"Category", CodeNotAllowed, "must be vital-signs or laboratory")
	v.check(obsCodeRE.MatchString(o.Code), field+"Code", CodeInvalid, "must be a code of letters, digits and . - _ :")
	v.check(len(o.Display) <= 500, field+"Display", CodeTooLong, "is too long")
	v.check(o.Value != nil || o.ValueText != "", field+"Value", CodeRequired, "a value or a text value is required")
	v.check(o.Value == nil || (!math.IsNaN(*o.Value) && !math.IsInf(*o.Value, 0)), field+"Value", CodeInvalid, "must be a number")
	v.check(o.Value == nil || o.Unit != "", field+"Unit", CodeRequired, "is required with a numeric value")
	v.check(len(o.ValueText) <= 10000 && len(o.Unit) <= 50, field+"ValueText", CodeTooLong, "is too long")
	v.check(!o.EffectiveAt.After(now.Add(5*time.Minute)), field+"EffectiveAt", CodeInFuture, "is in the future")
	if o.Category == CategoryVitalSigns && o.Value != nil && *o.Value < 0 {
		v.add(field+"Value", CodeOutOfRange, "a vital sign cannot be negative")
	}
}

// RecordObservations records observations of one patient (a set of vital
// signs, a lab panel) in one transaction, one audit event each, and
// returns them. Each observation's PatientID must be patientID or empty.
//
// It returns a *ValidationError (ErrInvalid; fields named
// "Observations[i].Field"), ErrNotFound for an unknown patient or
// encounter, ErrDenied.
func (r *Repository) RecordObservations(ctx context.Context, patientID string, obs []Observation) ([]Observation, error) {
	const op = "record observations"
	var v validator
	pid, err := uuid.Parse(patientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	v.check(len(obs) > 0, "Observations", CodeRequired, "at least one is required")
	v.check(len(obs) <= 100, "Observations", CodeTooMany, "at most 100")
	now := r.clock()
	encs := make([]*uuid.UUID, len(obs))
	for i := range obs {
		f := "Observations[" + itoa(i) + "]."
		o := &obs[i]
		v.check(o.PatientID == "" || o.PatientID == patientID, f+"PatientID", CodeMismatch, "must be the patient's")
		encs[i] = optionalID(&v, f+"EncounterID", o.EncounterID)
		if o.EffectiveAt.IsZero() {
			o.EffectiveAt = now
		}
		o.EffectiveAt = o.EffectiveAt.UTC().Truncate(time.Microsecond)
		o.validate(&v, f, now)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	out := make([]Observation, len(obs))
	copy(out, obs)
	ids := make([]uuid.UUID, len(obs))
	for i := range ids {
		ids[i] = newID()
	}
	a, err := newAccess(ctx, op, rbac.ActionCreate, rbac.KindObservation, pid)
	if err != nil {
		return nil, err
	}
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		if err := r.requirePatient(ctx, tx, op, a); err != nil {
			return err
		}
		now := r.clock()
		for i := range out {
			o := &out[i]
			o.ID, o.TenantID, o.PatientID, o.RecordedBy, o.Status, o.Version, o.CreatedAt, o.UpdatedAt =
				ids[i].String(), a.tenantID, patientID, a.actor.Principal.UserID, "final", 1, now, now
			if _, err := write(ctx, tx, op, tObservations, `INSERT INTO observations (patient_id, id, tenant_id, encounter_id,
  category, code, display, value, value_text, unit, effective_at, status, recorded_by, version, created_at, updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'final', $12, 1, $13, $13, $12)`,
				pid, ids[i], a.tenant, encs[i], o.Category, o.Code, o.Display, o.Value, o.ValueText, o.Unit, o.EffectiveAt,
				o.RecordedBy, now); err != nil {
				return err
			}
			ea := *a
			ea.record = o.ID
			if err := r.audit(ctx, tx, &ea, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RecordObservation records one observation; see RecordObservations.
func (r *Repository) RecordObservation(ctx context.Context, o Observation) (Observation, error) {
	out, err := r.RecordObservations(ctx, o.PatientID, []Observation{o})
	if err != nil {
		return Observation{}, err
	}
	return out[0], nil
}

// UpdateObservation corrects an observation's value, unit, display or
// time; o.Version must be the version read. Its status becomes amended. It
// returns the new version.
//
// It returns a *ValidationError (ErrInvalid), ErrNotFound, ErrConflict,
// ErrDenied.
func (r *Repository) UpdateObservation(ctx context.Context, o Observation) (int, error) {
	const op = "update observation"
	var v validator
	pid, id := refIDs(&v, o.PatientID, o.ID, o.Version)
	now := r.clock()
	if o.EffectiveAt.IsZero() {
		v.add("EffectiveAt", CodeRequired, "is required")
	}
	o.EffectiveAt = o.EffectiveAt.UTC().Truncate(time.Microsecond)
	o.validate(&v, "", now)
	if err := v.err(); err != nil {
		return 0, err
	}
	return r.updateRecord(ctx, op, rbac.ActionUpdate, tObservations, rbac.KindObservation, pid, id, o.Version, nil,
		func(tx pgx.Tx, a *access, now time.Time) (int, error) {
			return write(ctx, tx, op, tObservations, `UPDATE observations SET category = $5, code = $6, display = $7, value = $8,
  value_text = $9, unit = $10, effective_at = $11, status = 'amended', change_reason = '', version = version + 1,
  updated_at = $12, updated_by = $13 WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 AND version = $4`,
				pid, id, a.tenant, o.Version, o.Category, o.Code, o.Display, o.Value, o.ValueText, o.Unit, o.EffectiveAt, now,
				a.actor.Principal.UserID)
		})
}

// itoa formats a small non-negative int.
func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
