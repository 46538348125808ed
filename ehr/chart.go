package ehr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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
// kind the policy decides, the table it is read from and its rules (what
// a part, a patient, "active" read), and how a row of the result joins
// the chart. Every statement of a section, the whole read of Chart and
// the bounded pages and counts of ChartView and ChartSection, is built
// from its row (buildChartSections): adding a record kind to the chart is
// adding a row.
type chartSection struct {
	kind rbac.Kind
	// part is a kind that reads part of the section when kind is denied
	// (0 for none): KindAdmission reads the inpatient encounters, the
	// rows partWhere selects.
	part      rbac.Kind
	partWhere string
	// table and columns are read, ordered by the time column order, then
	// id.
	table, columns, order string
	// ownWhere, when set, selects the rows a patient reads of their own
	// record (access.ownRecord): the notes a patient reads are the signed
	// ones.
	ownWhere string
	// activeWhere, when set, selects the rows a clinician counts as
	// active (SectionSummary.Active); it reads the column status only.
	activeWhere string
	// fullSQL reads the whole section, oldest first, pageSQL a page of it,
	// newest first, and countSQL counts it (chartview.go), by variant
	// (variant: read in part, read as the patient). $1 is the patient, $2
	// the tenant: every statement filters on patient_id, so on Citus the
	// whole batch goes to the patient's shard.
	fullSQL, pageSQL, countSQL [4]string
	// sql and ownSQL are the whole read as staff and as the patient
	// (fullSQL's first and own variants; ownSQL is "" without ownWhere).
	sql, ownSQL string
	// add scans one row into c (a part reads only its rows: partWhere).
	add func(c *Chart, rows pgx.Rows) error
	// grow makes room in c for n more rows.
	grow func(c *Chart, n int)
	// last returns the sort key (order, id) of the last row of the
	// section in c, and false when the section is empty.
	last func(c *Chart) (time.Time, string, bool)
}

// source is where a section is read from: the columns of table, ordered
// by the time column order.
type source struct{ columns, table, order string }

// section returns a chartSection of kind read from src that appends every
// row, scanned by scan, to the slice of the chart that field returns; key
// returns a row's sort key (its order column and id).
func section[T any](kind rbac.Kind, src source, scan func(pgx.Row) (T, error), field func(*Chart) *[]T,
	key func(*T) (time.Time, string)) chartSection {
	return chartSection{kind: kind, table: src.table, columns: src.columns, order: src.order,
		add: func(c *Chart, rows pgx.Rows) error {
			v, err := scan(rows)
			if err != nil {
				return err
			}
			f := field(c)
			*f = append(*f, v)
			return nil
		},
		grow: func(c *Chart, n int) {
			f := field(c)
			*f = slices.Grow(*f, n)
		},
		last: func(c *Chart) (time.Time, string, bool) {
			f := *field(c)
			if len(f) == 0 {
				return time.Time{}, "", false
			}
			at, id := key(&f[len(f)-1])
			return at, id, true
		}}
}

// withOwn returns s where a patient reading their own record reads the
// rows where holds.
func withOwn(s chartSection, where string) chartSection {
	s.ownWhere = where
	return s
}

// withActive returns s counting the rows where holds as active.
func withActive(s chartSection, where string) chartSection {
	s.activeWhere = where
	return s
}

// chartSections are the sections of a chart after the patient's own row
// (demographics and contact), in the order they are read and decided.
var chartSections = buildChartSections([...]chartSection{
	withActive(withPart(section(rbac.KindEncounter, source{encounterColumns, "encounters", "started_at"}, scanEncounter,
		func(c *Chart) *[]Encounter { return &c.Encounters },
		func(e *Encounter) (time.Time, string) { return e.StartedAt, e.ID }),
		rbac.KindAdmission, `class = '`+ClassInpatient+`'`),
		`status = '`+EncounterInProgress+`'`),
	withActive(section(rbac.KindAppointment, source{appointmentColumns, "appointments", "starts_at"},
		func(row pgx.Row) (Appointment, error) { return scanAppointment(row) },
		func(c *Chart) *[]Appointment { return &c.Appointments },
		func(a *Appointment) (time.Time, string) { return a.Start, a.ID }),
		`status IN ('`+AppointmentBooked+`', '`+AppointmentArrived+`')`),
	withActive(section(rbac.KindCareTeam, source{careTeamColumns, "care_team_members", "starts_at"}, scanCareTeam,
		func(c *Chart) *[]CareTeamMember { return &c.CareTeam },
		func(m *CareTeamMember) (time.Time, string) { return m.StartsAt, m.ID }),
		`status = 'active'`),
	withOwn(section(rbac.KindNote, source{noteColumns, "clinical_notes", "created_at"}, scanNote,
		func(c *Chart) *[]Note { return &c.Notes },
		func(n *Note) (time.Time, string) { return n.CreatedAt, n.ID }),
		patientNoteSQL),
	withActive(section(rbac.KindCondition, source{conditionColumns, "conditions", "created_at"}, scanCondition,
		func(c *Chart) *[]Condition { return &c.Conditions },
		func(v *Condition) (time.Time, string) { return v.CreatedAt, v.ID }),
		`status = 'active'`),
	withActive(section(rbac.KindAllergy, source{allergyColumns, "allergies", "created_at"}, scanAllergy,
		func(c *Chart) *[]Allergy { return &c.Allergies },
		func(v *Allergy) (time.Time, string) { return v.CreatedAt, v.ID }),
		`status = 'active'`),
	withActive(section(rbac.KindMedication, source{medicationColumns, "medication_requests", "created_at"}, scanMedication,
		func(c *Chart) *[]MedicationRequest { return &c.Medications },
		func(v *MedicationRequest) (time.Time, string) { return v.CreatedAt, v.ID }),
		`status = 'active'`),
	section(rbac.KindObservation, source{observationColumns, "observations", "effective_at"}, scanObservation,
		func(c *Chart) *[]Observation { return &c.Observations },
		func(v *Observation) (time.Time, string) { return v.EffectiveAt, v.ID }),
})

// withPart returns s read in part under kind part when s.kind is denied:
// the rows where holds.
func withPart(s chartSection, part rbac.Kind, where string) chartSection {
	s.part, s.partWhere = part, where
	return s
}

// buildChartSections completes each section of ss with its statements.
func buildChartSections(ss [8]chartSection) [8]chartSection {
	for i := range ss {
		s := &ss[i]
		for v := range s.fullSQL {
			s.fullSQL[v] = `SELECT ` + s.columns + ` FROM ` + s.table + ` WHERE ` + s.where(v) + ` ORDER BY ` + s.order + `, id`
			s.pageSQL[v], s.countSQL[v] = s.boundedSQL(v)
		}
		s.sql = s.fullSQL[0]
		if s.ownWhere != "" {
			s.ownSQL = s.fullSQL[variantOwn]
		}
	}
	return ss
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

// The variants of a section's statements: bits of an index into its
// statement arrays.
const (
	variantPart = 1 << iota // read in part (partWhere)
	variantOwn              // read as the patient (ownWhere)
)

// variant returns the variant of s's statements for a read in part
// (partOnly) or by the patient (own).
func (s *chartSection) variant(partOnly, own bool) int {
	v := 0
	if partOnly && s.partWhere != "" {
		v |= variantPart
	}
	if own && s.ownWhere != "" {
		v |= variantOwn
	}
	return v
}

// where returns the condition of s's rows in variant v: one patient ($1)
// of the tenant ($2), and what a part or the patient reads.
func (s *chartSection) where(v int) string {
	w := `patient_id = $1 AND tenant_id = $2`
	if v&variantPart != 0 && s.partWhere != "" {
		w += ` AND ` + s.partWhere
	}
	if v&variantOwn != 0 && s.ownWhere != "" {
		w += ` AND ` + s.ownWhere
	}
	return w
}

// Chart returns the whole chart of patient id: demographics and every
// row of every section the actor may read, oldest first, in at most two
// round trips (the care-team and break-glass facts when the policy needs
// them, then one batch, in one transaction, that reads every section and
// appends the audit event). Sections the actor may not read are listed
// in Chart.Withheld.
//
// Chart is the full, unbounded read, for the callers that need all of a
// record: FHIR $everything, bulk export, a transfer. Its size grows with
// the patient's history; a clinician's view reads ChartView (each
// section bounded, with counts) and pages further with ChartSection.
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
	ca, err := r.chartAccess(ctx, op, id, rbac.KindDemographics)
	if err != nil {
		return Chart{}, err
	}
	ca.a.kindName = "chart"
	var c Chart
	err = ca.run(ctx, r, func() error {
		c = Chart{}
		if !ca.can(rbac.KindDemographics) {
			return ca.refuse(rbac.KindDemographics)
		}
		reads := ca.plan(&c)
		b := newBatch(5 + len(reads))
		r.queueChartPatient(b, ca)
		for _, rd := range reads {
			b.Queue(rd.s.fullSQL[rd.variant], pgUUID(ca.a.patient), pgUUID(ca.a.tenant))
		}
		return r.sendChartBatch(ctx, ca, b, func(br pgx.BatchResults) error {
			p, err := r.readChartPatient(br, ca)
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
					if err := rd.s.add(&c, rows); err != nil {
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
	})
	if err := r.chartDone(ctx, op, id, ca, &c, err); err != nil {
		return Chart{}, err
	}
	return c, nil
}

// chartAccess is the authorization of a read of a chart, or of one of
// its sections: the access and the decision of each of chartKinds, taken
// with facts, or with the facts spec assumes (see speculate.go).
type chartAccess struct {
	a         *access
	decisions []rbac.Decision
	facts     facts
	spec      *speculation
}

// can reports whether the actor may read kind k of the chart.
func (ca *chartAccess) can(k rbac.Kind) bool { return ca.decision(k).Allowed }

// decision returns the decision on kind k, one of chartKinds.
func (ca *chartAccess) decision(k rbac.Kind) rbac.Decision {
	return ca.decisions[slices.Index(chartKinds, k)]
}

// decideAll decides every kind of chartKinds with facts f, and reports
// whether all are allowed.
func (ca *chartAccess) decideAll(r *Repository, f facts) bool {
	all := true
	for i, k := range chartKinds {
		ca.decisions[i] = r.authz.Decide(ca.a.actor.Principal, rbac.ActionRead, k, ca.a.target(f.onCareTeam, f.grant))
		all = all && ca.decisions[i].Allowed
	}
	return all
}

// chartAccess decides, for the context's actor, the read of every kind
// of the chart of patient id: first without facts, and when that leaves
// some kind denied, with the care-team and break-glass facts that can
// change them, which the read assumes and its batch checks (speculate),
// or else reads first (one round trip).
// The access is of kind k (what its audit event records). It returns
// ErrInvalid for a malformed id.
func (r *Repository) chartAccess(ctx context.Context, op, id string, k rbac.Kind) (*chartAccess, error) {
	pid, err := parseID("ID", id)
	if err != nil {
		return nil, err
	}
	a, err := newAccess(ctx, op, rbac.ActionRead, k, pid)
	if err != nil {
		return nil, err
	}
	ca := &chartAccess{a: a, decisions: make([]rbac.Decision, len(chartKinds))}
	if ca.decideAll(r, facts{}) || r.speculate(ca) {
		return ca, nil
	}
	return ca, ca.settle(ctx, r)
}

// settle reads the facts of ca's access, decides ca again with them and
// ends its speculation.
func (ca *chartAccess) settle(ctx context.Context, r *Repository) error {
	ca.spec = nil
	f, err := r.loadFacts(ctx, r.db, ca.a)
	if err != nil {
		return err
	}
	ca.facts = f
	ca.decideAll(r, f)
	return nil
}

// run runs attempt, the read of ca's chart, and when the facts it
// assumed did not hold (errFactsChanged) settles ca and runs it again.
// attempt starts from ca's decisions and returns the error of its batch.
func (ca *chartAccess) run(ctx context.Context, r *Repository, attempt func() error) error {
	err := attempt()
	if !errors.Is(err, errFactsChanged) {
		return err
	}
	if err := ca.settle(ctx, r); err != nil {
		return err
	}
	return attempt()
}

// errRefused ends the attempt of a read its decisions refuse (refuse);
// chartDone records the denial.
var errRefused = errors.New("ehr: refused")

// refuse ends an attempt of a read refused on kind k. A speculative
// decision never refuses: the read is decided again with the facts read
// first (a break-glass grant may allow it), and refused then.
func (ca *chartAccess) refuse(k rbac.Kind) error {
	if ca.spec != nil {
		return errFactsChanged
	}
	ca.a.decision = ca.decision(k)
	return errRefused
}

// flagBreakGlass sets the access's decision to the first of ds (the
// demographics decision), or to the one of them that was allowed under a
// break-glass grant, and then flags the access and c.BreakGlass with the
// grant.
func (ca *chartAccess) flagBreakGlass(c *Chart, ds ...rbac.Decision) {
	ca.a.decision = ds[0]
	for _, d := range ds {
		if d.Allowed && d.Condition == rbac.ConditionBreakGlass {
			c.BreakGlass, ca.a.grant = true, ca.facts.grant
			ca.a.decision = d
		}
	}
}

// sectionRead is one section a chart read reads: in part (partOnly)
// or whole, in the variant of its statements.
type sectionRead struct {
	s        *chartSection
	partOnly bool
	variant  int
}

// read returns how the actor reads section s, and false when s is
// withheld.
func (ca *chartAccess) read(s *chartSection) (sectionRead, bool) {
	whole, part := ca.can(s.kind), s.part != 0 && ca.can(s.part)
	if !whole && !part {
		return sectionRead{}, false
	}
	return sectionRead{s: s, partOnly: !whole, variant: s.variant(!whole, ca.a.ownRecord())}, true
}

// plan returns the sections of a chart read the actor may read, in
// order, flags a break-glass read and lists the withheld ones in
// c.Withheld: the contact, the sections not read at all, then the
// sections read in part under another kind (the encounters).
func (ca *chartAccess) plan(c *Chart) []sectionRead {
	ca.flagBreakGlass(c, ca.decisions...)
	if !ca.can(rbac.KindContact) {
		c.Withheld = append(c.Withheld, rbac.KindContact)
	}
	var withheldParts []rbac.Kind
	reads := make([]sectionRead, 0, len(chartSections))
	for i := range chartSections {
		s := &chartSections[i]
		rd, ok := ca.read(s)
		switch {
		case !ok && s.part != 0:
			withheldParts = append(withheldParts, s.kind)
		case !ok:
			c.Withheld = append(c.Withheld, s.kind)
		default:
			reads = append(reads, rd)
		}
	}
	c.Withheld = append(c.Withheld, withheldParts...)
	return reads
}

// chartDone finishes a chart read whose batch returned err: a refusal
// (errRefused) is recorded and returned as such, a patient not in the
// tenant is not found (and audited as such), other errors are database
// errors; without the contact permission the patient's contact
// data is blanked.
func (r *Repository) chartDone(ctx context.Context, op, id string, ca *chartAccess, c *Chart, err error) error {
	if errors.Is(err, errRefused) {
		return r.deny(ctx, op, ca.a)
	}
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return r.notFound(ctx, ca.a, fmt.Errorf("ehr: %s %s: %w", op, id, ErrNotFound))
		}
		return dbError(op+" "+id, err)
	}
	if !ca.can(rbac.KindContact) {
		c.Patient.Contact, c.Patient.Emergency = Contact{}, EmergencyContact{}
	}
	return nil
}
