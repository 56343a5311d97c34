package store_test

import (
	"context"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/migrations"
)

func TestMain(m *testing.M) { gatehousetest.Main(m) }

func tables(t *testing.T, url string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMigrationsGoUpDownAndUpAgain(t *testing.T) {
	t.Parallel()
	url := gatehousetest.NewDatabase(t)
	if v, dirty, err := store.MigrationVersion(url); err != nil || v != 0 || dirty {
		t.Fatalf("fresh database at version %d dirty=%v err=%v", v, dirty, err)
	}
	for round := range 2 {
		if err := store.MigrateUp(url); err != nil {
			t.Fatalf("round %d up: %v", round, err)
		}
		if v, dirty, err := store.MigrationVersion(url); err != nil || v != store.LatestMigration() || dirty {
			t.Fatalf("round %d: version %d dirty=%v err=%v, want %d", round, v, dirty, err, store.LatestMigration())
		}
		if n := tables(t, url); n < 9 {
			t.Fatalf("round %d: only %d tables after up", round, n)
		}
		if err := store.MigrateUp(url); err != nil {
			t.Fatalf("second up is not a no-op: %v", err)
		}
		if err := store.MigrateDown(url, 0); err != nil {
			t.Fatalf("round %d down: %v", round, err)
		}
		if n := tables(t, url); n != 0 {
			t.Fatalf("round %d: %d tables left after down", round, n)
		}
	}
}

func TestReadinessSeesSchemaVersion(t *testing.T) {
	t.Parallel()
	st := gatehousetest.Store(t)
	v, dirty, err := st.SchemaVersion(context.Background())
	if err != nil || dirty || v != store.LatestMigration() {
		t.Fatalf("schema version %d dirty=%v err=%v", v, dirty, err)
	}
}

// TestAccessLogChunksMigrationKeepsRows writes rows into the
// row-per-decision access log of migration 0005, migrates to chunks and
// back, and finds every row each time.
func TestAccessLogChunksMigrationKeepsRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := gatehousetest.NewDatabase(t)
	if err := store.MigrateUp(url); err != nil {
		t.Fatal(err)
	}
	// The steps down to 0006 are the migrations after it (numbers may
	// have gaps).
	toRows := 0
	entries, _ := fs.ReadDir(migrations.FS, ".")
	for _, e := range entries {
		if num, _, ok := strings.Cut(e.Name(), "_"); ok && strings.HasSuffix(e.Name(), ".up.sql") {
			if v, err := strconv.Atoi(num); err == nil && v > 6 {
				toRows++
			}
		}
	}
	if err := store.MigrateDown(url, toRows); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const n = 2500 // three chunks for one account
	if _, err := conn.Exec(ctx, `
		INSERT INTO access_logs (created_at, ray_id, account_id, app_id, action, allowed, reason, user_email, upstream_status)
		SELECT timestamptz '2026-11-30 12:00:00Z' + i * interval '1 second', 'ray' || i,
		       CASE WHEN i % 10 = 0 THEN 'other' ELSE 'acct' END,
		       CASE WHEN i % 2 = 0 THEN 'c5a0f3a4-3a5e-4f0e-9d0e-8f1b2c3d4e5f'::uuid END,
		       'allow', i % 3 = 0, 'allow_policy', 'u' || i || '@example.test', 200
		FROM generate_series(1, $1) i`, n); err != nil {
		t.Fatal(err)
	}
	count := func(query string) int {
		var c int
		if err := conn.QueryRow(ctx, query).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := store.MigrateUp(url); err != nil {
		t.Fatal(err)
	}
	if got := count(`SELECT count(*) FROM access_logs`); got != n {
		t.Fatalf("after up: %d rows in the view, want %d", got, n)
	}
	if got := count(`SELECT count(*) FROM access_log_chunks WHERE account_id = 'acct'`); got != 3 {
		t.Fatalf("after up: %d chunks for acct, want 3", got)
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.ListAccessLogs(ctx, "acct", access.AccessLogQuery{}, access.Page{Page: 1, PerPage: 2})
	if err != nil || len(got) != 2 || got[0].RayID != "ray2499" || got[1].RayID != "ray2498" ||
		got[0].AppUID != "" || got[1].AppUID != "c5a0f3a4-3a5e-4f0e-9d0e-8f1b2c3d4e5f" || got[0].UserEmail != "u2499@example.test" {
		t.Fatalf("newest after up: %+v, %v", got, err)
	}
	if err := store.MigrateDown(url, toRows); err != nil {
		t.Fatal(err)
	}
	if got := count(`SELECT count(*) FROM access_logs WHERE account_id = 'acct' AND app_id IS NOT NULL`); got != 1000 {
		t.Fatalf("after down: %d acct rows with an app, want 1000", got)
	}
	if got := count(`SELECT count(DISTINCT ray_id) FROM access_logs`); got != n {
		t.Fatalf("after down: %d rows, want %d", got, n)
	}
}
