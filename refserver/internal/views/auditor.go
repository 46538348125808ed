package views

// AuditorData is the auditor's page.
type AuditorData struct {
	Chain          string
	BreakGlassOnly bool
	Events         []AuditRow
	Verified       *VerifyResult
	Errors         FieldErrors
	Grants         []GrantView
}

// AuditRow is one audit event.
type AuditRow struct {
	At, User, Roles, Action, Kind, Chain, Record, Outcome string
	BreakGlass                                            bool
	Reason                                                string
}

// VerifyResult is the outcome of a chain verification.
type VerifyResult struct {
	Chain  string
	OK     bool
	Events int64
	Detail string
}

// GrantView is one break-the-glass grant for the auditor's review.
type GrantView struct {
	At, User, PatientID, Reason, Until string
	Uses                               int
	Active                             bool
}
