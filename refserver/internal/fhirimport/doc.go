// Package fhirimport is the bulk import of `historia import`: FHIR R4
// ndjson files (one resource a line, the form of a FHIR bulk export and
// of Synthea's) and transaction, batch, collection or searchset Bundles,
// mapped with the fhir package's strict decoders (through fhirmap, as the
// FHIR API maps a create) and stored through ehr.Repository.
//
// # Passes
//
// The first pass reads every input once and indexes each resource of a
// type Historia maps (file, offset, length, line; type, id, fullUrl),
// without keeping it; resources of other types are counted by type. A
// record's patient is the first of its subject, patient or
// participant.actor references that names a Patient of the input (by
// fullUrl, urn:uuid, Type/id, or an absolute URL ending in Type/id). The
// second pass imports the practitioners, then the patients in batches
// (Options.BatchSize): it reads each patient's resources back by offset,
// decodes them with their references rewritten, and stores the batch with
// ehr.Repository.ImportPatients, the bulk form of RegisterPatient and
// ImportRecord (each record kept as it is in the source, audited with the
// action import): one transaction a batch, written with COPY, each
// patient whole or not at all. Workers decode and write several batches
// at once.
//
// # All or nothing per patient, idempotent
//
// A patient is committed whole or not at all: a failure, a cancelled
// context or a killed process rolls back the batches being imported, and
// nothing of their patients remains. A patient whose identity document is already a
// patient's of the tenant is skipped whole ("already present"): a run
// after an interrupted one skips the patients committed and imports the
// others, and a second run of the same input creates nothing. The import
// never adds records to a patient already in the tenant, whether an
// earlier run or the front desk registered them.
//
// By default a patient one of whose resources is rejected is rejected
// whole (a chart missing an allergy would mislead more than no chart),
// so that once the source is fixed a new run imports it whole. With
// Options.Partial the patient is imported without the rejected
// resources; a new run then skips it, fixed resources included.
//
// A Patient must have an identity document (an identifier of system
// fhir.SystemDocumentPrefix + type): it is what makes the import
// idempotent. With Options.Source a Patient without one is given the
// document (Source, its id in the source), which a re-run derives again.
//
// # Practitioners
//
// The records name practitioners (an encounter's attending, an
// appointment's or a care team's practitioner) by references to
// Practitioner resources of the input. Each is found in the tenant by its
// licence, or created (committed on its own, before the patients), linked
// to a user id derived from the tenant and the licence (or the source and
// its id), so that a re-run finds it again. The people records name as
// their author, signer, recorder or prescriber are references by
// identifier (fhir.SystemUser) to users of the source, kept as the
// source's attributions (ehr.Repository.ImportRecord).
//
// # Authority
//
// The import acts as the command line's operator with one role, Role,
// under a policy of its own (Engine) that allows the calls it makes and
// nothing else; every event it leaves in the audit trail says so.
//
// # Rejects
//
// What cannot be imported is reported, one JSON line per resource
// (Reject): where it is (file, line, Bundle entry), its type and source
// id, the reason and the elements at fault (FHIRPath), never its content.
package fhirimport
