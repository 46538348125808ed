package ehr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/historiaehr/historia/rbac"
)

// DB is what the Repository needs from the database: a *pgxpool.Pool, a
// *pgx.Conn or a pgx.Tx all satisfy it. With a pool or a connection every
// method runs in its own transaction, and the audit record of a denied
// request is committed on its own; with a pgx.Tx the methods run in
// savepoints of the caller's transaction, and a denial is recorded only if
// the caller commits. To run several methods in one transaction and keep
// the denials whatever its outcome, use Repository.InTx.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// psql builds queries with PostgreSQL placeholders ($1, $2, ...).
var psql = sq.StatementBuilder.PlaceholderFormat(sq.Dollar)

// Repository reads and writes patient records. Every method authorizes the
// Actor of its context with the rbac engine, validates its input before
// any SQL, and records an audit event in the same transaction as the read
// or write. It is safe for concurrent use.
type Repository struct {
	db      DB
	authz   *rbac.Engine
	now     func() time.Time
	noAudit bool // benchmarks only: skip the audit of reads and of RegisterPatient
	// noNameWords: tests and benchmarks only: SearchPatients never reads
	// the word table (namewords.go), to compare it with the other path.
	noNameWords bool
	// deferred, set in the Repository InTx gives fn, collects the audit
	// events of refused and not-found attempts, written on the DB InTx
	// was called on once the transaction has ended (see InTx).
	deferred *auditQueue
}

// Option configures a Repository.
type Option func(*Repository)

// WithAuthorizer sets the rbac engine that decides every request (default
// rbac.Default(), the embedded default policy).
func WithAuthorizer(e *rbac.Engine) Option {
	return func(r *Repository) {
		if e != nil {
			r.authz = e
		}
	}
}

// WithClock sets the clock used for timestamps, care-team periods and
// break-glass expiry (default time.Now). The rbac engine has its own
// clock (rbac.WithClock); give both the same one in tests.
func WithClock(now func() time.Time) Option {
	return func(r *Repository) {
		if now != nil {
			r.now = now
		}
	}
}

// NewRepository returns a Repository over db. Run Migrate first, on a
// connection of its own.
func NewRepository(db DB, opts ...Option) *Repository {
	r := &Repository{db: db, now: time.Now}
	for _, o := range opts {
		if o != nil {
			o(r)
		}
	}
	if r.authz == nil {
		r.authz = rbac.Default()
	}
	return r
}

// Authorizer returns the rbac engine the Repository decides with.
func (r *Repository) Authorizer() *rbac.Engine { return r.authz }

// clock returns the current time truncated to PostgreSQL's microsecond
// resolution, in UTC, so that what is stored reads back equal.
func (r *Repository) clock() time.Time { return r.now().UTC().Truncate(time.Microsecond) }

// newID returns a new UUIDv7.
func newID() uuid.UUID {
	id, err := uuid.NewV7()
	if err != nil {
		// Only a failing crypto/rand gets here.
		panic("ehr: uuid: " + err.Error())
	}
	return id
}

// parseID parses a record id; a malformed one is a validation error on
// field.
func parseID(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.UUID{}, invalid(field, CodeInvalid, "must be a UUID")
	}
	return id, nil
}

// inTx runs fn in a transaction, committing when it returns nil.
func (r *Repository) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	tx, err := r.db.Begin(ctx)
	if err != nil {
		return dbError(op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return dbError(op, err)
	}
	return nil
}

// newBatch returns a batch with room for n queries and the two that
// sendBatch adds.
func newBatch(n int) *pgx.Batch {
	return &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, n+2)}
}

// sendBatch sends b through q and reads its results with read, as one
// transaction in one round trip.
//
// A pipelined batch on a connection or a pool is one implicit transaction
// on plain PostgreSQL, but not through a Citus coordinator: there each
// single-shard statement of the pipeline commits on its own, so a read
// and its audit event, or a chain head and its event, could part. Unless
// q is already a transaction (a pgx.Tx, whose caller commits), the batch
// is therefore wrapped in BEGIN ... COMMIT, still in the same round trip.
// When a statement fails the server skips the rest, COMMIT included, and
// the transaction is rolled back: a pool discards a connection released
// inside a failed transaction, and a *pgx.Conn is rolled back here. A
// context cancelled before COMMIT closes the connection, which rolls the
// transaction back too.
func sendBatch(ctx context.Context, q DB, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	_, inTx := q.(pgx.Tx)
	if !inTx {
		tx := new([2]pgx.QueuedQuery) // begin and commit, in one allocation
		tx[0].SQL, tx[1].SQL = "begin", "commit"
		// In place when the batch has room (newBatch).
		b.QueuedQueries = append(slices.Insert(b.QueuedQueries, 0, &tx[0]), &tx[1])
	}
	br := q.SendBatch(ctx, b)
	err := func() error {
		if !inTx {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		if err := read(br); err != nil {
			return err
		}
		if !inTx {
			_, err := br.Exec()
			return err
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil && !inTx {
		if c, ok := q.(*pgx.Conn); ok && c.PgConn().TxStatus() != 'I' {
			_, _ = c.Exec(context.WithoutCancel(ctx), "rollback")
		}
	}
	return err
}

// access is one authorized request: who, what, on which patient, and the
// decision, ready to be audited.
type access struct {
	actor    Actor
	action   rbac.Action
	kind     rbac.Kind
	kindName string // audit kind when it is not kind.String() ("chart")
	// actionName is the audit action when it is not action.String() (an
	// activation code is issued under the policy's "update demographics"
	// and recorded as "create portal-activation").
	actionName string
	// outcome overrides the audit outcome (OutcomeNotFound).
	outcome string
	tenant  uuid.UUID
	patient uuid.UUID // uuid.Nil for tenant-level requests
	// tenantID and patientID are tenant and patient as text ("" for
	// uuid.Nil), made once per access.
	tenantID, patientID string
	record              string
	// newPatient marks the registration of patient: it is not in the
	// tenant yet, and a denial is no "not found".
	newPatient bool
	decision   rbac.Decision
	grant      *rbac.Grant
}

// chain returns the audit chain the access belongs to: the patient's, or
// for a request about no single patient the tenant's lane of the actor
// (see AuditLanes); chainID returns it as text.
func (a *access) chain() uuid.UUID {
	if a.patient != uuid.Nil {
		return a.patient
	}
	return laneChain(a.tenant, laneOf(a.actor.Principal.UserID))
}

func (a *access) chainID() string {
	if a.patient != uuid.Nil {
		return a.patientID
	}
	if lane := laneOf(a.actor.Principal.UserID); lane != 0 {
		return laneChain(a.tenant, lane).String()
	}
	return a.tenantID
}

// setPatient sets the patient of the access (uuid.Nil for none).
func (a *access) setPatient(id uuid.UUID) {
	a.patient, a.patientID = id, ""
	if id != uuid.Nil {
		a.patientID = id.String()
	}
}

func (a *access) target(onCareTeam bool, g *rbac.Grant) rbac.Target {
	return rbac.Target{TenantID: a.actor.Principal.TenantID, PatientID: a.patientID, OnCareTeam: onCareTeam, Grant: g}
}

// ownRecord reports whether the actor is the patient the access is
// about: the principal's PatientID names a.patient. Such a read shows
// what a patient sees of their own record (only signed notes; see Chart
// and History), whatever roles the principal holds: a physician who is
// also a patient of the hospital reads their own record as its patient,
// and their patients' records as staff.
func (a *access) ownRecord() bool {
	if a.patient == uuid.Nil || a.actor.Principal.PatientID == "" {
		return false
	}
	id, err := uuid.Parse(a.actor.Principal.PatientID)
	return err == nil && id == a.patient
}

// newAccess starts an access for the context's actor. The target tenant is
// the actor's: every query filters on it, so a record of another tenant is
// simply not found.
func newAccess(ctx context.Context, op string, action rbac.Action, kind rbac.Kind, patient uuid.UUID) (*access, error) {
	actor, err := actorFrom(ctx, op)
	if err != nil {
		return nil, err
	}
	tenant, err := uuid.Parse(actor.Principal.TenantID)
	if err != nil {
		return nil, &deniedNoTenant{op: op}
	}
	a := &access{actor: actor, action: action, kind: kind, tenant: tenant, tenantID: canonicalID(actor.Principal.TenantID, tenant)}
	a.setPatient(patient)
	return a, nil
}

// canonicalID returns id as text (lower-case hex with hyphens), reusing s
// when it is that text already: a principal's tenant id usually is, and
// then naming it costs no allocation.
func canonicalID(s string, id uuid.UUID) string {
	const hex = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hex[c>>4], hex[c&0xf]
		j += 2
	}
	if string(b[:]) == s {
		return s
	}
	return string(b[:])
}

type deniedNoTenant struct{ op string }

func (e *deniedNoTenant) Error() string {
	return "ehr: " + e.op + ": principal's tenant is not a UUID: rbac: denied"
}
func (e *deniedNoTenant) Unwrap() error { return ErrDenied }

// facts are what ehr knows about the actor's relation to a patient.
type facts struct {
	onCareTeam bool
	grant      *rbac.Grant
}

const factsSQL = `
SELECT
  EXISTS (SELECT 1 FROM care_team_members c
          WHERE c.patient_id = $1 AND c.tenant_id = $2 AND c.user_id = $3 AND c.status = 'active'
            AND c.starts_at <= $5 AND (c.ends_at IS NULL OR c.ends_at > $5)),
  g.reason, g.not_after
FROM (SELECT 1) one
LEFT JOIN LATERAL (
  SELECT b.reason, b.not_after FROM break_glass_grants b
  WHERE b.patient_id = $1 AND b.tenant_id = $2 AND b.user_id = $4 AND b.not_after > $5
  ORDER BY b.not_after DESC LIMIT 1) g ON true`

// loadFacts reads the care-team fact and the active break-glass grant of
// the actor for the access's patient.
func (r *Repository) loadFacts(ctx context.Context, q DB, a *access) (facts, error) {
	if a.patient == uuid.Nil {
		return facts{}, nil
	}
	return a.scanFacts(q.QueryRow(ctx, factsSQL, r.factsArgs(a)...))
}

// factsArgs returns the arguments of factsSQL for a. The ids are passed
// as pgtype.UUID (see pgUUID).
func (r *Repository) factsArgs(a *access) []any {
	return []any{pgUUID(a.patient), pgUUID(a.tenant), pgUUID(a.userUUID()), a.actor.Principal.UserID, r.clock()}
}

// userUUID returns the actor's user id as a UUID; a user id that is no
// UUID gives uuid.Nil, which is on no care team.
func (a *access) userUUID() uuid.UUID {
	user, err := uuid.Parse(a.actor.Principal.UserID)
	if err != nil {
		return uuid.Nil
	}
	return user
}

// factsRow receives the three columns of factsSQL (care-team fact,
// break-glass reason and expiry), on their own or after the columns of a
// read that carries them (getPatientFactsSQL). pgtype's nullable types
// scan in place (a **string would allocate again).
type factsRow struct {
	onCareTeam bool
	reason     pgtype.Text
	notAfter   pgtype.Timestamptz
}

// facts returns the facts v holds about a's patient.
func (v *factsRow) facts(a *access) facts {
	f := facts{onCareTeam: v.onCareTeam}
	if v.reason.Valid && v.notAfter.Valid {
		f.grant = &rbac.Grant{UserID: a.actor.Principal.UserID, TenantID: a.actor.Principal.TenantID,
			PatientID: a.patientID, Reason: v.reason.String, NotAfter: v.notAfter.Time}
	}
	return f
}

// scanFacts reads the result of factsSQL for a.
func (a *access) scanFacts(row pgx.Row) (facts, error) {
	v := new(factsRow) // one allocation for the scan targets
	if err := row.Scan(&v.onCareTeam, &v.reason, &v.notAfter); err != nil {
		return facts{}, dbError("load access facts", err)
	}
	return v.facts(a), nil
}

// decide decides a without facts first; when that is denied and the
// request is about a patient, it loads the facts through q and decides
// again. It reports whether it loaded facts (a round trip).
func (r *Repository) decide(ctx context.Context, q DB, a *access) error {
	p := a.actor.Principal
	a.decision = r.authz.Decide(p, a.action, a.kind, a.target(false, nil))
	if a.decision.Allowed || a.patient == uuid.Nil {
		return nil
	}
	f, err := r.loadFacts(ctx, q, a)
	if err != nil {
		return err
	}
	a.decision = r.authz.Decide(p, a.action, a.kind, a.target(f.onCareTeam, f.grant))
	if a.decision.Condition == rbac.ConditionBreakGlass {
		a.grant = f.grant
	}
	return nil
}

// authorize decides a (see decide) and, when it is denied, records the
// denial in its own transaction and returns an error wrapping ErrDenied.
// op names the operation for the error message.
func (r *Repository) authorize(ctx context.Context, q DB, op string, a *access) error {
	if err := r.decide(ctx, q, a); err != nil {
		return err
	}
	if a.decision.Allowed {
		return nil
	}
	return r.deny(ctx, op, a)
}

// patientInTenantSQL tells whether $1 is a patient of tenant $2.
const patientInTenantSQL = `SELECT EXISTS (SELECT 1 FROM patients WHERE patient_id = $1 AND tenant_id = $2)`

// deny records a denied access on the repository's DB (its own
// transaction, as the caller's is rolled back) and returns the error.
// Inside InTx the event is recorded once the transaction has ended
// (deferAudit).
//
// A denial about a patient who is not in the actor's tenant (another
// tenant's, or no one's) is recorded on the tenant's own chain (the
// actor's lane), with the patient id asked for as the record ("patient"
// or "patient/record"): it must neither touch another tenant's chain nor
// open a chain for an id that is no patient. The error returned then
// wraps ErrNotFound and not ErrDenied, as a permitted request about that
// id would: whether an id outside the tenant exists elsewhere, and what
// the actor may do, are not told apart (see the package documentation,
// "Errors"). A patient being registered (a.newPatient) is not in the
// tenant yet: its denial is ErrDenied.
//
// Telling the two cases apart costs no extra round trip: the patient is
// looked up anyway to choose the chain.
func (r *Repository) deny(ctx context.Context, op string, a *access) error {
	denied := &rbac.DeniedError{Decision: a.decision}
	ctx = context.WithoutCancel(ctx)
	var out error = fmt.Errorf("ehr: %s: %w", op, denied)
	db := r.liveDB()
	inTenant := true
	if a.patient != uuid.Nil {
		// Inside InTx this reads in the transaction, which sees what it
		// wrote (a patient it registered): the answer is the one a
		// permitted request would get there.
		if err := db.QueryRow(ctx, patientInTenantSQL, a.patient, a.tenant).Scan(&inTenant); err != nil {
			// Inside InTx the event is still recorded: its chain is
			// chosen when it is written. Outside, as before, not.
			r.deferAudit(a, true)
			return errors.Join(out, dbError("check patient", err))
		}
		if !inTenant && !a.newPatient {
			out = &notInTenantError{op: op, patient: a.patient}
		}
	}
	if r.deferAudit(a, true) {
		return out
	}
	if err := r.auditDenial(ctx, db, a, inTenant, r.clock()); err != nil {
		return errors.Join(out, err)
	}
	return out
}

// auditDenial appends the event of the denied access a through q, at
// now: on a's chain when a names no patient or a patient of the tenant
// (inTenant), else on the tenant's own chain (the actor's lane) with the
// patient id asked for as the record ("patient" or "patient/record").
func (r *Repository) auditDenial(ctx context.Context, q DB, a *access, inTenant bool, now time.Time) error {
	b := *a
	if b.patient != uuid.Nil && !inTenant {
		rec := b.patientID
		if b.record != "" {
			rec += "/" + b.record
		}
		b.record = rec
		b.setPatient(uuid.Nil)
	}
	return r.audit(ctx, q, &b, now)
}

// notInTenantError is the answer to a refused request about a patient id
// that is no patient of the actor's tenant. It wraps ErrNotFound only.
type notInTenantError struct {
	op      string
	patient uuid.UUID
}

func (e *notInTenantError) Error() string {
	return "ehr: " + e.op + " " + e.patient.String() + ": " + ErrNotFound.Error()
}

// Unwrap returns ErrNotFound.
func (e *notInTenantError) Unwrap() error { return ErrNotFound }

// notFound records, when err says that the patient or record a named is
// not in the tenant (ErrNotFound) although the policy allowed the
// request, an event with OutcomeNotFound on the tenant's own chain (the
// actor's lane), with the ids asked for as the record ("patient" or
// "patient/record"), in its own transaction (the request's was rolled
// back; inside InTx, once the transaction has ended: deferAudit).
// Scanning ids thus leaves a trail; a found request costs nothing more.
// It returns err, joined with the audit failure if any.
func (r *Repository) notFound(ctx context.Context, a *access, err error) error {
	if a == nil || !errors.Is(err, ErrNotFound) || !a.decision.Allowed || r.noAudit {
		return err
	}
	rec := a.record
	if a.patient != uuid.Nil {
		if rec == "" || rec == a.patientID {
			rec = a.patientID
		} else {
			rec = a.patientID + "/" + rec
		}
	}
	b := *a
	b.record = rec
	b.setPatient(uuid.Nil)
	b.outcome = OutcomeNotFound
	if r.deferAudit(&b, false) {
		return err
	}
	if aerr := r.audit(context.WithoutCancel(ctx), r.liveDB(), &b, r.clock()); aerr != nil {
		return errors.Join(err, aerr)
	}
	return err
}
