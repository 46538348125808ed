package ehr

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"
)

// InTx runs fn with a Repository bound to one database transaction, and
// commits it when fn returns nil; when fn returns an error or panics, or
// the commit fails, it rolls the transaction back: every write fn made
// through tx, with its audit events, is kept or none is (a FHIR
// transaction Bundle). The methods of tx run in the transaction (each
// that writes, in a savepoint of it) and authorize, validate and audit as
// on r; the transaction's reads see its own writes (a patient registered
// by an earlier step can be charted by a later one). A nested tx.InTx is
// a savepoint.
//
// The audit events of attempts refused (ErrDenied, or ErrNotFound for a
// patient outside the tenant) or not found, which r records in a
// transaction of their own, are recorded by tx after the transaction has
// ended, committed or rolled back, on r's DB, each as r records it: a
// rolled-back transaction does not take the trail of its refusals with
// it. A refused attempt about a patient the transaction registered and
// then rolled back is recorded on the tenant's chain, as one about an id
// that is no patient. The events of allowed reads and writes are part of
// the transaction: when it rolls back they are gone, as the writes are,
// so a caller must not release what fn read unless InTx returns nil.
//
// It returns fn's error, or the commit's (mapped like every error of
// ehr: a serialization failure is ErrConflict), joined with the failure
// to record a deferred event, if any. A context cancelled while fn runs
// fails its statements and rolls the transaction back. fn should return
// the first error a step returns: a refusal or a validation error leaves
// the transaction usable, but after a database error it may be aborted,
// and the commit then fails.
//
// tx is for fn's goroutine and fn's duration: like a pgx.Tx it is not
// safe for concurrent use, and it must not be used after fn returns.
func (r *Repository) InTx(ctx context.Context, fn func(tx *Repository) error) (err error) {
	const op = "transaction"
	dbtx, err := r.db.Begin(ctx)
	if err != nil {
		return dbError(op, err)
	}
	q := r.deferred
	own := q == nil // a nested InTx leaves the events to the outermost
	if own {
		q = &auditQueue{db: r.db}
	}
	tx := *r
	tx.db, tx.deferred = dbtx, q
	defer func() {
		// After Commit, Rollback does nothing (pgx.ErrTxClosed). On a
		// panic the deferred events are written and the panic goes on.
		_ = dbtx.Rollback(context.WithoutCancel(ctx))
		if !own {
			return
		}
		if ferr := r.flushAudit(ctx, q); ferr != nil {
			err = errors.Join(err, ferr)
		}
	}()
	if err := fn(&tx); err != nil {
		return err
	}
	if err := dbtx.Commit(ctx); err != nil {
		return dbError(op, err)
	}
	return nil
}

// auditQueue holds the audit events that a Repository inside InTx
// defers: those that deny and notFound record on their own.
type auditQueue struct {
	// db is the DB of the Repository InTx was called on, where the
	// events are written.
	db     DB
	mu     sync.Mutex
	events []deferredEvent
	closed bool // flushed: the transaction has ended
}

// deferredEvent is one deferred audit event: the access and when it
// happened.
type deferredEvent struct {
	a  access
	at time.Time
	// denial: a refused access, whose chain is chosen when it is written
	// (auditDenial); otherwise a not-found event, already on the tenant's
	// chain.
	denial bool
}

// deferAudit queues the audit event of a (a denial, or a not-found event)
// when r is inside InTx, stamped with the current time, and reports
// whether it did; otherwise the caller records it now.
func (r *Repository) deferAudit(a *access, denial bool) bool {
	q := r.deferred
	if q == nil {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.events = append(q.events, deferredEvent{a: *a, at: r.clock(), denial: denial})
	return true
}

// liveDB returns where r records an event now: its DB, or, for a
// Repository of an InTx that has ended (a misuse), the DB InTx was called
// on.
func (r *Repository) liveDB() DB {
	if q := r.deferred; q != nil {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.closed {
			return q.db
		}
	}
	return r.db
}

// flushAudit writes the events deferred in q on q.db, in order, each in
// its own transaction as deny and notFound write them, and closes q.
func (r *Repository) flushAudit(ctx context.Context, q *auditQueue) error {
	q.mu.Lock()
	events := q.events
	q.events, q.closed = nil, true
	q.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for i := range events {
		e := &events[i]
		if !e.denial {
			errs = append(errs, r.audit(ctx, q.db, &e.a, e.at))
			continue
		}
		// The transaction is over: whether the patient is in the tenant
		// is what was committed.
		inTenant := true
		if e.a.patient != uuid.Nil {
			if err := q.db.QueryRow(ctx, patientInTenantSQL, e.a.patient, e.a.tenant).Scan(&inTenant); err != nil {
				errs = append(errs, dbError("check patient", err))
				continue
			}
		}
		errs = append(errs, r.auditDenial(ctx, q.db, &e.a, inTenant, e.at))
	}
	return errors.Join(errs...)
}
