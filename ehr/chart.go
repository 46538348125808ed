package ehr

import (
	"context"
	"errors"
	"fmt"

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

// chartSections are the kinds a chart shows, demographics first.
var chartSections = [...]rbac.Kind{rbac.KindDemographics, rbac.KindContact, rbac.KindEncounter, rbac.KindAdmission,
	rbac.KindAppointment, rbac.KindCareTeam, rbac.KindNote, rbac.KindCondition, rbac.KindAllergy, rbac.KindMedication,
	rbac.KindObservation}

const (
	chartEncountersSQL   = `SELECT ` + encounterColumns + ` FROM encounters WHERE patient_id = $1 AND tenant_id = $2 ORDER BY started_at, id`
	chartAppointmentsSQL = `SELECT ` + appointmentColumns + ` FROM appointments WHERE patient_id = $1 AND tenant_id = $2 ORDER BY starts_at, id`
	chartCareTeamSQL     = `SELECT ` + careTeamColumns + ` FROM care_team_members WHERE patient_id = $1 AND tenant_id = $2 ORDER BY starts_at, id`
	chartNotesSQL        = `SELECT ` + noteColumns + ` FROM clinical_notes WHERE patient_id = $1 AND tenant_id = $2 ORDER BY created_at, id`
	chartConditionsSQL   = `SELECT ` + conditionColumns + ` FROM conditions WHERE patient_id = $1 AND tenant_id = $2 ORDER BY created_at, id`
	chartAllergiesSQL    = `SELECT ` + allergyColumns + ` FROM allergies WHERE patient_id = $1 AND tenant_id = $2 ORDER BY created_at, id`
	chartMedicationsSQL  = `SELECT ` + medicationColumns + ` FROM medication_requests WHERE patient_id = $1 AND tenant_id = $2 ORDER BY created_at, id`
	chartObservationsSQL = `SELECT ` + observationColumns + ` FROM observations WHERE patient_id = $1 AND tenant_id = $2 ORDER BY effective_at, id`
)

// Chart returns the chart of patient id: demographics and every section
// the actor may read, in at most two round trips (the care-team and
// break-glass facts when the policy needs them, then one batch that reads
// every section and appends the audit event in one implicit transaction).
// Sections the actor may not read are listed in Chart.Withheld.
//
// It returns ErrNotFound, ErrInvalid for a malformed id, ErrDenied unless
// the actor may read the patient's demographics.
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
	var allowed [len(chartSections)]rbac.Decision
	decideAll := func(f facts) bool {
		all := true
		for i, k := range chartSections {
			allowed[i] = r.authz.Decide(a.actor.Principal, rbac.ActionRead, k, a.target(f.onCareTeam, f.grant))
			all = all && allowed[i].Allowed
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
	if !allowed[0].Allowed {
		a.decision = allowed[0]
		return Chart{}, r.deny(ctx, op, a)
	}
	var c Chart
	a.decision = allowed[0]
	for i, d := range allowed {
		if d.Allowed && d.Condition == rbac.ConditionBreakGlass {
			c.BreakGlass, a.grant = true, f.grant
			a.decision = d
		}
		if !d.Allowed && chartSections[i] != rbac.KindAdmission && chartSections[i] != rbac.KindEncounter {
			c.Withheld = append(c.Withheld, chartSections[i])
		}
	}
	can := func(k rbac.Kind) bool {
		for i, s := range chartSections {
			if s == k {
				return allowed[i].Allowed
			}
		}
		return false
	}
	encounters, admissionsOnly := can(rbac.KindEncounter) || can(rbac.KindAdmission), !can(rbac.KindEncounter)
	if !encounters {
		c.Withheld = append(c.Withheld, rbac.KindEncounter)
	}

	b := &pgx.Batch{}
	r.queueGetPatient(b, a)
	type section struct {
		sql  string
		scan func(pgx.Rows) error
	}
	var sections []section
	add := func(ok bool, sql string, scan func(pgx.Rows) error) {
		if ok {
			b.Queue(sql, pid, a.tenant)
			sections = append(sections, section{sql, scan})
		}
	}
	add(encounters, chartEncountersSQL, func(rows pgx.Rows) error {
		e, err := scanEncounter(rows)
		if err == nil && (!admissionsOnly || e.Class == ClassInpatient) {
			c.Encounters = append(c.Encounters, e)
		}
		return err
	})
	add(can(rbac.KindAppointment), chartAppointmentsSQL, func(rows pgx.Rows) error {
		v, err := scanAppointment(rows)
		c.Appointments = append(c.Appointments, v)
		return err
	})
	add(can(rbac.KindCareTeam), chartCareTeamSQL, func(rows pgx.Rows) error {
		v, err := scanCareTeam(rows)
		c.CareTeam = append(c.CareTeam, v)
		return err
	})
	add(can(rbac.KindNote), chartNotesSQL, func(rows pgx.Rows) error {
		v, err := scanNote(rows)
		c.Notes = append(c.Notes, v)
		return err
	})
	add(can(rbac.KindCondition), chartConditionsSQL, func(rows pgx.Rows) error {
		v, err := scanCondition(rows)
		c.Conditions = append(c.Conditions, v)
		return err
	})
	add(can(rbac.KindAllergy), chartAllergiesSQL, func(rows pgx.Rows) error {
		v, err := scanAllergy(rows)
		c.Allergies = append(c.Allergies, v)
		return err
	})
	add(can(rbac.KindMedication), chartMedicationsSQL, func(rows pgx.Rows) error {
		v, err := scanMedication(rows)
		c.Medications = append(c.Medications, v)
		return err
	})
	add(can(rbac.KindObservation), chartObservationsSQL, func(rows pgx.Rows) error {
		v, err := scanObservation(rows)
		c.Observations = append(c.Observations, v)
		return err
	})

	err = sendBatch(ctx, r.db, b, func(br pgx.BatchResults) error {
		p, err := r.readGetPatient(br)
		if err != nil {
			return err
		}
		c.Patient = p
		for _, s := range sections {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			for rows.Next() {
				if err := s.scan(rows); err != nil {
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
			return Chart{}, fmt.Errorf("ehr: %s %s: %w", op, id, ErrNotFound)
		}
		return Chart{}, dbError(op+" "+id, err)
	}
	if !can(rbac.KindContact) {
		c.Patient.Contact, c.Patient.Emergency = Contact{}, EmergencyContact{}
	}
	return c, nil
}
