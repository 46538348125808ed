// Package fhir is the place reserved for the reference server's FHIR R4
// front-end (the next milestone). It holds no code yet; this says how it
// will be built, so that it is a thin mapping like the JSON API and a new
// way in cannot bypass a rule.
//
// A protocol front-end is a package under internal/protocol, mounted on
// the HTTP kernel by the composition root, as miniflux mounts its APIs
// beside its pages:
//
//	// internal/server/handler.go
//	rt := web.New(web.Config{..., App: a})
//	pages.Mount(rt, a)
//	api.Mount(rt, a)
//	fhir.Mount(rt, a) // routes under /fhir/r4
//
//	// internal/protocol/fhir
//	func Mount(rt *web.Router, a *app.App) {
//		x := &server{web: rt, app: a}
//		rt.Handle("GET /fhir/r4/Patient/{id}", x.readPatient)
//		rt.Handle("GET /fhir/r4/Patient/{id}/$everything", x.everything)
//		...
//	}
//
// What it may and may not do:
//
//   - Authentication and the caller come from the kernel: rt.Handle
//     authenticates (bearer token) and puts the app.Caller in the
//     request's context; every ehr call takes that context, so ehr
//     authorizes (rbac) and audits each read and write. The front-end
//     never decides who may see what.
//   - Records are mapped to and from FHIR resources by the root module's
//     fhir package (design.md: fhir/ may import ehr); this package only
//     routes, decodes and encodes (application/fhir+json).
//   - Rules that span the libraries are app's (app.PatientNotes for what
//     a patient reads of their own notes, app.Staff for accounts, display
//     names from app.Directory); call them, do not re-implement them.
//   - Errors go through the one table: web.ProblemOf(ctx, err) gives the
//     status and the stable code (and the fields at fault, with their
//     codes) that an OperationOutcome carries (issue.code from the status,
//     issue.details from the code, issue.expression from the fields).
//   - Its routes are described like the JSON API's (a capability
//     statement at /fhir/r4/metadata) and tested the same way: a test
//     checks the routes against the statement both ways.
//
// A front-end that is not HTTP (HL7v2 over MLLP) goes beside this one
// (internal/protocol/hl7v2) with its own listener started by the
// composition root, and still reaches the records only through app and
// ehr with an app.Caller in its context.
package fhir
