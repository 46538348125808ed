-- Users of every tenant. Small and read-mostly: a Citus reference table.
CREATE TABLE users (
    id                  uuid        PRIMARY KEY,
    tenant_id           text        NOT NULL CHECK (tenant_id <> ''),
    username            text        NOT NULL CHECK (username <> ''),
    password_hash       text        NOT NULL,
    roles               text[]      NOT NULL DEFAULT '{}',
    patient_id          text,
    status              text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    failed_attempts     integer     NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_until        timestamptz,
    password_changed_at timestamptz NOT NULL,
    last_login_at       timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CONSTRAINT users_tenant_username_key UNIQUE (tenant_id, username)
);
