-- Identity providers (the login methods of an account), per-application
-- session revocation, and the login flow's single-use tokens and one-time
-- PINs.

CREATE TABLE identity_providers (
    id            uuid PRIMARY KEY,
    account_id    text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          text NOT NULL,
    type          text NOT NULL CHECK (type IN ('oidc', 'onetimepin')),
    -- Everything but the client secret.
    config        jsonb NOT NULL,
    -- AES-256-GCM sealed with the master key, nonce first; the provider id
    -- is the additional data, so a sealed secret opens only in its row.
    -- NULL for types without a secret.
    client_secret bytea,
    revision      bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT identity_providers_account_name_key UNIQUE (account_id, name),
    CONSTRAINT identity_providers_account_id_id_key UNIQUE (account_id, id)
);
CREATE INDEX identity_providers_account_created_idx ON identity_providers (account_id, created_at, id);
-- An account has at most one one-time PIN provider, as in Access.
CREATE UNIQUE INDEX identity_providers_onetimepin_key ON identity_providers (account_id) WHERE type = 'onetimepin';

-- App tokens issued before this time are refused (revoke_tokens).
ALTER TABLE apps ADD COLUMN sessions_revoked_at timestamptz;

-- Login tokens that were already exchanged for an app session; kept until
-- they expire, so each works once.
CREATE TABLE login_tokens_used (
    jti        text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX login_tokens_used_expires_idx ON login_tokens_used (expires_at);

-- One-time PINs sent by email, stored only as hashes.
CREATE TABLE otp_codes (
    id         uuid PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email      text NOT NULL,
    code_hash  bytea NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    attempts   int NOT NULL DEFAULT 0,
    used       boolean NOT NULL DEFAULT false
);
CREATE INDEX otp_codes_account_email_created_idx ON otp_codes (account_id, email, created_at);
CREATE INDEX otp_codes_expires_idx ON otp_codes (expires_at);
