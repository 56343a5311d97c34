package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// revocation is the audited value of a session revocation.
type revocation struct {
	Email     string    `json:"email,omitempty"`
	RevokedAt time.Time `json:"revoked_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// RevokeLoginSession ends one login session of an account (a logout):
// the edges refuse every app token carrying its id from the config
// version this write commits. Like a login, a logout is not in the audit
// log (the access log has the user's requests).
func (s *Store) RevokeLoginSession(ctx context.Context, accountID, sessionID string) error {
	if sessionID == "" || len(sessionID) > 128 {
		return access.Errorf(access.EInvalid, "a session id is 1 to 128 characters")
	}
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		tag, err := tx.Exec(ctx, `INSERT INTO session_revocations (account_id, session_id, revoked_at, expires_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, session_id) WHERE session_id IS NOT NULL DO NOTHING`,
			accountID, sessionID, now, now.Add(access.MaxSessionDuration))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil // already revoked: nothing changes
		}
		if err := sweepRevocations(ctx, tx, now); err != nil {
			return err
		}
		_, err = bumpVersion(ctx, tx, now, object{kindRevocation, sessionRevocationKey(accountID, sessionID)})
		return err
	})
	return wrap("revoke login session", err)
}

// RevokeUserSessions ends every session of a user in an account
// (revoke_user): the edges refuse every app token issued to email before
// now, from the config version this write commits. Emails compare
// case-insensitively.
func (s *Store) RevokeUserSessions(ctx context.Context, actor access.Actor, accountID, email string) error {
	email = canonicalEmail(email)
	if email == "" || len(email) > 320 {
		return access.Errorf(access.EInvalid, "an email address is 1 to 320 characters")
	}
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		r := revocation{Email: email, RevokedAt: now, ExpiresAt: now.Add(access.MaxSessionDuration)}
		_, err := tx.Exec(ctx, `INSERT INTO session_revocations (account_id, email, revoked_at, expires_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, email) WHERE email IS NOT NULL
			DO UPDATE SET revoked_at = GREATEST(session_revocations.revoked_at, EXCLUDED.revoked_at),
			              expires_at = GREATEST(session_revocations.expires_at, EXCLUDED.expires_at)`,
			accountID, email, r.RevokedAt, r.ExpiresAt)
		if err != nil {
			return err
		}
		if err := sweepRevocations(ctx, tx, now); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "revoke_user", resourceType: "user", resourceID: email, after: r},
			object{kindRevocation, emailRevocationKey(accountID, email)})
	})
	return wrap("revoke user sessions", err)
}

// sweepRevocations deletes revocations no token can need any more.
func sweepRevocations(ctx context.Context, tx pgx.Tx, now time.Time) error {
	_, err := tx.Exec(ctx, `DELETE FROM session_revocations WHERE expires_at <= $1`, now)
	return err
}

// loadRevocations reads the revocations in force at now.
func loadRevocations(ctx context.Context, tx pgx.Tx, accountID string, now time.Time) ([]access.SessionRevocation, error) {
	rows, err := tx.Query(ctx, `SELECT account_id, COALESCE(session_id, ''), COALESCE(email, ''), revoked_at, expires_at
		FROM session_revocations WHERE ($1 = '' OR account_id = $1) AND expires_at > $2`, accountID, now)
	if err != nil {
		return nil, err
	}
	return collectRevocations(rows)
}

// collectRevocations reads rows of (account_id, session_id or empty, email
// or empty, revoked_at, expires_at).
func collectRevocations(rows pgx.Rows) ([]access.SessionRevocation, error) {
	var out []access.SessionRevocation
	var r access.SessionRevocation
	_, err := pgx.ForEachRow(rows, []any{&r.AccountID, &r.SessionID, &r.Email, &r.RevokedAt, &r.ExpiresAt}, func() error {
		out = append(out, r)
		return nil
	})
	return out, err
}
