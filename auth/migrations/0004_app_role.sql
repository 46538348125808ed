-- The role the server runs as, shared with ehr (ehr's migrations create it
-- too; whichever runs first wins). Roles are global to the server while
-- this migration runs once per database, possibly in many at once: a
-- concurrent creation shows up as duplicate_object or unique_violation,
-- and both mean "exists".
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

-- Accounts, sessions and refresh tokens change state (failed attempts,
-- rotation, revocation) but are never deleted by the server.
GRANT SELECT, INSERT, UPDATE ON users, auth_sessions, refresh_tokens, security_event_heads TO historia_app;

-- The security log is append-only: no UPDATE, no DELETE.
GRANT SELECT, INSERT ON security_events TO historia_app;

GRANT SELECT ON auth_schema_migrations TO historia_app;
