-- Accounts, API tokens, applications, policies, service tokens, the audit
-- log and the config version that the edge follows.

CREATE TABLE accounts (
    id         text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    name       text NOT NULL CHECK (name <> ''),
    created_at timestamptz NOT NULL
);

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    account_id   text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name         text NOT NULL,
    token_hash   bytea NOT NULL,
    read_only    boolean NOT NULL,
    created_at   timestamptz NOT NULL,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
);

-- One row: the version of the configuration every edge should enforce.
CREATE TABLE config_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);
INSERT INTO config_state (singleton, version) VALUES (true, 0);

CREATE TABLE apps (
    id                       uuid PRIMARY KEY,
    account_id               text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    aud                      text NOT NULL,
    type                     text NOT NULL CHECK (type = 'self_hosted'),
    name                     text NOT NULL,
    domain                   text NOT NULL,
    origin                   text NOT NULL,
    session_duration         text NOT NULL,
    cors_headers             jsonb,
    options_preflight_bypass boolean NOT NULL,
    settings                 jsonb NOT NULL,
    revision                 bigint NOT NULL,
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    CONSTRAINT apps_aud_key UNIQUE (aud),
    CONSTRAINT apps_account_id_id_key UNIQUE (account_id, id),
    CONSTRAINT apps_account_name_key UNIQUE (account_id, name),
    CONSTRAINT apps_bypass_excludes_cors CHECK (NOT (options_preflight_bypass AND cors_headers IS NOT NULL))
);
CREATE INDEX apps_account_created_idx ON apps (account_id, created_at, id);

-- Every host/path an app protects. A domain belongs to one app across all
-- accounts, because the edge routes by host before it knows the account.
CREATE TABLE app_domains (
    app_id     uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    position   int NOT NULL,
    domain     text NOT NULL,
    PRIMARY KEY (app_id, position),
    CONSTRAINT app_domains_domain_key UNIQUE (domain)
);

CREATE TABLE policies (
    id               uuid PRIMARY KEY,
    account_id       text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- NULL for a reusable policy; the owning app for an app-scoped one.
    app_id           uuid REFERENCES apps (id) ON DELETE CASCADE,
    name             text NOT NULL,
    decision         text NOT NULL CHECK (decision IN ('allow', 'deny', 'bypass', 'non_identity')),
    include          jsonb NOT NULL,
    require          jsonb NOT NULL,
    exclude          jsonb NOT NULL,
    session_duration text NOT NULL,
    extras           jsonb NOT NULL,
    revision         bigint NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT policies_account_id_id_key UNIQUE (account_id, id)
);
CREATE UNIQUE INDEX policies_reusable_name_key ON policies (account_id, name) WHERE app_id IS NULL;
CREATE UNIQUE INDEX policies_app_name_key ON policies (app_id, name) WHERE app_id IS NOT NULL;
CREATE INDEX policies_account_created_idx ON policies (account_id, created_at, id);

-- Which policies an app enforces, in precedence order. The composite keys
-- make a link across accounts impossible.
CREATE TABLE app_policies (
    account_id text NOT NULL,
    app_id     uuid NOT NULL,
    policy_id  uuid NOT NULL,
    precedence int NOT NULL,
    PRIMARY KEY (app_id, policy_id),
    CONSTRAINT app_policies_app_fkey FOREIGN KEY (account_id, app_id) REFERENCES apps (account_id, id) ON DELETE CASCADE,
    CONSTRAINT app_policies_policy_fkey FOREIGN KEY (account_id, policy_id) REFERENCES policies (account_id, id) ON DELETE CASCADE,
    CONSTRAINT app_policies_precedence_key UNIQUE (app_id, precedence) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX app_policies_policy_idx ON app_policies (policy_id);

CREATE TABLE service_tokens (
    id                         uuid PRIMARY KEY,
    account_id                 text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                       text NOT NULL,
    client_id                  text NOT NULL,
    secret_hash                bytea NOT NULL,
    previous_secret_hash       bytea,
    previous_secret_expires_at timestamptz,
    client_secret_version      bigint NOT NULL,
    duration                   text NOT NULL,
    expires_at                 timestamptz NOT NULL,
    last_seen_at               timestamptz,
    revision                   bigint NOT NULL,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL,
    CONSTRAINT service_tokens_client_id_key UNIQUE (client_id),
    CONSTRAINT service_tokens_account_id_id_key UNIQUE (account_id, id),
    CONSTRAINT service_tokens_account_name_key UNIQUE (account_id, name)
);
CREATE INDEX service_tokens_account_created_idx ON service_tokens (account_id, created_at, id);

-- Which service tokens a policy's rules name, so that a token in use cannot
-- be deleted out from under a policy.
CREATE TABLE policy_service_tokens (
    account_id text NOT NULL,
    policy_id  uuid NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
    token_id   uuid NOT NULL,
    PRIMARY KEY (policy_id, token_id),
    CONSTRAINT policy_service_tokens_token_fkey FOREIGN KEY (account_id, token_id) REFERENCES service_tokens (account_id, id)
);
CREATE INDEX policy_service_tokens_token_idx ON policy_service_tokens (token_id);

CREATE TABLE audit_log (
    id             bigserial PRIMARY KEY,
    account_id     text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL,
    actor_token_id uuid,
    actor_name     text NOT NULL,
    request_id     text NOT NULL,
    action         text NOT NULL,
    resource_type  text NOT NULL,
    resource_id    text NOT NULL,
    before         jsonb,
    after          jsonb,
    config_version bigint NOT NULL
);
CREATE INDEX audit_log_account_idx ON audit_log (account_id, id DESC);
