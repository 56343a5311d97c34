package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Host ownership: a host, every path under it and every wildcard that
// covers it belong to at most one account (access.HostClaim). Writes that
// claim hosts serialise on transaction-scoped advisory locks keyed by
// zone: a claim takes its own zone's lock exclusively and every ancestor
// zone's lock shared. Two claims overlap only when one's zone is the
// other's zone or an ancestor of it, so overlapping claims always contend
// for one lock in exclusive mode, and claims of unrelated hosts under a
// common parent (a.example.com, b.example.com) do not wait for each other.

// hostConflictMessage is what a caller learns about a host another
// account holds: that it is taken, never by whom.
const hostConflictMessage = "host %s is in use by another account"

// claimHosts checks the domains an app is about to hold (canonical, as
// stored in app_domains) against host ownership, for the app appID of
// accountID (a new app has no domains yet). Only domains the app does not
// hold already are checked, so an app that predates the rule keeps
// working as long as it does not add domains. It must run in the write's
// transaction, before the domains are written.
func claimHosts(ctx context.Context, tx pgx.Tx, accountID, appID string, domains []string) error {
	held := map[string]bool{}
	rows, err := tx.Query(ctx, `SELECT domain FROM app_domains WHERE app_id = $1`, appID)
	if err != nil {
		return err
	}
	var d string
	if _, err := pgx.ForEachRow(rows, []any{&d}, func() error { held[d] = true; return nil }); err != nil {
		return err
	}
	var added []string
	var claims []access.HostClaim
	for _, d := range domains {
		if held[d] {
			continue
		}
		c, ok := access.ClaimOf(d)
		if !ok {
			return domainError(access.EInvalid, d, "is not a valid application domain")
		}
		added = append(added, d)
		claims = append(claims, c)
	}
	if len(claims) == 0 {
		return nil
	}
	if err := checkDomainList(ctx, tx, accountID, added, claims); err != nil {
		return err
	}
	if err := lockHostClaims(ctx, tx, claims); err != nil {
		return err
	}
	for i, c := range claims {
		taken, err := hostTaken(ctx, tx, accountID, c)
		if err != nil {
			return err
		}
		if taken {
			return domainError(access.EConflict, added[i], hostConflictMessage, c.Zone)
		}
	}
	return nil
}

// domainError is an error about one of an app's domains. Its field is
// "domain" and its Value the canonical domain, so that the API can name
// the request field the domain came from.
func domainError(kind access.ErrorKind, domain, format string, args ...any) *access.Error {
	msg := fmt.Sprintf(format, args...)
	return &access.Error{Kind: kind, Message: msg, Fields: []access.FieldError{{Field: "domain", Message: msg, Value: domain}}}
}

// checkDomainList refuses domains outside the account's domain list, when
// it has one.
func checkDomainList(ctx context.Context, tx pgx.Tx, accountID string, domains []string, claims []access.HostClaim) error {
	entries, err := accountDomains(ctx, tx, accountID)
	if err != nil || len(entries) == 0 {
		return err
	}
	for i, c := range claims {
		if !slices.ContainsFunc(entries, func(e access.HostClaim) bool { return e.Covers(c) }) {
			return domainError(access.EInvalid, domains[i], "host %s is outside the account's domains (an operator adds them with gatehouse account domains add)", c)
		}
	}
	return nil
}

// lockHostClaims takes the advisory locks for claims, in one global order
// (by key) so that two writers cannot deadlock.
func lockHostClaims(ctx context.Context, tx pgx.Tx, claims []access.HostClaim) error {
	exclusive := map[string]bool{}
	for _, c := range claims {
		exclusive[c.Key()] = true
		for _, a := range c.AncestorKeys() {
			if _, ok := exclusive[a]; !ok {
				exclusive[a] = false
			}
		}
	}
	keys := make([]string, 0, len(exclusive))
	for k := range exclusive {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fn := "pg_advisory_xact_lock_shared"
		if exclusive[k] {
			fn = "pg_advisory_xact_lock"
		}
		if _, err := tx.Exec(ctx, `SELECT `+fn+`(hashtextextended('gatehouse.host:' || $1, 0))`, k); err != nil {
			return fmt.Errorf("lock host %q: %w", k, err)
		}
	}
	return nil
}

// hostTaken reports whether another account's app domain or domain list
// entry overlaps c. Both lookups are index scans on host_key: the same
// zone, the wildcards of the zones above it and, for a wildcard, every
// key under its zone.
func hostTaken(ctx context.Context, q querier, accountID string, c access.HostClaim) (bool, error) {
	var taken bool
	err := q.QueryRow(ctx, `
		SELECT EXISTS (
			SELECT 1 FROM app_domains d JOIN apps a ON a.id = d.app_id
			WHERE a.account_id <> $1
			  AND (d.host_key = $2
			       OR (d.host_wildcard AND d.host_key = ANY($3::text[]))
			       OR ($4 AND d.host_key >= $2 || '.' AND d.host_key < $2 || '/'))
		) OR EXISTS (
			SELECT 1 FROM account_domains e
			WHERE e.account_id <> $1
			  AND (e.host_key = $2
			       OR (e.host_wildcard AND e.host_key = ANY($3::text[]))
			       OR ($4 AND e.host_key >= $2 || '.' AND e.host_key < $2 || '/'))
		)`, accountID, c.Key(), c.AncestorKeys(), c.Wildcard).Scan(&taken)
	return taken, err
}

func accountDomains(ctx context.Context, q querier, accountID string) ([]access.HostClaim, error) {
	rows, err := q.Query(ctx, `SELECT domain FROM account_domains WHERE account_id = $1 ORDER BY domain`, accountID)
	if err != nil {
		return nil, err
	}
	var out []access.HostClaim
	var d string
	_, err = pgx.ForEachRow(rows, []any{&d}, func() error {
		// Entries were parsed before they were stored.
		if c, ok := access.ClaimOf(d); ok {
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// ListAccountDomains returns an account's domain list, sorted.
func (s *Store) ListAccountDomains(ctx context.Context, accountID string) ([]string, error) {
	if _, err := s.GetAccount(ctx, accountID); err != nil {
		return nil, err
	}
	claims, err := accountDomains(ctx, s.pool, accountID)
	if err != nil {
		return nil, wrap("list account domains", err)
	}
	out := make([]string, len(claims))
	for i, c := range claims {
		out[i] = c.String()
	}
	return out, nil
}

// AddAccountDomain adds an entry (parsed by access.ParseAccountDomain) to
// an account's domain list. It is refused with EConflict when another
// account's apps or domain list already claim a host the entry overlaps:
// an operator moves a domain between accounts by first removing the other
// account's apps and entry. Adding an entry the account has is a no-op.
func (s *Store) AddAccountDomain(ctx context.Context, actor access.Actor, accountID string, d access.HostClaim) error {
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		if err := lockHostClaims(ctx, tx, []access.HostClaim{d}); err != nil {
			return err
		}
		taken, err := hostTaken(ctx, tx, accountID, d)
		if err != nil {
			return err
		}
		if taken {
			return access.Errorf(access.EConflict, "%s overlaps hosts that another account's applications or domain list hold; remove them there first", d)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO account_domains (account_id, domain, created_at) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, accountID, d.String(), now)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "create", resourceType: "account_domain", resourceID: d.String(), after: map[string]string{"domain": d.String()}})
	})
	return wrap("add account domain", err)
}

// RemoveAccountDomain removes an entry from an account's domain list. The
// account's apps stay as they are; only new domains are checked against
// the list. Removing the last entry lifts the list rule.
func (s *Store) RemoveAccountDomain(ctx context.Context, actor access.Actor, accountID string, d access.HostClaim) error {
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM account_domains WHERE account_id = $1 AND domain = $2`, accountID, d.String())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return access.Errorf(access.ENotFound, "%s is not in the account's domain list", d)
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "delete", resourceType: "account_domain", resourceID: d.String(), before: map[string]string{"domain": d.String()}})
	})
	return wrap("remove account domain", err)
}

// lockAccount checks that the account exists and keeps it from being
// deleted until the transaction ends.
func lockAccount(ctx context.Context, tx pgx.Tx, accountID string) error {
	var id string
	err := tx.QueryRow(ctx, `SELECT id FROM accounts WHERE id = $1 FOR KEY SHARE`, accountID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("account")
	}
	return err
}

// HostOverlap is a pair of app domains of different accounts that claim a
// common host: rows written before host ownership was enforced.
type HostOverlap struct {
	AccountID, AppID, AppName, Domain                     string
	OtherAccountID, OtherAppID, OtherAppName, OtherDomain string
}

// HostOverlaps returns every overlapping pair of app domains of different
// accounts, each pair once.
func (s *Store) HostOverlaps(ctx context.Context) ([]HostOverlap, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT xa.account_id, xa.id::text, xa.name, x.domain, ya.account_id, ya.id::text, ya.name, y.domain
		FROM app_domains x
		JOIN apps xa ON xa.id = x.app_id
		JOIN app_domains y
		  ON (y.host_key = x.host_key AND (x.app_id, x.position) < (y.app_id, y.position))
		  OR (y.host_wildcard AND x.host_key >= y.host_key || '.' AND x.host_key < y.host_key || '/')
		JOIN apps ya ON ya.id = y.app_id
		WHERE xa.account_id <> ya.account_id
		ORDER BY x.domain, y.domain`)
	if err != nil {
		return nil, wrap("list host overlaps", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (HostOverlap, error) {
		var o HostOverlap
		err := row.Scan(&o.AccountID, &o.AppID, &o.AppName, &o.Domain, &o.OtherAccountID, &o.OtherAppID, &o.OtherAppName, &o.OtherDomain)
		return o, err
	})
	return out, wrap("list host overlaps", err)
}
