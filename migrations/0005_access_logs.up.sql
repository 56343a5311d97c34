-- The edge's access log: one row per decision. No foreign keys: rows
-- outlive the apps, tokens and accounts they name. Requests for unknown
-- hosts have no account and are never listed by the API.
CREATE TABLE access_logs (
    id                  bigserial   PRIMARY KEY,
    created_at          timestamptz NOT NULL,
    ray_id              text        NOT NULL,
    account_id          text,
    app_id              uuid,
    app_domain          text        NOT NULL DEFAULT '',
    action              text        NOT NULL,
    allowed             boolean     NOT NULL,
    reason              text        NOT NULL DEFAULT '',
    user_email          text        NOT NULL DEFAULT '',
    connection          text        NOT NULL DEFAULT '',
    service_token_id    uuid,
    service_token_name  text        NOT NULL DEFAULT '',
    non_identity        boolean     NOT NULL DEFAULT false,
    ip_address          text        NOT NULL DEFAULT '',
    country             text        NOT NULL DEFAULT '',
    method              text        NOT NULL DEFAULT '',
    origin              text        NOT NULL DEFAULT '',
    request_method      text        NOT NULL DEFAULT '',
    request_headers     text        NOT NULL DEFAULT '',
    upstream_status     integer     NOT NULL DEFAULT 0,
    upstream_latency_us bigint      NOT NULL DEFAULT 0,
    decision_us         bigint      NOT NULL DEFAULT 0
);

CREATE INDEX access_logs_account_created ON access_logs (account_id, created_at DESC);
CREATE INDEX access_logs_account_app_created ON access_logs (account_id, app_id, created_at DESC);
-- No index on user_email: the email filter is a substring match, which a
-- btree cannot serve, and every index slows the edge's log writes.
-- Retention finds old rows across accounts. Rows arrive in time order, so
-- a BRIN index serves it at almost no cost per insert.
CREATE INDEX access_logs_created ON access_logs USING brin (created_at);
