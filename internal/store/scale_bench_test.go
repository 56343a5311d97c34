package store_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// seedScale fills one account, with SQL (not the store's writers, which
// would take minutes), with apps apps on one domain each, 10% of them
// (at most 10k) linked to one shared reusable policy and the rest to a
// policy of their own, and tokens service tokens.
func seedScale(b *testing.B, st *store.Store, apps, tokens int) string {
	b.Helper()
	ctx := context.Background()
	acct, err := st.CreateAccount(ctx, "scale")
	if err != nil {
		b.Fatal(err)
	}
	shared := min(apps/10, 10_000)
	t0 := time.Now()
	for _, q := range []string{
		`INSERT INTO policies (id, account_id, app_id, name, decision, include, require, exclude, session_duration, extras, revision, created_at, updated_at)
		 VALUES ('00000000-0000-4000-8000-000000000000', $1, NULL, 'everyone', 'allow', '[{"everyone":{}}]', '[]', '[]', '', '{}', 1, now(), now())`,
		`INSERT INTO apps (id, account_id, aud, type, name, domain, origin, session_duration, cors_headers, options_preflight_bypass, settings, revision, created_at, updated_at)
		 SELECT md5('app' || i)::uuid, $1, md5('aud' || i) || md5('aud2' || i), 'self_hosted', 'app' || i, 'a' || i || '.scale.test', '', '24h', NULL, false, '{}', 1,
		        now() + i * interval '1 microsecond', now()
		 FROM generate_series(1, $2::int) i`,
		`INSERT INTO app_domains (app_id, position, domain) SELECT md5('app' || i)::uuid, 0, 'a' || i || '.scale.test' FROM generate_series(1, $2::int) i`,
		`INSERT INTO app_policies (account_id, app_id, policy_id, precedence)
		 SELECT $1, md5('app' || i)::uuid, '00000000-0000-4000-8000-000000000000', 1 FROM generate_series(1, $3::int) i`,
		`INSERT INTO policies (id, account_id, app_id, name, decision, include, require, exclude, session_duration, extras, revision, created_at, updated_at)
		 SELECT md5('policy' || i)::uuid, $1, md5('app' || i)::uuid, 'own', 'allow', '[{"email":{"email":"a@scale.test"}}]', '[]', '[]', '', '{}', 1, now(), now()
		 FROM generate_series($3::int + 1, $2::int) i`,
		`INSERT INTO app_policies (account_id, app_id, policy_id, precedence)
		 SELECT $1, md5('app' || i)::uuid, md5('policy' || i)::uuid, 1 FROM generate_series($3::int + 1, $2::int) i`,
		`INSERT INTO service_tokens (id, account_id, name, client_id, secret_hash, client_secret_version, duration, expires_at, revision, created_at, updated_at)
		 SELECT md5('token' || i)::uuid, $1, 't' || i, md5('cid' || i) || '.access', sha256(('s' || i)::bytea), 1, '8760h', now() + interval '1 year', 1,
		        now() + i * interval '1 microsecond', now()
		 FROM generate_series(1, $4::int) i`,
		`INSERT INTO account_counts (account_id, kind, n) VALUES ($1, 'app', $2), ($1, 'service_token', $4), ($1, 'policy', 1)
		 ON CONFLICT (account_id, kind) DO UPDATE SET n = EXCLUDED.n`,
	} {
		q = strings.NewReplacer("$1", "'"+acct.ID+"'", "$2", strconv.Itoa(apps), "$3", strconv.Itoa(shared), "$4", strconv.Itoa(tokens)).Replace(q)
		if _, err := st.Pool().Exec(ctx, q); err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
	if _, err := st.Pool().Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d apps (%d on one policy), %d tokens in %v", apps, shared, tokens, time.Since(t0).Round(time.Millisecond))
	return acct.ID
}

// BenchmarkScale measures, on one account of GATEHOUSE_SCALE_APPS apps
// (default 100k) and GATEHOUSE_SCALE_TOKENS service tokens (default 1M):
// LoadConfig, Changes after one write, and the service token list's first,
// middle and last pages.
//
//	go run ./cmd/withpg -- go test ./internal/store -run '^$' -bench Scale -benchtime 20x
func BenchmarkScale(b *testing.B) {
	apps, tokens := envInt("GATEHOUSE_SCALE_APPS", 100_000), envInt("GATEHOUSE_SCALE_TOKENS", 1_000_000)
	var st *store.Store
	var acct string
	if url := os.Getenv("GATEHOUSE_SCALE_URL"); url != "" {
		// A database seeded by an earlier run (seeding takes minutes).
		st, acct = reuseScale(b, url, apps, tokens)
	} else {
		st = ownStore(b, store.WithStatementTimeout(0))
		acct = seedScale(b, st, apps, tokens)
	}
	ctx := context.Background()
	b.Run("LoadConfig", func(b *testing.B) {
		for b.Loop() {
			cfg, err := st.LoadConfig(ctx)
			if err != nil || len(cfg.ServiceTokens) != tokens || len(cfg.Apps) != apps {
				b.Fatalf("%d apps %d tokens %v", len(cfg.Apps), len(cfg.ServiceTokens), err)
			}
		}
	})
	b.Run("ChangesAfterOneWrite", func(b *testing.B) {
		spec := access.PolicySpec{Name: "everyone", Decision: "allow", Include: rawRules(`{"everyone":{}}`)}
		rules, _ := spec.Rules()
		i := 0
		for b.Loop() {
			b.StopTimer()
			v, err := st.ConfigVersion(ctx)
			if err != nil {
				b.Fatal(err)
			}
			i++
			spec.Name = fmt.Sprintf("everyone %d", i)
			if _, err := st.UpdatePolicy(ctx, actor, store.PolicyScope{AccountID: acct}, "00000000-0000-4000-8000-000000000000", 0, spec, rules); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			d, err := st.Changes(ctx, v)
			if err != nil || len(d.Policies) != 1 {
				b.Fatalf("%+v %v", d, err)
			}
		}
	})
	pages := (tokens + 49) / 50
	tokenPage := func(b *testing.B, page int) {
		got, info, err := st.ListServiceTokens(ctx, acct, "", "", access.Page{Page: page, PerPage: 50})
		if err != nil || len(got) != 50 || info.TotalCount != tokens {
			b.Fatalf("page %d: %d tokens, %+v, %v", page, len(got), info, err)
		}
	}
	// A page asked for on its own (no page end remembered before it).
	for _, page := range []int{1, pages / 4, pages / 2, pages} {
		b.Run(fmt.Sprintf("ListServiceTokens/jump/page=%d_of_%d", page, pages), func(b *testing.B) {
			p50(b, func() { tokenPage(b, page) })
		})
	}
	// Jumping about deep in the list, after one skip there left marks.
	b.Run(fmt.Sprintf("ListServiceTokens/jump_near/page=%d±100_of_%d", pages/2, pages), func(b *testing.B) {
		i := 0
		p50(b, func() { i++; tokenPage(b, pages/2-100+(i*37)%200) })
	})
	// Walking on from a deep page: each page seeks from where the last ended.
	b.Run(fmt.Sprintf("ListServiceTokens/walk/from_page=%d_of_%d", pages/2, pages), func(b *testing.B) {
		page := pages / 2
		tokenPage(b, page)
		p50(b, func() { page++; tokenPage(b, page) })
	})
	apages := (apps + 49) / 50
	for _, page := range []int{1, apages / 2, apages} {
		b.Run(fmt.Sprintf("ListApps/jump/page=%d_of_%d", page, apages), func(b *testing.B) {
			p50(b, func() {
				got, _, err := st.ListApps(ctx, acct, store.AppFilter{}, access.Page{Page: page, PerPage: 50})
				if err != nil || len(got) != 50 {
					b.Fatalf("%d apps, %v", len(got), err)
				}
			})
		})
	}
	b.Run("GetSharedPolicy", func(b *testing.B) {
		for b.Loop() {
			p, err := st.GetPolicy(ctx, store.PolicyScope{AccountID: acct}, "00000000-0000-4000-8000-000000000000")
			if err != nil || p.AppCount != min(apps/10, 10_000) {
				b.Fatalf("%d %v", p.AppCount, err)
			}
		}
	})
}

// reuseScale opens the database at url, migrating and seeding it unless
// an earlier run did.
func reuseScale(b *testing.B, url string, apps, tokens int) (*store.Store, string) {
	b.Helper()
	if err := store.MigrateUp(url); err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(context.Background(), url, store.WithMasterKey(gatehousetest.MasterKey), store.WithStatementTimeout(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	var acct string
	err = st.Pool().QueryRow(context.Background(), `SELECT id FROM accounts WHERE name = 'scale'`).Scan(&acct)
	if err != nil {
		acct = seedScale(b, st, apps, tokens)
	}
	return st, acct
}

// p50 runs f b.N times and reports its median time, and the first's.
func p50(b *testing.B, f func()) {
	var ds []time.Duration
	for b.Loop() {
		t0 := time.Now()
		f()
		ds = append(ds, time.Since(t0))
	}
	b.ReportMetric(float64(ds[0].Microseconds())/1000, "first-ms")
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
