ALTER TABLE apps
    DROP CONSTRAINT apps_upstream_token_check,
    DROP COLUMN upstream_client_secret,
    DROP COLUMN upstream_client_id;
