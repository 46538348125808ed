package ehr

import (
	"context"
	"errors"
	"fmt"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/historiaehr/historia/rbac"
)

// DB is what the Repository needs from the database: a *pgxpool.Pool, a
// *pgx.Conn or a pgx.Tx all satisfy it. With a pool or a connection every
// method runs in its own transaction, and the audit record of a denied
// request is committed on its own; with a pgx.Tx the methods run in
// savepoints of the caller's transaction, and a denial is recorded only if
// the caller commits.
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
	noAudit bool // benchmarks only: skip audit on reads
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
		return uuid.UUID{}, &ValidationError{Fields: []FieldError{{field, "must be a UUID"}}}
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
		b.QueuedQueries = append([]*pgx.QueuedQuery{{SQL: "begin"}}, b.QueuedQueries...)
		b.Queue("commit")
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
	tenant   uuid.UUID
	patient  uuid.UUID // uuid.Nil for tenant-level requests
	record   string
	decision rbac.Decision
	grant    *rbac.Grant
}

// chain returns the audit chain the access belongs to: the patient's, or
// the tenant's.
func (a *access) chain() uuid.UUID {
	if a.patient != uuid.Nil {
		return a.patient
	}
	return a.tenant
}

func (a *access) target(onCareTeam bool, g *rbac.Grant) rbac.Target {
	t := rbac.Target{TenantID: a.actor.Principal.TenantID, OnCareTeam: onCareTeam, Grant: g}
	if a.patient != uuid.Nil {
		t.PatientID = a.patient.String()
	}
	return t
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
	return &access{actor: actor, action: action, kind: kind, tenant: tenant, patient: patient}, nil
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

// factsArgs returns the arguments of factsSQL for a.
func (r *Repository) factsArgs(a *access) []any {
	user, err := uuid.Parse(a.actor.Principal.UserID)
	if err != nil {
		user = uuid.Nil // a non-UUID user is on no care team
	}
	return []any{a.patient, a.tenant, user, a.actor.Principal.UserID, r.clock()}
}

// scanFacts reads the result of factsSQL for a.
func (a *access) scanFacts(row pgx.Row) (facts, error) {
	var f facts
	var reason *string
	var notAfter *time.Time
	if err := row.Scan(&f.onCareTeam, &reason, &notAfter); err != nil {
		return f, dbError("load access facts", err)
	}
	if reason != nil && notAfter != nil {
		f.grant = &rbac.Grant{UserID: a.actor.Principal.UserID, TenantID: a.actor.Principal.TenantID,
			PatientID: a.patient.String(), Reason: *reason, NotAfter: *notAfter}
	}
	return f, nil
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
//
// A denial about a patient who is not in the actor's tenant (another
// tenant's, or no one's) is recorded on the tenant's own chain, with the
// patient id asked for as the record ("patient" or "patient/record"): it
// must neither touch another
// tenant's chain nor open a chain for an id that is no patient.
func (r *Repository) deny(ctx context.Context, op string, a *access) error {
	denied := &rbac.DeniedError{Decision: a.decision}
	ctx = context.WithoutCancel(ctx)
	if a.patient != uuid.Nil {
		var inTenant bool
		if err := r.db.QueryRow(ctx, patientInTenantSQL, a.patient, a.tenant).Scan(&inTenant); err != nil {
			return errors.Join(fmt.Errorf("ehr: %s: %w", op, denied), dbError("check patient", err))
		}
		if !inTenant {
			rec := a.patient.String()
			if a.record != "" {
				rec += "/" + a.record
			}
			a.record, a.patient = rec, uuid.Nil
		}
	}
	if err := r.audit(ctx, r.db, a, r.clock()); err != nil {
		return errors.Join(fmt.Errorf("ehr: %s: %w", op, denied), err)
	}
	return fmt.Errorf("ehr: %s: %w", op, denied)
}
