package app

// The roles of the default policy (design.md §3), with their Spanish
// names. They are the names the server's code refers to (a role's home
// page, what a patient sees, the operator's role); which roles are valid
// is the policy's list (App.Roles), and a test keeps the two in step.
const (
	// RolePaciente is a patient reading their own record.
	RolePaciente = "paciente"
	// RoleMedico is a physician.
	RoleMedico = "medico"
	// RoleAdmisionista is the admissions desk.
	RoleAdmisionista = "admisionista"
	// RoleSecretaria is the front desk (appointments).
	RoleSecretaria = "secretaria"
	// RoleAdmin manages the tenant's users.
	RoleAdmin = "admin"
	// RoleAuditor reviews the audit trail.
	RoleAuditor = "auditor"
)

// Roles returns the roles of the policy in use, in the policy's order:
// the one list of valid roles (staff accounts are checked against it).
func (a *App) Roles() []string { return append([]string(nil), a.matrix.Roles...) }
