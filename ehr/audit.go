package ehr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/historiaehr/historia/rbac"
)

// Audit outcomes.
const (
	OutcomeAllowed = "allowed"
	OutcomeDenied  = "denied"
	// OutcomeNotFound: the policy allowed the request, but the patient or
	// record the caller named does not exist in the tenant. Recorded on
	// the tenant's own chain (the actor's lane), with the ids asked for as
	// RecordID ("PATIENT" or "PATIENT/RECORD"), so that id scanning shows.
	OutcomeNotFound = "not-found"
)

// AuditEvent is one entry of the audit trail: who did what to which
// record, when, from where, and whether it was allowed. Events form one
// hash chain per patient (ChainID is the patient id) and, for requests
// about no single patient, AuditLanes chains per tenant, its lanes
// (ChainID is one of TenantChains: the tenant id for lane 0); a user's
// such events all go to one lane.
type AuditEvent struct {
	ID         string
	TenantID   string
	ChainID    string
	Seq        int64
	OccurredAt time.Time
	UserID     string
	Roles      []string
	// Action is the rbac action ("read", "update", "break-glass", ...).
	Action string
	// Kind is the rbac kind ("note", "demographics", ...), or "chart" for
	// a whole-chart read.
	Kind string
	// RecordID is the record acted on, if any. A denied attempt on a
	// patient who is not in the tenant (another tenant's, or no one's) is
	// recorded on the tenant's own chain (the actor's lane) with RecordID
	// "PATIENT" or "PATIENT/RECORD", the ids asked for.
	RecordID string
	// Outcome is OutcomeAllowed or OutcomeDenied.
	Outcome string
	// Rule is the policy rule that decided.
	Rule string
	// BreakGlass is set when access was allowed only by a break-glass
	// grant; Reason then holds the grant's reason. For a denial Reason
	// holds the policy's explanation.
	BreakGlass bool
	Reason     string
	RequestID  string
	IP         string
	// PrevHash is the previous event's Hash (empty for the first event).
	PrevHash []byte
	// Hash is sha256(PrevHash || canonical event), where the canonical
	// event starts with Seq as 8 big-endian bytes.
	Hash []byte
}

// canonicalVersion tags the canonical encoding, so it can evolve.
const canonicalVersion = "historia-audit-v1"

// canonical encodes the event's fields, except Seq, PrevHash and Hash, as
// length-prefixed strings in a fixed order. The hash covers the sequence
// number too: hash = sha256(prev_hash || int8(seq) || canonical).
func (e *AuditEvent) canonical() []byte {
	return appendCanonical(nil, e, strings.Join(e.Roles, ","))
}

// appendCanonical appends the canonical encoding of e, whose roles joined
// by commas are roles, to b.
func appendCanonical(b []byte, e *AuditEvent, roles string) []byte {
	bg := "0"
	if e.BreakGlass {
		bg = "1"
	}
	const timeLayout = "2006-01-02T15:04:05.000000Z"
	fields := [...]string{canonicalVersion, e.ID, e.TenantID, e.ChainID, "", e.UserID, roles,
		e.Action, e.Kind, e.RecordID, e.Outcome, e.Rule, bg, e.Reason, e.RequestID, e.IP}
	n := len(fields)*4 + len(timeLayout)
	for _, f := range fields {
		n += len(f)
	}
	b = slices.Grow(b, n)
	for i, f := range fields {
		if i == 4 {
			// The time, formatted in place behind its length (27 bytes
			// for years 0 to 9999, more outside).
			at := len(b)
			b = e.OccurredAt.UTC().AppendFormat(append(b, 0, 0, 0, 0), timeLayout)
			binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
			continue
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// chainHash computes the hash of an event with sequence seq after prev.
func chainHash(prev []byte, seq int64, canonical []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], uint64(seq))
	h.Write(s[:])
	h.Write(canonical)
	return h.Sum(nil)
}

// fillEvent sets e to the audit event, with id, of an access at now.
func (a *access) fillEvent(e *AuditEvent, id uuid.UUID, now time.Time) {
	*e = AuditEvent{
		ID:         id.String(),
		TenantID:   a.tenantID,
		ChainID:    a.chainID(),
		OccurredAt: now,
		UserID:     a.actor.Principal.UserID,
		Roles:      a.actor.Principal.Roles,
		Action:     a.action.String(),
		Kind:       a.kind.String(),
		RecordID:   a.record,
		Outcome:    OutcomeAllowed,
		Rule:       a.decision.Rule,
		RequestID:  a.actor.RequestID,
		IP:         a.actor.IP,
	}
	if a.kindName != "" {
		e.Kind = a.kindName
	}
	if a.actor.Export && a.action == rbac.ActionRead {
		e.Action = AuditActionExport
	}
	if a.actionName != "" {
		e.Action = a.actionName
	}
	if a.outcome != "" {
		e.Outcome = a.outcome
	}
	if !a.decision.Allowed {
		e.Outcome = OutcomeDenied
		e.Reason = a.decision.Reason
	} else if a.decision.Condition == rbac.ConditionBreakGlass && a.grant != nil {
		e.BreakGlass = true
		e.Reason = a.grant.Reason
	}
}

// pgUUID returns id as pgx's own UUID type. pgx encodes a pgtype.UUID
// directly; a uuid.UUID goes through its driver.Valuer (a string) and, on
// pgx's binary path, a failed encode, a text parse and a second encode,
// about ten allocations per argument.
func pgUUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

// auditArgs holds the arguments of the audit append, laid out so that both
// statements take a contiguous window of one array: the head statement
// takes head() = $1 tenant, $2 chain, $3 canonical event; the event
// statement takes event() = $1 tenant, $2 chain, then the event's columns
// ($3 id .. $15 ip).
type auditArgs struct {
	v [18]any
}

func (x *auditArgs) head() []any  { return x.v[:3] }
func (x *auditArgs) event() []any { return x.v[3:] }

// userID and at return the event's user id (text) and time, boxed, for a
// statement of the same batch that needs them too (getPatientFactsSQL).
func (x *auditArgs) userID() any { return x.v[7] }
func (x *auditArgs) at() any     { return x.v[6] }

// auditArgs builds the audit event of a at now and the arguments that
// append it.
func (a *access) auditArgs(now time.Time) *auditArgs {
	var e AuditEvent
	id := newID()
	a.fillEvent(&e, id, now)
	roles := strings.Join(e.Roles, ",")
	// Boxed once, used by both statements.
	var tenant, chain any = pgUUID(a.tenant), pgUUID(a.chain())
	return &auditArgs{v: [18]any{
		tenant, chain, appendCanonical(nil, &e, roles),
		tenant, chain, pgUUID(id), e.OccurredAt, e.UserID, roles, e.Action, e.Kind, e.RecordID,
		e.Outcome, e.Rule, e.BreakGlass, e.Reason, e.RequestID, e.IP,
	}}
}

// The audit append is two statements sent in one round trip (a pgx.Batch,
// in a transaction: see sendBatch):
// the first advances the chain head and computes the new hash under the
// head row's lock (only a head of the same tenant: a patient id of another
// tenant never moves that tenant's chain); the second copies seq and hashes from the head into the
// new event. Each touches one chain, filtered by patient_id (the chain
// id), so on Citus each is a single-shard router statement. A single
// statement with a modifying CTE would be simpler but is not: Citus's
// router planner refuses INSERT common table expressions and INSERTs with
// CTEs, and would pull such a statement through the coordinator in several
// steps.
//
// The head statement takes $1 tenant, $2 chain, $3 canonical event
// (auditArgs.head); the event statement $1 tenant, $2 chain, then the
// columns (auditArgs.event). The chain is a patient's, or one of the
// tenant's lanes (AuditLanes): tenant-wide requests of different users
// advance different heads, and do not wait on one another's row lock.
const (
	auditHeadSQL = `INSERT INTO audit_heads AS ah (tenant_id, patient_id, seq, prev_hash, hash)
VALUES ($1, $2, 1, '\x', sha256(int8send(1::bigint) || $3::bytea))
ON CONFLICT (patient_id) DO UPDATE
  SET seq = ah.seq + 1, prev_hash = ah.hash, hash = sha256(ah.hash || int8send(ah.seq + 1) || $3::bytea)
  WHERE ah.tenant_id = EXCLUDED.tenant_id`

	auditEventSQL = `INSERT INTO audit_events (tenant_id, patient_id, seq, id, occurred_at, user_id, roles, action, kind,
  record_id, outcome, rule, break_glass, reason, request_id, ip, prev_hash, hash)
SELECT h.tenant_id, h.patient_id, h.seq, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, h.prev_hash, h.hash
FROM audit_heads h WHERE h.patient_id = $2 AND h.tenant_id = $1`
)

// queueAudit queues the audit append with args on b.
func queueAudit(b *pgx.Batch, args *auditArgs) {
	b.Queue(auditHeadSQL, args.head()...)
	b.Queue(auditEventSQL, args.event()...)
}

// execAudit reads the results of the statements queued by queueAudit.
func execAudit(br pgx.BatchResults) error {
	if _, err := br.Exec(); err != nil {
		return err
	}
	tag, err := br.Exec()
	if err == nil && tag.RowsAffected() != 1 {
		// The head statement advances a chain only for its own tenant
		// (ON CONFLICT ... WHERE): a chain of another tenant's patient is
		// left alone and no event is written.
		err = fmt.Errorf("audit event not written: %w: the chain is not the tenant's", ErrNotFound)
	}
	return err
}

// audit appends the audit event of a through q, in one round trip.
func (r *Repository) audit(ctx context.Context, q DB, a *access, now time.Time) error {
	b := newBatch(2)
	queueAudit(b, a.auditArgs(now))
	if err := sendBatch(ctx, q, b, execAudit); err != nil {
		return dbError("append audit event", err)
	}
	return nil
}

const auditColumns = `id, tenant_id, patient_id, seq, occurred_at, user_id, roles, action, kind, record_id,
  outcome, rule, break_glass, reason, request_id, ip, prev_hash, hash`

func scanAuditEvent(row pgx.Row) (AuditEvent, error) {
	var e AuditEvent
	var id, tenant, chain uuid.UUID
	var roles string
	err := row.Scan(&id, &tenant, &chain, &e.Seq, &e.OccurredAt, &e.UserID, &roles, &e.Action, &e.Kind,
		&e.RecordID, &e.Outcome, &e.Rule, &e.BreakGlass, &e.Reason, &e.RequestID, &e.IP, &e.PrevHash, &e.Hash)
	e.ID, e.TenantID, e.ChainID = id.String(), tenant.String(), chain.String()
	if roles != "" {
		e.Roles = strings.Split(roles, ",")
	}
	e.OccurredAt = e.OccurredAt.UTC()
	return e, err
}

// ChainStatus is the result of a successful VerifyChain.
type ChainStatus struct {
	ChainID string
	// Events is the number of events verified.
	Events int64
	// Head is the hash of the last event; anchoring it outside the
	// database (a log, a ticket) makes a wholesale rewrite detectable too.
	// Empty for a tenant's trail: each of its Lanes has its own.
	Head []byte
	// Lanes is set when ChainID is the tenant id: the status of each of
	// the tenant's lanes (TenantChains), lane 0 first. Events is then
	// their sum.
	Lanes []ChainStatus
}

const verifyHeadSQL = `SELECT seq, hash FROM audit_heads WHERE patient_id = $1 AND tenant_id = $2`
const verifyEventsSQL = `SELECT ` + auditColumns + ` FROM audit_events WHERE patient_id = $1 AND tenant_id = $2 ORDER BY seq`

// VerifyChain recomputes the hash chain of chainID (a patient id, or one
// of the tenant's lanes) and compares it with the stored hashes and the
// chain head. A changed, removed, inserted or reordered event breaks it.
// The tenant id names the tenant's whole tenant-wide trail: every lane
// (TenantChains) is verified, and the status has one entry per lane in
// Lanes; a lane whose head is missing breaks it too.
//
// It returns a *ChainError (wrapping ErrChainBroken) when the chain, or a
// lane, is broken, ErrDenied when the actor may not verify chains (rbac
// ActionVerify on KindAudit), ErrInvalid for a malformed id, ErrNotFound
// when the tenant has no chain with that id (an unknown id, or another
// tenant's patient or lane).
func (r *Repository) VerifyChain(ctx context.Context, chainID string) (ChainStatus, error) {
	const op = "verify chain"
	id, err := parseID("ChainID", chainID)
	if err != nil {
		return ChainStatus{}, err
	}
	a, err := newAccess(ctx, op, rbac.ActionVerify, rbac.KindAudit, uuid.Nil)
	if err != nil {
		return ChainStatus{}, err
	}
	a.record = chainID
	if err := r.authorize(ctx, r.db, op, a); err != nil {
		return ChainStatus{}, err
	}
	st := ChainStatus{ChainID: chainID}
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if id != a.tenant {
			one, found, err := verifyChain(ctx, tx, op, id, a.tenant)
			if err != nil {
				return err
			}
			if !found {
				// No head and no events: no chain of this tenant has that
				// id (an unknown id, or another tenant's patient).
				return fmt.Errorf("ehr: %s %s: %w", op, chainID, ErrNotFound)
			}
			st = one
			st.ChainID = chainID
			return r.audit(ctx, tx, a, r.clock())
		}
		// The tenant's trail: every lane, each an ordinary chain.
		for _, lane := range tenantLanes(a.tenant) {
			one, found, err := verifyChain(ctx, tx, op, lane, a.tenant)
			if err != nil {
				return err
			}
			if !found {
				// CreateTenant and migration 0007 open every lane: a lane
				// without a head is not the tenant's, and its users'
				// tenant-wide requests fail.
				return &ChainError{ChainID: one.ChainID, Seq: 1, Problem: "the lane has no head of the tenant"}
			}
			st.Events += one.Events
			st.Lanes = append(st.Lanes, one)
		}
		return r.audit(ctx, tx, a, r.clock())
	})
	return st, err
}

// verifyChain verifies the chain id of tenant through tx (see
// VerifyChain); found is false when the tenant has neither a head nor an
// event with that id. The status names the chain in canonical form.
func verifyChain(ctx context.Context, tx pgx.Tx, op string, id, tenant uuid.UUID) (st ChainStatus, found bool, err error) {
	chainID := id.String()
	st.ChainID = chainID
	// Read the head first, then the events: events appended after the
	// head was read are ignored, those before it must all be there.
	var headSeq int64
	var headHash []byte
	headFound := true
	if err := tx.QueryRow(ctx, verifyHeadSQL, id, tenant).Scan(&headSeq, &headHash); errors.Is(err, pgx.ErrNoRows) {
		headFound = false
	} else if err != nil {
		return st, false, dbError(op, err)
	}
	rows, err := tx.Query(ctx, verifyEventsSQL, id, tenant)
	if err != nil {
		return st, false, dbError(op, err)
	}
	defer rows.Close()
	var prev []byte
	var seq int64
	for rows.Next() {
		e, err := scanAuditEvent(rows)
		if err != nil {
			return st, false, dbError(op, err)
		}
		if e.Seq > headSeq && headSeq > 0 {
			break
		}
		seq++
		switch {
		case e.Seq != seq:
			return st, true, &ChainError{ChainID: chainID, Seq: seq, Problem: fmt.Sprintf("sequence gap (found %d)", e.Seq)}
		case e.ChainID != chainID:
			return st, true, &ChainError{ChainID: chainID, Seq: seq, Problem: "event of another chain"}
		case !bytes.Equal(e.PrevHash, prev):
			return st, true, &ChainError{ChainID: chainID, Seq: seq, Problem: "previous hash does not match"}
		case !bytes.Equal(chainHash(prev, e.Seq, e.canonical()), e.Hash):
			return st, true, &ChainError{ChainID: chainID, Seq: seq, Problem: "hash mismatch: event altered"}
		}
		prev = e.Hash
	}
	if err := rows.Err(); err != nil {
		return st, false, dbError(op, err)
	}
	if !headFound && seq == 0 {
		return st, false, nil
	}
	if seq != headSeq || !bytes.Equal(prev, headHash) {
		return st, true, &ChainError{ChainID: chainID, Seq: seq + 1, Problem: fmt.Sprintf("chain ends at %d but its head is at %d", seq, headSeq)}
	}
	st.Events, st.Head = seq, prev
	return st, true, nil
}

// AccessEntry is one view of a patient's record, for the patient's list of
// who looked at it.
type AccessEntry struct {
	At     time.Time
	UserID string
	Roles  []string
	// Action is "read" for a view, AuditActionExport for a view by a
	// bulk export; for the portal activation
	// (KindPortalActivation) "create" when a code was issued and "update"
	// when it was redeemed.
	Action string
	// Kind is what was viewed ("chart", "demographics", "note", ...).
	Kind     string
	RecordID string
	// BreakGlass is set when the view was an emergency access.
	BreakGlass bool
}

const accessLogSQL = `SELECT occurred_at, user_id, roles, action, kind, record_id, break_glass FROM audit_events
WHERE patient_id = $1 AND tenant_id = $2 AND outcome = 'allowed'
  AND (action IN ('read', '` + AuditActionExport + `') AND kind NOT IN ('accesslog', 'audit') OR kind = '` + KindPortalActivation + `')
ORDER BY seq DESC LIMIT $3`

// AccessLog lists who viewed the record of patientID, newest first, at
// most limit entries (default and maximum 1000), and who issued and
// redeemed the codes that link portal accounts to it
// (KindPortalActivation). Viewing the list is itself audited but not
// listed.
//
// It returns ErrDenied unless the actor may read the access log (rbac
// ActionRead on KindAccessLog: the patient themselves, an auditor), and
// ErrInvalid for a malformed id.
func (r *Repository) AccessLog(ctx context.Context, patientID string, limit int) ([]AccessEntry, error) {
	const op = "access log"
	pid, err := parseID("PatientID", patientID)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	a, err := newAccess(ctx, op, rbac.ActionRead, rbac.KindAccessLog, pid)
	if err != nil {
		return nil, err
	}
	var out []AccessEntry
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		if err := r.requirePatient(ctx, tx, op, a); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, accessLogSQL, pid, a.tenant, limit)
		if err != nil {
			return dbError(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			var e AccessEntry
			var roles string
			if err := rows.Scan(&e.At, &e.UserID, &roles, &e.Action, &e.Kind, &e.RecordID, &e.BreakGlass); err != nil {
				return dbError(op, err)
			}
			e.At = e.At.UTC()
			e.Roles = strings.Split(roles, ",")
			out = append(out, e)
		}
		if err := rows.Err(); err != nil {
			return dbError(op, err)
		}
		return r.audit(ctx, tx, a, r.clock())
	})
	return out, err
}

// AuditQuery filters SearchAudit. Zero fields do not filter.
type AuditQuery struct {
	// ChainID restricts to one patient's chain or one lane of the
	// tenant's; the tenant id restricts to the tenant's tenant-wide
	// events, all its lanes (TenantChains).
	ChainID string
	UserID  string
	Action  string
	Kind    string
	Outcome string
	// BreakGlassOnly keeps only emergency accesses.
	BreakGlassOnly bool
	// From and To bound OccurredAt: From <= t < To.
	From, To time.Time
	// Limit is the page size (default 50, at most 500).
	Limit int
	// Cursor is AuditPage.Next of the previous page.
	Cursor string
}

// AuditPage is one page of SearchAudit, newest first.
type AuditPage struct {
	Events []AuditEvent
	// Next is the cursor of the next page, empty on the last page.
	Next string
}

type auditCursor struct {
	At    time.Time `json:"t"`
	Chain string    `json:"c"`
	Seq   int64     `json:"s"`
}

// SearchAudit lists the audit events of the actor's tenant that match q,
// newest first, with keyset pagination. The search is itself audited on
// the tenant's chain (the actor's lane).
//
// It returns ErrDenied unless the actor may search the audit trail (rbac
// ActionSearch on KindAudit: the auditor), ErrInvalid for a malformed
// filter or cursor.
func (r *Repository) SearchAudit(ctx context.Context, q AuditQuery) (AuditPage, error) {
	const op = "search audit"
	var v validator
	var chain uuid.UUID
	if q.ChainID != "" {
		var err error
		chain, err = uuid.Parse(q.ChainID)
		v.check(err == nil, "ChainID", CodeInvalid, "must be a UUID")
	}
	if q.Outcome != "" {
		v.check(q.Outcome == OutcomeAllowed || q.Outcome == OutcomeDenied || q.Outcome == OutcomeNotFound, "Outcome", CodeNotAllowed,
			"must be allowed, denied or not-found")
	}
	v.check(q.To.IsZero() || q.From.IsZero() || q.To.After(q.From), "To", CodeBeforeStart, "must be after From")
	v.check(q.Limit >= 0, "Limit", CodeOutOfRange, "must not be negative")
	var cur auditCursor
	if q.Cursor != "" {
		v.check(decodeCursor(q.Cursor, &cur) == nil, "Cursor", CodeInvalid, "is not a cursor of this search")
	}
	if err := v.err(); err != nil {
		return AuditPage{}, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = 50
	}
	limit = min(limit, 500)
	a, err := newAccess(ctx, op, rbac.ActionSearch, rbac.KindAudit, uuid.Nil)
	if err != nil {
		return AuditPage{}, err
	}
	b := psql.Select(auditColumns).From("audit_events").Where(sq.Eq{"tenant_id": a.tenant})
	switch chain {
	case a.tenant:
		// The tenant's lanes: on Citus, the shards of AuditLanes chains.
		b = b.Prefix("/* fanout: audit search */").Where("patient_id = ANY(?)", tenantLanes(a.tenant))
	case uuid.Nil:
		// Across the tenant's chains: every shard.
		b = b.Prefix("/* fanout: audit search */")
	default:
		b = b.Where(sq.Eq{"patient_id": chain})
	}
	for col, val := range map[string]string{"user_id": q.UserID, "action": q.Action, "kind": q.Kind, "outcome": q.Outcome} {
		if val != "" {
			b = b.Where(sq.Eq{col: val})
		}
	}
	if q.BreakGlassOnly {
		b = b.Where("break_glass")
	}
	if !q.From.IsZero() {
		b = b.Where(sq.GtOrEq{"occurred_at": q.From})
	}
	if !q.To.IsZero() {
		b = b.Where(sq.Lt{"occurred_at": q.To})
	}
	if q.Cursor != "" {
		b = b.Where("(occurred_at, patient_id, seq) < (?, ?, ?)", cur.At, cur.Chain, cur.Seq)
	}
	sqlText, args, err := b.OrderBy("occurred_at DESC", "patient_id DESC", "seq DESC").Limit(uint64(limit + 1)).ToSql()
	if err != nil {
		return AuditPage{}, fmt.Errorf("ehr: %s: build query: %w", op, err)
	}
	var page AuditPage
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sqlText, args...)
		if err != nil {
			return dbError(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanAuditEvent(rows)
			if err != nil {
				return dbError(op, err)
			}
			page.Events = append(page.Events, e)
		}
		if err := rows.Err(); err != nil {
			return dbError(op, err)
		}
		if len(page.Events) > limit {
			page.Events = page.Events[:limit]
			last := page.Events[limit-1]
			page.Next = encodeCursor(auditCursor{At: last.OccurredAt, Chain: last.ChainID, Seq: last.Seq})
		}
		return r.audit(ctx, tx, a, r.clock())
	})
	return page, err
}
