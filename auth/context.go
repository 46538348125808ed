package auth

import (
	"context"
	"slices"
	"time"
)

// Identity is the authenticated principal of a request: who, in which
// tenant, with which roles. The middleware stores it in the request context.
type Identity struct {
	// UserID is the user's id (the token's sub).
	UserID string
	// Tenant is the hospital or clinic the user belongs to.
	Tenant string
	// Roles are the user's role names (e.g. "medico"), as strings.
	Roles []string
	// PatientID is the patient's id for a user with the "paciente" role.
	PatientID string
	// SessionID names the login session (the refresh-token family).
	SessionID string
	// TokenID is the access token's jti.
	TokenID string
	// ExpiresAt is when the access token expires.
	ExpiresAt time.Time
	// AuthTime is when the user last proved possession of a factor
	// (password, second factor) in this session: the token's auth_time
	// claim (RFC 9068 §2.2.1, OpenID Connect). See RequireRecentAuth.
	AuthTime time.Time
}

// HasRole reports whether the identity holds role.
func (id Identity) HasRole(role string) bool { return slices.Contains(id.Roles, role) }

type identityKey struct{}

// NewContext returns a copy of ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity stored by NewContext, and whether there
// was one.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
