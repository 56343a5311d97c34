-- Relay apps: the service token credential the edge presents to an origin
-- that is itself protected by Access (Gatehouse extension).
ALTER TABLE apps
    ADD COLUMN upstream_client_id     text,
    -- AES-256-GCM sealed with the master key, nonce first; the app id is
    -- the additional data, so a sealed secret opens only in its row.
    ADD COLUMN upstream_client_secret bytea,
    ADD CONSTRAINT apps_upstream_token_check
        CHECK ((upstream_client_id IS NULL) = (upstream_client_secret IS NULL));
