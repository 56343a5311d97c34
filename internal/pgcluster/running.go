package pgcluster

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Server is a PostgreSQL server that another process started on a data
// directory, such as the one `gatehouse serve --local-postgres DIR` runs.
type Server struct {
	// Dir is the data directory.
	Dir string
	// PID is the postmaster's process id.
	PID int
	// Port is its TCP port on 127.0.0.1.
	Port int
}

// URL returns the connection URL of database dbname as the postgres
// superuser, which a cluster of this package trusts.
func (s Server) URL(dbname string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, url.PathEscape(dbname))
}

// FindRunning returns the server running on data directory dir, read
// from its lock file postmaster.pid (process id, data directory, start
// time, port, socket directory, listen address, shared memory key,
// status), or an error that says why there is none.
func FindRunning(dir string) (Server, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Server{}, fmt.Errorf("pgcluster: data directory %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(abs, "PG_VERSION")); err != nil {
		return Server{}, fmt.Errorf("pgcluster: %s is not a PostgreSQL data directory (no PG_VERSION)", abs)
	}
	data, err := os.ReadFile(filepath.Join(abs, "postmaster.pid"))
	if errors.Is(err, fs.ErrNotExist) {
		return Server{}, fmt.Errorf("pgcluster: no PostgreSQL is running on %s (no postmaster.pid); start it with `make run` or `gatehouse serve --local-postgres %s`", abs, dir)
	}
	if err != nil {
		return Server{}, fmt.Errorf("pgcluster: read lock file: %w", err)
	}
	return parseLockFile(abs, string(data))
}

func parseLockFile(dir, data string) (Server, error) {
	lines := strings.Split(data, "\n")
	field := func(i int) string {
		if i < len(lines) {
			return strings.TrimSpace(lines[i])
		}
		return ""
	}
	pid, err := strconv.Atoi(field(0))
	if err != nil || pid <= 0 {
		return Server{}, fmt.Errorf("pgcluster: %s/postmaster.pid: no process id on its first line", dir)
	}
	if !processExists(pid) || !isServerOn(pid, dir) {
		return Server{}, fmt.Errorf("pgcluster: no PostgreSQL is running on %s (its postmaster.pid names process %d, which is gone: the server was killed); start it with `make run`", dir, pid)
	}
	port, err := strconv.Atoi(field(3))
	if err != nil || port <= 0 || port > 65535 {
		return Server{}, fmt.Errorf("pgcluster: %s/postmaster.pid: no port on its fourth line", dir)
	}
	if listen := field(5); listen == "" {
		return Server{}, fmt.Errorf("pgcluster: the server on %s does not listen on TCP", dir)
	}
	if status := field(7); status != "" && status != "ready" {
		return Server{}, fmt.Errorf("pgcluster: the server on %s is %s, not ready; try again in a moment", dir, status)
	}
	return Server{Dir: dir, PID: pid, Port: port}, nil
}
