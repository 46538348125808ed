package ehr

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/rbac"
)

// AuditActionLocate is the audit action of the event Locate records for
// an id it does not find (AuditEvent.Action, with OutcomeNotFound).
const AuditActionLocate = "locate"

// The lookups of Locate. A record's version 1 names its patient (every
// write stores a snapshot, writeKeyed); migration 0005 indexes the
// version-1 rows by record_id (partial index: version = 1 is a literal
// here so that the planner uses it). The record id does not say which
// shard holds it: on Citus the lookup asks every shard. A patient's own
// row is found by its id, on its shard.
const (
	locateSQL = `/* fanout: locate */ SELECT patient_id FROM record_versions
WHERE record_id = $1 AND version = 1 AND tenant_id = $2 AND kind = $3 LIMIT 2`
	// An admission is an inpatient encounter (the class never changes).
	locateAdmissionSQL = `/* fanout: locate */ SELECT patient_id FROM record_versions
WHERE record_id = $1 AND version = 1 AND tenant_id = $2 AND kind = $3 AND data->>'class' = 'inpatient' LIMIT 2`
	locatePatientSQL = `SELECT patient_id FROM patients WHERE patient_id = $1 AND tenant_id = $2`
)

// Locate returns the id of the patient that the record id of kind k
// belongs to, in the actor's tenant: every other method names a record by
// its patient and its id (tables are distributed by patient on Citus),
// while a FHIR read (GET /Observation/{id}) names the record alone. k is
// any kind with versioned records (as History takes): for
// rbac.KindDemographics and rbac.KindContact id is the patient's own id,
// returned when it is a patient of the tenant; rbac.KindAdmission finds
// inpatient encounters only.
//
// Locate is no access to the record: it is not authorized by the policy
// (the read or write that follows is, and is audited), and finding a
// record leaves no audit event. An id that is not found does: an event
// with action AuditActionLocate, the kind, OutcomeNotFound and the id as
// the record, on the tenant's own chain (in its own transaction; inside
// InTx once the transaction has ended), as for any request about an id
// that is not in the tenant, so that scanning ids shows. Front ends
// should not show the patient id found to a caller before the request
// that follows has been allowed.
//
// Except for the patient kinds, Locate asks every shard on Citus (one
// indexed lookup each, "/* fanout: locate */"): callers that know the
// patient should pass it to the method they call instead.
//
// It returns ErrInvalid for a malformed id (field "ID") or a kind without
// records (field "Kind"), before any SQL and without an audit event;
// ErrNotFound when the tenant has no record of kind k with that id (an
// unknown id, or another tenant's record: they are answered alike);
// ErrDenied when the context has no actor.
func (r *Repository) Locate(ctx context.Context, k rbac.Kind, id string) (patientID string, err error) {
	const op = "locate"
	t, ok := tableOf(k)
	if !ok {
		return "", invalid("Kind", CodeNotAllowed, "has no versioned records")
	}
	rid, err := parseID("ID", id)
	if err != nil {
		return "", err
	}
	a, err := newAccess(ctx, op, rbac.ActionRead, k, uuid.Nil)
	if err != nil {
		return "", err
	}
	a.actionName, a.record = AuditActionLocate, rid.String()
	// No rule decided: the event is a not-found one, not a denial.
	a.decision = rbac.Decision{Allowed: true}
	var ids []uuid.UUID
	if t == tPatients {
		ids, err = collectIDs(r.db.Query(ctx, locatePatientSQL, pgUUID(rid), pgUUID(a.tenant)))
	} else {
		sql := locateSQL
		if aliasOf(k).inpatientOnly {
			sql = locateAdmissionSQL
		}
		ids, err = collectIDs(r.db.Query(ctx, sql, pgUUID(rid), pgUUID(a.tenant), t.kind.String()))
	}
	switch {
	case err != nil:
		return "", dbError(op+" "+k.String()+" "+a.record, err)
	case len(ids) == 0:
		return "", r.notFound(ctx, a, fmt.Errorf("ehr: %s %s %s: %w", op, k, a.record, ErrNotFound))
	case len(ids) > 1:
		// Ids are UUIDv7 made by ehr: two patients' records with one id
		// is damage, not an answer.
		return "", fmt.Errorf("ehr: %s %s %s: the id names records of %d patients", op, k, a.record, len(ids))
	}
	return ids[0].String(), nil
}

// collectIDs reads a column of uuids.
func collectIDs(rows pgx.Rows, err error) ([]uuid.UUID, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}
