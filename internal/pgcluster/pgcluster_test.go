package pgcluster_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/pgcluster"
)

func TestStartTempServesQueriesAndStopRemovesIt(t *testing.T) {
	requireServerBinaries(t)
	ctx := t.Context()

	c, err := pgcluster.StartTemp(ctx, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })

	conn := connect(t, c.URL("postgres"))
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE created_by_test"); err != nil {
		t.Fatal(err)
	}
	var dbname string
	if err := connect(t, c.URL("created_by_test")).QueryRow(ctx, "SELECT current_database()").Scan(&dbname); err != nil {
		t.Fatal(err)
	}
	if dbname != "created_by_test" {
		t.Errorf("current_database() = %q, want created_by_test", dbname)
	}

	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, dir := range []string{c.Dir, filepath.Dir(c.Dir)} {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists after Stop (stat: %v)", dir, err)
		}
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStartReusesExistingDataDir(t *testing.T) {
	requireServerBinaries(t)
	ctx := t.Context()
	dir := filepath.Join(reachableTempDir(t), "pgdata")

	c := start(t, dir)
	if _, err := connect(t, c.URL("postgres")).Exec(ctx,
		"CREATE TABLE kept (note text); INSERT INTO kept VALUES ('written before restart')"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		t.Fatalf("data directory gone after Stop of a persistent cluster: %v", err)
	}

	c = start(t, dir)
	assertKeptNote(t, c)
}

// A run that was killed leaves postmaster.pid behind; after a container
// restart its process id may even belong to an unrelated process.
func TestStartRecoversFromKilledServer(t *testing.T) {
	requireServerBinaries(t)
	ctx := t.Context()
	dir := filepath.Join(reachableTempDir(t), "pgdata")

	c := start(t, dir)
	// The cluster runs with synchronous_commit=off, so a commit is not
	// certain to survive a kill unless asked for.
	if _, err := connect(t, c.URL("postgres")).Exec(ctx, "SET synchronous_commit = on; "+
		"CREATE TABLE kept (note text); INSERT INTO kept VALUES ('written before restart')"); err != nil {
		t.Fatal(err)
	}

	killServer(t, dir)
	c = start(t, dir)
	assertKeptNote(t, c)

	killServer(t, dir)
	unrelated := exec.Command("sleep", "60")
	if err := unrelated.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unrelated.Process.Kill(); _ = unrelated.Wait() })
	lockFile := filepath.Join(dir, "postmaster.pid")
	lock, err := os.ReadFile(lockFile)
	if err != nil {
		t.Fatalf("killed server left no lock file: %v", err)
	}
	_, rest, _ := strings.Cut(string(lock), "\n")
	if err := os.WriteFile(lockFile, []byte(strconv.Itoa(unrelated.Process.Pid)+"\n"+rest), 0o600); err != nil {
		t.Fatal(err)
	}
	c = start(t, dir)
	assertKeptNote(t, c)
}

func requireServerBinaries(t *testing.T) {
	t.Helper()
	if _, err := pgcluster.BinDir(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("skipping without PostgreSQL server binaries: %v", err)
		}
		t.Fatalf("CI is set, so PostgreSQL server binaries are required: %v", err)
	}
}

// reachableTempDir returns a temporary directory the postgres user can enter
// when tests run as root; t.TempDir's directories are private.
func reachableTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func start(t *testing.T, dir string) *pgcluster.Cluster {
	t.Helper()
	c, err := pgcluster.Start(t.Context(), dir, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func assertKeptNote(t *testing.T, c *pgcluster.Cluster) {
	t.Helper()
	var note string
	if err := connect(t, c.URL("postgres")).QueryRow(t.Context(), "SELECT note FROM kept").Scan(&note); err != nil {
		t.Fatalf("reading data written before the restart: %v", err)
	}
	if note != "written before restart" {
		t.Errorf("note = %q, want %q", note, "written before restart")
	}
}

// killServer kills the postmaster of the server on dir, as the OOM killer
// might, and waits until it is gone. Its children, each in a process group
// of its own, exit by themselves shortly after.
func killServer(t *testing.T, dir string) {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(lock), "\n")
	pid, err := strconv.Atoi(first)
	if err != nil {
		t.Fatalf("lock file: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill postmaster %d: %v", pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("postmaster %d still alive after SIGKILL", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testLog writes progress messages to the test log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
