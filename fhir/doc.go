// Package fhir maps Historia's ehr records to FHIR R4 (4.0.1) JSON and
// back, with the code systems a receiver expects: LOINC and UCUM for vital
// signs (the R4 vital-signs profile), ICD-10 for conditions, v3-ActCode for
// encounter classes, HL7 terminology for statuses. It has no HTTP server:
// a front end (the reference server's /fhir/R4) calls it over the
// ehr Repository, which keeps deciding who may read what and auditing it.
//
// # Use
//
// Each mapped record has an Encode function (ehr record to FHIR JSON) and a
// Decode function (FHIR JSON to ehr record):
//
//	data, err := fhir.EncodePatient(p)          // ehr.Patient → Patient JSON
//	p, err := fhir.DecodePatient(body)          // Patient JSON → ehr.Patient
//	var oo *fhir.OperationOutcome
//	if errors.As(err, &oo) {
//		w.WriteHeader(http.StatusBadRequest)
//		json.NewEncoder(w).Encode(oo)           // a FHIR OperationOutcome
//	}
//
// Patient, Practitioner, Observation (and EncodeBloodPressure for the
// 85354-9 panel), Condition, AllergyIntolerance (EncodeAllergy),
// MedicationRequest (EncodeMedication), DocumentReference (EncodeNote),
// Encounter (with its location history, Stays), Appointment, CareTeam (one
// membership) and AuditEvent (read-only) are mapped. An ehr record that
// goes to FHIR and back comes back equal, field by field: the tenant and
// the creation time travel as Historia extensions (ExtTenant, ExtCreated),
// the version and last change as meta.versionId and meta.lastUpdated,
// staff user ids as references by identifier (SystemUser).
//
// # Strict decoding
//
// A Decode function accepts only what it can store: it rejects invalid
// JSON, another resource type, unknown or unsupported elements, values of
// the wrong JSON type, empty values, malformed dates, references to the
// wrong resource type and codes outside the element's binding. It returns
// an *OperationOutcome (errors.Is(err, ErrInvalid)) with one Issue per
// problem, located by a FHIRPath such as
// "Observation.component[1].valueQuantity.code". Structural problems are
// reported first; the checks of values and codes run once the structure is
// right. A decoded record is not
// yet validated against ehr's own rules; the Repository does that when it
// stores it.
//
// # Audit trail
//
// EncodeAuditEvent carries the hash chain of ehr's audit trail (chain id,
// sequence number, previous hash, hash) as extensions, and
// VerifyAuditTrail recomputes every chain of an exported trail offline,
// with the canonical encoding and hash ehr uses (AuditHash), returning an
// *ehr.ChainError at the first break.
//
// The emitted resources are checked against R4 by google/fhir's validating
// parser in the separate module fhir/conformance, which keeps google/fhir
// out of the library's dependencies (docs/fhir.md).
package fhir
