-- A login session is a refresh-token family. Distributed by id; its tokens
-- are colocated with it, so a refresh is a single-shard transaction.
CREATE TABLE auth_sessions (
    id             uuid        PRIMARY KEY,
    tenant_id      text        NOT NULL,
    user_id        uuid        NOT NULL REFERENCES users (id),
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL, -- absolute limit
    last_used_at   timestamptz NOT NULL, -- idle time-out counts from here
    generation     integer     NOT NULL DEFAULT 0,
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX auth_sessions_user_idx ON auth_sessions (user_id) WHERE revoked_at IS NULL;

-- Refresh tokens are stored as SHA-256 hashes of their 256-bit secret.
CREATE TABLE refresh_tokens (
    session_id uuid        NOT NULL REFERENCES auth_sessions (id),
    token_hash bytea       NOT NULL,
    generation integer     NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (session_id, token_hash)
);
