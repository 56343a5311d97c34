package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/pgcluster"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestOperatorCommandsUseTheRunningLocalCluster replaces a lost admin
// token the way README says: the real binary against a real cluster
// running on a data directory, as make run leaves it.
func TestOperatorCommandsUseTheRunningLocalCluster(t *testing.T) {
	// Not t.TempDir: its parent is private, and the server may run as
	// the postgres user.
	root, err := os.MkdirTemp("", "gatehouse-localpg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "pgdata")
	ctx := context.Background()
	c, err := pgcluster.Start(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE gatehouse`); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(ctx)
	// The database URL of the test run must not be what they use.
	noURL := []string{"DATABASE_URL=", "GATEHOUSE_MASTER_KEY=", "GATEHOUSE_LOCAL_POSTGRES="}

	if r := cliWithEnv(t, noURL, "", "migrate", "up", "--local-postgres", dir); r.code != 0 {
		t.Fatalf("migrate up: exit %d %s", r.code, r.stderr)
	}
	r := cliWithEnv(t, noURL, "", "account", "create", "acme", "--local-postgres", dir)
	if r.code != 0 || !regexp.MustCompile(`^[0-9a-f]{32}\n$`).MatchString(r.stdout) {
		t.Fatalf("account create: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	account := strings.TrimSpace(r.stdout)
	r = cliWithEnv(t, append(noURL, "GATEHOUSE_LOCAL_POSTGRES="+dir), "", "token", "create", "--account", account)
	if r.code != 0 || !regexp.MustCompile(`^ghat_[0-9a-f]{64}\n$`).MatchString(r.stdout) {
		t.Fatalf("token create with GATEHOUSE_LOCAL_POSTGRES: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	st, err := store.Open(ctx, c.URL("gatehouse"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if tok, err := st.AuthenticateAPIToken(ctx, strings.TrimSpace(r.stdout)); err != nil || tok.AccountID != account {
		t.Fatalf("the new token does not authenticate: %+v %v", tok, err)
	}
	// keys rotate reads the master key serve keeps beside the data directory.
	if err := os.WriteFile(filepath.Join(root, "master.key"), []byte(session.GenerateMasterKey()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := cliWithEnv(t, noURL, "", "keys", "rotate", "--local-postgres", dir); r.code != 0 || strings.TrimSpace(r.stdout) == "" {
		t.Fatalf("keys rotate: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := cliWithEnv(t, noURL, "", "migrate", "version", "--local-postgres", dir); r.code != 0 || strings.TrimSpace(r.stdout) == "0" {
		t.Fatalf("migrate version: exit %d %q %s", r.code, r.stdout, r.stderr)
	}

	// Stopped: a clear error, and no server started behind the operator's back.
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	r = cliWithEnv(t, noURL, "", "token", "create", "--account", account, "--local-postgres", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "no PostgreSQL is running on") || !strings.Contains(r.stderr, "make run") {
		t.Fatalf("stopped cluster: exit %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("a server was started on %s: %v", dir, err)
	}
}
