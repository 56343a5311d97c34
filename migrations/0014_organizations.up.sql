-- An account's Zero Trust organization (Cloudflare's /access/organizations):
-- the body as stored, in Cloudflare's field names, with only the fields
-- that were set. The edge reads it through the change feed (kind
-- 'organization', key the account id). An account has at most one.
CREATE TABLE organizations (
    account_id text        PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    settings   jsonb       NOT NULL CHECK (jsonb_typeof(settings) = 'object'),
    revision   bigint      NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- An account's signing-key rotation period (/access/keys). The keyring is
-- the installation's: it rotates at the shortest period any account asks
-- for (Cloudflare's bounds, 21 to 365 days, keep that at least 3 weeks).
CREATE TABLE access_key_settings (
    account_id                 text        PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    key_rotation_interval_days integer     NOT NULL CHECK (key_rotation_interval_days BETWEEN 21 AND 365),
    updated_at                 timestamptz NOT NULL
);

-- The feed learns the kind 'organization' (key: the account id).
ALTER TABLE config_changes DROP CONSTRAINT config_changes_kind_check,
    ADD CONSTRAINT config_changes_kind_check CHECK (kind IN ('app', 'policy', 'service_token', 'identity_provider',
        'revocation', 'signing_keys', 'account_domain', 'organization'));
