// Package ehr is Historia's patient-record library: the domain types
// (tenants, patients, practitioners, encounters and admissions,
// appointments, care teams, clinical notes, ICD-10 conditions, allergies,
// medication requests, observations), their PostgreSQL repository, the
// embedded migrations, the hash-chained audit trail and the Citus
// distribution plan.
//
// # Use
//
//	conn, _ := pgx.Connect(ctx, url)       // DDL on its own connection
//	err := ehr.Migrate(ctx, conn)
//	pool, _ := pgxpool.New(ctx, url)
//	repo := ehr.NewRepository(pool)        // rbac.Default() policy
//	ctx = ehr.NewContext(ctx, ehr.Actor{Principal: principal, RequestID: rid, IP: ip})
//	chart, err := repo.Chart(ctx, patientID)
//
// # Model
//
// Every row carries tenant_id and every query filters on the actor's
// tenant: a record of another tenant is simply not found. IDs are UUIDv7
// made in Go.
//
// Clinical data is never destroyed. Records carry a Version; an update
// names the version it read and fails with ErrConflict when it is stale.
// Every write stores a JSON snapshot of the new row in record_versions (in
// the same statement), read back by History; a mistaken record is marked
// StatusEnteredInError with a reason (MarkEnteredInError); a signed note
// is amended with a reason (AmendNote).
//
// # Authorization
//
// Each method builds an rbac request from the Actor in the context: the
// action, the kind of record and the target (tenant, patient). It first
// decides without facts; only when that is denied and the request is about
// one patient does it load the facts (is the actor on the patient's active
// care team; the actor's active break-glass grant) and decide again. So a
// physician's demographics read costs no extra query, and a care-team read
// one. A denial is audited in its own transaction and returned wrapping
// ErrDenied (which is rbac.ErrDenied).
//
// Break-the-glass (BreakGlass) stores a time-limited grant with the
// reason; while it lasts ehr passes it to the engine as Target.Grant, and
// every access it allows is flagged in the audit trail with the reason.
// ListBreakGlass lists grants and their uses for the auditor.
//
// # Audit
//
// Every read and write of patient data appends an AuditEvent in the same
// transaction (for GetPatient, in the same statement). Events are chained
// per patient, and per tenant for requests about no single patient:
// hash = sha256(prev_hash || seq || canonical event), computed by the
// database while it advances the chain head under the head row's lock.
// VerifyChain recomputes a chain and detects a changed, removed, inserted
// or reordered event; AccessLog lists who viewed a record; SearchAudit
// serves the auditor. The role historia_app, created by the migrations,
// has no UPDATE or DELETE on the audit trail and the version history, and
// no DELETE on clinical tables.
//
// # Errors
//
// Methods return errors wrapping ErrNotFound, ErrConflict, ErrDenied or
// ErrInvalid (a *ValidationError naming the fields; validation runs before
// any SQL, so a rejected call writes nothing). Database errors are mapped
// or reduced to their SQLSTATE; error strings carry ids, never personal
// data.
//
// # Citus
//
// DistributionPlan describes the layout: patient tables distributed by
// patient_id and colocated with patients (their keys all include it, and
// every per-patient query filters on it), uniqueness across patients in
// tables distributed by the unique value, small tables as reference
// tables. The same schema runs on plain PostgreSQL.
package ehr
