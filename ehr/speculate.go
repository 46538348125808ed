package ehr

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/rbac"
)

// A chart read whose decisions depend on the actor's facts about the
// patient (the care team, a break-glass grant) used to read those facts
// first, in a round trip of their own, and only then send its batch. It
// now decides first which facts can change its decisions at all, and
// does not wait for those:
//
//   - Facts that cannot change any decision of this actor are not read
//     (a clerk: no care team widens, and no grant opens, what they read).
//   - Facts that can are assumed (on the care team; no break-glass grant)
//     and checked by the batch itself, in the statement that advances the
//     audit chain, before the audit event and the sections: when they
//     hold (a physician opening the chart of a patient in their care, the
//     usual case) the read takes one round trip, with the decisions, audit
//     event and rows it had before.
//   - When they do not hold (not on the care team, a grant to flag), the
//     check fails and the server skips the rest of the batch: no audit
//     event is written and no section row is read or sent. The
//     transaction is rolled back on its connection, the facts are read,
//     and the read is decided again with them and sent again.
//
// Inside a caller's transaction (a pgx.Tx) a failed check would abort the
// caller's work, so there the facts that matter are read first, as
// before.

// speculation is what a chart read assumed of the facts it decided with:
// on the care team when careTeam, no active break-glass grant when
// noGrant; the facts not named could not change its decisions.
type speculation struct{ careTeam, noGrant bool }

// errFactsChanged ends the attempt of a read whose assumed facts did not
// hold (its batch failed its check and was rolled back): the read is to
// be decided again with the facts read.
var errFactsChanged = errors.New("ehr: the access facts are not those the read assumed")

// speculate decides which facts can change the decisions ca took without
// facts (denying something) and reports whether ca may go on without
// reading them first: when none can (the decisions stand), or when ca can
// assume them and its batch check them (ca.spec), which a caller's
// transaction does not allow.
func (r *Repository) speculate(ca *chartAccess) bool {
	none := slices.Clone(ca.decisions)
	ca.decideAll(r, facts{onCareTeam: true})
	s := speculation{careTeam: !slices.Equal(none, ca.decisions)}
	assumed := slices.Clone(ca.decisions)
	// Would a valid grant change a decision, on top of the care team
	// assumed? A grant that would not, valid or not, is never consulted
	// (rbac looks at it only where a rule allows by break-glass and
	// neither the patient's own record nor the care team has allowed).
	ca.decideAll(r, facts{onCareTeam: s.careTeam, grant: &rbac.Grant{UserID: ca.a.actor.Principal.UserID,
		TenantID: ca.a.actor.Principal.TenantID, PatientID: ca.a.patientID, Reason: "speculation: is a grant consulted?",
		NotAfter: r.authz.Now().Add(time.Minute)}})
	s.noGrant = !slices.Equal(assumed, ca.decisions)
	copy(ca.decisions, none)
	if s.careTeam {
		copy(ca.decisions, assumed)
	}
	switch {
	case !s.careTeam && !s.noGrant:
		return true // no fact changes a decision
	case isTx(r.db):
		return false
	}
	ca.spec = &s
	return true
}

// isTx reports whether q is a caller's transaction.
func isTx(q DB) bool {
	_, ok := q.(pgx.Tx)
	return ok
}

// The check of a speculation is a condition on the facts it assumed,
// evaluated for the patient's row in the statement that advances the
// patient's audit chain (checkHeadSQL), or, without an audit (a test-only
// repository), in a statement of its own (checkOnlySQL). For a patient of
// the tenant whose facts are not those assumed the statement fails (an
// integer cast of a text, evaluated only in that branch: the subquery
// keeps the planner from folding it) and the server skips the rest of the
// batch; an unknown patient gives no row and no error (nothing written,
// and the row read says not found). Every table is filtered on
// patient_id = $2: on Citus it is one single-shard router statement, as
// the head's. Its arguments follow the head's (or $1 tenant, $2 patient):
// the user as a UUID (care_team_members.user_id) when it checks the care
// team, the user id as text (break_glass_grants.user_id) when it checks
// the grant, then now.
var checkHeadSQL, checkOnlySQL [4]string

func init() {
	for _, s := range []speculation{{true, false}, {false, true}, {true, true}} {
		// The head's first seq, the value proposed for a new head, is
		// computed (and so checked) before the conflict with an existing
		// head is found. The head statement has 3 arguments; the check
		// alone 2 (tenant, patient).
		head := strings.Replace(getPatientHeadSQL, `SELECT p.tenant_id, p.patient_id, 1, `, `SELECT p.tenant_id, p.patient_id, `+s.check(4)+`, `, 1)
		if head == getPatientHeadSQL {
			panic("ehr: getPatientHeadSQL changed: the speculation's check is not in it")
		}
		checkHeadSQL[s.index()] = head
		checkOnlySQL[s.index()] = `SELECT ` + s.check(3) + ` FROM patients p WHERE p.patient_id = $2 AND p.tenant_id = $1`
	}
}

// check returns s's check, an integer expression that is 1 or fails, its
// arguments numbered from $first.
func (s speculation) check(first int) string {
	n := first
	param := func() string { n++; return "$" + strconv.Itoa(n-1) }
	var user, text string
	if s.careTeam {
		user = param()
	}
	if s.noGrant {
		text = param()
	}
	now := param()
	var conds []string
	if s.careTeam {
		conds = append(conds, `EXISTS (SELECT 1 FROM care_team_members c WHERE c.patient_id = $2 AND c.tenant_id = $1 AND c.user_id = `+user+
			` AND c.status = 'active' AND c.starts_at <= `+now+` AND (c.ends_at IS NULL OR c.ends_at > `+now+`))`)
	}
	if s.noGrant {
		conds = append(conds, `NOT EXISTS (SELECT 1 FROM break_glass_grants b WHERE b.patient_id = $2 AND b.tenant_id = $1 AND b.user_id = `+text+
			` AND b.not_after > `+now+`)`)
	}
	return `CASE WHEN ` + strings.Join(conds, ` AND `) + ` THEN 1 ELSE (SELECT '` + errFactsChanged.Error() + `'::text)::int END`
}

// index is s's index into checkHeadSQL and checkOnlySQL.
func (s speculation) index() int {
	i := 0
	if s.careTeam {
		i |= 1
	}
	if s.noGrant {
		i |= 2
	}
	return i
}

// args returns the arguments of s's check after head, those of the
// statement that carries it.
func (s speculation) args(head []any, a *access, now time.Time) []any {
	args := make([]any, len(head), len(head)+3)
	copy(args, head)
	if s.careTeam {
		args = append(args, pgUUID(a.userUUID()))
	}
	if s.noGrant {
		args = append(args, a.actor.Principal.UserID)
	}
	return append(args, now)
}

// queueChartPatient queues the read of the patient of ca, with its
// audit append, on b; when ca speculated, its check is in the audit
// head's statement. readChartPatient reads the results.
func (r *Repository) queueChartPatient(b *pgx.Batch, ca *chartAccess) {
	if ca.spec == nil {
		r.queueGetPatient(b, ca.a)
		return
	}
	a, now := ca.a, r.clock()
	if r.noAudit {
		b.Queue(getPatientNoAuditSQL, pgUUID(a.tenant), pgUUID(a.patient))
		b.Queue(checkOnlySQL[ca.spec.index()], ca.spec.args([]any{pgUUID(a.tenant), pgUUID(a.patient)}, a, now)...)
		return
	}
	args := a.auditArgs(now)
	b.Queue(getPatientNoAuditSQL, args.v[:2]...)
	b.Queue(checkHeadSQL[ca.spec.index()], ca.spec.args(args.head(), a, now)...)
	b.Queue(getPatientEventSQL, args.event()...)
}

// readChartPatient reads what queueChartPatient queued. When ca
// speculated and the facts it assumed do not hold, it returns
// errFactsChanged (the check has failed, and the batch with it).
func (r *Repository) readChartPatient(br pgx.BatchResults, ca *chartAccess) (Patient, error) {
	if ca.spec == nil {
		return r.readGetPatient(br)
	}
	p, err := scanPatient(br.QueryRow())
	if err != nil {
		return p, err
	}
	if _, err := br.Exec(); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == invalidTextRepresentation && strings.Contains(pe.Message, errFactsChanged.Error()) {
			return p, errFactsChanged
		}
		return p, err
	}
	if r.noAudit {
		return p, nil
	}
	return p, readAuditEvent(br)
}

// invalidTextRepresentation is the SQLSTATE of a failed check.
const invalidTextRepresentation = "22P02"

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
