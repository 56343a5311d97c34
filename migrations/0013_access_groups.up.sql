-- Access groups: named rule sets that policies use through a group rule
-- ({"group": {"id": …}}). Groups do not nest. The edge reads a group
-- inside each policy that uses it, so a group's change reaches the edges
-- as a change of those policies in the feed.
CREATE TABLE access_groups (
    id         uuid PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name       text NOT NULL,
    include    jsonb NOT NULL,
    require    jsonb NOT NULL,
    exclude    jsonb NOT NULL,
    revision   bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT access_groups_account_id_id_key UNIQUE (account_id, id),
    CONSTRAINT access_groups_account_name_key UNIQUE (account_id, name)
);
CREATE INDEX access_groups_account_created_idx ON access_groups (account_id, created_at, id);

-- Which groups a policy's rules name: a group in use cannot be deleted,
-- and a group's change is a change of every policy listed here.
CREATE TABLE policy_groups (
    account_id text NOT NULL,
    policy_id  uuid NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
    group_id   uuid NOT NULL,
    PRIMARY KEY (policy_id, group_id),
    CONSTRAINT policy_groups_group_fkey FOREIGN KEY (account_id, group_id) REFERENCES access_groups (account_id, id)
);
CREATE INDEX policy_groups_group_idx ON policy_groups (group_id);

-- Which service tokens a group's rules name, as policy_service_tokens
-- does for policies.
CREATE TABLE access_group_service_tokens (
    account_id text NOT NULL,
    group_id   uuid NOT NULL REFERENCES access_groups (id) ON DELETE CASCADE,
    token_id   uuid NOT NULL,
    PRIMARY KEY (group_id, token_id),
    CONSTRAINT access_group_service_tokens_token_fkey FOREIGN KEY (account_id, token_id) REFERENCES service_tokens (account_id, id)
);
CREATE INDEX access_group_service_tokens_token_idx ON access_group_service_tokens (token_id);
