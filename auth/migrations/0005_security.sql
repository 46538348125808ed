-- Revocation: replicas reload the sessions revoked within an access
-- token's life (after a restart or a lost LISTEN connection).
CREATE INDEX auth_sessions_revoked_idx ON auth_sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Re-authentication: when the user last proved possession of a factor
-- (password or second factor) in this session; access tokens carry it as
-- auth_time.
ALTER TABLE auth_sessions ADD COLUMN auth_time timestamptz;

-- Password-spraying detection counts a tenant's recent failed logins.
CREATE INDEX security_events_kind_time_idx ON security_events (tenant_id, kind, occurred_at);

-- TOTP (RFC 6238) second factor: one secret per user. confirmed_at is
-- NULL until the user proved the enrolment with a first valid code.
-- last_step is the highest time step accepted: a code is accepted once,
-- and never one of an earlier step (replay protection).
CREATE TABLE auth_mfa_totp (
    user_id      uuid        PRIMARY KEY REFERENCES users (id),
    tenant_id    text        NOT NULL,
    secret       bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    confirmed_at timestamptz,
    last_step    bigint      NOT NULL DEFAULT 0
);

-- Recovery codes: one-time, stored as sha256(salt || code) with a random
-- 128-bit salt each (ASVS 2.6.2).
CREATE TABLE auth_recovery_codes (
    user_id    uuid        NOT NULL REFERENCES users (id),
    salt       bytea       NOT NULL,
    code_hash  bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- The mfa_token of the token endpoint's second step: single use, short
-- lived, bound to its user and client; only SHA-256 of its secret is kept.
CREATE TABLE auth_mfa_challenges (
    id         uuid        PRIMARY KEY,
    token_hash bytea       NOT NULL,
    tenant_id  text        NOT NULL,
    user_id    uuid        NOT NULL REFERENCES users (id),
    client_key text        NOT NULL,
    enroll     boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

GRANT SELECT, INSERT, UPDATE ON auth_mfa_totp, auth_recovery_codes, auth_mfa_challenges TO historia_app;
