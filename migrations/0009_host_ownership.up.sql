-- Host ownership (issue 12): a host, every path under it and every
-- wildcard that covers it belong to at most one account.
--
-- host_key is the domain's host, canonical (lower-case, no port, no
-- trailing dot, no "*." of a wildcard), reversed character by character:
-- a zone and every host under it then share a key prefix, so one ordered
-- (byte-wise, COLLATE "C") index finds the hosts under a zone and the
-- wildcards above a host. The expressions must stay the same as
-- access.ClaimOf and HostClaim.Key. Existing rows are kept as they are;
-- overlaps between accounts that predate this migration are reported by
-- gatehouse serve at startup.
ALTER TABLE app_domains
    ADD COLUMN host_wildcard boolean GENERATED ALWAYS AS (
        left(rtrim(regexp_replace(lower(split_part(domain, '/', 1)), ':[0-9]*$', ''), '.'), 2) = '*.'
    ) STORED,
    ADD COLUMN host_key text COLLATE "C" GENERATED ALWAYS AS (
        reverse(regexp_replace(rtrim(regexp_replace(lower(split_part(domain, '/', 1)), ':[0-9]*$', ''), '.'), '^\*\.', ''))
    ) STORED;
CREATE INDEX app_domains_host_key_idx ON app_domains (host_key);

-- The domains an operator gave an account (gatehouse account domains add):
-- when an account has any, every domain of its apps must lie inside them,
-- and no other account may claim a host they cover.
CREATE TABLE account_domains (
    account_id    text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    domain        text NOT NULL CHECK (domain <> ''),
    host_wildcard boolean GENERATED ALWAYS AS (left(domain, 2) = '*.') STORED,
    host_key      text COLLATE "C" GENERATED ALWAYS AS (reverse(regexp_replace(domain, '^\*\.', ''))) STORED,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (account_id, domain)
);
CREATE INDEX account_domains_host_key_idx ON account_domains (host_key);
