-- One-time codes with which a patient activates their portal account
-- (Repository.IssueActivation, RedeemActivation). Only SHA-256 of the code
-- is stored (hex, the lookup key). A code is bound to its tenant and its
-- patient, expires, and is spent by its first use (used_at).
--
-- On Citus the table is distributed by code_hash (its own colocation
-- group, like patient_identifiers by value): a redemption knows the code,
-- not the patient, and is then a single-shard statement.
CREATE TABLE portal_activations (
    code_hash  text        NOT NULL PRIMARY KEY,
    id         uuid        NOT NULL,
    tenant_id  uuid        NOT NULL,
    patient_id uuid        NOT NULL,
    issued_by  text        NOT NULL,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    used_by    text        NOT NULL DEFAULT '',
    CHECK (expires_at > issued_at)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'historia_app') THEN
        GRANT SELECT, INSERT, UPDATE ON portal_activations TO historia_app;
    END IF;
END
$$;
