DROP VIEW access_logs;

CREATE VIEW access_logs AS
SELECT c.id AS chunk_id, r.ord, c.account_id, r.created_at, r.ray_id, NULLIF(r.app_id, '')::uuid AS app_id,
       r.app_domain, r.action, r.allowed, r.reason, r.user_email, r.connection,
       NULLIF(r.service_token_id, '')::uuid AS service_token_id, r.service_token_name, r.non_identity,
       r.ip_address, r.country, r.method, r.origin, r.request_method, r.request_headers,
       r.upstream_status, r.upstream_latency_us, r.decision_us, r.purpose_justification
FROM access_log_chunks c
CROSS JOIN LATERAL unnest(c.created_at, c.ray_id, c.app_id, c.app_domain, c.action, c.allowed, c.reason,
    c.user_email, c.connection, c.service_token_id, c.service_token_name, c.non_identity, c.ip_address,
    c.country, c.method, c.origin, c.request_method, c.request_headers, c.upstream_status,
    c.upstream_latency_us, c.decision_us, c.purpose_justification)
    WITH ORDINALITY AS r(created_at, ray_id, app_id, app_domain, action, allowed, reason, user_email,
        connection, service_token_id, service_token_name, non_identity, ip_address, country, method,
        origin, request_method, request_headers, upstream_status, upstream_latency_us, decision_us,
        purpose_justification, ord);

ALTER TABLE access_log_chunks DROP COLUMN path;
