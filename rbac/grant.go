package rbac

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidGrant is returned (wrapped) by Engine.IssueGrant when the request
// for a grant is malformed: no patient, a reason that is too short, or a
// duration that is not positive or longer than the engine allows.
var ErrInvalidGrant = errors.New("rbac: invalid break-glass grant")

// Grant is a break-glass grant: time-limited emergency access by one user to
// one patient's record outside the care team, with the reason they gave.
// The engine does not store grants; the caller keeps them (ehr stores them
// and records their use in the audit trail) and passes the principal's
// grant for the patient in Target.Grant. Decide checks it every time.
type Grant struct {
	UserID    string
	TenantID  string
	PatientID string
	Reason    string
	NotAfter  time.Time
}

// grantProblem returns "" when t.Grant is a valid grant for p and t at the
// engine's current time, or the reason it is not.
func (e *Engine) grantProblem(p Principal, t Target) string {
	g := t.Grant
	switch {
	case g == nil:
		return reasonNoGrant
	case g.UserID == "" || g.UserID != p.UserID:
		return reasonGrantUser
	case g.TenantID != p.TenantID:
		return reasonGrantTenant
	case t.PatientID == "" || g.PatientID != t.PatientID:
		return reasonGrantPatient
	case !longEnough(g.Reason, e.minReason):
		return reasonGrantShort
	}
	now := e.clock()
	if !now.Before(g.NotAfter) {
		return reasonGrantExpired
	}
	if g.NotAfter.Sub(now) > e.maxGrant {
		return reasonGrantTooLong
	}
	return ""
}

// longEnough reports whether s, without leading and trailing white space,
// has at least min characters (runes). It does not allocate.
func longEnough(s string, min int) bool {
	n := 0
	for range strings.TrimSpace(s) {
		n++
		if n >= min {
			return true
		}
	}
	return n >= min
}

// IssueGrant creates a break-glass grant for principal p on the patient of t,
// valid for d from the engine's clock. It checks that the policy lets p
// break the glass (ActionBreakGlass on KindBreakGlass for t), that t names a
// patient, that the reason has at least MinReasonLength characters and that
// 0 < d <= MaxGrantDuration. The caller stores the returned Grant, records
// the reason in the audit trail, and passes it back in Target.Grant.
//
// It returns a *DeniedError (wrapping ErrDenied) when the policy denies the
// request, and an error wrapping ErrInvalidGrant when the request is
// malformed.
func (e *Engine) IssueGrant(p Principal, t Target, reason string, d time.Duration) (Grant, error) {
	if err := e.Authorize(p, ActionBreakGlass, KindBreakGlass, t); err != nil {
		return Grant{}, err
	}
	switch {
	case t.PatientID == "":
		return Grant{}, fmt.Errorf("%w: no patient", ErrInvalidGrant)
	case !longEnough(reason, e.minReason):
		return Grant{}, fmt.Errorf("%w: reason shorter than %d characters", ErrInvalidGrant, e.minReason)
	case d <= 0 || d > e.maxGrant:
		return Grant{}, fmt.Errorf("%w: duration %v not in (0, %v]", ErrInvalidGrant, d, e.maxGrant)
	}
	return Grant{
		UserID:    p.UserID,
		TenantID:  p.TenantID,
		PatientID: t.PatientID,
		Reason:    strings.TrimSpace(reason),
		NotAfter:  e.clock().Add(d),
	}, nil
}
