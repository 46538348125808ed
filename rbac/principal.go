package rbac

// Principal is who asks: an authenticated user of one tenant with the roles
// from their token. PatientID is set only when the user is a patient; it is
// what the ConditionSelf check compares with the target's patient.
//
// A Principal with an empty UserID, TenantID or Roles is denied everything.
// Role names are matched exactly (case-sensitive) against the policy's
// roles; unknown roles grant nothing.
type Principal struct {
	UserID    string
	TenantID  string
	PatientID string
	Roles     []string
}

// Target holds the facts about the resource that a decision needs. The
// caller (usually ehr) establishes them before asking:
//
//   - TenantID is the tenant that owns the resource. It must equal the
//     principal's tenant, or the decision is a denial (rule RuleTenant).
//   - PatientID is the patient the resource belongs to. It may be empty for
//     kinds that are not about one patient (user, audit, a search); then
//     ConditionSelf, ConditionCareTeam and ConditionBreakGlass never hold.
//   - OnCareTeam reports whether the principal is on the patient's active
//     care team.
//   - Grant is the principal's break-glass grant for this patient, or nil.
type Target struct {
	TenantID   string
	PatientID  string
	OnCareTeam bool
	Grant      *Grant
}
