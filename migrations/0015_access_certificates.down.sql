DELETE FROM config_changes WHERE kind = 'certificate';
ALTER TABLE config_changes DROP CONSTRAINT config_changes_kind_check;
ALTER TABLE config_changes ADD CONSTRAINT config_changes_kind_check
    CHECK (kind IN ('app', 'policy', 'service_token', 'identity_provider', 'revocation', 'signing_keys',
                    'account_domain', 'organization'));
DROP TABLE access_certificates;
