// Package bulkexport writes the records of a tenant as FHIR R4 ndjson
// files, one file per resource type: the one writer behind the FHIR
// Bulk Data $export of the reference server (internal/protocol/fhir) and
// `historia export`.
//
//	ctx = ehr.NewContext(ctx, actor) // who exports: rbac decides, the trail says
//	res, err := bulkexport.Run(ctx, bulkexport.Options{
//		Repo: repo, Dir: dir, Types: []string{"Patient", "Observation"}, Since: since,
//	})
//	// res.Output: Patient.ndjson, Observation.ndjson with their counts;
//	// res.Errors: error.ndjson (OperationOutcomes), when some patient was
//	// skipped or read in part.
//
// # Patient by patient, memory flat
//
// Run walks the patients a Lister names (TenantPatients: every patient of
// the tenant, in keyset pages of ehr.Repository.SearchPatients, each page
// one audited search on the tenant's lanes) and reads each one's chart
// with ehr.Repository.Chart: one audited read on that patient's chain,
// with the action ehr.AuditActionExport (Run marks the actor
// ehr.Actor.Export), so that the patient's "who viewed my record"
// (AccessLog) lists the export. Each resource is encoded with the fhir
// package and appended as one line to its type's file through a buffered
// writer; nothing but the current chart and the set of practitioner ids
// already written is held in memory, whatever the size of the tenant.
//
// On Citus every chart read is a router query to the patient's shard
// (every statement of Chart filters on patient_id), and the listing walks
// the tenant in keyset pages, so the export reads shard by shard, one
// patient at a time, and never holds a tenant-wide result.
//
// # Authorization and what is reported
//
// Every patient is read as the actor (rbac decides): a patient the actor
// may not read is skipped and reported in the error file as an
// OperationOutcome naming only its id (the denial is audited on its
// chain like any refused read); the sections the policy withholds from a
// chart read in part (a physician outside the care team) are named in
// an OperationOutcome of severity information. No names, documents or
// texts go into the error file.
//
// # What is written
//
// The types are those Historia maps (fhirmap.Types). A record is written
// when it changed at or after Options.Since and not after the
// transaction time (the instant Run starts): the next export with
// Since = Result.TransactionTime picks up what changed while this one
// ran. The practitioners the written records name (attending, booked,
// care team) are written once each, whatever Since, so that the files
// import on their own (`historia import`). Inpatient encounters are
// written as they stand (current ward and bed), without the location
// history a FHIR read of the encounter carries. Patients marked entered
// in error are not exported.
package bulkexport
