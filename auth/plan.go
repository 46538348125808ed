package auth

// DistributionPlan says how the auth tables are laid out on a Citus
// cluster. It is plain data so that auth imports nothing of ours; the
// server converts it field by field:
//
//	p := auth.Plan()
//	cp := citus.Plan{Reference: p.Reference}
//	for _, t := range p.Distributed {
//		cp.Distributed = append(cp.Distributed, citus.Table{Name: t.Name, Column: t.Column, ColocateWith: t.ColocateWith})
//	}
//
// MigrationsTable stays a local table of the coordinator.
type DistributionPlan struct {
	// Reference lists reference tables, referenced tables first.
	Reference []string
	// Distributed lists distributed tables, each after the table it is
	// colocated with.
	Distributed []DistributedTable
}

// DistributedTable is one distributed table of a DistributionPlan.
type DistributedTable struct {
	Name         string // table name
	Column       string // distribution column
	ColocateWith string // table whose shards it shares, or empty
}

// Plan returns the distribution plan of the auth schema:
//
//   - users is a reference table: small, read at every login, and its
//     uniqueness (tenant_id, username) must hold across the cluster;
//     auth_mfa_totp, auth_recovery_codes, auth_mfa_challenges,
//     auth_webauthn_credentials and auth_webauthn_registrations, small
//     and referring to users, are reference tables too;
//   - auth_sessions is distributed by id and refresh_tokens by session_id,
//     colocated, so a refresh (lock session, check and rotate token) is a
//     single-shard transaction; the refresh token carries its session id;
//   - security_event_heads and security_events are distributed by
//     tenant_id, colocated, so appending to a tenant's chain is
//     single-shard.
func Plan() DistributionPlan {
	return DistributionPlan{
		Reference: []string{"users", "auth_mfa_totp", "auth_recovery_codes", "auth_mfa_challenges",
			"auth_webauthn_credentials", "auth_webauthn_registrations"},
		Distributed: []DistributedTable{
			{Name: "auth_sessions", Column: "id"},
			{Name: "refresh_tokens", Column: "session_id", ColocateWith: "auth_sessions"},
			{Name: "security_event_heads", Column: "tenant_id"},
			{Name: "security_events", Column: "tenant_id", ColocateWith: "security_event_heads"},
		},
	}
}
