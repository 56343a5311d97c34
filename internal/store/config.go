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
		rows, err := tx.Query(ctx, `SELECT `+appColumns+`, a.upstream_client_secret FROM apps a
			WHERE $1 = '' OR a.account_id = $1 ORDER BY a.created_at, a.id`, accountID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var box []byte
			app, err := scanApp(rows, &box)
			if err != nil {
				rows.Close()
				return err
			}
			if secrets {
				if app.UpstreamClientSecret, err = s.openUpstreamSecret(app.ID, box); err != nil {
					rows.Close()
					return err
				}
			}
			cfg.Apps = append(cfg.Apps, app)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if err := loadAppRelations(ctx, tx, cfg.Apps); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT id, account_id, name, client_id, secret_hash, previous_secret_hash,
			previous_secret_expires_at, expires_at FROM service_tokens WHERE $1 = '' OR account_id = $1`, accountID)
		if err != nil {
			return err
		}
		var t access.ServiceTokenCredential
		_, err = pgx.ForEachRow(rows, []any{&t.ID, &t.AccountID, &t.Name, &t.ClientID, &t.SecretHash, &t.PreviousSecretHash,
			&t.PreviousSecretExpiresAt, &t.ExpiresAt}, func() error {
			cfg.ServiceTokens = append(cfg.ServiceTokens, t)
			t = access.ServiceTokenCredential{}
			return nil
		})
		if err != nil {
			return err
		}
		cfg.IdentityProviders, err = s.loadIdentityProviders(ctx, tx, accountID, secrets)
		if err != nil {
			return err
		}
		cfg.Revocations, err = loadRevocations(ctx, tx, accountID, s.now())
		return err
	})
	if err != nil {
		return access.Config{}, fmt.Errorf("store: load config: %w", err)
	}
	return cfg, nil
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
		return fmt.Errorf("store: touch service tokens: %w", err)
	}
	return nil
}
