package ehr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/rbac"
)

// BreakGlassGrant is a stored break-the-glass grant: emergency access by
// one user to one patient's record, with a reason, until NotAfter.
type BreakGlassGrant struct {
	ID        string
	TenantID  string
	PatientID string
	UserID    string
	Reason    string
	GrantedAt time.Time
	NotAfter  time.Time
	RequestID string
	IP        string
	// Uses is the number of audited accesses made under the grant (filled
	// by ListBreakGlass).
	Uses int
}

// BreakGlass grants the actor emergency access to patient patientID's
// record for duration d, with a reason. The grant is stored and audited
// (flagged break-glass, with the reason); while it lasts, ehr passes it to
// the rbac engine as Target.Grant, so the policy's break-glass rules allow
// the actor in, and every such access is flagged in the audit trail.
//
// It returns a *ValidationError (ErrInvalid: a reason shorter than the
// engine's MinReasonLength, a duration not in (0, MaxGrantDuration]),
// ErrNotFound for an unknown patient, ErrDenied unless the actor may break
// the glass (rbac ActionBreakGlass on KindBreakGlass).
func (r *Repository) BreakGlass(ctx context.Context, patientID, reason string, d time.Duration) (BreakGlassGrant, error) {
	const op = "break glass"
	var v validator
	pid, err := uuid.Parse(patientID)
	v.check(err == nil, "PatientID", CodeInvalid, "must be a UUID")
	reason = trim(reason)
	v.reason("Reason", reason, r.authz.MinReasonLength(), 1000)
	v.check(d > 0 && d <= r.authz.MaxGrantDuration(), "Duration", CodeOutOfRange, fmt.Sprintf("must be positive and at most %v", r.authz.MaxGrantDuration()))
	if err := v.err(); err != nil {
		return BreakGlassGrant{}, err
	}
	a, err := newAccess(ctx, op, rbac.ActionBreakGlass, rbac.KindBreakGlass, pid)
	if err != nil {
		return BreakGlassGrant{}, err
	}
	id := newID()
	a.record = id.String()
	var g BreakGlassGrant
	err = r.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.authorize(ctx, tx, op, a); err != nil {
			return err
		}
		if err := r.requirePatient(ctx, tx, op, a); err != nil {
			return err
		}
		grant, err := r.authz.IssueGrant(a.actor.Principal, a.target(false, nil), reason, d)
		if err != nil {
			if errors.Is(err, rbac.ErrInvalidGrant) {
				return invalid("Reason", CodeNotAllowed, "rejected by the policy engine")
			}
			return fmt.Errorf("ehr: %s: %w", op, err)
		}
		now := r.clock()
		g = BreakGlassGrant{ID: id.String(), TenantID: a.tenantID, PatientID: patientID, UserID: grant.UserID,
			Reason: grant.Reason, GrantedAt: now, NotAfter: grant.NotAfter.UTC().Truncate(time.Microsecond),
			RequestID: a.actor.RequestID, IP: a.actor.IP}
		if !g.NotAfter.After(now) {
			g.NotAfter = now.Add(d)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO break_glass_grants (patient_id, id, tenant_id, user_id, reason, granted_at,
  not_after, request_id, ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			pid, id, a.tenant, g.UserID, g.Reason, g.GrantedAt, g.NotAfter, g.RequestID, g.IP); err != nil {
			return dbError(op, err)
		}
		a.grant = &grant
		a.decision.Condition = rbac.ConditionBreakGlass // flag the request itself
		return r.audit(ctx, tx, a, now)
	})
	if err != nil {
		return BreakGlassGrant{}, err
	}
	return g, nil
}

// BreakGlassQuery filters ListBreakGlass. Zero fields do not filter.
type BreakGlassQuery struct {
	PatientID string
	UserID    string
	// From and To bound GrantedAt: From <= t < To.
	From, To time.Time
	// ActiveOnly keeps grants that have not expired.
	ActiveOnly bool
	// Limit is the maximum number of grants (default 100, at most 1000).
	Limit int
}

// ListBreakGlass lists the break-the-glass grants of the actor's tenant,
// newest first, with the number of accesses made under each, for the
// auditor's review. The listing is audited on the tenant's chain.
//
// It returns a *ValidationError (ErrInvalid), ErrDenied unless the actor
// may review grants (rbac ActionSearch on KindBreakGlass).
func (r *Repository) ListBreakGlass(ctx context.Context, q BreakGlassQuery) ([]BreakGlassGrant, error) {
	const op = "list break glass"
	var v validator
	pid := optionalID(&v, "PatientID", q.PatientID)
	v.check(q.To.IsZero() || q.From.IsZero() || q.To.After(q.From), "To", CodeBeforeStart, "must be after From")
	v.check(q.Limit >= 0, "Limit", CodeOutOfRange, "must not be negative")
	if err := v.err(); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	a, err := newAccess(ctx, op, rbac.ActionSearch, rbac.KindBreakGlass, uuid.Nil)
	if err != nil {
		return nil, err
	}
	// The number of accesses under each grant is counted in the grant's
	// patient's chain (colocated with the grant). With a patient, both
	// tables are filtered on it (one shard); without, the review goes to
	// every shard.
	uses := `(SELECT count(*) FROM audit_events e WHERE e.patient_id = g.patient_id AND e.tenant_id = g.tenant_id
     AND e.user_id = g.user_id AND e.break_glass AND e.occurred_at >= g.granted_at AND e.occurred_at <= g.not_after) - 1`
	var b sq.SelectBuilder
	if pid != nil {
		uses = strings.Replace(uses, "e.patient_id = g.patient_id", "e.patient_id = ?", 1)
		b = psql.Select().Column(`g.id, g.tenant_id, g.patient_id, g.user_id, g.reason, g.granted_at, g.not_after, g.request_id, g.ip, `+uses, *pid).
			From("break_glass_grants g").Where(sq.Eq{"g.tenant_id": a.tenant}).Where(sq.Eq{"g.patient_id": *pid})
	} else {
		b = psql.Select(`g.id, g.tenant_id, g.patient_id, g.user_id, g.reason, g.granted_at, g.not_after, g.request_id, g.ip, ` + uses).
			Prefix("/* fanout: break-glass review */").From("break_glass_grants g").Where(sq.Eq{"g.tenant_id": a.tenant})
	}
	if q.UserID != "" {
		b = b.Where(sq.Eq{"g.user_id": q.UserID})
	}
	if !q.From.IsZero() {
		b = b.Where(sq.GtOrEq{"g.granted_at": q.From})
	}
	if !q.To.IsZero() {
		b = b.Where(sq.Lt{"g.granted_at": q.To})
	}
	if q.ActiveOnly {
		b = b.Where(sq.Gt{"g.not_after": r.clock()})
	}
	sqlText, args, err := b.OrderBy("g.granted_at DESC", "g.id DESC").Limit(uint64(limit)).ToSql()
	if err != nil {
		return nil, fmt.Errorf("ehr: %s: build query: %w", op, err)
	}
	var out []BreakGlassGrant
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
			var g BreakGlassGrant
			var id, tenant, patient uuid.UUID
			if err := rows.Scan(&id, &tenant, &patient, &g.UserID, &g.Reason, &g.GrantedAt, &g.NotAfter, &g.RequestID, &g.IP, &g.Uses); err != nil {
				return dbError(op, err)
			}
			g.ID, g.TenantID, g.PatientID = id.String(), tenant.String(), patient.String()
			g.GrantedAt, g.NotAfter = g.GrantedAt.UTC(), g.NotAfter.UTC()
			g.Uses = max(g.Uses, 0)
			out = append(out, g)
		}
		if err := rows.Err(); err != nil {
			return dbError(op, err)
		}
		return r.audit(ctx, tx, a, r.clock())
	})
	return out, err
}
