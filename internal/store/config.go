package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/sealed"
)

// LoadConfig reads everything the edge enforces, across all accounts, as
// one consistent snapshot with its config version. Identity providers and
// relay apps come with their client secrets opened with the master key
// (empty without one); a secret that does not open fails the load.
func (s *Store) LoadConfig(ctx context.Context) (access.Config, error) {
	return s.loadConfig(ctx, "", true)
}

// LoadAccountConfig reads one account's part of what LoadConfig reads,
// without any secret: for tools that explain the edge's decisions (the
// policy tester), which must neither see other accounts nor open secrets
// they do not use.
func (s *Store) LoadAccountConfig(ctx context.Context, accountID string) (access.Config, error) {
	return s.loadConfig(ctx, accountID, false)
}

// loadConfig is LoadConfig for one account, or every account when
// accountID is "", opening secrets only when secrets says so.
func (s *Store) loadConfig(ctx context.Context, accountID string, secrets bool) (access.Config, error) {
	var cfg access.Config
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT version FROM config_state`).Scan(&cfg.Version); err != nil {
			return err
		}
		size, err := configSize(ctx, tx, accountID)
		if err != nil {
			return err
		}
		// The service tokens, the bulk of a large config, are read on a
		// second connection in this transaction's snapshot while this one
		// reads the rest: for the whole config, when the pool has a
		// connection to spare at once (never waiting for one while holding
		// this one, which could deadlock).
		tokensCtx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer func() { cancel(); wg.Wait() }()
		var tokensErr error
		readTokens := func(q querier) error {
			var err error
			cfg.ServiceTokens, err = loadEdgeTokens(tokensCtx, q, `($1::text = '' OR account_id = $1)`, accountID, size[countServiceToken])
			return err
		}
		var second *pgxpool.Conn
		if accountID == "" {
			second = s.spareConn(ctx)
		}
		if second != nil {
			var snapshot string
			if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
				second.Release()
				return err
			}
			wg.Go(func() {
				defer second.Release()
				tokensErr = pgx.BeginTxFunc(tokensCtx, second, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx2 pgx.Tx) error {
					if _, err := tx2.Exec(tokensCtx, `SET TRANSACTION SNAPSHOT '`+snapshot+`'`); err != nil {
						return err
					}
					return readTokens(tx2)
				})
			})
		}
		appsOf := appsWhere{where: `($1::text = '' OR a.account_id = $1)`, arg: accountID, all: accountID == "", size: size[countApp]}
		if cfg.Apps, err = s.loadEdgeApps(ctx, tx, appsOf, secrets); err != nil {
			return err
		}
		if cfg.Policies, err = loadEdgePolicies(ctx, tx, `($1::text = '' OR p.account_id = $1)`, accountID, len(cfg.Apps)+size[countPolicy]); err != nil {
			return err
		}
		if cfg.IdentityProviders, err = s.loadIdentityProviders(ctx, tx, `($1::text = '' OR p.account_id = $1)`, accountID, secrets); err != nil {
			return err
		}
		if cfg.Revocations, err = loadRevocations(ctx, tx, accountID, s.now()); err != nil {
			return err
		}
		if second == nil {
			return readTokens(tx)
		}
		wg.Wait()
		return tokensErr
	})
	if err != nil {
		return access.Config{}, wrap("load config", err)
	}
	return cfg, nil
}

// spareConn returns an idle connection of the pool, or nil when none is
// free at once.
func (s *Store) spareConn(ctx context.Context) *pgxpool.Conn {
	if s.pool.Stat().IdleConns() == 0 && s.pool.Stat().TotalConns() >= s.pool.Config().MaxConns {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil
	}
	return conn
}

// configSize returns the counts of account_counts, summed over every
// account when accountID is "": the capacities to read a config into.
func configSize(ctx context.Context, q querier, accountID string) (map[string]int, error) {
	rows, err := q.Query(ctx, `SELECT kind, sum(n)::bigint FROM account_counts
		WHERE $1::text = '' OR account_id = $1 GROUP BY kind`, accountID)
	if err != nil {
		return nil, err
	}
	size := map[string]int{}
	var kind string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&kind, &n}, func() error {
		size[kind] = n
		return nil
	})
	return size, err
}

// appsWhere selects the apps loadEdgeApps reads: where is a condition on
// apps a with one parameter, arg; all says it selects every app (so the
// domains and links need no join); size is how many to expect.
type appsWhere struct {
	where string
	arg   any
	all   bool
	size  int
}

// loadEdgeApps reads the apps sel selects as the edge enforces them: with
// domains, policy links (PolicyLinks; Policies stays empty) and, when
// secrets says so, the upstream client secret opened.
func (s *Store) loadEdgeApps(ctx context.Context, q querier, sel appsWhere, secrets bool) ([]access.App, error) {
	rows, err := q.Query(ctx, `SELECT `+appColumns+`, a.upstream_client_secret FROM apps a
		WHERE `+sel.where+` ORDER BY a.created_at, a.id`, sel.arg)
	if err != nil {
		return nil, err
	}
	apps := make([]access.App, 0, sel.size)
	var box []byte
	for rows.Next() {
		apps = append(apps, access.App{})
		app := &apps[len(apps)-1]
		if err := scanAppInto(rows, app, &box); err != nil {
			rows.Close()
			return nil, err
		}
		if secrets && box != nil {
			var err error
			if app.UpstreamClientSecret, err = s.openUpstreamSecret(app.ID, box); err != nil {
				rows.Close()
				return nil, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(apps) == 0 {
		return nil, nil
	}
	index := make(map[string]*access.App, len(apps))
	for i := range apps {
		index[apps[i].ID] = &apps[i]
	}
	// Rows come in no particular order (sorting them costs the database
	// more than sorting the few apps with several in Go).
	join, args := ` JOIN apps a ON a.id = x.app_id WHERE `+sel.where, []any{sel.arg}
	if sel.all {
		join, args = ``, nil
	}
	rows, err = q.Query(ctx, `SELECT x.app_id, x.position, x.domain FROM app_domains x`+join, args...)
	if err != nil {
		return nil, err
	}
	var appID, domain string
	var position int
	_, err = pgx.ForEachRow(rows, []any{&appID, &position, &domain}, func() error {
		a := index[appID]
		if a == nil {
			return nil
		}
		// Positions run 0, 1, ... in each app: place each domain at its own.
		for len(a.SelfHostedDomains) <= position {
			a.SelfHostedDomains = append(a.SelfHostedDomains, "")
		}
		a.SelfHostedDomains[position] = domain
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load app domains: %w", err)
	}
	for i := range apps {
		a := &apps[i]
		a.SelfHostedDomains = slices.DeleteFunc(a.SelfHostedDomains, func(d string) bool { return d == "" })
		if a.SelfHostedDomains == nil {
			a.SelfHostedDomains = []string{}
		}
		a.Destinations = make([]access.Destination, len(a.SelfHostedDomains))
		for j, d := range a.SelfHostedDomains {
			a.Destinations[j] = access.Destination{Type: "public", URI: d}
		}
	}
	rows, err = q.Query(ctx, `SELECT x.app_id, x.policy_id, x.precedence FROM app_policies x`+join, args...)
	if err != nil {
		return nil, err
	}
	var link access.PolicyLink
	_, err = pgx.ForEachRow(rows, []any{&appID, &link.ID, &link.Precedence}, func() error {
		if a := index[appID]; a != nil {
			a.PolicyLinks = append(a.PolicyLinks, link)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load app policy links: %w", err)
	}
	for i := range apps {
		if links := apps[i].PolicyLinks; len(links) > 1 {
			slices.SortFunc(links, func(a, b access.PolicyLink) int { return a.Precedence - b.Precedence })
		}
	}
	return apps, nil
}

// loadEdgePolicies reads the policies matching where (a condition on
// policies p with one parameter, arg), without app counts.
func loadEdgePolicies(ctx context.Context, q querier, where string, arg any, size int) ([]access.Policy, error) {
	rows, err := q.Query(ctx, `SELECT `+policyColumns+` FROM policies p WHERE `+where, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]access.Policy, 0, size)
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("load policies: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// loadEdgeTokens reads the credentials of the service tokens matching
// where (a condition on service_tokens with one parameter, arg).
func loadEdgeTokens(ctx context.Context, q querier, where string, arg any, size int) ([]access.ServiceTokenCredential, error) {
	rows, err := q.Query(ctx, `SELECT id, account_id, name, client_id, secret_hash, previous_secret_hash,
		previous_secret_expires_at, expires_at FROM service_tokens WHERE `+where, arg)
	if err != nil {
		return nil, err
	}
	out := make([]access.ServiceTokenCredential, 0, size)
	var t access.ServiceTokenCredential
	// An account's tokens share one copy of its id.
	var account pgtype.DriverBytes
	accounts := map[string]string{}
	_, err = pgx.ForEachRow(rows, []any{&t.ID, &account, &t.Name, &t.ClientID, &t.SecretHash, &t.PreviousSecretHash,
		&t.PreviousSecretExpiresAt, &t.ExpiresAt}, func() error {
		id, ok := accounts[string(account)]
		if !ok {
			id = string(account)
			accounts[id] = id
		}
		t.AccountID = id
		out = append(out, t)
		t = access.ServiceTokenCredential{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load service tokens: %w", err)
	}
	return out, nil
}

// openUpstreamSecret opens a relay app's sealed upstream client secret.
func (s *Store) openUpstreamSecret(appID string, box []byte) (string, error) {
	if box == nil || len(s.masterKey) == 0 {
		return "", nil
	}
	secret, err := sealed.Open(s.masterKey, appID, box)
	if err != nil {
		return "", fmt.Errorf("app %s: upstream client secret: %w (wrong GATEHOUSE_MASTER_KEY?)", appID, err)
	}
	return string(secret), nil
}

// TouchServiceTokens records when service tokens were last used. The edge
// batches these, so a request never waits for a database write.
func (s *Store) TouchServiceTokens(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	ids := make([]string, 0, len(seen))
	times := make([]time.Time, 0, len(seen))
	for id, t := range seen {
		ids = append(ids, id)
		times = append(times, t)
	}
	_, err := s.pool.Exec(ctx, `
		UPDATE service_tokens t SET last_seen_at = GREATEST(t.last_seen_at, u.seen)
		FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, seen)
		WHERE t.id = u.id`, ids, times)
	if err != nil {
		return wrap("touch service tokens", err)
	}
	return nil
}
