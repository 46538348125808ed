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
//	view, err := repo.ChartView(ctx, patientID, ehr.ChartBounds{}) // a clinician's chart, bounded
//	more, err := repo.ChartSection(ctx, patientID, ehr.SectionQuery{Kind: rbac.KindNote, Cursor: view.Section(rbac.KindNote).Next})
//	chart, err := repo.Chart(ctx, patientID) // the whole record: $everything, export
//
// # Charts: bounded and whole
//
// A patient's history grows without bound; a clinician's view of it must
// not. ChartView reads, for each section the actor may read, its most
// recent rows (DefaultSectionLimit; the vital signs of the last
// DefaultVitalsWindow, at most DefaultObservationLimit), newest first,
// with the counts a clinician expects (SectionSummary: total, active) and
// an opaque keyset cursor, bound to the patient and the section, for the
// rest; ChartSection reads the next page of one section with it,
// authorized and audited as the chart's read of that section. Each page
// is a backward index scan that stops at its bound and each count a scan
// of the patient's rows of one index (migration 0008) that stops after
// CountLimit rows (beyond it a total reads "100+": SectionSummary.Capped;
// the active rows are counted exactly), so a long stay opens about as
// fast as a new patient (BenchmarkChart/long and /short).
// Chart is the whole, unbounded read, for FHIR $everything, bulk export
// and transfer.
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
// is amended with a reason (AmendNote). Version.Record decodes a snapshot
// into the record it was, of the type Chart returns (Note, Observation,
// ...), field by field equal to it.
//
// Every method names a record by its patient and its id (the tables are
// distributed by patient on Citus). Locate finds the patient of a record
// known by its id alone (a FHIR read, GET /Observation/{id}), in the
// actor's tenant; it decides nothing, and an id it does not find leaves a
// not-found event on the tenant's chain (the actor's lane; see Audit).
//
// # Import
//
// The workflow methods create records in their initial state, by the
// actor, now: an encounter in progress, a booked appointment, a draft or
// a note signed by the actor. ImportRecord stores a record as it is in
// the system it comes from (a patient moved from another hospital or
// tenant, a bulk import): a finished encounter or a discharged admission,
// a fulfilled or cancelled appointment, an ended care-team membership, an
// amended or entered-in-error note or observation, with their clinical
// times and the people the source names (author, signer, recorder,
// prescriber). It is authorized as the kind's workflow create for the
// patient (ActionCreate; ActionAdmit for an admission, ActionSchedule
// for an appointment) and validated as it, plus the status and the
// consistency of the times. The record gets a new id, the actor's
// tenant, version 1; its version's ChangedBy is the importing actor, its
// Reason ReasonImported, and its audit event's action AuditActionImport.
// Imported attributions are historical: they say who the source says
// wrote, signed or prescribed, and are no proof of authorship within this
// system; the trail says who imported them.
//
// ImportPatients is the bulk form: new patients with their records, each
// patient whole or not at all, a batch in one transaction written with
// COPY (rows, version-1 snapshots made by the database from the rows,
// and each new patient's audit chain computed in Go as the append
// statement would), after the same validation and policy decisions and
// one round trip of checks (identifiers, practitioners, colleagues,
// appointment slots). A patient the policy refuses, or a batch whose
// transaction fails, falls back to RegisterPatient and ImportRecord one
// patient at a time, so refusals are audited and a conflict is that
// patient's alone. A patient whose identity document is already the
// tenant's is skipped (ImportResult.Existing): an import run twice
// creates nothing the second time.
//
// # Authorization
//
// Each method builds an rbac request from the Actor in the context: the
// action, the kind of record and the target (tenant, patient). It first
// decides without facts; only when that is denied and the request is about
// one patient does it load the facts (is the actor on the patient's active
// care team; the actor's active break-glass grant) and decide again. So a
// physician's demographics read costs no extra query, and a care-team read
// one. The chart reads (Chart, ChartView, ChartSection) do not wait for
// the facts: the facts that cannot change any of their decisions for the
// actor are not read, and those that can (on the care team, no
// break-glass grant) are assumed and checked by the read's one batch, in
// the statement that advances the audit chain, before the event and the
// sections. When the check fails the server skips the rest (no event, no
// section read), and the read reads the facts and is decided and sent
// again (see speculate.go). A physician opening a patient in their care
// takes one round trip. A denial is audited in its own transaction and
// returned wrapping ErrDenied (which is rbac.ErrDenied), or ErrNotFound
// when the patient named is not in the actor's tenant (see Errors).
//
// InTx runs several methods in one transaction, all or nothing (a FHIR
// transaction Bundle): each authorizes, validates and audits as on its
// own (a write in a savepoint); the events of allowed accesses commit or
// roll back with the transaction, while those of denied and not-found
// attempts are recorded after it ends, whatever its outcome.
//
// # What a patient reads of their own record
//
// A principal whose PatientID names the patient reads that record as its
// patient, whatever its roles: Chart, ChartView and ChartSection return
// (and count) the notes their physicians signed (signed, amended, and a signed note later entered in error,
// kept and marked), never a draft nor a draft entered in error; History
// of a note lists only its signed versions, and the history of a note
// never signed is ErrNotFound, as if it did not exist. A physician who is
// also a patient of the hospital reads their own record so, and their
// patients' records as staff (drafts included, per policy). Front ends
// need not, and should not, filter notes themselves.
//
// Break-the-glass (BreakGlass) stores a time-limited grant with the
// reason; while it lasts ehr passes it to the engine as Target.Grant, and
// every access it allows is flagged in the audit trail with the reason.
// ListBreakGlass lists grants and their uses for the auditor.
//
// # Audit
//
// Every read and write of patient data appends an AuditEvent in the same
// transaction (for GetPatient and Chart, in the same round trip). Events
// are chained: hash = sha256(prev_hash || seq || canonical event),
// computed by the database while it advances the chain head under the
// head row's lock, held until the transaction ends. Each patient has a
// chain. Requests about no single patient (searches, agendas, lists,
// audit searches, denials and not-found events about ids outside the
// tenant) go to the tenant's own chains, its AuditLanes lanes: the lane
// of an event is chosen from a hash of the actor's user id, so one
// user's such events stay in one lane, in order, while the staff of a
// hospital spread over the lanes and do not all wait on one head (nor, on
// Citus, on one shard). Lane 0 is the tenant id, the single tenant chain
// of earlier versions; the others are name-based UUIDs of the tenant id
// and the lane (TenantChains). CreateTenant opens every lane's head, so
// that no other tenant can open one first, and a head only ever advances
// for its own tenant.
//
// VerifyChain recomputes a chain and detects a changed, removed, inserted
// or reordered event; given the tenant id it verifies every lane, the
// tenant's whole tenant-wide trail. AccessLog lists who viewed a record;
// SearchAudit serves the auditor (given the tenant id as ChainID, it
// searches all the lanes). The role historia_app, created by the migrations,
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
// Not found or denied: a request about a patient id that is no patient of
// the actor's tenant (an unknown id, or a patient of another tenant) is
// ErrNotFound, whatever the actor may do, and such an error does not
// match ErrDenied. A denial about a patient of the tenant is ErrDenied
// (not ErrNotFound). Both are audited as before: a refused attempt on an
// id outside the tenant is recorded as a denial on the tenant's own
// chain (the actor's lane). The two cases are told apart in the same call, with no extra
// round trip. ErrNotFound alone, rather than both sentinels, because a
// caller that tests ErrDenied first would otherwise answer "forbidden"
// for an id outside the tenant, and because the answer must not depend on
// whether the id exists in another tenant: an unknown id and another
// tenant's patient give the same error, text included.
//
// Each FieldError of a *ValidationError has a stable Code, one of
// Codes(), naming the rule the field broke; its Message is English prose
// for developers. Front ends translate the code:
//
//	required      the field is missing or blank
//	invalid       malformed: not a UUID, a cursor, an email address, a code or document number of the right shape
//	too_long      a text longer than allowed, or a period (appointment, search window) too long
//	too_short     a text (a reason) shorter than required
//	too_many      a list with more entries than allowed
//	out_of_range  a number or date outside its range (dose, vital sign, limit, grant duration, birth date)
//	in_future     a date or time that may not be in the future
//	before_start  an end (End, To, EndsAt, EndsOn) not after its start
//	misaligned    an appointment time off the SlotDuration grid
//	duplicate     a value repeating another of the same input
//	unknown_code  not a code of the field's code system (ICD-10)
//	not_allowed   a value outside the field's set (status, sex, category, kind), or refused by the policy
//	mismatch      a value contradicting another argument of the call
//
// # Patient search
//
// SearchPatients serves the FHIR R4 Patient search parameters through
// PatientQuery: name, family and given with the default string match and
// the :exact and :contains modifiers (TextMatch), identifier
// (DocumentNumber, IdentifierSystem), birthdate with its prefixes
// (BirthDate, BirthFrom and BirthTo inclusive, BirthNotFrom and
// BirthNotTo for ne), gender (Sex), _id (IDs) and _lastUpdated
// (UpdatedFrom inclusive, UpdatedTo exclusive). The default and :contains
// matches compare folded names (lower case, without accents, punctuation
// as spaces, as kept in patients.search_name and sort_key); :exact
// compares the names as stored, case and accents included. Pages are
// keyset-paginated on (sort_key, patient_id): patients registered while a
// client pages neither repeat nor hide those already there. A cursor
// carries a fingerprint of its query's filters and is refused by another
// query. A name of one word and no other filter (the search a front desk
// starts with, which may match tens of thousands of patients) is served
// by the word table of migration 0009 (namewords.go): the same results
// and cursors, reading about a page a word instead of every match.
//
// # SQL
//
// Statements with a fixed shape are constants. Queries built from
// optional filters (SearchPatients, SearchAudit, ListBreakGlass,
// ListAppointments, ListAdmissions) are built with squirrel, one
// statement per combination of filters, rather than one catch-all
// statement with "($n IS NULL OR column = $n)": a catch-all's generic
// plan (pgx prepares and caches statements) cannot use an index on a
// filter it may skip, and every variant keeps its Citus routing marker.
//
// # Citus
//
// DistributionPlan describes the layout: patient tables distributed by
// patient_id and colocated with patients (their keys all include it, and
// every per-patient query filters on it), uniqueness across patients in
// tables distributed by the unique value, small tables as reference
// tables. The same schema runs on plain PostgreSQL. Tenant-wide listings
// and Locate ask every shard; each such statement is marked
// "/* fanout: name */" and listed in docs/citus.md.
package ehr
