DROP TABLE account_domains;
DROP INDEX app_domains_host_key_idx;
ALTER TABLE app_domains DROP COLUMN host_key, DROP COLUMN host_wildcard;
