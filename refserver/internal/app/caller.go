package app

import (
	"context"
	"slices"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
)

// OperatorUser is the user id the command line acts as: the audit trail
// and the security log record its changes under this name.
const OperatorUser = "historia-cli"

// Caller is who is calling: a signed-in user of one tenant (from a bearer
// token or a browser session), or an operator command acting in a tenant.
// It is the server's one shape of "who"; Principal, Actor and Identity
// give the shape each library wants.
type Caller struct {
	UserID   string
	TenantID string
	// PatientID is the caller's own chart, for a patient.
	PatientID string
	Roles     []string
	// RequestID and IP say where the call comes from (logs, audit).
	RequestID string
	IP        string
}

// CallerOf returns the caller that auth authenticated, calling from ip
// in the request requestID. It is the one conversion from auth's shape.
func CallerOf(id auth.Identity, requestID, ip string) Caller {
	return Caller{UserID: id.UserID, TenantID: id.Tenant, PatientID: id.PatientID, Roles: id.Roles, RequestID: requestID, IP: ip}
}

// Operator returns the command line acting in tenant with role (user
// OperatorUser).
func Operator(tenant, role string) Caller {
	return Caller{UserID: OperatorUser, TenantID: tenant, Roles: []string{role}, RequestID: OperatorUser}
}

// Principal returns c as rbac wants it.
func (c Caller) Principal() rbac.Principal {
	return rbac.Principal{UserID: c.UserID, TenantID: c.TenantID, PatientID: c.PatientID, Roles: c.Roles}
}

// Actor returns c as ehr wants it (the principal, and where from for the
// audit trail).
func (c Caller) Actor() ehr.Actor {
	return ehr.Actor{Principal: c.Principal(), RequestID: c.RequestID, IP: c.IP}
}

// Identity returns c as auth wants it in a context (its security log
// names who made a change).
func (c Caller) Identity() auth.Identity {
	return auth.Identity{UserID: c.UserID, Tenant: c.TenantID, Roles: c.Roles, PatientID: c.PatientID}
}

// Role returns the caller's first role, the one that picks the home page.
func (c Caller) Role() string {
	if len(c.Roles) == 0 {
		return ""
	}
	return c.Roles[0]
}

// Has reports whether the caller holds role.
func (c Caller) Has(role string) bool { return slices.Contains(c.Roles, role) }

// PatientOnly reports whether the caller is a patient and nothing else.
// Such a caller is told "not found" rather than "denied" about any other
// patient, so that probing ids reveals nothing.
func (c Caller) PatientOnly() bool {
	return c.PatientID != "" && len(c.Roles) > 0 && !slices.ContainsFunc(c.Roles, func(r string) bool { return r != RolePaciente })
}

type callerKey struct{}

// slot holds the caller of a context; see Expect.
type slot struct{ caller *Caller }

// NewContext returns ctx carrying c: for the server's code (FromContext),
// for ehr (its Actor) and for auth (its Identity). It is the one place
// where a caller enters a context.
//
// When ctx was made by Expect and carries no caller yet, c fills that
// slot, so that code holding the outer context sees it too.
func NewContext(ctx context.Context, c Caller) context.Context {
	s, ok := ctx.Value(callerKey{}).(*slot)
	if !ok || s.caller != nil {
		s = &slot{}
		ctx = context.WithValue(ctx, callerKey{}, s)
	}
	s.caller = &c
	ctx = ehr.NewContext(ctx, c.Actor())
	return auth.NewContext(ctx, c.Identity())
}

// Expect returns ctx ready for a caller not known yet: the first caller
// NewContext installs on ctx or a context derived from it is also seen
// by FromContext(ctx). The outermost middleware uses it to log who made
// a request once the request is done.
func Expect(ctx context.Context) context.Context {
	return context.WithValue(ctx, callerKey{}, &slot{})
}

// FromContext returns the caller of ctx, and whether there is one.
func FromContext(ctx context.Context) (Caller, bool) {
	if s, ok := ctx.Value(callerKey{}).(*slot); ok && s.caller != nil {
		return *s.caller, true
	}
	return Caller{}, false
}
