package pgcluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestFindRunningReadsThePortOfTheServerOnADataDirectory(t *testing.T) {
	c, err := StartTemp(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	s, err := FindRunning(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Port != c.Port || s.PID != c.proc.Pid {
		t.Fatalf("found %+v, want port %d pid %d", s, c.Port, c.proc.Pid)
	}
	conn, err := pgx.Connect(context.Background(), s.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(context.Background())

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestFindRunningSaysWhyThereIsNoServer(t *testing.T) {
	dir := t.TempDir()
	if _, err := FindRunning(dir); err == nil || !strings.Contains(err.Error(), "not a PostgreSQL data directory") {
		t.Errorf("empty directory: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := FindRunning(dir); err == nil || !strings.Contains(err.Error(), "no PostgreSQL is running") || !strings.Contains(err.Error(), "make run") {
		t.Errorf("stopped cluster: %v", err)
	}
	// A lock file left by a killed server: its process is gone.
	lock := "999999999\n" + dir + "\n1700000000\n5432\n\n127.0.0.1\n0 0\nready\n"
	if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(lock), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := FindRunning(dir); err == nil || !strings.Contains(err.Error(), "which is gone") {
		t.Errorf("stale lock file: %v", err)
	}
}
