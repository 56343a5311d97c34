package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
		var err error
		if cfg.Apps, err = s.loadEdgeApps(ctx, tx, `($1::text = '' OR a.account_id = $1)`, accountID, secrets); err != nil {
			return err
		}
		if cfg.Policies, err = loadEdgePolicies(ctx, tx, `($1::text = '' OR p.account_id = $1)`, accountID); err != nil {
			return err
		}
		if cfg.ServiceTokens, err = loadEdgeTokens(ctx, tx, `($1::text = '' OR account_id = $1)`, accountID); err != nil {
			return err
		}
		if cfg.IdentityProviders, err = s.loadIdentityProviders(ctx, tx, `($1::text = '' OR p.account_id = $1)`, accountID, secrets); err != nil {
			return err
		}
		cfg.Revocations, err = loadRevocations(ctx, tx, accountID, s.now())
		return err
	})
	if err != nil {
		return access.Config{}, wrap("load config", err)
	}
	return cfg, nil
}

// loadEdgeApps reads the apps matching where (a condition on apps a, with
// one parameter, arg) as the edge enforces them: with domains, policy
// links (PolicyLinks; Policies stays empty) and, when secrets says so,
// the upstream client secret opened.
func (s *Store) loadEdgeApps(ctx context.Context, q querier, where string, arg any, secrets bool) ([]access.App, error) {
	rows, err := q.Query(ctx, `SELECT `+appColumns+`, a.upstream_client_secret FROM apps a
		WHERE `+where+` ORDER BY a.created_at, a.id`, arg)
	if err != nil {
		return nil, err
	}
	var apps []access.App
	for rows.Next() {
		var box []byte
		app, err := scanApp(rows, &box)
		if err != nil {
			rows.Close()
			return nil, err
		}
		if secrets && box != nil {
			if app.UpstreamClientSecret, err = s.openUpstreamSecret(app.ID, box); err != nil {
				rows.Close()
				return nil, err
			}
		}
		apps = append(apps, app)
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
		apps[i].SelfHostedDomains = []string{}
		apps[i].Destinations = []access.Destination{}
	}
	rows, err = q.Query(ctx, `SELECT d.app_id, d.domain FROM app_domains d JOIN apps a ON a.id = d.app_id
		WHERE `+where+` ORDER BY d.app_id, d.position`, arg)
	if err != nil {
		return nil, err
	}
	var appID, domain string
	_, err = pgx.ForEachRow(rows, []any{&appID, &domain}, func() error {
		if a := index[appID]; a != nil {
			a.SelfHostedDomains = append(a.SelfHostedDomains, domain)
			a.Destinations = append(a.Destinations, access.Destination{Type: "public", URI: domain})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load app domains: %w", err)
	}
	rows, err = q.Query(ctx, `SELECT ap.app_id, ap.policy_id, ap.precedence FROM app_policies ap JOIN apps a ON a.id = ap.app_id
		WHERE `+where+` ORDER BY ap.app_id, ap.precedence`, arg)
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
	return apps, nil
}

// loadEdgePolicies reads the policies matching where (a condition on
// policies p with one parameter, arg), without app counts.
func loadEdgePolicies(ctx context.Context, q querier, where string, arg any) ([]access.Policy, error) {
	rows, err := q.Query(ctx, `SELECT `+policyColumns+` FROM policies p WHERE `+where+` ORDER BY p.created_at, p.id`, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []access.Policy
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
func loadEdgeTokens(ctx context.Context, q querier, where string, arg any) ([]access.ServiceTokenCredential, error) {
	rows, err := q.Query(ctx, `SELECT id, account_id, name, client_id, secret_hash, previous_secret_hash,
		previous_secret_expires_at, expires_at FROM service_tokens WHERE `+where, arg)
	if err != nil {
		return nil, err
	}
	var out []access.ServiceTokenCredential
	var t access.ServiceTokenCredential
	_, err = pgx.ForEachRow(rows, []any{&t.ID, &t.AccountID, &t.Name, &t.ClientID, &t.SecretHash, &t.PreviousSecretHash,
		&t.PreviousSecretExpiresAt, &t.ExpiresAt}, func() error {
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
