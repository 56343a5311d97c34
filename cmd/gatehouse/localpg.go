package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/pgcluster"
	"github.com/gatehouse-dev/gatehouse/internal/session"
)

const localPostgresUsage = "with no database URL, use the local PostgreSQL that serve --local-postgres DIR (make run) is running on this data directory, e.g. .gatehouse/pgdata (env GATEHOUSE_LOCAL_POSTGRES)"

// localPostgresFlag gives cmd and its subcommands --local-postgres DIR,
// into dir: with no database URL they connect to the running local
// cluster on DIR (see useLocalPostgres).
func localPostgresFlag(cmd *cobra.Command, env func(string, string) string, dir *string) {
	cmd.PersistentFlags().StringVar(dir, "local-postgres", env("GATEHOUSE_LOCAL_POSTGRES", ""), localPostgresUsage)
}

// useLocalPostgres points databaseURL, when empty, at the gatehouse
// database of the local cluster running on dir, whose port changes at
// every start and is read from its lock file. It does not start one: a
// server started behind a stopped `make run` would surprise.
func useLocalPostgres(dir string, databaseURL *string) error {
	if *databaseURL != "" || dir == "" {
		return nil
	}
	s, err := pgcluster.FindRunning(dir)
	if err != nil {
		return fmt.Errorf("--local-postgres %s: %w", dir, err)
	}
	*databaseURL = s.URL("gatehouse")
	return nil
}

// localMasterKey reads the master key that serve keeps beside the local
// cluster's data directory (see masterKeyFor); it never creates one.
func localMasterKey(dir string) ([]byte, error) {
	path := filepath.Join(filepath.Dir(filepath.Clean(dir)), "master.key")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("no master key: set GATEHOUSE_MASTER_KEY, or run serve --local-postgres %s once to create %s: %w", dir, path, err)
	}
	return session.ParseMasterKey(strings.TrimSpace(string(b)))
}
