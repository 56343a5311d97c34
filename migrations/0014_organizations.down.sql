DELETE FROM config_changes WHERE kind = 'organization';
ALTER TABLE config_changes DROP CONSTRAINT config_changes_kind_check,
    ADD CONSTRAINT config_changes_kind_check CHECK (kind IN ('app', 'policy', 'service_token', 'identity_provider',
        'revocation', 'signing_keys', 'account_domain'));
DROP TABLE access_key_settings;
DROP TABLE organizations;
