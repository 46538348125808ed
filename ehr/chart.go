package ehr

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/rbac"
)

// Chart is everything about one patient that the actor may read.
type Chart struct {
	Patient      Patient
	Encounters   []Encounter
	Appointments []Appointment
	CareTeam     []CareTeamMember
	Notes        []Note
	Conditions   []Condition
	Allergies    []Allergy
	Medications  []MedicationRequest
	// Observations are ordered by time, newest last.
	Observations []Observation
	// Withheld lists the sections the policy does not let the actor read;
	// they are left empty (KindContact: Patient.Contact and
	// Patient.Emergency are blank). A physician outside the care team sees
	// the clinical kinds here until they break the glass.
	Withheld []rbac.Kind
	// BreakGlass is set when some section was read under a break-glass
	// grant (and the read was flagged in the audit trail).
	BreakGlass bool
}

// chartSection is one section of a chart, one row of chartSections: the
// kind the policy decides, the query that reads it and how a row of the
// result joins the chart. Adding a record kind to the chart is adding a
// row.
type chartSection struct {
	kind rbac.Kind
	// part is a kind that reads part of the section when kind is denied
	// (0 for none): KindAdmission reads the inpatient encounters.
	part rbac.Kind
	// sql reads the section: $1 patient, $2 tenant. Every statement
	// filters on patient_id, so on Citus the whole batch goes to the
	// patient's shard.
	sql string
	// ownSQL, when set, replaces sql when the actor reads their own
	// record as the patient (access.ownRecord): the notes a patient reads
	// are the signed ones.
	ownSQL string
	// add scans one row into c; partOnly is set when only part is allowed.
	add func(c *Chart, rows pgx.Rows, partOnly bool) error
}

// section returns a chartSection that appends every row, scanned by scan,
// to the slice of the chart that field returns.
func section[T any](kind rbac.Kind, sql string, scan func(pgx.Row) (T, error), field func(*Chart) *[]T) chartSection {
	return chartSection{kind: kind, sql: sql, add: func(c *Chart, rows pgx.Rows, _ bool) error {
		v, err := scan(rows)
		if err != nil {
			return err
		}
		f := field(c)
		*f = append(*f, v)
		return nil
	}}
}

// chartSections are the sections of a chart after the patient's own row
// (demographics and contact), in the order they are read and decided.
var chartSections = [...]chartSection{
	{kind: rbac.KindEncounter, part: rbac.KindAdmission, sql: chartSQL(encounterColumns, "encounters", "started_at"),
		add: func(c *Chart, rows pgx.Rows, admissionsOnly bool) error {
			e, err := scanEncounter(rows)
			if err == nil && (!admissionsOnly || e.Class == ClassInpatient) {
				c.Encounters = append(c.Encounters, e)
			}
			return err
		}},
	section(rbac.KindAppointment, chartSQL(appointmentColumns, "appointments", "starts_at"),
		func(row pgx.Row) (Appointment, error) { return scanAppointment(row) },
		func(c *Chart) *[]Appointment { return &c.Appointments }),
	section(rbac.KindCareTeam, chartSQL(careTeamColumns, "care_team_members", "starts_at"), scanCareTeam,
		func(c *Chart) *[]CareTeamMember { return &c.CareTeam }),
	withOwnSQL(section(rbac.KindNote, chartSQL(noteColumns, "clinical_notes", "created_at"), scanNote,
		func(c *Chart) *[]Note { return &c.Notes }),
		chartSQL(noteColumns, "clinical_notes", "created_at", patientNoteSQL)),
	section(rbac.KindCondition, chartSQL(conditionColumns, "conditions", "created_at"), scanCondition,
		func(c *Chart) *[]Condition { return &c.Conditions }),
	section(rbac.KindAllergy, chartSQL(allergyColumns, "allergies", "created_at"), scanAllergy,
		func(c *Chart) *[]Allergy { return &c.Allergies }),
	section(rbac.KindMedication, chartSQL(medicationColumns, "medication_requests", "created_at"), scanMedication,
		func(c *Chart) *[]MedicationRequest { return &c.Medications }),
	section(rbac.KindObservation, chartSQL(observationColumns, "observations", "effective_at"), scanObservation,
		func(c *Chart) *[]Observation { return &c.Observations }),
}

// chartSQL reads the rows of one patient ($1) of the tenant ($2) from
// table that meet the conditions and, ordered by the column order and then
// id.
func chartSQL(columns, table, order string, and ...string) string {
	where := `patient_id = $1 AND tenant_id = $2`
	for _, c := range and {
		where += ` AND ` + c
	}
	return `SELECT ` + columns + ` FROM ` + table + ` WHERE ` + where + ` ORDER BY ` + order + `, id`
}

// withOwnSQL returns s reading with ownSQL when the actor reads their own
// record as the patient.
func withOwnSQL(s chartSection, ownSQL string) chartSection {
	s.ownSQL = ownSQL
	return s
}

// chartKinds are the kinds a chart read decides, in order: demographics,
// contact, then each section's kind and part.
var chartKinds = func() []rbac.Kind {
	ks := []rbac.Kind{rbac.KindDemographics, rbac.KindContact}
	for _, s := range chartSections {
		ks = append(ks, s.kind)
		if s.part != 0 {
			ks = append(ks, s.part)
		}
	}
	return ks
}()

// Chart returns the chart of patient id: demographics and every section
// the actor may read, in at most two round trips (the care-team and
// break-glass facts when the policy needs them, then one batch, in one
// transaction, that reads every section and appends the audit event).
// Sections the actor may not read are listed in Chart.Withheld.
//
// A patient reading their own chart (the principal's PatientID is id)
// gets the notes a patient reads: signed and amended notes, and signed
// notes later entered in error (kept, marked); never drafts, nor a draft
// entered in error. This holds whatever other roles the principal has.
//
// It returns ErrInvalid for a malformed id, ErrNotFound when id is no
// patient of the actor's tenant (whatever the actor may read: a patient
// of another tenant is not found either, and a refused attempt is still
// audited), ErrDenied unless the actor may read the demographics of this
// patient of the tenant.
func (r *Repository) Chart(ctx context.Context, id string) (Chart, error) {
	const op = "chart"
	pid, err := parseID("ID", id)
	if err != nil {
		return Chart{}, err
	}
	a, err := newAccess(ctx, op, rbac.ActionRead, rbac.KindDemographics, pid)
	if err != nil {
		return Chart{}, err
	}
	a.kindName = "chart"
	decisions := make([]rbac.Decision, len(chartKinds))
	decideAll := func(f facts) bool {
		all := true
		for i, k := range chartKinds {
			decisions[i] = r.authz.Decide(a.actor.Principal, rbac.ActionRead, k, a.target(f.onCareTeam, f.grant))
			all = all && decisions[i].Allowed
		}
		return all
	}
	var f facts
	if !decideAll(f) {
		if f, err = r.loadFacts(ctx, r.db, a); err != nil {
			return Chart{}, err
		}
		decideAll(f)
	}
	can := func(k rbac.Kind) bool { return decisions[slices.Index(chartKinds, k)].Allowed }
	if !can(rbac.KindDemographics) {
		a.decision = decisions[0]
		return Chart{}, r.deny(ctx, op, a)
	}
	var c Chart
	a.decision = decisions[0]
	for _, d := range decisions {
		if d.Allowed && d.Condition == rbac.ConditionBreakGlass {
			c.BreakGlass, a.grant = true, f.grant
			a.decision = d
		}
	}
	if !can(rbac.KindContact) {
		c.Withheld = append(c.Withheld, rbac.KindContact)
	}
	// Sections read in part under another kind (the encounters) are
	// listed last.
	var withheldParts []rbac.Kind
	own := a.ownRecord()
	b := newBatch(3 + len(chartSections))
	r.queueGetPatient(b, a)
	type read struct {
		s        *chartSection
		partOnly bool
	}
	reads := make([]read, 0, len(chartSections))
	for i := range chartSections {
		s := &chartSections[i]
		whole, part := can(s.kind), s.part != 0 && can(s.part)
		if !whole && !part {
			if s.part != 0 {
				withheldParts = append(withheldParts, s.kind)
			} else {
				c.Withheld = append(c.Withheld, s.kind)
			}
			continue
		}
		sql := s.sql
		if own && s.ownSQL != "" {
			sql = s.ownSQL
		}
		b.Queue(sql, pid, a.tenant)
		reads = append(reads, read{s, !whole})
	}
	c.Withheld = append(c.Withheld, withheldParts...)

	err = sendBatch(ctx, r.db, b, func(br pgx.BatchResults) error {
		p, err := r.readGetPatient(br)
		if err != nil {
			return err
		}
		c.Patient = p
		for _, rd := range reads {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			for rows.Next() {
				if err := rd.s.add(&c, rows, rd.partOnly); err != nil {
					rows.Close()
					return err
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return Chart{}, r.notFound(ctx, a, fmt.Errorf("ehr: %s %s: %w", op, id, ErrNotFound))
		}
		return Chart{}, dbError(op+" "+id, err)
	}
	if !can(rbac.KindContact) {
		c.Patient.Contact, c.Patient.Emergency = Contact{}, EmergencyContact{}
	}
	return c, nil
}
