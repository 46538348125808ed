package ehr

import (
	"context"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A chart read whose decisions depend on the actor's facts about the
// patient (the care team, a break-glass grant) used to read those facts
// first, in a round trip of their own, and only then send its batch. It
// now speculates instead: it decides with the facts it expects, sends one
// batch that reads the facts with the patient's row and then checks, in
// the database and before anything else of the batch runs, that they are
// the facts it decided with; the audit append and the sections follow.
//
//   - When the facts are as expected (a physician opening the chart of a
//     patient in their care, the usual case), the read takes one round
//     trip instead of two, with the same decisions, audit event and rows
//     as before.
//   - When they are not (not on the care team, or a break-glass grant
//     that must be flagged), the check fails and the server skips the rest
//     of the batch: no audit event is written and no section row is read
//     or sent. The transaction is rolled back on its connection, the read
//     is decided again with the facts the batch returned, and sent again:
//     the round trips of before plus the rollback.
//
// The expectation is the facts that cannot change the decisions taken
// with them: no break-glass grant, and on the care team when the policy's
// decisions for this actor depend on it (speculation.careTeam); when they
// do not (a clerk, whose reads no care team widens), only the absence of
// a grant is checked. Inside a caller's transaction (a pgx.Tx) a failed
// check would abort the caller's work, so there the facts are read first,
// as before.

// speculation is the facts a chart read decided with before reading them:
// no break-glass grant, and on the care team when careTeam.
type speculation struct{ careTeam bool }

// facts returns the facts s assumes.
func (s speculation) facts() facts { return facts{onCareTeam: s.careTeam} }

// holds reports whether the facts f read are those s assumed, as far as
// the decisions go: no grant, and on the care team if s needs it.
func (s speculation) holds(f facts) bool {
	return f.grant == nil && (f.onCareTeam || !s.careTeam)
}

// The checks of a speculation, run right after the patient's row and
// facts (getPatientFactsSQL). For a patient of the tenant whose facts are
// not those assumed, the statement fails (an integer cast of a text,
// evaluated only in that branch: the ELSE's subquery keeps the planner
// from folding it) and the server skips the rest of the batch; an unknown
// patient gives no row and no error, as the row read. Every table is
// filtered on patient_id = $2: on Citus it is one single-shard router
// statement, as the read. Arguments: those of getPatientFactsSQL ($1
// tenant, $2 patient, $3 the user as a UUID, $4 the user id as text, $5
// now), without the UUID for the grant's check alone ($3 the user id as
// text, $4 now).
const (
	speculationFails = ` THEN 1 ELSE (SELECT 'ehr: the access facts are not those the batch was decided with'::text)::int END
FROM patients p WHERE p.patient_id = $2 AND p.tenant_id = $1`
	checkNoGrantSQL = `SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM break_glass_grants b
  WHERE b.patient_id = $2 AND b.tenant_id = $1 AND b.user_id = $3 AND b.not_after > $4)` + speculationFails
	checkCareTeamNoGrantSQL = `SELECT CASE WHEN EXISTS (SELECT 1 FROM care_team_members c
  WHERE c.patient_id = $2 AND c.tenant_id = $1 AND c.user_id = $3 AND c.status = 'active'
    AND c.starts_at <= $5 AND (c.ends_at IS NULL OR c.ends_at > $5))
 AND NOT EXISTS (SELECT 1 FROM break_glass_grants b
  WHERE b.patient_id = $2 AND b.tenant_id = $1 AND b.user_id = $4 AND b.not_after > $5)` + speculationFails
)

// queueCheck queues the check of s on b, with factsArgs the arguments of
// getPatientFactsSQL.
func (s speculation) queueCheck(b *pgx.Batch, factsArgs []any) {
	if s.careTeam {
		b.Queue(checkCareTeamNoGrantSQL, factsArgs...)
		return
	}
	b.Queue(checkNoGrantSQL, factsArgs[0], factsArgs[1], factsArgs[3], factsArgs[4])
}

// factsChanged is the error of a speculative batch whose facts were not
// those assumed: the batch was rolled back, and the read is to be decided
// again with f, or with the facts read anew when f is nil.
type factsChanged struct{ f *facts }

func (e *factsChanged) Error() string {
	return "ehr: the access facts changed during the read"
}

// speculate sets ca to decide with the facts it expects instead of reading
// them first, when the repository is not inside a caller's transaction,
// and reports whether it did. Called when the decisions without facts
// denied something.
func (r *Repository) speculate(ca *chartAccess) bool {
	if _, inTx := r.db.(pgx.Tx); inTx {
		return false
	}
	noFacts := slices.Clone(ca.decisions)
	s := speculation{careTeam: true}
	ca.decideAll(r, s.facts())
	if slices.Equal(noFacts, ca.decisions) {
		// The care team changes nothing for this actor: only a grant
		// could.
		s.careTeam = false
		copy(ca.decisions, noFacts)
	}
	ca.spec = &s
	return true
}

// queueChartPatient queues the read of the patient of ca, with its
// audit append, on b: with the facts and the speculation's check before
// the audit when ca speculates. readChartPatient reads the results.
func (r *Repository) queueChartPatient(b *pgx.Batch, ca *chartAccess) {
	if ca.spec == nil {
		r.queueGetPatient(b, ca.a)
		return
	}
	a := ca.a
	user := pgUUID(a.userUUID())
	if r.noAudit {
		args := []any{pgUUID(a.tenant), pgUUID(a.patient), user, a.actor.Principal.UserID, r.clock()}
		b.Queue(getPatientFactsSQL, args...)
		ca.spec.queueCheck(b, args)
		return
	}
	args := a.auditArgs(r.clock())
	factsArgs := []any{args.v[0], args.v[1], user, args.userID(), args.at()}
	b.Queue(getPatientFactsSQL, factsArgs...)
	ca.spec.queueCheck(b, factsArgs)
	queueGetPatientAudit(b, args)
}

// readChartPatient reads what queueChartPatient queued. When ca
// speculated and the facts read are not those assumed it returns a
// *factsChanged (the check has failed, and the batch with it).
func (r *Repository) readChartPatient(br pgx.BatchResults, ca *chartAccess) (Patient, error) {
	if ca.spec == nil {
		return r.readGetPatient(br)
	}
	var fr factsRow
	p, err := scanPatient(br.QueryRow(), &fr.onCareTeam, &fr.reason, &fr.notAfter)
	if err != nil {
		return p, err
	}
	if f := fr.facts(ca.a); !ca.spec.holds(f) {
		return p, &factsChanged{f: &f}
	}
	if _, err := br.Exec(); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == invalidTextRepresentation {
			// The facts changed between the read and the check (a care
			// team ended in between): decide again with facts read anew.
			return p, &factsChanged{}
		}
		return p, err
	}
	return p, r.readGetPatientAudit(br)
}

// sendChartBatch sends the batch of a chart read (sendBatch). A
// speculative batch runs on a connection held for it, so that a failed
// check rolls back there instead of costing the pool its connection.
func (r *Repository) sendChartBatch(ctx context.Context, ca *chartAccess, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	if p, ok := r.db.(*pgxpool.Pool); ok && ca.spec != nil {
		c, err := p.Acquire(ctx)
		if err != nil {
			return err
		}
		defer c.Release()
		return sendBatch(ctx, c.Conn(), b, read)
	}
	return sendBatch(ctx, r.db, b, read)
}

// invalidTextRepresentation is the SQLSTATE of a failed check.
const invalidTextRepresentation = "22P02"
