// Package api is the reference server's JSON API under /api/v1, one file
// per resource (its routes, its JSON shapes and their mapping from the
// library's types):
//
//	me.go             /me
//	patients.go       /patients, /patients/{id}, access log, care team, break-the-glass, /my-patients
//	chart.go          /patients/{id}/chart (bounded, with counts and cursors), /patients/{id}/chart/{section}
//	notes.go          /patients/{id}/notes/...
//	records.go        conditions, allergies, medications, observations, entered-in-error
//	appointments.go   /appointments/..., /patients/{id}/appointments
//	admissions.go     /admissions/...
//	practitioners.go  /practitioners
//	users.go          /users/... (app.Staff)
//	audit.go          /audit/...
//
// openapi.yaml describes every route (a test checks both ways). Every
// route takes a bearer token (or the session cookies); the repository
// authorizes and audits each call. A handler returns its error to the
// router, which answers it through the error table as one JSON shape:
// {"error": code, "message": text, "fields": {field: code}}.
package api
