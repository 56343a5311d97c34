-- The change feed: per committed write (config version), which objects it
-- changed, so that an edge behind by a few versions reads only those
-- objects (store.Changes). kind is what the edge indexes by; key is the
-- object's id (an app, policy or identity provider id; a service token's
-- CLIENT id; for a revocation "<account>:s:<session id>" or
-- "<account>:e:<email>"; '' for signing_keys; the domain for an
-- account_domain, which the edge ignores).
CREATE TABLE config_changes (
    version    bigint NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('app', 'policy', 'service_token', 'identity_provider',
                                             'revocation', 'signing_keys', 'account_domain')),
    key        text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (version, kind, key)
);
CREATE INDEX config_changes_created_idx ON config_changes (created_at);

-- feed_floor: the feed holds every change after this version (older rows
-- are swept). An existing installation's feed starts now.
ALTER TABLE config_state ADD COLUMN feed_floor bigint;
UPDATE config_state SET feed_floor = version;
ALTER TABLE config_state ALTER COLUMN feed_floor SET NOT NULL;

-- Per-account row counts for the API lists' total_count, maintained by the
-- store in the transaction of every insert and delete, so that a list page
-- never counts the rows. kind: app, policy (reusable ones), service_token,
-- identity_provider, audit. gen changes whenever rows may have moved in
-- the list's order (a delete, or an insert not after the newest row,
-- last_at): while it stays the same, the store may seek to a page from
-- where it remembers an earlier page ended rather than skip to it.
CREATE TABLE account_counts (
    account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    n          bigint NOT NULL CHECK (n >= 0),
    gen        bigint NOT NULL DEFAULT 0,
    last_at    timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (account_id, kind)
);
INSERT INTO account_counts (account_id, kind, n)
SELECT account_id, 'app', count(*) FROM apps GROUP BY account_id
UNION ALL SELECT account_id, 'policy', count(*) FROM policies WHERE app_id IS NULL GROUP BY account_id
UNION ALL SELECT account_id, 'service_token', count(*) FROM service_tokens GROUP BY account_id
UNION ALL SELECT account_id, 'identity_provider', count(*) FROM identity_providers GROUP BY account_id
UNION ALL SELECT account_id, 'audit', count(*) FROM audit_log GROUP BY account_id;

-- The reusable-policy list's keyset order.
CREATE INDEX policies_reusable_created_idx ON policies (account_id, created_at, id) WHERE app_id IS NULL;
