-- A clinician's chart reads each section of a patient's record newest
-- first, a bounded page at a time, and counts it (ehr's ChartView and
-- ChartSection). These indexes, one per section, on the patient, the
-- section's time and the id, make "the most recent N rows" a backward
-- index scan that stops after N rows, and "after this cursor" a range of
-- the same index, whatever the length of the patient's history. They
-- include the columns the counts filter on (the tenant, the status, the
-- class of an encounter, the signature of a note: what a part of the
-- chart or a patient reads), so that a count is an index-only scan.
--
-- CREATE INDEX (not CONCURRENTLY: each migration runs in a transaction).
CREATE INDEX encounters_patient_started_idx ON encounters (patient_id, started_at, id) INCLUDE (tenant_id, status, class);
CREATE INDEX appointments_patient_starts_idx ON appointments (patient_id, starts_at, id) INCLUDE (tenant_id, status);
CREATE INDEX care_team_members_patient_starts_idx ON care_team_members (patient_id, starts_at, id) INCLUDE (tenant_id, status);
CREATE INDEX clinical_notes_patient_created_idx ON clinical_notes (patient_id, created_at, id) INCLUDE (tenant_id, status, signed_at);
CREATE INDEX conditions_patient_created_idx ON conditions (patient_id, created_at, id) INCLUDE (tenant_id, status);
CREATE INDEX allergies_patient_created_idx ON allergies (patient_id, created_at, id) INCLUDE (tenant_id, status);
CREATE INDEX medication_requests_patient_created_idx ON medication_requests (patient_id, created_at, id) INCLUDE (tenant_id, status);
CREATE INDEX observations_patient_effective_idx ON observations (patient_id, effective_at, id) INCLUDE (tenant_id);
