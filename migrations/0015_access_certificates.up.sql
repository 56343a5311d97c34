-- Mutual TLS: the CA certificates an account uploads (/access/certificates)
-- and the hostnames each is associated with. A client certificate signed
-- by one satisfies the certificate and common_name rules on those hosts.
-- certificate is the PEM as uploaded; fingerprint the SHA-256 of its DER.
CREATE TABLE access_certificates (
    id                   uuid PRIMARY KEY,
    account_id           text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                 text NOT NULL CHECK (name <> ''),
    certificate          text NOT NULL,
    fingerprint          text NOT NULL,
    associated_hostnames text[] NOT NULL,
    expires_on           timestamptz NOT NULL,
    revision             bigint NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    CONSTRAINT access_certificates_account_name_key UNIQUE (account_id, name),
    CONSTRAINT access_certificates_account_fingerprint_key UNIQUE (account_id, fingerprint)
);
CREATE INDEX access_certificates_account_created_idx ON access_certificates (account_id, created_at, id);

-- The change feed learns the new kind (key: the certificate's id), beside
-- 0014's 'organization'.
ALTER TABLE config_changes DROP CONSTRAINT config_changes_kind_check;
ALTER TABLE config_changes ADD CONSTRAINT config_changes_kind_check
    CHECK (kind IN ('app', 'policy', 'service_token', 'identity_provider', 'revocation', 'signing_keys',
                    'account_domain', 'organization', 'certificate'));
