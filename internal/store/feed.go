package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// ErrFeedGap is returned by Changes when the change feed no longer holds
// every change after the version asked for (they were swept): the caller
// must load the whole config instead.
var ErrFeedGap = errors.New("store: the change feed does not reach back to that version")

// The change feed's retention. A writer sweeps the feed every
// feedSweepEvery versions, in its own transaction: rows older than
// FeedRetainAge, and rows more than FeedRetainVersions versions behind the
// newest, are deleted, and the feed's floor (config_state.feed_floor)
// rises to the newest version swept. An edge further behind than that
// loads the whole config.
const (
	FeedRetainAge      = 24 * time.Hour
	FeedRetainVersions = 100_000
	feedSweepEvery     = 256
)

// Kinds of object in the change feed (config_changes.kind).
const (
	kindApp              = "app"
	kindPolicy           = "policy"
	kindServiceToken     = "service_token"
	kindIdentityProvider = "identity_provider"
	kindRevocation       = "revocation"
	kindSigningKeys      = "signing_keys"
	kindAccountDomain    = "account_domain"
	kindCertificate      = "certificate"
	kindOrganization     = "organization"
)

// object is one changed object in the feed: its kind and key (see
// migrations/0012_change_feed.up.sql).
type object struct{ kind, key string }

func appObject(id string) object         { return object{kindApp, id} }
func policyObject(id string) object      { return object{kindPolicy, id} }
func tokenObject(clientID string) object { return object{kindServiceToken, clientID} }
func idpObject(id string) object         { return object{kindIdentityProvider, id} }
func domainObject(domain string) object  { return object{kindAccountDomain, domain} }
func signingKeysObject() object          { return object{kindSigningKeys, ""} }
func sessionRevocationKey(accountID, sessionID string) string {
	return accountID + ":s:" + sessionID
}
func emailRevocationKey(accountID, email string) string { return accountID + ":e:" + email }

// recordChanges writes the feed rows of one version.
func recordChanges(ctx context.Context, tx pgx.Tx, version int64, now time.Time, changed []object) error {
	if len(changed) == 0 {
		return nil
	}
	kinds := make([]string, len(changed))
	keys := make([]string, len(changed))
	for i, o := range changed {
		kinds[i], keys[i] = o.kind, o.key
	}
	_, err := tx.Exec(ctx, `INSERT INTO config_changes (version, kind, key, created_at)
		SELECT $1, u.kind, u.key, $4 FROM unnest($2::text[], $3::text[]) AS u(kind, key)
		ON CONFLICT DO NOTHING`, version, kinds, keys, now)
	if err != nil {
		return fmt.Errorf("record changes: %w", err)
	}
	return nil
}

// bumpVersionPastFeed bumps the config version for a write too large to
// list in the feed (a bulk seed), inside its transaction: the feed's
// floor rises to the new version, so an edge behind it loads the whole
// config (Changes answers ErrFeedGap).
func bumpVersionPastFeed(ctx context.Context, tx pgx.Tx, now time.Time) (int64, error) {
	version, err := bumpVersion(ctx, tx, now)
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE config_state SET feed_floor = $1`, version); err != nil {
		return 0, fmt.Errorf("raise the change feed's floor: %w", err)
	}
	return version, nil
}

// sweepFeed deletes the feed rows past retention (more than keepVersions
// behind version, or older than keepAge) and returns the new floor.
func sweepFeed(ctx context.Context, q querier, version int64, now time.Time, keepVersions int64, keepAge time.Duration) (int64, error) {
	var floor int64
	err := q.QueryRow(ctx, `UPDATE config_state SET feed_floor = GREATEST(feed_floor, $1::bigint,
			COALESCE((SELECT max(version) FROM config_changes WHERE created_at < $2), 0))
		RETURNING feed_floor`, version-keepVersions, now.Add(-keepAge)).Scan(&floor)
	if err != nil {
		return 0, fmt.Errorf("sweep change feed: %w", err)
	}
	if _, err := q.Exec(ctx, `DELETE FROM config_changes WHERE version <= $1`, floor); err != nil {
		return 0, fmt.Errorf("sweep change feed: %w", err)
	}
	return floor, nil
}

// SweepFeed deletes the change feed's rows more than keepVersions
// versions behind the newest or older than keepAge, as writers do now and
// then with FeedRetainVersions and FeedRetainAge, and returns the version
// from which the feed is complete.
func (s *Store) SweepFeed(ctx context.Context, keepVersions int64, keepAge time.Duration) (int64, error) {
	var floor int64
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		var version int64
		if err := tx.QueryRow(ctx, `SELECT version FROM config_state FOR UPDATE`).Scan(&version); err != nil {
			return err
		}
		var err error
		floor, err = sweepFeed(ctx, tx, version, now, keepVersions, keepAge)
		return err
	})
	return floor, wrap("sweep change feed", err)
}

// Changes returns what changed after version since, up to the latest
// committed version, read in one consistent snapshot: the current state
// of every object changed in (since, To], and the ids of those deleted. It
// returns ErrFeedGap when the feed no longer reaches back to since (or
// since is ahead of the database, which was then restored from a backup).
// Its cost is that of the objects changed, not of the whole config.
func (s *Store) Changes(ctx context.Context, since int64) (access.Delta, error) {
	d := access.Delta{From: since}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var floor int64
		if err := tx.QueryRow(ctx, `SELECT version, feed_floor FROM config_state`).Scan(&d.To, &floor); err != nil {
			return err
		}
		if since < floor || since > d.To {
			return ErrFeedGap
		}
		if since == d.To {
			return nil
		}
		rows, err := tx.Query(ctx, `SELECT DISTINCT kind, key FROM config_changes WHERE version > $1 AND version <= $2`, since, d.To)
		if err != nil {
			return err
		}
		changed := map[string][]string{}
		var kind, key string
		if _, err := pgx.ForEachRow(rows, []any{&kind, &key}, func() error {
			changed[kind] = append(changed[kind], key)
			return nil
		}); err != nil {
			return fmt.Errorf("read change feed: %w", err)
		}
		d.SigningKeys = len(changed[kindSigningKeys]) > 0
		if ids := changed[kindApp]; len(ids) > 0 {
			if d.Apps, err = s.loadEdgeApps(ctx, tx, appsWhere{where: `a.id = ANY($1::uuid[])`, arg: ids, size: len(ids)}, true); err != nil {
				return err
			}
			d.DeletedApps = missing(ids, len(d.Apps), func(i int) string { return d.Apps[i].ID })
		}
		if ids := changed[kindPolicy]; len(ids) > 0 {
			if d.Policies, err = loadEdgePolicies(ctx, tx, `p.id = ANY($1::uuid[])`, ids, len(ids)); err != nil {
				return err
			}
			d.DeletedPolicies = missing(ids, len(d.Policies), func(i int) string { return d.Policies[i].ID })
		}
		if ids := changed[kindServiceToken]; len(ids) > 0 {
			if d.ServiceTokens, err = loadEdgeTokens(ctx, tx, `client_id = ANY($1)`, ids, len(ids)); err != nil {
				return err
			}
			d.DeletedServiceTokens = missing(ids, len(d.ServiceTokens), func(i int) string { return d.ServiceTokens[i].ClientID })
		}
		if ids := changed[kindIdentityProvider]; len(ids) > 0 {
			if d.IdentityProviders, err = s.loadIdentityProviders(ctx, tx, `p.id = ANY($1::uuid[])`, ids, true); err != nil {
				return err
			}
			d.DeletedIdentityProviders = missing(ids, len(d.IdentityProviders), func(i int) string { return d.IdentityProviders[i].ID })
		}
		if ids := changed[kindCertificate]; len(ids) > 0 {
			if d.Certificates, err = loadEdgeCertificates(ctx, tx, `id = ANY($1::uuid[])`, ids); err != nil {
				return err
			}
			d.DeletedCertificates = missing(ids, len(d.Certificates), func(i int) string { return d.Certificates[i].ID })
		}
		if keys := changed[kindOrganization]; len(keys) > 0 {
			if d.Organizations, err = loadOrganizations(ctx, tx, "", keys); err != nil {
				return err
			}
		}
		if keys := changed[kindRevocation]; len(keys) > 0 {
			if d.Revocations, err = loadChangedRevocations(ctx, tx, keys, s.now()); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrFeedGap) {
		return access.Delta{}, ErrFeedGap
	}
	if err != nil {
		return access.Delta{}, wrap("read changes", err)
	}
	return d, nil
}

// missing returns the keys that none of the n found objects has.
func missing(keys []string, n int, keyOf func(int) string) []string {
	found := make(map[string]bool, n)
	for i := range n {
		found[keyOf(i)] = true
	}
	var out []string
	for _, k := range keys {
		if !found[k] {
			out = append(out, k)
		}
	}
	return out
}

// loadChangedRevocations reads the revocations in force at now among the
// feed keys given.
func loadChangedRevocations(ctx context.Context, tx pgx.Tx, keys []string, now time.Time) ([]access.SessionRevocation, error) {
	var sAccounts, sessions, eAccounts, emails []string
	for _, k := range keys {
		account, rest, ok := strings.Cut(k, ":")
		if !ok || len(rest) < 2 {
			continue
		}
		switch rest[:2] {
		case "s:":
			sAccounts, sessions = append(sAccounts, account), append(sessions, rest[2:])
		case "e:":
			eAccounts, emails = append(eAccounts, account), append(emails, rest[2:])
		}
	}
	rows, err := tx.Query(ctx, `
		SELECT r.account_id, COALESCE(r.session_id, ''), COALESCE(r.email, ''), r.revoked_at, r.expires_at
		FROM session_revocations r JOIN unnest($1::text[], $2::text[]) AS u(account_id, session_id)
		  ON r.account_id = u.account_id AND r.session_id = u.session_id
		WHERE r.session_id IS NOT NULL AND r.expires_at > $5
		UNION ALL
		SELECT r.account_id, COALESCE(r.session_id, ''), COALESCE(r.email, ''), r.revoked_at, r.expires_at
		FROM session_revocations r JOIN unnest($3::text[], $4::text[]) AS u(account_id, email)
		  ON r.account_id = u.account_id AND r.email = u.email
		WHERE r.email IS NOT NULL AND r.expires_at > $5`, sAccounts, sessions, eAccounts, emails, now)
	if err != nil {
		return nil, err
	}
	out, err := collectRevocations(rows)
	if err != nil {
		return nil, fmt.Errorf("load changed revocations: %w", err)
	}
	return out, nil
}
