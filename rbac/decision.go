package rbac

import "errors"

// ErrDenied is wrapped by every error that reports a denied decision.
var ErrDenied = errors.New("rbac: denied")

// Rule names that a Decision carries when no policy rule decided. Policy
// files cannot use them as rule ids.
const (
	// RuleInvalid: the request itself is unusable (no user, tenant or
	// roles in the principal, an unknown action or kind, no engine).
	RuleInvalid = "invalid-request"
	// RuleTenant: the target belongs to another tenant.
	RuleTenant = "tenant"
	// RuleDefaultDeny: no rule allows the request (deny by default).
	RuleDefaultDeny = "default-deny"
)

// Decision is the answer to one request. Rule is the id of the policy rule
// that decided (or one of RuleInvalid, RuleTenant, RuleDefaultDeny), and
// Reason says why in a short English phrase without personal data.
// Condition is the condition that satisfied the allow rule, zero when the
// rule is unconditional or the request is denied; a ConditionBreakGlass
// decision must be flagged in the audit trail.
type Decision struct {
	Allowed   bool
	Rule      string
	Reason    string
	Condition Condition
}

// DeniedError is the error Engine.Authorize returns for a denied request. It
// wraps ErrDenied. Its message holds the rule and the reason, never personal
// data.
type DeniedError struct {
	Decision Decision
}

// Error returns "rbac: denied: <reason> (rule <rule>)".
func (e *DeniedError) Error() string {
	return "rbac: denied: " + e.Decision.Reason + " (rule " + e.Decision.Rule + ")"
}

// Unwrap returns ErrDenied.
func (e *DeniedError) Unwrap() error { return ErrDenied }

// Reasons. They are constants so that Decide never allocates, and they
// never contain identifiers or other data from the request.
const (
	reasonNoEngine        = "engine has no policy"
	reasonNoUser          = "principal has no user id"
	reasonNoTenant        = "principal has no tenant"
	reasonNoRoles         = "principal has no roles"
	reasonBadAction       = "unknown action"
	reasonBadKind         = "unknown kind"
	reasonOtherTenant     = "target belongs to another tenant"
	reasonUnknownRoles    = "none of the principal's roles is in the policy"
	reasonNoRule          = "no rule allows this action on this kind for the principal's roles"
	reasonExplicitDeny    = "explicitly denied by the policy"
	reasonNoGrant         = "no break-glass grant"
	reasonGrantUser       = "break-glass grant was issued to another user"
	reasonGrantTenant     = "break-glass grant is for another tenant"
	reasonGrantPatient    = "break-glass grant is for another patient"
	reasonGrantShort      = "break-glass grant reason is too short"
	reasonGrantExpired    = "break-glass grant has expired"
	reasonGrantTooLong    = "break-glass grant lasts longer than the engine allows"
	reasonAllowTenant     = "allowed within the tenant"
	reasonAllowSelf       = "allowed: own record"
	reasonAllowCareTeam   = "allowed: on the patient's care team"
	reasonAllowBreakGlass = "allowed: valid break-glass grant"
)

// unmetReasons[s] explains a denial when an allow rule requires one of the
// conditions in s and none holds.
var unmetReasons = func() [allConds + 1]string {
	var r [allConds + 1]string
	phrase := map[Condition]string{
		ConditionSelf:       "the principal's own record",
		ConditionCareTeam:   "a place on the patient's care team",
		ConditionBreakGlass: "a valid break-glass grant",
	}
	for s := conds(1); s <= allConds; s++ {
		msg := "requires "
		for i, c := range s.list() {
			if i > 0 {
				msg += " or "
			}
			msg += phrase[c]
		}
		r[s] = msg
	}
	return r
}()

// allowReason returns the reason for an allow through condition c.
func allowReason(c Condition) string {
	switch c {
	case ConditionSelf:
		return reasonAllowSelf
	case ConditionCareTeam:
		return reasonAllowCareTeam
	case ConditionBreakGlass:
		return reasonAllowBreakGlass
	}
	return reasonAllowTenant
}
