-- The installation's keyring for app tokens (CF_Authorization,
-- Cf-Access-Jwt-Assertion). The newest key signs; older keys verify until
-- they retire. Private keys are sealed with the master key.

CREATE TABLE signing_keys (
    kid         text PRIMARY KEY,
    -- AES-256-GCM sealed PKCS#8 DER, nonce first; the kid is the
    -- additional data, so a sealed key cannot be moved to another row.
    private_key bytea NOT NULL,
    public_jwk  jsonb NOT NULL,
    -- Self-signed X.509 PEM, for the certs endpoint's public_cert(s).
    public_cert text NOT NULL,
    created_at  timestamptz NOT NULL,
    -- NULL while current; set when superseded, to the successor's
    -- created_at plus the grace period.
    retires_at  timestamptz
);
