-- The security log: one hash chain per tenant,
-- hash = sha256(prev_hash || canonical event).
CREATE TABLE security_event_heads (
    tenant_id text   PRIMARY KEY,
    seq       bigint NOT NULL,
    hash      bytea  NOT NULL
);

CREATE TABLE security_events (
    tenant_id   text        NOT NULL,
    seq         bigint      NOT NULL CHECK (seq > 0),
    occurred_at timestamptz NOT NULL,
    kind        text        NOT NULL,
    user_id     text        NOT NULL DEFAULT '',
    username    text        NOT NULL DEFAULT '',
    session_id  text        NOT NULL DEFAULT '',
    client_ip   text        NOT NULL DEFAULT '',
    detail      text        NOT NULL DEFAULT '',
    prev_hash   bytea       NOT NULL,
    hash        bytea       NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
