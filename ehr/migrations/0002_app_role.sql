-- The role the server runs as (granted to its login role, or used with
-- SET ROLE). Roles are global to the server while this migration runs once
-- per database, possibly in many databases at once: a concurrent creation
-- shows up as duplicate_object or unique_violation, and both mean "exists".
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'historia_app') THEN
        CREATE ROLE historia_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO historia_app;

-- Reference data and current records: read, create, new versions. No
-- DELETE: clinical data is never destroyed.
GRANT SELECT, INSERT, UPDATE ON
    tenants, practitioners, patients, encounters, appointments,
    care_team_members, clinical_notes, conditions, allergies,
    medication_requests, observations, audit_heads
TO historia_app;

-- Lookup tables whose rows move: an identifier that changes, a slot that
-- is released.
GRANT SELECT, INSERT, DELETE ON patient_identifiers, appointment_slots TO historia_app;

-- Append-only tables.
GRANT SELECT, INSERT ON audit_events, record_versions, break_glass_grants TO historia_app;

GRANT SELECT ON ehr_schema_migrations TO historia_app;
