package views

// PatientRow is one patient in a list.
type PatientRow struct {
	ID        string
	Name      string
	Document  string
	BirthDate string
	Sex       string
}

// PatientDetail is a patient's demographics and contact data.
type PatientDetail struct {
	PatientRow
	Phone, Email, Address         string
	EmergencyName, EmergencyPhone string
	EmergencyRelationship, Status string
	Version                       int
}

// AccessRow is one entry of "who viewed my record".
type AccessRow struct {
	At         string
	Who        string
	Role       string
	What       string
	BreakGlass bool
}

// PortalData is the patient portal: the chart read-only, the patient's
// appointments and who viewed the record.
type PortalData struct {
	Patient      PatientDetail
	Access       []AccessRow
	Chart        ChartData
	Appointments []AppointmentView
}

// Can says which actions the page offers (from rbac.Matrix: actions a
// role can never take are not shown).
type Can map[string]bool

// MedicoData is the physician's home: my patients and a search.
type MedicoData struct {
	Query    string
	Mine     []PatientRow
	Results  []PatientRow
	Searched bool
}

// RegisterForm is the admission clerk's patient form, kept on a 422.
type RegisterForm struct {
	DocumentType, DocumentNumber, GivenNames, FamilyNames, BirthDate, Sex string
	Phone, Email, Address                                                 string
}

// AdmisionistaData is the admission clerk's page.
type AdmisionistaData struct {
	Form     RegisterForm
	Errors   FieldErrors
	Query    string
	Results  []PatientRow
	Searched bool
	Created  *PatientRow
	// Admissions are the open admissions; Practitioners the attending
	// physicians to choose from; Picked the patient chosen for the admit
	// and care-team forms.
	Admissions    []AdmissionView
	Practitioners []Option
	Picked        *PatientRow
	Action        Form
	ActionErrors  FieldErrors
	AlertKey      string
	Can           Can
}

// AuditRow is one audit event.
type AuditRow struct {
	At, User, Roles, Action, Kind, Chain, Record, Outcome string
	BreakGlass                                            bool
	Reason                                                string
}

// AuditorData is the auditor's page.
type AuditorData struct {
	Chain          string
	BreakGlassOnly bool
	Events         []AuditRow
	Verified       *VerifyResult
	Errors         FieldErrors
	Grants         []GrantView
}

// VerifyResult is the outcome of a chain verification.
type VerifyResult struct {
	Chain  string
	OK     bool
	Events int64
	Detail string
}

// UserRow is one user of the tenant.
type UserRow struct {
	ID, Username, Roles, Status, LastLogin string
	Disabled                               bool
}

// AdminData is the user administration page.
type AdminData struct {
	Users    []UserRow
	Roles    []string
	Form     Form
	Errors   FieldErrors
	AlertKey string
	Created  string
	Can      Can
}
