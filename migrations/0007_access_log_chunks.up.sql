-- The access log, stored in chunks: one row per batch the edge writes
-- (per account), each column an array with one element per decision, in
-- time order. A decision costs PostgreSQL an array element instead of a
-- heap tuple, three index entries and their WAL, which is what kept the
-- edge from running at full speed with logging on (issue 7). The view
-- access_logs below gives the old row-per-decision shape for queries.
CREATE TABLE access_log_chunks (
    id                  bigserial   PRIMARY KEY,
    account_id          text,       -- NULL: requests for unknown hosts; never listed
    first_at            timestamptz NOT NULL,
    last_at             timestamptz NOT NULL,
    n                   integer     NOT NULL CHECK (n > 0),
    -- What the chunk may hold, so that a filtered listing skips the
    -- chunks that cannot match (pruning a chunk's front leaves them true).
    has_allowed         boolean     NOT NULL,
    has_denied          boolean     NOT NULL,
    app_ids             text[]      NOT NULL, -- distinct app_id values
    reasons             text[]      NOT NULL, -- distinct reason values
    created_at          timestamptz[] NOT NULL,
    ray_id              text[]      NOT NULL,
    app_id              text[]      NOT NULL, -- '' when no app matched
    app_domain          text[]      NOT NULL,
    action              text[]      NOT NULL,
    allowed             boolean[]   NOT NULL,
    reason              text[]      NOT NULL,
    user_email          text[]      NOT NULL,
    connection          text[]      NOT NULL,
    service_token_id    text[]      NOT NULL, -- '' when none
    service_token_name  text[]      NOT NULL,
    non_identity        boolean[]   NOT NULL,
    ip_address          text[]      NOT NULL,
    country             text[]      NOT NULL,
    method              text[]      NOT NULL,
    origin              text[]      NOT NULL,
    request_method      text[]      NOT NULL,
    request_headers     text[]      NOT NULL,
    upstream_status     integer[]   NOT NULL,
    upstream_latency_us bigint[]    NOT NULL,
    decision_us         bigint[]    NOT NULL
);

-- Log rows repeat themselves; lz4 is cheap to compress and to read.
ALTER TABLE access_log_chunks
    ALTER COLUMN created_at SET COMPRESSION lz4, ALTER COLUMN ray_id SET COMPRESSION lz4,
    ALTER COLUMN app_id SET COMPRESSION lz4, ALTER COLUMN app_domain SET COMPRESSION lz4,
    ALTER COLUMN action SET COMPRESSION lz4, ALTER COLUMN allowed SET COMPRESSION lz4,
    ALTER COLUMN reason SET COMPRESSION lz4, ALTER COLUMN user_email SET COMPRESSION lz4,
    ALTER COLUMN connection SET COMPRESSION lz4, ALTER COLUMN service_token_id SET COMPRESSION lz4,
    ALTER COLUMN service_token_name SET COMPRESSION lz4, ALTER COLUMN non_identity SET COMPRESSION lz4,
    ALTER COLUMN ip_address SET COMPRESSION lz4, ALTER COLUMN country SET COMPRESSION lz4,
    ALTER COLUMN method SET COMPRESSION lz4, ALTER COLUMN origin SET COMPRESSION lz4,
    ALTER COLUMN request_method SET COMPRESSION lz4, ALTER COLUMN request_headers SET COMPRESSION lz4,
    ALTER COLUMN upstream_status SET COMPRESSION lz4, ALTER COLUMN upstream_latency_us SET COMPRESSION lz4,
    ALTER COLUMN decision_us SET COMPRESSION lz4;

-- Newest first (the default listing) and oldest first, per account.
CREATE INDEX access_log_chunks_account_last ON access_log_chunks (account_id, last_at DESC, id DESC);
CREATE INDEX access_log_chunks_account_first ON access_log_chunks (account_id, first_at, id);
-- Retention by age, across accounts.
CREATE INDEX access_log_chunks_last ON access_log_chunks (last_at);

-- Keep what was logged: the old rows become chunks of up to 1000.
INSERT INTO access_log_chunks (account_id, first_at, last_at, n, has_allowed, has_denied, app_ids, reasons, created_at, ray_id, app_id, app_domain,
    action, allowed, reason, user_email, connection, service_token_id, service_token_name, non_identity,
    ip_address, country, method, origin, request_method, request_headers, upstream_status,
    upstream_latency_us, decision_us)
SELECT account_id, min(created_at), max(created_at), count(*), bool_or(allowed), bool_or(NOT allowed),
    array_agg(DISTINCT COALESCE(app_id::text, '')), array_agg(DISTINCT reason),
    array_agg(created_at ORDER BY created_at, id), array_agg(ray_id ORDER BY created_at, id),
    array_agg(COALESCE(app_id::text, '') ORDER BY created_at, id), array_agg(app_domain ORDER BY created_at, id),
    array_agg(action ORDER BY created_at, id), array_agg(allowed ORDER BY created_at, id),
    array_agg(reason ORDER BY created_at, id), array_agg(user_email ORDER BY created_at, id),
    array_agg(connection ORDER BY created_at, id), array_agg(COALESCE(service_token_id::text, '') ORDER BY created_at, id),
    array_agg(service_token_name ORDER BY created_at, id), array_agg(non_identity ORDER BY created_at, id),
    array_agg(ip_address ORDER BY created_at, id), array_agg(country ORDER BY created_at, id),
    array_agg(method ORDER BY created_at, id), array_agg(origin ORDER BY created_at, id),
    array_agg(request_method ORDER BY created_at, id), array_agg(request_headers ORDER BY created_at, id),
    array_agg(upstream_status ORDER BY created_at, id), array_agg(upstream_latency_us ORDER BY created_at, id),
    array_agg(decision_us ORDER BY created_at, id)
FROM (SELECT *, (row_number() OVER (PARTITION BY account_id ORDER BY created_at, id) - 1) / 1000 AS chunk
      FROM access_logs) t
GROUP BY account_id, chunk
ORDER BY min(created_at);

DROP TABLE access_logs;

-- One row per decision, for operators' ad-hoc queries (and the tests).
CREATE VIEW access_logs AS
SELECT c.id AS chunk_id, r.ord, c.account_id, r.created_at, r.ray_id, NULLIF(r.app_id, '')::uuid AS app_id,
       r.app_domain, r.action, r.allowed, r.reason, r.user_email, r.connection,
       NULLIF(r.service_token_id, '')::uuid AS service_token_id, r.service_token_name, r.non_identity,
       r.ip_address, r.country, r.method, r.origin, r.request_method, r.request_headers,
       r.upstream_status, r.upstream_latency_us, r.decision_us
FROM access_log_chunks c
CROSS JOIN LATERAL unnest(c.created_at, c.ray_id, c.app_id, c.app_domain, c.action, c.allowed, c.reason,
    c.user_email, c.connection, c.service_token_id, c.service_token_name, c.non_identity, c.ip_address,
    c.country, c.method, c.origin, c.request_method, c.request_headers, c.upstream_status,
    c.upstream_latency_us, c.decision_us)
    WITH ORDINALITY AS r(created_at, ray_id, app_id, app_domain, action, allowed, reason, user_email,
        connection, service_token_id, service_token_name, non_identity, ip_address, country, method,
        origin, request_method, request_headers, upstream_status, upstream_latency_us, decision_us, ord);
