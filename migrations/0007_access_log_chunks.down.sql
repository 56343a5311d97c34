CREATE TABLE access_logs_rows (
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

INSERT INTO access_logs_rows (created_at, ray_id, account_id, app_id, app_domain, action, allowed, reason,
    user_email, connection, service_token_id, service_token_name, non_identity, ip_address, country, method,
    origin, request_method, request_headers, upstream_status, upstream_latency_us, decision_us)
SELECT created_at, ray_id, account_id, app_id, app_domain, action, allowed, reason,
    user_email, connection, service_token_id, service_token_name, non_identity, ip_address, country, method,
    origin, request_method, request_headers, upstream_status, upstream_latency_us, decision_us
FROM access_logs ORDER BY chunk_id, ord;

DROP VIEW access_logs;
DROP TABLE access_log_chunks;
ALTER TABLE access_logs_rows RENAME TO access_logs;
ALTER SEQUENCE access_logs_rows_id_seq RENAME TO access_logs_id_seq;
ALTER INDEX access_logs_rows_pkey RENAME TO access_logs_pkey;

CREATE INDEX access_logs_account_created ON access_logs (account_id, created_at DESC);
CREATE INDEX access_logs_account_app_created ON access_logs (account_id, app_id, created_at DESC);
CREATE INDEX access_logs_created ON access_logs USING brin (created_at);
