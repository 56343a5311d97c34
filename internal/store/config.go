package store

import (
	"context"
	"encoding/json"
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
// Objects with the same JSON document (CORS settings, app settings,
// rules, policy extras) share one decoded value: the config is read-only.
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
		// The whole config's bulk (service tokens, policies) is read on
		// other connections in this transaction's snapshot while this one
		// reads the apps.
		snap := s.newSnapshotReads(ctx, tx, accountID == "")
		defer snap.stop()
		snap.read(func(ctx context.Context, q querier) (err error) {
			cfg.ServiceTokens, err = loadEdgeTokens(ctx, q, `($1::text = '' OR account_id = $1)`, accountID, size[countServiceToken])
			return err
		})
		snap.read(func(ctx context.Context, q querier) (err error) {
			cfg.Policies, err = loadEdgePolicies(ctx, q, `($1::text = '' OR p.account_id = $1)`, accountID, size[countApp]+size[countPolicy])
			return err
		})
		appsOf := appsWhere{where: `($1::text = '' OR a.account_id = $1)`, arg: accountID, all: accountID == "", size: size[countApp]}
		if cfg.Apps, err = s.loadEdgeApps(ctx, tx, appsOf, secrets); err != nil {
			return err
		}
		if cfg.IdentityProviders, err = s.loadIdentityProviders(ctx, tx, `($1::text = '' OR p.account_id = $1)`, accountID, secrets); err != nil {
			return err
		}
		if cfg.Revocations, err = loadRevocations(ctx, tx, accountID, s.now()); err != nil {
			return err
		}
		if cfg.Certificates, err = loadEdgeCertificates(ctx, tx, `($1::text = '' OR account_id = $1)`, accountID); err != nil {
			return err
		}
		if cfg.Organizations, err = loadOrganizations(ctx, tx, accountID, nil); err != nil {
			return err
		}
		return snap.wait()
	})
	if err != nil {
		return access.Config{}, wrap("load config", err)
	}
	return cfg, nil
}

// snapshotReads runs reads in one transaction's snapshot: each on a
// connection of its own when the pool has one free at once (never waiting
// for one while holding the transaction's, which could deadlock), else in
// the transaction itself.
type snapshotReads struct {
	ctx      context.Context
	cancel   context.CancelFunc
	tx       pgx.Tx
	pool     *pgxpool.Pool
	parallel bool
	snapshot string
	wg       sync.WaitGroup
	mu       sync.Mutex
	err      error
}

func (s *Store) newSnapshotReads(ctx context.Context, tx pgx.Tx, parallel bool) *snapshotReads {
	r := &snapshotReads{tx: tx, pool: s.pool, parallel: parallel}
	r.ctx, r.cancel = context.WithCancel(ctx)
	if parallel {
		if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&r.snapshot); err != nil {
			r.parallel = false
		}
	}
	return r
}

// read runs fn on a spare connection in the snapshot, or now in the
// transaction.
func (r *snapshotReads) read(fn func(ctx context.Context, q querier) error) {
	var conn *pgxpool.Conn
	if r.parallel {
		conn = spareConn(r.ctx, r.pool)
	}
	if conn == nil {
		r.fail(fn(r.ctx, r.tx))
		return
	}
	r.wg.Go(func() {
		defer conn.Release()
		r.fail(pgx.BeginTxFunc(r.ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			if _, err := tx.Exec(r.ctx, `SET TRANSACTION SNAPSHOT '`+r.snapshot+`'`); err != nil {
				return err
			}
			return fn(r.ctx, tx)
		}))
	})
}

func (r *snapshotReads) fail(err error) {
	if err == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
}

// wait waits for the reads and returns the first error.
func (r *snapshotReads) wait() error {
	r.wg.Wait()
	return r.err
}

// stop ends the reads still running (on an early return) and waits.
func (r *snapshotReads) stop() {
	r.cancel()
	r.wg.Wait()
}

// spareConn returns a connection of the pool, or nil when none is free
// at once.
func spareConn(ctx context.Context, pool *pgxpool.Pool) *pgxpool.Conn {
	if pool.Stat().IdleConns() == 0 && pool.Stat().TotalConns() >= pool.Config().MaxConns {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	conn, err := pool.Acquire(ctx)
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
	var corsRaw, settingsRaw pgtype.DriverBytes
	cors, settings := jsonValues[*access.CORSSettings]{}, jsonValues[access.AppSettings]{}
	for rows.Next() {
		apps = append(apps, access.App{})
		app := &apps[len(apps)-1]
		err := scanAppJSONInto(rows, app, &corsRaw, &settingsRaw, &box)
		if err == nil {
			app.CORSHeaders, err = cors.decode(corsRaw, "cors_headers")
		}
		if err == nil {
			app.AppSettings, err = settings.decode(settingsRaw, "settings")
		}
		if err != nil {
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
	var include, require, exclude, extras pgtype.DriverBytes
	rules, extrasOf := jsonValues[[]access.Rule]{}, jsonValues[access.PolicyExtras]{}
	for rows.Next() {
		out = append(out, access.Policy{})
		p := &out[len(out)-1]
		err := scanPolicyJSONInto(rows, p, &include, &require, &exclude, &extras)
		if err == nil {
			p.Include, err = rules.decode(include, "include")
		}
		if err == nil {
			p.Require, err = rules.decode(require, "require")
		}
		if err == nil {
			p.Exclude, err = rules.decode(exclude, "exclude")
		}
		if err == nil {
			p.PolicyExtras, err = extrasOf.decode(extras, "extras")
		}
		if err != nil {
			return nil, fmt.Errorf("load policies: %w", err)
		}
		emptyRules(p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return out, resolveGroups(ctx, q, out)
}

// jsonValues decodes the values of a JSON column for one read, each
// distinct value once: rows that repeat one (an organisation's common
// settings and rules) share its decoded value, which is read-only (slices
// are clipped, so that appending to one copies it). A NULL is the zero
// value, as pgx scans it into a pointer or a slice.
type jsonValues[T any] map[string]T

func (m jsonValues[T]) decode(raw []byte, column string) (T, error) {
	var v T
	if raw == nil {
		return v, nil
	}
	if v, ok := m[string(raw)]; ok {
		return v, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("%s: %w", column, err)
	}
	switch x := any(&v).(type) {
	case *[]access.Rule:
		*x = slices.Clip(*x)
	case *access.AppSettings:
		x.AllowedIdPs, x.Tags = slices.Clip(x.AllowedIdPs), slices.Clip(x.Tags)
	}
	m[string(raw)] = v
	return v, nil
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
