package ehr

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/historiaehr/historia/rbac"
)

// StatusEnteredInError marks a record entered by mistake. The record and
// its history stay; readers show it struck through.
const StatusEnteredInError = "entered-in-error"

// table describes a versioned patient table.
type table struct {
	name  string
	idCol string
	kind  rbac.Kind
}

var (
	tPatients     = table{"patients", "patient_id", rbac.KindDemographics}
	tEncounters   = table{"encounters", "id", rbac.KindEncounter}
	tAppointments = table{"appointments", "id", rbac.KindAppointment}
	tCareTeam     = table{"care_team_members", "id", rbac.KindCareTeam}
	tNotes        = table{"clinical_notes", "id", rbac.KindNote}
	tConditions   = table{"conditions", "id", rbac.KindCondition}
	tAllergies    = table{"allergies", "id", rbac.KindAllergy}
	tMedications  = table{"medication_requests", "id", rbac.KindMedication}
	tObservations = table{"observations", "id", rbac.KindObservation}
)

// tableOf returns the table that holds records of kind k.
func tableOf(k rbac.Kind) (table, bool) {
	for _, t := range []table{tPatients, tEncounters, tAppointments, tCareTeam, tNotes, tConditions,
		tAllergies, tMedications, tObservations} {
		if t.kind == k {
			return t, true
		}
	}
	switch k {
	case rbac.KindContact:
		return tPatients, true
	case rbac.KindAdmission:
		return tEncounters, true
	}
	return table{}, false
}

// aliasRule says what naming a record by an alias kind (a kind whose
// records live in another kind's table) requires, so that the alias never
// reaches more than its own records.
//
//   - KindContact names the patient row, which holds the demographics too:
//     acting on it needs the same right on KindDemographics as well (a
//     patient may update their contact data, not mark their whole record
//     entered in error, nor read its identity history as "contact").
//   - KindAdmission names the inpatient encounters only: an ambulatory or
//     emergency encounter is clinical data, reached as KindEncounter.
type aliasRule struct {
	// also is a kind the actor must be allowed too (0 for none).
	also rbac.Kind
	// inpatientOnly restricts the records to inpatient encounters.
	inpatientOnly bool
}

func aliasOf(k rbac.Kind) aliasRule {
	switch k {
	case rbac.KindContact:
		return aliasRule{also: rbac.KindDemographics}
	case rbac.KindAdmission:
		return aliasRule{inpatientOnly: true}
	}
	return aliasRule{}
}

// authorizeAlso authorizes, after a, the kind the alias rule of a.kind
// also requires (auditing a denial like authorize).
func (r *Repository) authorizeAlso(ctx context.Context, q DB, op string, a *access) error {
	al := aliasOf(a.kind)
	if al.also == 0 {
		return nil
	}
	b := *a
	b.kind, b.kindName, b.grant = al.also, "", nil
	if err := r.authorize(ctx, q, op, &b); err != nil {
		return err
	}
	if b.grant != nil && a.grant == nil {
		a.grant, a.decision = b.grant, b.decision
	}
	return nil
}

// blankContactJSON, concatenated to the jsonb snapshot of a patients row,
// blanks its contact data (rbac KindContact) for an actor who may not
// read it, as Chart does.
const blankContactJSON = `{"phone": "", "email": "", "address": "", "emergency_name": "", "emergency_phone": "", "emergency_relationship": ""}`

// mayReadContact decides whether a's actor may read the contact data of
// a's patient (loading the care-team facts through q if the policy needs
// them). It is a filter on what a read returns, not a request: a "no" is
// not audited as a denial.
func (r *Repository) mayReadContact(ctx context.Context, q DB, a *access) (bool, error) {
	c := *a
	c.action, c.kind, c.kindName, c.grant = rbac.ActionRead, rbac.KindContact, "", nil
	if err := r.decide(ctx, q, &c); err != nil {
		return false, err
	}
	return c.decision.Allowed, nil
}

// write runs mutation (an INSERT or UPDATE of t that affects one row, with
// no RETURNING clause), stores a snapshot of the new row in record_versions
// in the same round trip, and returns the new version. An UPDATE that
// matches no row makes write look the record up: ErrNotFound when it does
// not exist, ErrConflict when its version moved on. The mutation's first
// three arguments must be patient id, record id and tenant id, and an
// UPDATE's fourth the version read.
//
// The mutation and the snapshot are two statements in one pgx.Batch, each
// filtered on patient_id, so each is a single-shard router statement on
// Citus (a modifying CTE feeding an INSERT, the obvious single statement,
// is not: Citus's router planner refuses CTEs in INSERTs). The snapshot
// copies the row at the version the mutation wrote; if the mutation wrote
// nothing, the snapshot finds no row at that version, or finds a version
// another writer made and already snapshotted (ON CONFLICT DO NOTHING),
// and write reports ErrConflict or ErrNotFound. A mutation that wrote a
// row without its snapshot is an error.
func write(ctx context.Context, tx pgx.Tx, op string, t table, mutation string, args ...any) (int, error) {
	return writeKeyed(ctx, tx, op, t, args[0], args[1], args[2], mutation, args...)
}

// writeKeyed is write for a mutation whose arguments do not start with
// patient id, record id and tenant id (an INSERT): they are given apart.
func writeKeyed(ctx context.Context, tx pgx.Tx, op string, t table, pid, rid, tenant any, mutation string, args ...any) (int, error) {
	next := 1
	if strings.HasPrefix(strings.TrimSpace(mutation), "UPDATE") {
		v, ok := args[3].(int)
		if !ok {
			panic("ehr: write: an UPDATE's fourth argument must be the version read")
		}
		next = v + 1
	}
	// to_jsonb(t) on purpose: the snapshot is the whole row, whatever
	// columns later migrations add.
	snapshot := `INSERT INTO record_versions (tenant_id, patient_id, kind, record_id, version, data, changed_at, changed_by, reason)
SELECT r.tenant_id, r.patient_id, '` + t.kind.String() + `', r.` + t.idCol + `, r.version, to_jsonb(r), r.updated_at, r.updated_by, r.change_reason
FROM ` + t.name + ` r WHERE r.patient_id = $1 AND r.` + t.idCol + ` = $2 AND r.tenant_id = $3 AND r.version = $4
ON CONFLICT DO NOTHING`
	b := &pgx.Batch{}
	b.Queue(mutation, args...)
	b.Queue(snapshot, pid, rid, tenant, next)
	br := tx.SendBatch(ctx, b)
	mtag, err := br.Exec()
	var stag pgconn.CommandTag
	if err == nil {
		stag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, dbError(fmt.Sprintf("%s %v", op, rid), err)
	}
	if mtag.RowsAffected() == 1 && stag.RowsAffected() == 1 {
		return next, nil
	}
	if mtag.RowsAffected() != 0 {
		return 0, fmt.Errorf("ehr: %s %v: %d rows written, %d snapshots", op, rid, mtag.RowsAffected(), stag.RowsAffected())
	}
	var cur int
	err = tx.QueryRow(ctx, `SELECT version FROM `+t.name+` WHERE patient_id = $1 AND `+t.idCol+` = $2 AND tenant_id = $3`,
		pid, rid, tenant).Scan(&cur)
	if err == nil {
		return 0, fmt.Errorf("ehr: %s %s: %w: version is %d", op, rid, ErrConflict, cur)
	}
	return 0, dbError(fmt.Sprintf("%s %v", op, rid), err)
}

// Version is one version of a record, as stored by a write.
type Version struct {
	Kind     rbac.Kind
	RecordID string
	Version  int
	// Data is the record's row as JSON, with the table's column names.
	Data      json.RawMessage
	ChangedAt time.Time
	ChangedBy string
	// Reason is the change reason (amendment, entered-in-error), if any.
	Reason string
}

// historySQL reads the versions of a record. $5 false blanks the contact
// data of a patients row; $6 true keeps only the versions of an inpatient
// encounter (the class of an encounter never changes); $7 true keeps only
// the versions of a note that its patient may read (patientNoteVersionSQL).
const historySQL = `SELECT version, CASE WHEN $5 THEN data ELSE data || '` + blankContactJSON + `'::jsonb END,
  changed_at, changed_by, reason FROM record_versions
WHERE patient_id = $1 AND kind = $2 AND record_id = $3 AND tenant_id = $4
  AND (NOT $6 OR data->>'class' = 'inpatient')
  AND (NOT $7 OR ` + patientNoteVersionSQL + `)
ORDER BY version`

// History returns every version of the record id of kind k belonging to
// patientID, oldest first. For the patient's demographics, id is the
// patient id (and k is rbac.KindDemographics). The snapshots of the
// patient row have their contact data blanked unless the actor may read
// it (rbac KindContact). rbac.KindContact names the patient row and needs
// the right to read the demographics too; rbac.KindAdmission names
// inpatient encounters only.
//
// A patient reading the history of a note of their own record (the
// principal's PatientID is patientID, whatever its roles) gets only the
// versions a patient reads: signed, amended, and a signed note's
// entered-in-error version, never a draft version; the history of a note
// that was never signed is ErrNotFound, as if it did not exist.
//
// It returns ErrNotFound when the record does not exist (or is not of
// kind k, or is a draft note read by its patient) and when patientID is
// no patient of the actor's tenant, ErrDenied when the actor may not read
// records of kind k of this patient of the tenant, ErrInvalid for a
// malformed id or a kind without records.
func (r *Repository) History(ctx context.Context, k rbac.Kind, patientID, id string) ([]Version, error) {
	const op = "history"
	t, ok := tableOf(k)
	if !ok {
		return nil, invalid("Kind", CodeNotAllowed, "has no versioned records")
	}
	pid, err := parseID("PatientID", patientID)
	if err != nil {
		return nil, err
	}
	rid, err := parseID("ID", id)
	if err != nil {
		return nil, err
	}
	a, err := newAccess(ctx, op, rbac.ActionRead, k, pid)
	if err != nil {
		return nil, err
	}
	a.record = id
	var out []Version
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		if err := r.authorizeAlso(ctx, tx, op, a); err != nil {
			return err
		}
		contact := true
		if t.name == tPatients.name && k != rbac.KindContact {
			var err error
			if contact, err = r.mayReadContact(ctx, tx, a); err != nil {
				return err
			}
		}
		signedOnly := t.name == tNotes.name && a.ownRecord()
		rows, err := tx.Query(ctx, historySQL, pid, t.kind.String(), rid, a.tenant, contact, aliasOf(k).inpatientOnly, signedOnly)
		if err != nil {
			return dbError(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			v := Version{Kind: k, RecordID: id}
			var data []byte
			if err := rows.Scan(&v.Version, &data, &v.ChangedAt, &v.ChangedBy, &v.Reason); err != nil {
				return dbError(op, err)
			}
			v.Data, v.ChangedAt = data, v.ChangedAt.UTC()
			out = append(out, v)
		}
		if err := rows.Err(); err != nil {
			return dbError(op, err)
		}
		if len(out) == 0 {
			return fmt.Errorf("ehr: %s %s: %w", op, id, ErrNotFound)
		}
		return r.audit(ctx, tx, a, r.clock())
	})
	return out, r.notFound(ctx, a, err)
}

// RecordRef names one version of a record: its kind, patient, id and the
// version the caller read.
type RecordRef struct {
	Kind      rbac.Kind
	PatientID string
	ID        string
	Version   int
}

// MarkEnteredInError marks a clinical record (encounter, appointment, care
// team membership, note, condition, allergy, medication request,
// observation, or the patient's demographics) as entered in error, with a
// reason. The record is kept with status StatusEnteredInError as a new
// version; nothing is deleted. It returns the new version.
//
// rbac.KindContact names the patient row and needs the right to update
// the demographics too (a patient may update their contact data, not
// withdraw their record); rbac.KindAdmission names inpatient encounters
// only.
//
// It returns ErrInvalid without a reason or with a malformed reference,
// ErrNotFound, ErrConflict when ref.Version is stale, ErrDenied when the
// actor may not update records of that kind for this patient.
func (r *Repository) MarkEnteredInError(ctx context.Context, ref RecordRef, reason string) (int, error) {
	const op = "mark entered in error"
	var v validator
	t, ok := tableOf(ref.Kind)
	v.check(ok, "Kind", CodeNotAllowed, "has no versioned records")
	pid, perr := uuid.Parse(ref.PatientID)
	v.check(perr == nil, "PatientID", CodeInvalid, "must be a UUID")
	rid, rerr := uuid.Parse(ref.ID)
	v.check(rerr == nil, "ID", CodeInvalid, "must be a UUID")
	v.check(ref.Version > 0, "Version", CodeRequired, "must be the version read")
	v.reason("Reason", trim(reason), 3, 0)
	if err := v.err(); err != nil {
		return 0, err
	}
	a, err := newAccess(ctx, op, rbac.ActionUpdate, ref.Kind, pid)
	if err != nil {
		return 0, err
	}
	a.record = ref.ID
	var nv int
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		if err := r.authorizeAlso(ctx, tx, op, a); err != nil {
			return err
		}
		only := ""
		if aliasOf(ref.Kind).inpatientOnly {
			// An encounter that is no admission is not found as one.
			only = " AND class = 'inpatient'"
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM encounters WHERE patient_id = $1 AND id = $2 AND tenant_id = $3`+only,
				pid, rid, a.tenant).Scan(&one); err != nil {
				return dbError(op+" "+ref.ID, err)
			}
		}
		var err error
		nv, err = write(ctx, tx, op, t, `UPDATE `+t.name+` SET status = '`+StatusEnteredInError+`', change_reason = $5,
  version = version + 1, updated_at = $6, updated_by = $7
WHERE patient_id = $1 AND `+t.idCol+` = $2 AND tenant_id = $3 AND version = $4`+only,
			pid, rid, a.tenant, ref.Version, trim(reason), r.clock(), a.actor.Principal.UserID)
		if err != nil {
			return err
		}
		if t.name == "appointments" {
			if err := releaseSlots(ctx, tx, op, a, rid); err != nil {
				return err
			}
		}
		if t == tPatients {
			// A patient entered in error leaves the word table (namewords.go).
			if _, err := tx.Exec(ctx, deleteNameWordsSQL, pid, a.tenant); err != nil {
				return dbError(op+" "+ref.ID+": name words", err)
			}
		}
		return r.audit(ctx, tx, a, r.clock())
	})
	return nv, r.notFound(ctx, a, err)
}
