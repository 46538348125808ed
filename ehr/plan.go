package ehr

import "github.com/historiaehr/historia/citus"

// DistributionPlan returns how the ehr schema is laid out on a Citus
// cluster, as data for citus.Apply:
//
//   - reference tables (copied to every node): tenants, practitioners and
//     the migrations table;
//   - patients distributed by patient_id, and every per-patient table
//     distributed by patient_id and colocated with it, so a chart is a
//     single-shard (router) query;
//   - patient_identifiers distributed by value (identifier uniqueness
//     within a tenant across all patients), and appointment_slots by
//     practitioner_id (no double booking), and portal_activations by
//     code_hash (a redemption knows only the code), and
//     patient_name_dictionary by tenant_id (a tenant's name words, one
//     shard), each in its own colocation group.
//
// The same schema runs unchanged on plain PostgreSQL.
func DistributionPlan() citus.Plan {
	byPatient := func(name string) citus.Table {
		return citus.Table{Name: name, Column: "patient_id", ColocateWith: "patients"}
	}
	return citus.Plan{
		Reference: []string{"ehr_schema_migrations", "tenants", "practitioners"},
		Distributed: []citus.Table{
			{Name: "patients", Column: "patient_id"},
			byPatient("encounters"),
			byPatient("appointments"),
			byPatient("care_team_members"),
			byPatient("clinical_notes"),
			byPatient("conditions"),
			byPatient("allergies"),
			byPatient("medication_requests"),
			byPatient("observations"),
			byPatient("record_versions"),
			byPatient("break_glass_grants"),
			byPatient("audit_heads"),
			byPatient("audit_events"),
			byPatient("patient_name_words"),
			{Name: "patient_identifiers", Column: "value"},
			{Name: "appointment_slots", Column: "practitioner_id"},
			{Name: "portal_activations", Column: "code_hash"},
			{Name: "patient_name_dictionary", Column: "tenant_id"},
		},
	}
}
