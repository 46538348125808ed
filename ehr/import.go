package ehr

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/rbac"
)

// AuditActionImport is the audit action (AuditEvent.Action) of
// ImportRecord, allowed or denied: an imported record is told apart in
// the trail from one a clinician entered here.
const AuditActionImport = "import"

// ReasonImported is the change reason of the version ImportRecord writes
// (Version.Reason of version 1 of an imported record).
const ReasonImported = "imported"

// maxPersonLen is the longest people field of an imported record (a user
// id of the source system).
const maxPersonLen = 200

// clockSkew is how far in the future a clinical time may lie (the
// clocks of the client and the server differ), as for the workflow
// methods.
const clockSkew = 5 * time.Minute

// ImportRecord stores rec, a record of a patient as it is in the system it
// comes from (another tenant's $everything, another hospital's export):
// a historical fact, in whatever state it reached there, rather than a
// new act of the actor. It is the path of a patient's transfer and of
// bulk import; the workflow methods (StartEncounter, Admit, CreateNote,
// BookAppointment, AssignCareTeam, RecordObservations, ...) remain the
// path of clinicians' own entries.
//
// rec is an Encounter, Appointment, CareTeamMember, Note, Condition,
// Allergy, MedicationRequest or Observation (a value, not a pointer), and
// ImportRecord returns the record stored, of the same type. Anything else
// is a *ValidationError on field "Record".
//
// What is kept, what is stamped:
//
//   - The record gets a new id (rec.ID is ignored; references from other
//     records must be mapped by the caller), the actor's tenant
//     (rec.TenantID is ignored), version 1, and UpdatedAt now. CreatedAt
//     is kept when given (the source's creation time: a note's date, a
//     prescription's authoredOn), else now; it must not be in the future.
//   - The clinical fields and times are kept as given, after the same
//     normalization and validation as the kind's create method (trimmed
//     texts, an upper-case ICD-10 code, dates reduced to dates, times in
//     UTC at microsecond resolution): Status, StartedAt, EndedAt,
//     Disposition, Ward, Bed, Start, End, StartsAt, EndsAt, SignedAt,
//     OnsetDate, StartsOn, EndsOn, EffectiveAt, values and codes.
//   - The people fields name people of the source and are kept as given:
//     Note.AuthorID and SignedBy, RecordedBy, PrescriberID. They are
//     required where the kind has them (SignedBy when the note was
//     signed), at most 200 bytes. They are historical attributions, not
//     proof of authorship within this system: the version's ChangedBy is
//     the importing actor, its Reason is ReasonImported, and the audit
//     event's action is AuditActionImport.
//   - PractitionerID must name a practitioner of the actor's tenant
//     (ErrNotFound otherwise), as for the create methods; the caller maps
//     the source's practitioners. CareTeamMember.UserID is not kept: it
//     is the care-team fact the policy checks, so it is always the user
//     of the practitioner named, as AssignCareTeam sets it.
//
// Validation is the create method's, plus the status, which must be one
// of the kind's (a closed one included, and StatusEnteredInError), and
// the consistency of the times:
//
//   - Encounter: Class ambulatory, emergency or inpatient; status
//     in-progress (no EndedAt, no Disposition), finished (EndedAt
//     required), cancelled or entered-in-error; EndedAt not before
//     StartedAt nor in the future; an inpatient encounter (admission)
//     needs PractitionerID (the attending) and Ward; only an admission
//     has a Disposition. A patient has at most one open admission
//     (ErrConflict). Importing an admission does not add its attending to
//     the care team, as Admit does: the care team is imported as it was.
//   - Appointment: Start and End as BookAppointment takes them (on the
//     SlotDuration grid, at most MaxAppointment, past or future); status
//     booked, arrived, fulfilled, no-show, cancelled or entered-in-error.
//     The statuses that hold the practitioner's time in the workflow
//     (booked, arrived, fulfilled, no-show) claim the slots: a practitioner
//     already booked then is ErrConflict; cancelled and entered-in-error
//     claim nothing. A booked or arrived appointment needs an active
//     practitioner (ErrConflict).
//   - CareTeamMember: Role required, StartsAt required, EndsAt after it;
//     status active, ended (EndsAt required, not in the future) or
//     entered-in-error. An active membership needs an active practitioner
//     who is not an active member already (ErrConflict), as AssignCareTeam.
//   - Note: status draft (not signed: no SignedAt, no SignedBy), signed
//     or amended (SignedAt and SignedBy required), or entered-in-error
//     (signed or not: SignedAt and SignedBy both or neither); SignedAt not
//     in the future nor before CreatedAt; AuthorID required.
//   - Condition, Allergy, MedicationRequest: their create's validation
//     (status defaulting to active) plus StatusEnteredInError;
//     RecordedBy, or PrescriberID, required.
//   - Observation: status final, amended or entered-in-error; EffectiveAt
//     required; RecordedBy required.
//
// Authorization is the workflow create's for the kind, for that patient:
// rbac ActionCreate on the record's kind (a physician on the care team
// for clinical records, the admissions desk for care-team memberships),
// ActionAdmit on KindAdmission for an inpatient encounter (as Admit),
// ActionSchedule on KindAppointment for an appointment (as
// BookAppointment). Importing a record in a closed state needs no more
// (not ActionAmend for an amended note, nor ActionUpdate for a finished
// encounter): nothing of this system is changed. The patient must be a
// patient of the actor's tenant.
//
// Each call runs in one transaction (inside InTx, a savepoint of it),
// writes the record, its version-1 snapshot in record_versions, and one
// audit event on the patient's chain.
//
// It returns a *ValidationError (ErrInvalid) naming the fields, before
// any SQL; ErrNotFound for a patient that is no patient of the tenant, an
// unknown practitioner or encounter; ErrConflict as said above; ErrDenied
// unless the actor may create such records for the patient.
func (r *Repository) ImportRecord(ctx context.Context, rec any) (any, error) {
	p, err := planImport(rec, r.clock())
	if err != nil {
		return nil, err
	}
	return r.importPlanned(ctx, p)
}

// importCreated normalizes and checks the source's creation time at now
// (zero when not given: the import's time is stamped then, createdAt).
func importCreated(v *validator, created *time.Time, now time.Time) {
	if created.IsZero() {
		return
	}
	*created = created.UTC().Truncate(time.Microsecond)
	v.check(!created.After(now.Add(clockSkew)), "CreatedAt", CodeInFuture, "is in the future")
}

// createdAt is the creation time of a record imported at now: the
// source's, or now when none was given, never after now (the clocks may
// differ by clockSkew).
func createdAt(created, now time.Time) time.Time {
	if created.IsZero() || created.After(now) {
		return now
	}
	return created
}

// notColleagues refuses an imported record whose people fields (pairs of
// field name and value) name a user of this tenant known to ehr (a
// practitioner's account) other than the actor: an import attributes
// records to the people of the system they come from, never to a
// colleague here, who did not write them. Staff without a practitioner
// record are unknown to ehr and cannot be told apart from the source's
// people; the trail (action import, the importer as the version's author)
// tells every import apart.
func (r *Repository) notColleagues(ctx context.Context, tx pgx.Tx, a *access, pairs ...string) error {
	var v validator
	for i := 0; i+1 < len(pairs); i += 2 {
		field, user := pairs[i], pairs[i+1]
		uid, err := uuid.Parse(user)
		if err != nil || user == a.actor.Principal.UserID {
			continue // not a user id of this system, or the actor's own
		}
		var here bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM practitioners WHERE tenant_id = $1 AND user_id = $2)`,
			a.tenant, uid).Scan(&here); err != nil {
			return dbError("import: check "+field, err)
		}
		v.check(!here, field, CodeNotAllowed, "names another user of this tenant: an import keeps the source's people, not colleagues'")
	}
	return v.err()
}

// person checks a required people field of an imported record.
func (v *validator) person(field string, s *string) {
	*s = trim(*s)
	v.text(field, *s, maxPersonLen)
}

// status checks a required status among allowed.
func (v *validator) status(s string, allowed ...string) {
	switch {
	case s == "":
		v.add("Status", CodeRequired, "is required")
	case !oneOf(s, allowed...):
		v.add("Status", CodeNotAllowed, "must be one of "+strings.Join(allowed, ", "))
	}
}

// importPtr normalizes an optional time to UTC at microsecond resolution.
func importPtr(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// Stay is one ward and bed an admission was in, from Since.
type Stay struct {
	Ward  string
	Bed   string
	Since time.Time
}

// EncounterHistory is an admission with the stays it went through, for
// ImportRecord: it is recorded as one version per stay, each dated at the
// stay's Since (the first at StartedAt), so that its location history
// (the ward and bed of each version, as fhir.Stays reads it) is the
// source's. The encounter's own Ward and Bed must be the last stay's; its
// status, end and disposition are those of the last version. ImportRecord
// returns the Encounter.
type EncounterHistory struct {
	Encounter Encounter
	Stays     []Stay
}

// appointmentHoldsSlots reports whether an appointment of status s holds
// its practitioner's time: the statuses the workflow leaves the slots
// claimed in (CancelAppointment and MarkEnteredInError release them).
func appointmentHoldsSlots(s string) bool {
	return oneOf(s, AppointmentBooked, AppointmentArrived, AppointmentFulfilled, AppointmentNoShow)
}

// importPlan is a record to import once validated (planImport): what
// ImportRecord writes in a transaction of its own and ImportPatients
// copies in bulk, with the checks both make against the database.
type importPlan struct {
	op     string
	action rbac.Action
	kind   rbac.Kind
	t      table
	pid    uuid.UUID
	// practitioner, when not nil, must be a practitioner of the tenant
	// (ErrNotFound); active, that it be active (ErrConflict).
	practitioner *uuid.UUID
	active       bool
	// member is an active care-team membership: the practitioner must not
	// be an active member of the patient's care team already.
	member bool
	// slots is an appointment that holds its practitioner's time from
	// start to end (claimSlots).
	slots      bool
	start, end time.Time
	// people are the pairs of field and value that must not name a
	// colleague (notColleagues).
	people []string
	// stays are an admission's stays (EncounterHistory): versions after
	// the first (applyStays).
	stays []Stay
	// row stamps the record and returns it, as stored, with the values of
	// t's import columns (importColumns), in order.
	row func(s stamp) (any, []any)
}

// stamp is what the import stamps on a record: its id, the tenant, the
// time, the importing user, and the user of the practitioner named (a
// care-team membership's UserID).
type stamp struct {
	id, tenant uuid.UUID
	tenantID   string
	now        time.Time
	by         string
	prUser     string
}

// importColumns are the columns an import writes to each table, in the
// order of the values importPlan.row returns; patient id, record id and
// tenant come first, as write requires.
var importColumns = map[string][]string{
	tEncounters.name: {"patient_id", "id", "tenant_id", "class", "status", "practitioner_id", "ward", "bed", "reason",
		"disposition", "started_at", "ended_at", "change_reason", "version", "created_at", "updated_at", "updated_by"},
	tAppointments.name: {"patient_id", "id", "tenant_id", "practitioner_id", "starts_at", "ends_at", "status", "reason",
		"change_reason", "version", "created_at", "updated_at", "updated_by"},
	tCareTeam.name: {"patient_id", "id", "tenant_id", "practitioner_id", "user_id", "role", "reason", "starts_at", "ends_at",
		"status", "change_reason", "version", "created_at", "updated_at", "updated_by"},
	tNotes.name: {"patient_id", "id", "tenant_id", "encounter_id", "author_id", "title", "body", "status", "signed_at",
		"signed_by", "change_reason", "version", "created_at", "updated_at", "updated_by"},
	tConditions.name: {"patient_id", "id", "tenant_id", "encounter_id", "code", "display", "status", "onset_date", "note",
		"recorded_by", "change_reason", "version", "created_at", "updated_at", "updated_by"},
	tAllergies.name: {"patient_id", "id", "tenant_id", "substance", "reaction", "severity", "status", "recorded_by",
		"change_reason", "version", "created_at", "updated_at", "updated_by"},
	tMedications.name: {"patient_id", "id", "tenant_id", "encounter_id", "medication", "dose", "dose_unit", "route",
		"frequency", "status", "starts_on", "ends_on", "note", "prescriber_id", "change_reason", "version", "created_at",
		"updated_at", "updated_by"},
	tObservations.name: {"patient_id", "id", "tenant_id", "encounter_id", "category", "code", "display", "value",
		"value_text", "unit", "effective_at", "status", "recorded_by", "change_reason", "version", "created_at",
		"updated_at", "updated_by"},
}

// importInsertSQL is the INSERT of one imported row into t.
func importInsertSQL(t table) string {
	cols := importColumns[t.name]
	var b strings.Builder
	b.WriteString("INSERT INTO " + t.name + " (" + strings.Join(cols, ", ") + ") VALUES (")
	for i := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i+1)
	}
	b.WriteString(")")
	return b.String()
}

// planImport validates rec at now (see ImportRecord) and returns its plan.
func planImport(rec any, now time.Time) (importPlan, error) {
	switch x := rec.(type) {
	case Encounter:
		return planEncounter(x, nil, now)
	case EncounterHistory:
		return planEncounter(x.Encounter, x.Stays, now)
	case Appointment:
		return planAppointment(x, now)
	case CareTeamMember:
		return planCareTeam(x, now)
	case Note:
		return planNote(x, now)
	case Condition:
		return planCondition(x, now)
	case Allergy:
		return planAllergy(x, now)
	case MedicationRequest:
		return planMedication(x, now)
	case Observation:
		return planObservation(x, now)
	}
	return importPlan{}, invalid("Record", CodeNotAllowed, fmt.Sprintf("a %T is not a record ImportRecord takes", rec))
}

// importPlanned writes the record of plan p in a transaction of its own
// (a savepoint inside InTx), with its checks, snapshot and audit event,
// and returns it as stored.
func (r *Repository) importPlanned(ctx context.Context, p importPlan) (any, error) {
	id := newID()
	var out any
	err := r.insertRecord(ctx, p.op, p.action, p.kind, AuditActionImport, p.pid, id, func(tx pgx.Tx, a *access, now time.Time) error {
		s := stamp{id: id, tenant: a.tenant, tenantID: a.tenantID, now: now, by: a.actor.Principal.UserID}
		if p.practitioner != nil {
			pr, err := r.getPractitioner(ctx, tx, a.tenant, *p.practitioner)
			if err != nil {
				return err
			}
			if p.active && !pr.Active {
				return fmt.Errorf("ehr: %s: %w: practitioner %s is inactive", p.op, ErrConflict, pr.ID)
			}
			s.prUser = pr.UserID
			if p.member {
				var exists bool
				if err := tx.QueryRow(ctx, activeMemberSQL, p.pid, *p.practitioner, a.tenant, now).Scan(&exists); err != nil {
					return dbError(p.op, err)
				}
				if exists {
					return fmt.Errorf("ehr: %s: %w: practitioner %s already on the care team", p.op, ErrConflict, pr.ID)
				}
			}
			if p.slots {
				if err := claimSlots(ctx, tx, p.op, a, *p.practitioner, id, p.start, p.end); err != nil {
					return err
				}
			}
		}
		if err := r.notColleagues(ctx, tx, a, p.people...); err != nil {
			return err
		}
		rec, vals := p.row(s)
		if _, err := write(ctx, tx, p.op, p.t, importInsertSQL(p.t), vals...); err != nil {
			return err
		}
		if e, ok := rec.(Encounter); ok && len(p.stays) > 1 {
			var err error
			if rec, err = applyStays(ctx, tx, p.op, s, e, p.stays); err != nil {
				return err
			}
		}
		out = rec
		return nil
	})
	return out, err
}

// applyStays writes the versions of admission e after its first stay
// (version 1, written as the first stay): each later stay is a version
// dated at its start; the last carries the encounter's status, end and
// disposition. It returns e as stored.
func applyStays(ctx context.Context, tx pgx.Tx, op string, s stamp, e Encounter, stays []Stay) (Encounter, error) {
	pid := uuid.MustParse(e.PatientID)
	for i := 1; i < len(stays); i++ {
		st := stays[i]
		status, disposition, ended := EncounterInProgress, "", (*time.Time)(nil)
		if i == len(stays)-1 {
			status, disposition, ended = e.Status, e.Disposition, e.EndedAt
		}
		if _, err := write(ctx, tx, op, tEncounters, `UPDATE encounters SET ward = $5, bed = $6, status = $7, disposition = $8,
  ended_at = $9, change_reason = $10, version = version + 1, updated_at = $11, updated_by = $12
WHERE patient_id = $1 AND id = $2 AND tenant_id = $3 AND version = $4`,
			pid, s.id, s.tenant, i, st.Ward, st.Bed, status, disposition, ended, ReasonImported, st.Since, s.by); err != nil {
			return Encounter{}, err
		}
		e.Version, e.UpdatedAt = i+1, st.Since
	}
	return e, nil
}

func planEncounter(e Encounter, stays []Stay, now time.Time) (importPlan, error) {
	var v validator
	e.Class, e.Status = trim(e.Class), trim(e.Status)
	e.Ward, e.Bed, e.Reason, e.Disposition = trim(e.Ward), trim(e.Bed), trim(e.Reason), trim(e.Disposition)
	v.check(oneOf(e.Class, ClassAmbulatory, ClassEmergency, ClassInpatient), "Class", CodeNotAllowed, "must be ambulatory, emergency or inpatient")
	v.status(e.Status, EncounterInProgress, EncounterFinished, EncounterCancelled, StatusEnteredInError)
	pid, pr := e.validate(&v, now)
	v.check(!e.StartedAt.IsZero(), "StartedAt", CodeRequired, "is required")
	e.StartedAt = e.StartedAt.UTC().Truncate(time.Microsecond)
	inpatient := e.Class == ClassInpatient
	if inpatient {
		v.check(e.PractitionerID != "", "PractitionerID", CodeRequired, "an admission has an attending")
		v.check(e.Ward != "", "Ward", CodeRequired, "is required for an admission")
	}
	v.maxLen("Disposition", e.Disposition, 200)
	switch {
	case e.Disposition != "" && !inpatient:
		v.add("Disposition", CodeNotAllowed, "only an admission has a discharge disposition")
	case e.Disposition != "" && e.Status == EncounterInProgress:
		v.add("Disposition", CodeNotAllowed, "is given when the encounter ends")
	}
	e.EndedAt = importPtr(e.EndedAt)
	switch {
	case e.Status == EncounterInProgress && e.EndedAt != nil:
		v.add("EndedAt", CodeNotAllowed, "must be empty while the encounter is in progress")
	case e.Status == EncounterFinished && e.EndedAt == nil:
		v.add("EndedAt", CodeRequired, "is required for a finished encounter")
	case e.EndedAt != nil && e.EndedAt.Before(e.StartedAt):
		v.add("EndedAt", CodeBeforeStart, "must not be before StartedAt")
	case e.EndedAt != nil && e.EndedAt.After(now.Add(clockSkew)):
		v.add("EndedAt", CodeInFuture, "is in the future")
	}
	importCreated(&v, &e.CreatedAt, now)
	stays = slices.Clone(stays)
	for i := range stays {
		st := &stays[i]
		f := fmt.Sprintf("Stays[%d]", i)
		st.Ward, st.Bed, st.Since = trim(st.Ward), trim(st.Bed), st.Since.UTC().Truncate(time.Microsecond)
		v.text(f+".Ward", st.Ward, 100)
		v.check(len(st.Bed) <= 50, f+".Bed", CodeTooLong, "is too long")
		v.check(inpatient, f, CodeNotAllowed, "only an admission has stays")
		switch {
		case i == 0 && st.Since.Before(e.StartedAt):
			v.add(f+".Since", CodeBeforeStart, "must not be before StartedAt")
		case i > 0 && st.Since.Before(stays[i-1].Since):
			v.add(f+".Since", CodeBeforeStart, "must not be before the stay before")
		case e.EndedAt != nil && st.Since.After(*e.EndedAt):
			v.add(f+".Since", CodeNotAllowed, "must not be after EndedAt")
		case st.Since.After(now.Add(clockSkew)):
			v.add(f+".Since", CodeInFuture, "is in the future")
		}
	}
	if n := len(stays); n > 0 && (stays[n-1].Ward != e.Ward || stays[n-1].Bed != e.Bed) {
		v.add("Stays", CodeNotAllowed, "the last stay must be the encounter's ward and bed")
	}
	if err := v.err(); err != nil {
		return importPlan{}, err
	}
	p := importPlan{op: "import encounter", action: rbac.ActionCreate, kind: rbac.KindEncounter, t: tEncounters, pid: pid,
		practitioner: pr, stays: stays}
	if inpatient {
		p.action, p.kind = rbac.ActionAdmit, rbac.KindAdmission // as Admit
	}
	p.row = func(s stamp) (any, []any) {
		e.ID, e.TenantID, e.Version, e.UpdatedAt = s.id.String(), s.tenantID, 1, s.now
		e.CreatedAt = createdAt(e.CreatedAt, s.now)
		// Version 1 is the first stay (in progress while others follow),
		// each later stay a version dated at its start (applyStays).
		first := Encounter{Status: e.Status, Ward: e.Ward, Bed: e.Bed, Disposition: e.Disposition, EndedAt: e.EndedAt, UpdatedAt: s.now}
		if len(stays) > 1 {
			first = Encounter{Status: EncounterInProgress, Ward: stays[0].Ward, Bed: stays[0].Bed, UpdatedAt: stays[0].Since}
		}
		return e, []any{pid, s.id, s.tenant, e.Class, first.Status, pr, first.Ward, first.Bed, e.Reason, first.Disposition,
			e.StartedAt, first.EndedAt, ReasonImported, 1, e.CreatedAt, first.UpdatedAt, s.by}
	}
	return p, nil
}

func planAppointment(ap Appointment, now time.Time) (importPlan, error) {
	var v validator
	pid, err := uuid.Parse(ap.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	pr, err := uuid.Parse(ap.PractitionerID)
	v.check(err == nil, "PractitionerID", CodeInvalid, "must be a UUID")
	ap.Start, ap.End, ap.Reason, ap.Status = ap.Start.UTC(), ap.End.UTC(), trim(ap.Reason), trim(ap.Status)
	validateSlot(&v, ap.Start, ap.End)
	v.check(len(ap.Reason) <= 1000, "Reason", CodeTooLong, "is too long")
	v.status(ap.Status, AppointmentBooked, AppointmentArrived, AppointmentFulfilled, AppointmentNoShow,
		AppointmentCancelled, StatusEnteredInError)
	importCreated(&v, &ap.CreatedAt, now)
	if err := v.err(); err != nil {
		return importPlan{}, err
	}
	return importPlan{op: "import appointment", action: rbac.ActionSchedule, kind: rbac.KindAppointment, t: tAppointments,
		pid: pid, practitioner: &pr, active: oneOf(ap.Status, AppointmentBooked, AppointmentArrived),
		slots: appointmentHoldsSlots(ap.Status), start: ap.Start, end: ap.End,
		row: func(s stamp) (any, []any) {
			ap.ID, ap.TenantID, ap.Version, ap.UpdatedAt = s.id.String(), s.tenantID, 1, s.now
			ap.CreatedAt = createdAt(ap.CreatedAt, s.now)
			return ap, []any{pid, s.id, s.tenant, pr, ap.Start, ap.End, ap.Status, ap.Reason, ReasonImported, 1, ap.CreatedAt,
				s.now, s.by}
		}}, nil
}

func planCareTeam(m CareTeamMember, now time.Time) (importPlan, error) {
	var v validator
	pid, err := uuid.Parse(m.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	pr, err := uuid.Parse(m.PractitionerID)
	v.check(err == nil, "PractitionerID", CodeInvalid, "must be a UUID")
	m.Role, m.Reason, m.Status = trim(m.Role), trim(m.Reason), trim(m.Status)
	v.text("Role", m.Role, 50)
	v.check(len(m.Reason) <= 500, "Reason", CodeTooLong, "is too long")
	v.status(m.Status, CareTeamActive, CareTeamEnded, StatusEnteredInError)
	v.check(!m.StartsAt.IsZero(), "StartsAt", CodeRequired, "is required")
	m.StartsAt, m.EndsAt = m.StartsAt.UTC().Truncate(time.Microsecond), importPtr(m.EndsAt)
	switch {
	case m.Status == CareTeamEnded && m.EndsAt == nil:
		v.add("EndsAt", CodeRequired, "is required for an ended membership")
	case m.EndsAt != nil && !m.EndsAt.After(m.StartsAt):
		v.add("EndsAt", CodeBeforeStart, "must be after StartsAt")
	case m.Status == CareTeamEnded && m.EndsAt.After(now.Add(clockSkew)):
		v.add("EndsAt", CodeInFuture, "is in the future for an ended membership")
	}
	importCreated(&v, &m.CreatedAt, now)
	if err := v.err(); err != nil {
		return importPlan{}, err
	}
	active := m.Status == CareTeamActive
	return importPlan{op: "import care team", action: rbac.ActionCreate, kind: rbac.KindCareTeam, t: tCareTeam, pid: pid,
		practitioner: &pr, active: active, member: active,
		row: func(s stamp) (any, []any) {
			m.ID, m.TenantID, m.UserID, m.Version, m.UpdatedAt = s.id.String(), s.tenantID, s.prUser, 1, s.now
			m.CreatedAt = createdAt(m.CreatedAt, s.now)
			return m, []any{pid, s.id, s.tenant, pr, s.prUser, m.Role, m.Reason, m.StartsAt, m.EndsAt, m.Status, ReasonImported, 1,
				m.CreatedAt, s.now, s.by}
		}}, nil
}

func planNote(n Note, now time.Time) (importPlan, error) {
	var v validator
	pid, err := uuid.Parse(n.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	enc := optionalID(&v, "EncounterID", n.EncounterID)
	n.Title, n.Body, n.Status, n.SignedBy = trim(n.Title), trim(n.Body), trim(n.Status), trim(n.SignedBy)
	validateNoteText(&v, n.Title, n.Body)
	v.status(n.Status, NoteDraft, NoteSigned, NoteAmended, StatusEnteredInError)
	v.person("AuthorID", &n.AuthorID)
	v.maxLen("SignedBy", n.SignedBy, maxPersonLen)
	given := !n.CreatedAt.IsZero()
	importCreated(&v, &n.CreatedAt, now)
	n.SignedAt = importPtr(n.SignedAt)
	switch n.Status {
	case NoteDraft:
		v.check(n.SignedAt == nil, "SignedAt", CodeNotAllowed, "a draft is not signed")
		v.check(n.SignedBy == "", "SignedBy", CodeNotAllowed, "a draft is not signed")
	case NoteSigned, NoteAmended:
		v.check(n.SignedAt != nil, "SignedAt", CodeRequired, "is required for a signed note")
		v.check(n.SignedBy != "", "SignedBy", CodeRequired, "is required for a signed note")
	case StatusEnteredInError:
		// Signed before it was withdrawn, or not: both or neither.
		v.check(n.SignedAt != nil || n.SignedBy == "", "SignedAt", CodeRequired, "is required with SignedBy")
		v.check(n.SignedBy != "" || n.SignedAt == nil, "SignedBy", CodeRequired, "is required with SignedAt")
	}
	if n.SignedAt != nil {
		v.check(!n.SignedAt.After(now.Add(clockSkew)), "SignedAt", CodeInFuture, "is in the future")
		v.check(!given || !n.SignedAt.Before(n.CreatedAt), "SignedAt", CodeBeforeStart, "must not be before CreatedAt")
	}
	if err := v.err(); err != nil {
		return importPlan{}, err
	}
	return importPlan{op: "import note", action: rbac.ActionCreate, kind: rbac.KindNote, t: tNotes, pid: pid,
		people: []string{"AuthorID", n.AuthorID, "SignedBy", n.SignedBy},
		row: func(s stamp) (any, []any) {
			n.ID, n.TenantID, n.Version, n.UpdatedAt = s.id.String(), s.tenantID, 1, s.now
			n.CreatedAt = createdAt(n.CreatedAt, s.now)
			return n, []any{pid, s.id, s.tenant, enc, n.AuthorID, n.Title, n.Body, n.Status, n.SignedAt, n.SignedBy,
				ReasonImported, 1, n.CreatedAt, s.now, s.by}
		}}, nil
}

// withEnteredInError validates a record whose create's validation knows
// only the clinical statuses: a status StatusEnteredInError is validated
// as fallback (an allowed one) and restored.
func withEnteredInError(status *string, fallback string, validate func()) {
	*status = trim(*status)
	eie := *status == StatusEnteredInError
	if eie {
		*status = fallback
	}
	validate()
	if eie {
		*status = StatusEnteredInError
	}
}

func planCondition(c Condition, now time.Time) (importPlan, error) {
	var v validator
	pid, err := uuid.Parse(c.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	enc := optionalID(&v, "EncounterID", c.EncounterID)
	withEnteredInError(&c.Status, "active", func() { c.validate(&v, now) })
	v.person("RecordedBy", &c.RecordedBy)
	importCreated(&v, &c.CreatedAt, now)
	if err := v.err(); err != nil {
		return importPlan{}, err
	}
	return importPlan{op: "import condition", action: rbac.ActionCreate, kind: rbac.KindCondition, t: tConditions, pid: pid,
		people: []string{"RecordedBy", c.RecordedBy},
		row: func(s stamp) (any, []any) {
			c.ID, c.TenantID, c.Version, c.UpdatedAt = s.id.String(), s.tenantID, 1, s.now
			c.CreatedAt = createdAt(c.CreatedAt, s.now)
			return c, []any{pid, s.id, s.tenant, enc, c.Code, c.Display, c.Status, c.OnsetDate, c.Note, c.RecordedBy,
				ReasonImported, 1, c.CreatedAt, s.now, s.by}
		}}, nil
}

func planAllergy(al Allergy, now time.Time) (importPlan, error) {
	var v validator
	pid, err := uuid.Parse(al.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	withEnteredInError(&al.Status, "active", func() { al.validate(&v) })
	v.person("RecordedBy", &al.RecordedBy)
	importCreated(&v, &al.CreatedAt, now)
	if err := v.err(); err != nil {
		return importPlan{}, err
	}
	return importPlan{op: "import allergy", action: rbac.ActionCreate, kind: rbac.KindAllergy, t: tAllergies, pid: pid,
		people: []string{"RecordedBy", al.RecordedBy},
		row: func(s stamp) (any, []any) {
			al.ID, al.TenantID, al.Version, al.UpdatedAt = s.id.String(), s.tenantID, 1, s.now
			al.CreatedAt = createdAt(al.CreatedAt, s.now)
			return al, []any{pid, s.id, s.tenant, al.Substance, al.Reaction, al.Severity, al.Status, al.RecordedBy,
				ReasonImported, 1, al.CreatedAt, s.now, s.by}
		}}, nil
}

func planMedication(m MedicationRequest, now time.Time) (importPlan, error) {
	var v validator
	pid, err := uuid.Parse(m.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	enc := optionalID(&v, "EncounterID", m.EncounterID)
	withEnteredInError(&m.Status, "active", func() { m.validate(&v) })
	v.person("PrescriberID", &m.PrescriberID)
	importCreated(&v, &m.CreatedAt, now)
	if err := v.err(); err != nil {
		return importPlan{}, err
	}
	return importPlan{op: "import medication", action: rbac.ActionCreate, kind: rbac.KindMedication, t: tMedications, pid: pid,
		people: []string{"PrescriberID", m.PrescriberID},
		row: func(s stamp) (any, []any) {
			m.ID, m.TenantID, m.Version, m.UpdatedAt = s.id.String(), s.tenantID, 1, s.now
			m.CreatedAt = createdAt(m.CreatedAt, s.now)
			return m, []any{pid, s.id, s.tenant, enc, m.Medication, m.Dose, m.DoseUnit, m.Route, m.Frequency, m.Status,
				m.StartsOn, m.EndsOn, m.Note, m.PrescriberID, ReasonImported, 1, m.CreatedAt, s.now, s.by}
		}}, nil
}

func planObservation(o Observation, now time.Time) (importPlan, error) {
	var v validator
	pid, err := uuid.Parse(o.PatientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	enc := optionalID(&v, "EncounterID", o.EncounterID)
	o.Status = trim(o.Status)
	v.status(o.Status, "final", "amended", StatusEnteredInError)
	v.check(!o.EffectiveAt.IsZero(), "EffectiveAt", CodeRequired, "is required")
	o.EffectiveAt = o.EffectiveAt.UTC().Truncate(time.Microsecond)
	o.validate(&v, "", now)
	v.person("RecordedBy", &o.RecordedBy)
	importCreated(&v, &o.CreatedAt, now)
	if err := v.err(); err != nil {
		return importPlan{}, err
	}
	return importPlan{op: "import observation", action: rbac.ActionCreate, kind: rbac.KindObservation, t: tObservations, pid: pid,
		people: []string{"RecordedBy", o.RecordedBy},
		row: func(s stamp) (any, []any) {
			o.ID, o.TenantID, o.Version, o.UpdatedAt = s.id.String(), s.tenantID, 1, s.now
			o.CreatedAt = createdAt(o.CreatedAt, s.now)
			return o, []any{pid, s.id, s.tenant, enc, o.Category, o.Code, o.Display, o.Value, o.ValueText, o.Unit,
				o.EffectiveAt, o.Status, o.RecordedBy, ReasonImported, 1, o.CreatedAt, s.now, s.by}
		}}, nil
}
