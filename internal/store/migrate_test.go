package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
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
