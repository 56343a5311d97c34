package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

const (
	// dashboardSessionTouchEvery is how stale last_seen_at may get before a
	// request refreshes it: idleness is measured to the minute, so that a
	// busy dashboard does not write on every request.
	dashboardSessionTouchEvery = time.Minute
	// dashboardSessionSweepGrace keeps expired sessions a while before the
	// sweep deletes them (they are refused as soon as they expire either
	// way); it also keeps a store whose clock runs ahead, as in tests, from
	// sweeping sessions that are still live for everyone else.
	dashboardSessionSweepGrace = time.Hour
)

// errNoDashboardSession is what every refused session cookie gets, whatever
// the reason, so a caller learns nothing about other sessions.
func errNoDashboardSession() error {
	return access.Errorf(access.EUnauthorized, "not signed in, or the dashboard session has ended: sign in again")
}

// CreateDashboardSession signs the API token tokenID of account accountID in
// to the dashboard for ttl. It returns the session and its secret, which is
// not stored (only its SHA-256 is) and cannot be read again. Sessions that
// expired a while ago are swept on the way.
func (s *Store) CreateDashboardSession(ctx context.Context, accountID, tokenID string, ttl time.Duration) (access.DashboardSession, string, error) {
	secret := access.NewDashboardSessionSecret()
	d := access.DashboardSession{ID: uuid.NewString(), CSRFToken: access.NewCSRFToken()}
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		// FOR KEY SHARE: the token cannot be deleted between this read and
		// the insert that references it.
		err := tx.QueryRow(ctx, `
			SELECT id, account_id, name, read_only, created_at FROM api_tokens
			WHERE account_id = $1 AND id = $2 FOR KEY SHARE`,
			accountID, tokenID).Scan(&d.Token.ID, &d.Token.AccountID, &d.Token.Name, &d.Token.ReadOnly, &d.Token.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return access.Errorf(access.EUnauthorized, "invalid API token")
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM dashboard_sessions WHERE expires_at < $1`, now.Add(-dashboardSessionSweepGrace)); err != nil {
			return err
		}
		d.CreatedAt, d.LastSeenAt = now, now
		d.ExpiresAt = now.Add(ttl).Truncate(time.Second)
		_, err = tx.Exec(ctx, `
			INSERT INTO dashboard_sessions (id, api_token_id, secret_hash, csrf_token, created_at, expires_at, last_seen_at)
			VALUES ($1, $2, $3, $4, $5, $6, $5)`,
			d.ID, d.Token.ID, access.HashSecret(secret), d.CSRFToken, now, d.ExpiresAt)
		return err
	})
	if err != nil {
		return access.DashboardSession{}, "", wrap("create dashboard session", err)
	}
	return d, secret, nil
}

// AuthenticateDashboardSession returns the live session whose secret is
// given, with its API token, or an EUnauthorized error. A session is dead
// once it has expired or has not been used for idle; a dead session is
// deleted when it is presented. Use refreshes last_seen_at at most once a
// minute. The lookup is by hash, so the secret is never compared in
// variable time. It runs on every cookie-authenticated API request, so
// the usual case is one query and no transaction: the delete and the
// refresh are single statements, right whichever request runs them.
func (s *Store) AuthenticateDashboardSession(ctx context.Context, secret string, idle time.Duration) (access.DashboardSession, error) {
	now := s.now().UTC().Truncate(time.Microsecond)
	var d access.DashboardSession
	err := s.pool.QueryRow(ctx, `
		SELECT d.id, d.csrf_token, d.created_at, d.expires_at, d.last_seen_at,
		       t.id, t.account_id, t.name, t.read_only, t.created_at
		FROM dashboard_sessions d JOIN api_tokens t ON t.id = d.api_token_id
		WHERE d.secret_hash = $1`,
		access.HashSecret(secret)).Scan(&d.ID, &d.CSRFToken, &d.CreatedAt, &d.ExpiresAt, &d.LastSeenAt,
		&d.Token.ID, &d.Token.AccountID, &d.Token.Name, &d.Token.ReadOnly, &d.Token.CreatedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return access.DashboardSession{}, errNoDashboardSession()
	case err != nil:
		return access.DashboardSession{}, wrap("authenticate dashboard session", err)
	case !now.Before(d.ExpiresAt) || !now.Before(d.LastSeenAt.Add(idle)):
		if _, err := s.pool.Exec(ctx, `DELETE FROM dashboard_sessions WHERE id = $1`, d.ID); err != nil {
			return access.DashboardSession{}, wrap("authenticate dashboard session", err)
		}
		return access.DashboardSession{}, errNoDashboardSession()
	case now.Sub(d.LastSeenAt) >= dashboardSessionTouchEvery:
		if _, err := s.pool.Exec(ctx, `UPDATE dashboard_sessions SET last_seen_at = GREATEST(last_seen_at, $2) WHERE id = $1`, d.ID, now); err != nil {
			return access.DashboardSession{}, wrap("authenticate dashboard session", err)
		}
		d.LastSeenAt = now
	}
	return d, nil
}

// DeleteDashboardSession ends the session id of account accountID (signing
// out).
func (s *Store) DeleteDashboardSession(ctx context.Context, accountID, id string) error {
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		tag, err := tx.Exec(ctx, `
			DELETE FROM dashboard_sessions d USING api_tokens t
			WHERE t.id = d.api_token_id AND t.account_id = $1 AND d.id = $2`,
			accountID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNoDashboardSession()
		}
		return nil
	})
	return wrap("delete dashboard session", err)
}
