package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SigningKey is one row of the installation's keyring for app tokens
// (table signing_keys). The store keeps the rows; the crypto (generating,
// sealing and opening keys) is the session package's.
type SigningKey struct {
	KID string `db:"kid"`
	// PrivateKey is sealed with the master key, the kid the additional
	// data.
	PrivateKey []byte     `db:"private_key"`
	PublicJWK  []byte     `db:"public_jwk"`
	PublicCert string     `db:"public_cert"`
	CreatedAt  time.Time  `db:"created_at"`
	RetiresAt  *time.Time `db:"retires_at"` // nil while current
}

// NewSigningKey makes a new key, created at the given time, to store.
type NewSigningKey func(created time.Time) (SigningKey, error)

const (
	// RetiredKeyRetention is how long a retired key's row is kept before
	// a rotation deletes it.
	RetiredKeyRetention = 24 * time.Hour
	// keyringLock serialises key creation and rotation across processes
	// (pg_advisory_xact_lock). The value is arbitrary but fixed.
	keyringLock int64 = 0x6761746568736b31
)

// LiveSigningKeys returns the keys not retired at now, newest first.
func (s *Store) LiveSigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error) {
	keys, err := liveSigningKeys(ctx, s.db(ctx), now)
	return keys, wrap("read signing keys", err)
}

// CreateFirstSigningKey stores a key made by newKey when no key is live
// at now, once however many processes call it together, and returns the
// live keys. Creating one records a signing_keys change.
func (s *Store) CreateFirstSigningKey(ctx context.Context, now time.Time, newKey NewSigningKey) ([]SigningKey, error) {
	var keys []SigningKey
	err := s.inTx(ctx, func(tx pgx.Tx, _ time.Time) error {
		if err := lockKeyring(ctx, tx); err != nil {
			return err
		}
		// Another process may have created the key while we waited.
		var err error
		if keys, err = liveSigningKeys(ctx, tx, now); err != nil || len(keys) > 0 {
			return err
		}
		if _, err := insertSigningKey(ctx, tx, now, newKey); err != nil {
			return err
		}
		if _, err := bumpVersion(ctx, tx, now, signingKeysObject()); err != nil {
			return err
		}
		keys, err = liveSigningKeys(ctx, tx, now)
		return err
	})
	return keys, wrap("create first signing key", err)
}

// RotateSigningKey stores a new current key made by newKey: the previous
// current key retires after grace, and keys retired for more than
// RetiredKeyRetention are deleted. It records a signing_keys change and
// returns the keys live at now.
func (s *Store) RotateSigningKey(ctx context.Context, now time.Time, grace time.Duration, newKey NewSigningKey) ([]SigningKey, error) {
	var keys []SigningKey
	err := s.inTx(ctx, func(tx pgx.Tx, _ time.Time) error {
		if err := lockKeyring(ctx, tx); err != nil {
			return err
		}
		var err error
		keys, err = rotateSigningKey(ctx, tx, now, grace, newKey)
		return err
	})
	return keys, wrap("rotate signing key", err)
}

// RotateSigningKeyIfDue rotates (as RotateSigningKey) when the newest
// live key is older than every at now, or than the shortest rotation
// period an account asks for (SetKeyRotation) when that is shorter. Of
// several processes calling it at once, only one rotates.
func (s *Store) RotateSigningKeyIfDue(ctx context.Context, now time.Time, every, grace time.Duration, newKey NewSigningKey) (rotated bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx, _ time.Time) error {
		if err := lockKeyring(ctx, tx); err != nil {
			return err
		}
		var shortest *int32
		if err := tx.QueryRow(ctx, `SELECT min(key_rotation_interval_days) FROM access_key_settings`).Scan(&shortest); err != nil {
			return fmt.Errorf("read rotation periods: %w", err)
		}
		every = shortestRotation(every, shortest)
		var newest *time.Time
		if err := tx.QueryRow(ctx, `SELECT max(created_at) FROM signing_keys
			WHERE retires_at IS NULL OR retires_at > $1`, now).Scan(&newest); err != nil {
			return fmt.Errorf("read current key age: %w", err)
		}
		if newest != nil && now.Sub(*newest) < every {
			return nil
		}
		if _, err := rotateSigningKey(ctx, tx, now, grace, newKey); err != nil {
			return err
		}
		rotated = true
		return nil
	})
	return rotated, wrap("rotate signing key if due", err)
}

func lockKeyring(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, keyringLock); err != nil {
		return fmt.Errorf("lock keyring: %w", err)
	}
	return nil
}

// rotateSigningKey does the work of RotateSigningKey inside tx, which
// holds the keyring lock.
func rotateSigningKey(ctx context.Context, tx pgx.Tx, now time.Time, grace time.Duration, newKey NewSigningKey) ([]SigningKey, error) {
	// The new key must be strictly the newest, even under a clock that
	// stands still or steps back, because the newest key is current.
	var newest *time.Time
	if err := tx.QueryRow(ctx, `SELECT max(created_at) FROM signing_keys`).Scan(&newest); err != nil {
		return nil, fmt.Errorf("read newest key: %w", err)
	}
	created := now
	if newest != nil && !created.After(*newest) {
		created = newest.Add(time.Microsecond)
	}
	kid, err := insertSigningKey(ctx, tx, created, newKey)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE signing_keys SET retires_at = $1
		WHERE retires_at IS NULL AND kid <> $2`, created.Add(grace), kid); err != nil {
		return nil, fmt.Errorf("schedule retirement of previous keys: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM signing_keys WHERE retires_at <= $1`, now.Add(-RetiredKeyRetention)); err != nil {
		return nil, fmt.Errorf("delete retired keys: %w", err)
	}
	if _, err := bumpVersion(ctx, tx, now, signingKeysObject()); err != nil {
		return nil, err
	}
	return liveSigningKeys(ctx, tx, now)
}

// insertSigningKey stores a key made by newKey, created at created, and
// returns its kid.
func insertSigningKey(ctx context.Context, tx pgx.Tx, created time.Time, newKey NewSigningKey) (string, error) {
	k, err := newKey(created)
	if err != nil {
		return "", err
	}
	_, err = tx.Exec(ctx, `INSERT INTO signing_keys (kid, private_key, public_jwk, public_cert, created_at)
		VALUES ($1, $2, $3, $4, $5)`, k.KID, k.PrivateKey, k.PublicJWK, k.PublicCert, created)
	if err != nil {
		return "", fmt.Errorf("insert signing key %s: %w", k.KID, err)
	}
	return k.KID, nil
}

func liveSigningKeys(ctx context.Context, q querier, now time.Time) ([]SigningKey, error) {
	rows, err := q.Query(ctx, `SELECT kid, private_key, public_jwk, public_cert, created_at, retires_at
		FROM signing_keys WHERE retires_at IS NULL OR retires_at > $1
		ORDER BY created_at DESC, kid`, now)
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByName[SigningKey])
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	return keys, nil
}
