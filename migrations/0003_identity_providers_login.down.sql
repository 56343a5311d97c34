DROP TABLE otp_codes;
DROP TABLE login_tokens_used;
ALTER TABLE apps DROP COLUMN sessions_revoked_at;
DROP TABLE identity_providers;
