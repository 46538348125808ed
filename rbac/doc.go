// Package rbac is Historia's authorization engine: a deny-by-default,
// role-based policy with a few facts about the target (tenant, own record,
// care team, break-the-glass), decided in memory without allocation.
//
// A request is a Principal (user, tenant, roles, and the patient id when the
// user is a patient), an Action, a resource Kind and a Target (the
// resource's tenant and patient, whether the principal is on the patient's
// care team, and the principal's break-glass Grant if any). The answer is a
// Decision naming the rule that decided and why.
//
//	engine := rbac.Default() // the policy of design.md §3
//	doctor := rbac.Principal{UserID: "u-7", TenantID: "h-1", Roles: []string{"medico"}}
//	target := rbac.Target{TenantID: "h-1", PatientID: "p-42", OnCareTeam: true}
//	if err := engine.Authorize(doctor, rbac.ActionRead, rbac.KindNote, target); err != nil {
//		return err // errors.Is(err, rbac.ErrDenied); the message has the rule and reason
//	}
//
// Policies are data: DefaultPolicy is embedded, and a hospital can load its
// own JSON file with LoadPolicy, which validates it and names the offending
// rule on error. A principal's roles add up, except that an explicit deny
// rule for any of them overrides the allow rules of all the others; a
// request no rule allows is denied. Matrix describes the whole role ×
// action × kind table for documentation and for user interfaces that hide
// what a role cannot do. docs/rbac.md is generated from the default
// policy's Matrix.
package rbac
