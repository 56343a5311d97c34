-- Dashboard sign-in sessions: an API token exchanged for a cookie. Only the
-- SHA-256 of the cookie's secret is stored. A session dies with its API
-- token (ON DELETE CASCADE), at expires_at, or after a spell of idleness
-- measured from last_seen_at (the idle limit is the API server's setting).
CREATE TABLE dashboard_sessions (
    id           uuid PRIMARY KEY,
    api_token_id uuid        NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    secret_hash  bytea       NOT NULL,
    csrf_token   text        NOT NULL CHECK (csrf_token <> ''),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    CONSTRAINT dashboard_sessions_secret_hash_key UNIQUE (secret_hash)
);

CREATE INDEX dashboard_sessions_api_token_id_idx ON dashboard_sessions (api_token_id);
CREATE INDEX dashboard_sessions_expires_at_idx ON dashboard_sessions (expires_at);
