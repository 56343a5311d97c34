package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// What the edge's login flow keeps in the database: which single-use login
// tokens were spent, and the hashes of one-time PINs sent by email.
const (
	// sweepEvery is how often a store deletes expired login artefacts.
	sweepEvery = time.Minute
	// sweepGrace keeps spent login tokens a little past their expiry, so
	// that an edge whose clock runs behind cannot accept one again.
	sweepGrace = 5 * time.Minute
	// otpRetention keeps one-time PIN rows long enough for any sensible
	// rate-limit window to count them.
	otpRetention = 24 * time.Hour
	// otpLockClass is the first key of the advisory lock that serialises
	// PIN creation per address (the two-key space is separate from the
	// one-key space that golang-migrate uses).
	otpLockClass = 0x6f7470 // "otp"
)

// ConsumeLoginToken spends a single-use login token, identified by its jti,
// which is valid until expires. fresh is true only for the first use of a
// token that has not expired.
func (s *Store) ConsumeLoginToken(ctx context.Context, jti string, expires time.Time) (fresh bool, err error) {
	if jti == "" || len(jti) > 256 {
		return false, access.Errorf(access.EInvalid, "a login token id is 1 to 256 characters")
	}
	err = s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		if !expires.After(now) {
			return nil
		}
		tag, err := tx.Exec(ctx, `INSERT INTO login_tokens_used (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING`, jti, expires)
		if err != nil {
			return err
		}
		fresh = tag.RowsAffected() == 1
		return s.sweep(ctx, tx, now)
	})
	if err != nil {
		return false, wrap("consume login token", err)
	}
	return fresh, nil
}

// CreateOTP stores the hash of a one-time PIN for an email address of an
// account, valid for ttl, and returns its id. When maxPerWindow PINs were
// already created for that address in the last window, it refuses with
// ERateLimited. Addresses compare case-insensitively.
func (s *Store) CreateOTP(ctx context.Context, accountID, email string, codeHash []byte, ttl time.Duration, maxPerWindow int, window time.Duration) (id string, err error) {
	email = canonicalEmail(email)
	if email == "" || len(codeHash) == 0 || ttl <= 0 {
		return "", access.Errorf(access.EInvalid, "a one-time PIN needs an email address, a code hash and a lifetime")
	}
	id = uuid.NewString()
	err = s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		// Without the lock, concurrent requests could all pass the count.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2 || ' ' || $3))`, int32(otpLockClass), accountID, email); err != nil {
			return err
		}
		var recent int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM otp_codes WHERE account_id = $1 AND email = $2 AND created_at > $3`,
			accountID, email, now.Add(-window)).Scan(&recent); err != nil {
			return err
		}
		if recent >= maxPerWindow {
			return access.Errorf(access.ERateLimited, "too many one-time PINs were sent to this address; try again later")
		}
		if _, err := tx.Exec(ctx, `INSERT INTO otp_codes (id, account_id, email, code_hash, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, accountID, email, codeHash, now, now.Add(ttl)); err != nil {
			return err
		}
		return s.sweep(ctx, tx, now)
	})
	if err != nil {
		return "", wrap("create one-time pin", err)
	}
	return id, nil
}

// VerifyOTP checks a one-time PIN against the one stored under id for
// email in the account, in constant time, and counts the attempt. ok is true when the
// code matches a PIN that is unused, unexpired and has had fewer than
// maxAttempts attempts; the PIN is then used up. A wrong, unknown, used
// or expired PIN is ok == false with no error.
func (s *Store) VerifyOTP(ctx context.Context, accountID, id, email, code string, maxAttempts int) (ok bool, err error) {
	if u, err := uuid.Parse(id); err != nil || u.String() != id {
		return false, nil
	}
	email = canonicalEmail(email)
	err = s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		var hash []byte
		var expires time.Time
		var attempts int
		var used bool
		err := tx.QueryRow(ctx, `SELECT code_hash, expires_at, attempts, used FROM otp_codes WHERE account_id = $1 AND id = $2 AND email = $3 FOR UPDATE`,
			accountID, id, email).Scan(&hash, &expires, &attempts, &used)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if used || !now.Before(expires) || attempts >= maxAttempts {
			return nil
		}
		ok = access.SecretMatches(code, hash)
		_, err = tx.Exec(ctx, `UPDATE otp_codes SET attempts = attempts + 1, used = $2 WHERE id = $1`, id, ok)
		return err
	})
	if err != nil {
		return false, wrap("verify one-time pin", err)
	}
	return ok, nil
}

// sweep deletes expired login artefacts, at most once every sweepEvery per
// store, so the tables stay small without a background job.
func (s *Store) sweep(ctx context.Context, tx pgx.Tx, now time.Time) error {
	next := s.nextSweep.Load()
	if now.UnixNano() < next || !s.nextSweep.CompareAndSwap(next, now.Add(sweepEvery).UnixNano()) {
		return nil
	}
	if _, err := tx.Exec(ctx, `DELETE FROM login_tokens_used WHERE expires_at < $1`, now.Add(-sweepGrace)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM otp_codes WHERE expires_at < $1`, now.Add(-otpRetention))
	return err
}

func canonicalEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
