-- Login sessions ended before their tokens expire: one session (a logout,
-- by the id every app token minted from it carries) or every session of a
-- user issued before revoked_at (revoke_user). The edges load the rows
-- still in force; a row expires when no token it could refuse is valid.
CREATE TABLE session_revocations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    session_id text CHECK (length(session_id) BETWEEN 1 AND 128),
    email      text CHECK (email = lower(email) AND length(email) BETWEEN 1 AND 320),
    revoked_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT session_revocations_one_kind CHECK ((session_id IS NULL) <> (email IS NULL))
);
CREATE UNIQUE INDEX session_revocations_session_key ON session_revocations (account_id, session_id) WHERE session_id IS NOT NULL;
CREATE UNIQUE INDEX session_revocations_email_key ON session_revocations (account_id, email) WHERE email IS NOT NULL;
CREATE INDEX session_revocations_expires_idx ON session_revocations (expires_at);
