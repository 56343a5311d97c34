-- Edge instances report themselves here (Gatehouse's propagation status).
-- Edges are installation-wide: each enforces every account, so the table
-- has no account_id. Each edge upserts its row on every heartbeat and
-- deletes it on shutdown; rows of edges that stopped without saying so are
-- swept after a while.
CREATE TABLE edge_instances (
    id             text PRIMARY KEY,
    hostname       text        NOT NULL,
    addr           text        NOT NULL,
    version        text        NOT NULL DEFAULT '',
    started_at     timestamptz NOT NULL,
    heartbeat_at   timestamptz NOT NULL,
    config_version bigint      NOT NULL,
    last_reload_at timestamptz,
    last_error     text        NOT NULL DEFAULT ''
);

CREATE INDEX edge_instances_heartbeat_at ON edge_instances (heartbeat_at);
