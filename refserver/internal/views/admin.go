package views

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

// UserRow is one user of the tenant.
type UserRow struct {
	ID, Username, Roles, Status, LastLogin string
	Disabled                               bool
}
