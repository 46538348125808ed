// Package fhir is the reference server's FHIR R4 (4.0.1) front-end,
// mounted at /fhir/R4 by the composition root beside the pages and the
// JSON API:
//
//	// internal/server/handler.go
//	pages.Mount(rt, a)
//	api.Mount(rt, a)
//	fhir.Mount(rt, a)
//
// It routes, negotiates (application/fhir+json only; _format=json), maps
// records with the root module's fhir package (imported here as r4) and
// answers errors as OperationOutcomes. It decides nothing about who may
// see what:
//
//   - Authentication is the kernel's, bearer tokens only
//     (web.Router.HandleBearer): a session cookie is not accepted on
//     /fhir, so a page open in a clinician's browser cannot be made to
//     reach it from another site.
//   - Every record is read and written through ehr.Repository with the
//     caller in the context: ehr authorizes each one (rbac: roles, care
//     team, break-the-glass, the patient's own record; another tenant's
//     ids are not found) and audits it on the patient's hash chain, as for
//     a page. A patient only ever receives final notes: ehr enforces it.
//   - Errors go through web's one error table (web.ProblemOf): the status,
//     the stable code (issue.details) and the fields at fault
//     (issue.expression, as FHIRPath) of an OperationOutcome. What the
//     table does not know (406, 412, 415, 428, a parameter the search
//     refuses) is answered here with the same shape.
//   - The SMART on FHIR seam is Options.Narrow: asked before every
//     interaction with the caller, the resource type and the interaction,
//     it can refuse (scopes narrow what a token may do) but cannot allow
//     anything rbac refuses, since ehr still decides every record.
//
// Resource ids are ehr's record ids (UUIDs), the same the JSON API uses;
// a record of a patient is found from its id alone with
// ehr.Repository.Locate. meta.versionId is the record's version, the ETag
// is W/"version", and an update must name the version it read (If-Match
// or meta.versionId): a stale one answers 412. Nothing is deleted: DELETE
// answers 405, and a record is withdrawn by updating it with status
// entered-in-error.
//
// The FHIR Bulk Data $export (system, Patient and Group levels; export.go)
// runs as a background job of the process, writing with
// internal/bulkexport as the caller: every patient one audited chart read
// (action export on the patient's chain); the status and file URLs answer
// only the user who started the job. docs/export.md.
//
// The CapabilityStatement (GET /fhir/R4/metadata, public) is generated
// from the routes Mount registers; a test checks it against the routes
// both ways. docs/fhir.md lists the resources, the mapping, the search
// parameters and what is not supported.
package fhir
