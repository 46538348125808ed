// Package app holds the reference server's use cases that span the
// libraries (auth, ehr, rbac): who is calling and in which shape each
// library wants them, the one list of roles, staff accounts, the names
// the pages show, and the rules about what a patient reads of their own
// record. The pages, the JSON API, the command line and the demo call
// these; none of them re-implements a rule kept here.
//
//	a := app.New(app.Config{Users: store, Records: repo, Policy: rbac.Default()})
//	ctx = app.NewContext(ctx, app.Operator(tenant, app.RoleAdmin))
//	acct, err := a.Staff.Create(ctx, app.NewStaff{Username: "dra.vega", Roles: []string{app.RoleMedico},
//		Password: pw, PractitionerName: "Dra. Vega"})
//
// Errors are the libraries' (ehr.ErrNotFound, auth.ErrConflict, ...) or a
// *ValidationError naming the fields of the input it refused with a
// stable code; package web maps each to an HTTP answer in one table.
package app
