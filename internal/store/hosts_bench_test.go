package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// BenchmarkCreateAppAmong100kApps creates (and deletes) an app while
// 100,000 apps of 1,000 accounts hold exact hosts, paths and wildcards:
// the host ownership check is a handful of index lookups, independent of
// the number of apps. It logs the plan of the lookup for a wildcard.
func BenchmarkCreateAppAmong100kApps(b *testing.B) {
	ctx := context.Background()
	url := gatehousetest.NewDatabase(b)
	if err := store.MigrateUp(url); err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Pool().Exec(ctx, `
		INSERT INTO accounts (id, name, created_at)
		SELECT md5(i::text), 'a' || i, now() FROM generate_series(1, 1000) i;
		INSERT INTO apps (id, account_id, aud, type, name, domain, origin, session_duration, options_preflight_bypass, settings, revision, created_at, updated_at)
		SELECT gen_random_uuid(), md5((i % 1000 + 1)::text), md5('aud' || i), 'self_hosted', 'app' || i, '', '', '24h', false, '{}', 1, now(), now()
		FROM generate_series(1, 100000) i;
		INSERT INTO app_domains (app_id, position, domain)
		SELECT id, 0, CASE WHEN n % 10 = 0 THEN '*.w' || n || '.z' || (n % 97) || '.bench.test'
		                   WHEN n % 10 = 1 THEN 'h' || n || '.z' || (n % 97) || '.bench.test/path/' || n
		                   ELSE 'h' || n || '.z' || (n % 97) || '.bench.test' END
		FROM (SELECT id, row_number() OVER () AS n FROM apps) s;
		ANALYZE;`); err != nil {
		b.Fatal(err)
	}
	acct, err := st.CreateAccount(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	var plan []string
	rows, err := st.Pool().Query(ctx, `EXPLAIN ANALYZE SELECT EXISTS (
		SELECT 1 FROM app_domains d JOIN apps a ON a.id = d.app_id
		WHERE a.account_id <> $1 AND (d.host_key = $2 OR (d.host_wildcard AND d.host_key = ANY($3::text[]))
		      OR ($4 AND d.host_key >= $2 || '.' AND d.host_key < $2 || '/')))`,
		acct.ID, "tset.hcneb.05z", []string{"tset", "tset.hcneb"}, true)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			b.Fatal(err)
		}
		plan = append(plan, line)
	}
	t0 := time.Now()
	overlaps, err := st.HostOverlaps(ctx)
	if err != nil || len(overlaps) != 0 {
		b.Fatalf("overlaps: %d %v", len(overlaps), err)
	}
	b.Logf("startup overlap check over 100k apps: %v", time.Since(t0))
	b.Logf("lookup for *.z50.bench.test (%d plan lines):\n%s", len(plan), strings.Join(plan, "\n"))
	i := 0
	var createTime time.Duration
	defer func() { b.ReportMetric(float64(createTime.Nanoseconds())/float64(i), "create-ns/op") }()
	for b.Loop() {
		i++
		spec := access.AppSpec{Type: access.AppTypeSelfHosted, Name: fmt.Sprintf("new%d", i), Domain: fmt.Sprintf("*.new%d.z%d.bench.test", i, i%97)}
		valid, err := spec.Normalize()
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		app, err := st.CreateApp(ctx, access.Actor{Name: "bench"}, acct.ID, valid)
		if err != nil {
			b.Fatal(err)
		}
		createTime += time.Since(t0)
		if err := st.DeleteApp(ctx, access.Actor{Name: "bench"}, acct.ID, app.ID, 0); err != nil {
			b.Fatal(err)
		}
	}
}
