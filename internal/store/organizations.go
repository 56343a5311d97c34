package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// organizationObject is an account's organization in the change feed.
func organizationObject(accountID string) object { return object{kindOrganization, accountID} }

// GetOrganization returns an account's organization; ENotFound when the
// account has none yet.
func (s *Store) GetOrganization(ctx context.Context, accountID string) (access.StoredOrganization, error) {
	o, err := getOrganization(ctx, s.db(ctx), accountID, false)
	return o, wrap("get organization", err)
}

func getOrganization(ctx context.Context, q querier, accountID string, lock bool) (access.StoredOrganization, error) {
	sql := `SELECT account_id, settings, revision, created_at, updated_at FROM organizations WHERE account_id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	var o access.StoredOrganization
	var settings []byte
	err := q.QueryRow(ctx, sql, accountID).Scan(&o.AccountID, &settings, &o.Revision, &o.CreatedAt, &o.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, notFound("organization")
	}
	if err != nil {
		return o, err
	}
	if err := json.Unmarshal(settings, &o.Spec); err != nil {
		return o, fmt.Errorf("decode organization of %s: %w", accountID, err)
	}
	return o, nil
}

// OrganizationWrite says how PutOrganization treats an existing
// organization.
type OrganizationWrite int

const (
	// CreateOrganization refuses (EConflict) when the account has one.
	CreateOrganization OrganizationWrite = iota
	// UpsertOrganization creates or updates.
	UpsertOrganization
)

// PutOrganization writes an account's organization: build gets the
// current settings (zero, and exists false, when there are none) and
// returns the new ones, in the write's transaction with the row locked,
// so concurrent writers never lose each other's changes. When ifRevision
// is not zero the organization must still be at that revision. The write
// is audited and reaches every edge through the change feed.
func (s *Store) PutOrganization(ctx context.Context, actor access.Actor, accountID string, mode OrganizationWrite, ifRevision int64,
	build func(current access.OrganizationSpec, exists bool) (access.OrganizationSpec, error)) (access.StoredOrganization, error) {
	var o access.StoredOrganization
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		// Serialise writers of a not yet existing organization too.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE`, accountID); err != nil {
			return err
		}
		before, err := getOrganization(ctx, tx, accountID, true)
		exists := err == nil
		if err != nil && access.KindOf(err) != access.ENotFound {
			return err
		}
		if exists && mode == CreateOrganization {
			return access.Errorf(access.EConflict, "the account already has an organization: update it with PUT")
		}
		if ifRevision != 0 && (!exists || before.Revision != ifRevision) {
			return access.Errorf(access.EPreconditionFailed, "the organization was changed since it was read (If-Match does not match its ETag)")
		}
		spec, err := build(before.Spec, exists)
		if err != nil {
			return err
		}
		spec.Normalize()
		settings, err := json.Marshal(spec)
		if err != nil {
			return fmt.Errorf("encode organization: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO organizations (account_id, settings, revision, created_at, updated_at)
			VALUES ($1, $2, 1, $3, $3)
			ON CONFLICT (account_id) DO UPDATE SET settings = EXCLUDED.settings,
				revision = organizations.revision + 1, updated_at = EXCLUDED.updated_at`, accountID, settings, now)
		if err != nil {
			return err
		}
		if o, err = getOrganization(ctx, tx, accountID, false); err != nil {
			return err
		}
		action := "update"
		var was any
		if exists {
			was = before.Spec
		} else {
			action = "create"
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: action, resourceType: "organization",
			resourceID: accountID, before: was, after: o.Spec}, organizationObject(accountID))
	})
	return o, wrap("put organization", err)
}

// loadOrganizations reads the edge's form of the organizations of one
// account, or of every account when accountID is "", or (keys set) of the
// accounts named.
func loadOrganizations(ctx context.Context, q querier, accountID string, keys []string) ([]access.Organization, error) {
	var rows pgx.Rows
	var err error
	if keys != nil {
		rows, err = q.Query(ctx, `SELECT account_id, settings, revision, created_at, updated_at FROM organizations
			WHERE account_id = ANY($1) ORDER BY account_id`, keys)
	} else {
		rows, err = q.Query(ctx, `SELECT account_id, settings, revision, created_at, updated_at FROM organizations
			WHERE ($1::text = '' OR account_id = $1) ORDER BY account_id`, accountID)
	}
	if err != nil {
		return nil, fmt.Errorf("load organizations: %w", err)
	}
	var out []access.Organization
	var o access.StoredOrganization
	var settings []byte
	_, err = pgx.ForEachRow(rows, []any{&o.AccountID, &settings, &o.Revision, &o.CreatedAt, &o.UpdatedAt}, func() error {
		o.Spec = access.OrganizationSpec{}
		if err := json.Unmarshal(settings, &o.Spec); err != nil {
			return fmt.Errorf("decode organization of %s: %w", o.AccountID, err)
		}
		out = append(out, o.Edge())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load organizations: %w", err)
	}
	return out, nil
}

// KeyRotation is an account's view of the installation's signing keys.
type KeyRotation struct {
	// IntervalDays is the account's rotation period (its own setting, or
	// the default).
	IntervalDays int
	// LastRotation is when the current key was made (zero with no key).
	LastRotation time.Time
	// Every is the period the keyring rotates at: the shortest any
	// account asks for, and never longer than the installation's.
	Every time.Duration
	// LiveKeys is how many keys verify tokens at now (the current one and
	// those in their grace period).
	LiveKeys int
}

// GetKeyRotation returns an account's rotation period and the keyring's
// last rotation at now, with installation the period the installation
// rotates at when no account asks for a shorter one.
func (s *Store) GetKeyRotation(ctx context.Context, accountID string, now time.Time, installation time.Duration) (KeyRotation, error) {
	k, err := getKeyRotation(ctx, s.db(ctx), accountID, now, installation)
	return k, wrap("get key rotation", err)
}

func getKeyRotation(ctx context.Context, q querier, accountID string, now time.Time, installation time.Duration) (KeyRotation, error) {
	k := KeyRotation{IntervalDays: access.DefaultKeyRotationDays}
	var own, shortest *int32
	var newest *time.Time
	err := q.QueryRow(ctx, `SELECT
			(SELECT key_rotation_interval_days FROM access_key_settings WHERE account_id = $1),
			(SELECT min(key_rotation_interval_days) FROM access_key_settings),
			(SELECT max(created_at) FROM signing_keys WHERE retires_at IS NULL OR retires_at > $2),
			(SELECT count(*) FROM signing_keys WHERE retires_at IS NULL OR retires_at > $2)`, accountID, now).
		Scan(&own, &shortest, &newest, &k.LiveKeys)
	if err != nil {
		return k, fmt.Errorf("read key rotation: %w", err)
	}
	if own != nil {
		k.IntervalDays = int(*own)
	}
	if newest != nil {
		k.LastRotation = newest.UTC()
	}
	k.Every = shortestRotation(installation, shortest)
	return k, nil
}

// shortestRotation is the installation's period, or the shortest an
// account asks for when that is shorter.
func shortestRotation(installation time.Duration, shortestDays *int32) time.Duration {
	if shortestDays != nil {
		if d := time.Duration(*shortestDays) * 24 * time.Hour; installation <= 0 || d < installation {
			return d
		}
	}
	return installation
}

// SetKeyRotation sets an account's signing-key rotation period in whole
// days (access.MinKeyRotationDays to access.MaxKeyRotationDays). The
// keyring rotates at the shortest period any account asks for.
func (s *Store) SetKeyRotation(ctx context.Context, actor access.Actor, accountID string, days float64) error {
	if days != math.Trunc(days) || days < access.MinKeyRotationDays || days > access.MaxKeyRotationDays {
		return access.Invalid("key_rotation_interval_days", "must be a whole number of days from %d to %d", access.MinKeyRotationDays, access.MaxKeyRotationDays)
	}
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		var before *int32
		if err := tx.QueryRow(ctx, `SELECT key_rotation_interval_days FROM access_key_settings WHERE account_id = $1 FOR UPDATE`, accountID).Scan(&before); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO access_key_settings (account_id, key_rotation_interval_days, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (account_id) DO UPDATE SET key_rotation_interval_days = EXCLUDED.key_rotation_interval_days, updated_at = EXCLUDED.updated_at`,
			accountID, int32(days), now); err != nil {
			return err
		}
		type setting struct {
			Days int32 `json:"key_rotation_interval_days"`
		}
		var was any
		if before != nil {
			was = setting{*before}
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "update", resourceType: "access_keys",
			resourceID: accountID, before: was, after: setting{int32(days)}})
	})
	return wrap("set key rotation", err)
}

// RecordKeyRotation writes the audit entry of a signing-key rotation an
// account asked for (the rotation itself is RotateSigningKey's).
func (s *Store) RecordKeyRotation(ctx context.Context, actor access.Actor, accountID string) error {
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "rotate", resourceType: "access_keys", resourceID: accountID})
	})
	return wrap("record key rotation", err)
}
