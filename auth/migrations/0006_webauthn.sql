-- WebAuthn (passkey) second factor: the credentials each user
-- registered. credential_id is the authenticator's credential id (unique
-- across users); public_key is its COSE key. sign_count is the last
-- signature counter seen: an assertion whose counter does not grow (when
-- either is non-zero) is refused as a possible clone. flags keeps the
-- backup eligibility the library checks at every assertion. A reset
-- (Store.ResetMFA) sets revoked_at: rows are never deleted.
CREATE TABLE auth_webauthn_credentials (
    credential_id      bytea       PRIMARY KEY,
    user_id            uuid        NOT NULL REFERENCES users (id),
    tenant_id          text        NOT NULL,
    public_key         bytea       NOT NULL,
    sign_count         bigint      NOT NULL DEFAULT 0,
    clone_warning      boolean     NOT NULL DEFAULT false,
    transports         text[]      NOT NULL DEFAULT '{}',
    aaguid             bytea       NOT NULL DEFAULT '\x',
    attestation_type   text        NOT NULL DEFAULT '',
    attestation_format text        NOT NULL DEFAULT '',
    flags              smallint    NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL,
    last_used_at       timestamptz,
    revoked_at         timestamptz
);

CREATE INDEX auth_webauthn_credentials_user_idx ON auth_webauthn_credentials (user_id);

-- A passkey registration under way: the ceremony's session data (its
-- challenge) kept on the server, one per login session, single use and
-- short lived.
CREATE TABLE auth_webauthn_registrations (
    session_id   uuid        PRIMARY KEY,
    tenant_id    text        NOT NULL,
    user_id      uuid        NOT NULL REFERENCES users (id),
    session_data bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);

-- The assertion challenge of a login's second step lives on the row of
-- its mfa_token: a passkey answers exactly the challenge a code would.
ALTER TABLE auth_mfa_challenges ADD COLUMN webauthn_session bytea;

GRANT SELECT, INSERT, UPDATE ON auth_webauthn_credentials, auth_webauthn_registrations TO historia_app;
