package ehr

import (
	"context"
	"fmt"

	"github.com/historiaehr/historia/rbac"
)

// Actor is who calls the Repository: the authenticated principal plus the
// request metadata recorded in the audit trail.
type Actor struct {
	// Principal is the user, tenant, roles and (for a patient) patient id.
	Principal rbac.Principal
	// RequestID identifies the request (for correlating logs and audit).
	RequestID string
	// IP is the client address, when known.
	IP string
	// Export marks the actor's reads as a bulk export: their audit events
	// carry the action AuditActionExport instead of "read" (AccessLog
	// lists them, as the views they are). Set by the FHIR $export job and
	// `historia export`; authorization is unchanged.
	Export bool
}

// AuditActionExport is the audit action of a read made by a bulk export
// (Actor.Export): a chart read for a FHIR $export or `historia export`.
const AuditActionExport = "export"

type actorKey struct{}

// NewContext returns a copy of ctx that carries a. Every Repository method
// that touches tenant or patient data takes its Actor from the context.
func NewContext(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFromContext returns the Actor stored in ctx by NewContext.
func ActorFromContext(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// actorFrom returns the context's actor, or an error wrapping ErrDenied
// when there is none (an anonymous call is denied, and not audited: there
// is no one to record).
func actorFrom(ctx context.Context, op string) (Actor, error) {
	a, ok := ActorFromContext(ctx)
	if !ok || a.Principal.UserID == "" || a.Principal.TenantID == "" {
		return Actor{}, fmt.Errorf("ehr: %s: no actor in context: %w", op, ErrDenied)
	}
	return a, nil
}
