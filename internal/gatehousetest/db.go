// Package gatehousetest is the shared test support for Gatehouse: a real
// PostgreSQL database per test package (from DATABASE_URL's cluster, or a
// throwaway cluster started on demand), accounts and API tokens, and an
// API server on loopback whose every response is checked against
// openapi.yaml.
package gatehousetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/pgcluster"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var db struct {
	once    sync.Once
	err     error
	cluster *pgcluster.Cluster // started by this process, if any
	admin   string             // URL of the cluster's maintenance database
	name    string             // this package's database
	url     string
}

// Main runs a package's tests and then drops its database and stops any
// cluster it started. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	cleanup()
	os.Exit(code)
}

func cleanup() {
	if db.name != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, db.admin); err == nil {
			_, _ = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{db.name}.Sanitize()+` WITH (FORCE)`)
			_ = conn.Close(ctx)
		}
	}
	if db.cluster != nil {
		_ = db.cluster.Stop()
	}
}

// DatabaseURL returns the URL of this test package's own migrated
// database, creating it on first use. The cluster is DATABASE_URL's when
// that is set (one cluster shared by every package of a run), otherwise a
// throwaway cluster started for this process.
func DatabaseURL(tb testing.TB) string {
	tb.Helper()
	db.once.Do(func() { db.err = setup() })
	if db.err != nil {
		tb.Fatalf("gatehousetest: database: %v", db.err)
	}
	return db.url
}

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db.admin = os.Getenv("DATABASE_URL")
	if db.admin == "" {
		c, err := pgcluster.StartTemp(ctx, nil)
		if err != nil {
			return err
		}
		db.cluster = c
		db.admin = c.URL("postgres")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db.name = "gatehouse_test_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, db.admin)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact(db.admin), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{db.name}.Sanitize()); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(db.admin)
	if err != nil {
		return err
	}
	u.Path = "/" + db.name
	db.url = u.String()
	return store.MigrateUp(db.url)
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable url)"
	}
	return u.Redacted()
}

// NewDatabase creates another empty, unmigrated database on the same
// cluster (for migration tests) and returns its URL; it is dropped when
// the test ends.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	DatabaseURL(tb)
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "gatehouse_scratch_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, db.admin)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(ctx, db.admin)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
	})
	u, _ := url.Parse(db.admin)
	u.Path = "/" + name
	return u.String()
}

// Store opens a store on this package's database, closed when tb ends,
// with more options (such as store.WithClock) if given.
func Store(tb testing.TB, opts ...store.Option) *store.Store {
	tb.Helper()
	st, err := store.Open(context.Background(), DatabaseURL(tb), append([]store.Option{store.WithMasterKey(MasterKey)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	return st
}
