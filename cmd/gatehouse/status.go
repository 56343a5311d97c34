package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// exitEdgesBehind is `gatehouse status`'s exit code when some live edge
// has not applied the latest config version.
const exitEdgesBehind = 4

// statusCommand is "gatehouse status": every live edge and whether it
// enforces the latest config version.
func statusCommand(env func(string, string) string, stdout io.Writer) *cobra.Command {
	flags := &clientFlags{env: env}
	var staleAfter string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every live edge and whether it has applied the latest config",
		Long: `Lists the edges that sent a heartbeat recently (default: within 15s, three
missed heartbeats) with its build (gatehouse version and commit), the
config version each enforces, whether that is
the latest, when it last reloaded and its last error. Edges are
installation-wide: every account's token sees all of them.

Exit status: 0 every live edge is current (or none is running), 4 some
edge is behind, 1-3 as for the other API commands.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := flags.client()
			if err != nil {
				return err
			}
			res, err := cl.Edges(cmd.Context(), staleAfter)
			if err != nil {
				return err
			}
			var list access.EdgeList
			if err := json.Unmarshal(res.Result, &list); err != nil {
				return &cliError{code: exitAPIOther, msg: fmt.Sprintf("unexpected edge list in the response: %v", err)}
			}
			if flags.output == "json" {
				err = printJSON(stdout, res.Result)
			} else {
				err = printEdges(stdout, list)
			}
			if err != nil {
				return err
			}
			behind := 0
			for _, e := range list.Edges {
				if !e.Current {
					behind++
				}
			}
			if behind > 0 {
				return &cliError{code: exitEdgesBehind, msg: fmt.Sprintf("status: %d of %d edges have not applied config version %d", behind, len(list.Edges), list.LatestVersion)}
			}
			return nil
		},
	}
	flags.register(cmd.Flags())
	cmd.Flags().StringVar(&staleAfter, "stale-after", "", "count an edge as gone after this long without a heartbeat (default 15s, at most 1h)")
	return cmd
}

func printEdges(w io.Writer, list access.EdgeList) error {
	if _, err := fmt.Fprintf(w, "Latest config version: %d; %d live edge(s)\n", list.LatestVersion, len(list.Edges)); err != nil {
		return err
	}
	if len(list.Edges) == 0 {
		return nil
	}
	rows := make([][]string, 0, len(list.Edges))
	for _, e := range list.Edges {
		current, reload, lastErr, build := "no", "never", "-", "unknown"
		if e.Version != "" {
			build = e.Version
		}
		if e.Current {
			current = "yes"
		}
		if e.LastReloadAt != nil {
			reload = e.LastReloadAt.UTC().Format(time.RFC3339)
		}
		if e.LastError != "" {
			lastErr = e.LastError
		}
		rows = append(rows, []string{e.ID, e.Addr, build, strconv.FormatInt(e.ConfigVersion, 10), current, reload,
			e.HeartbeatAt.UTC().Format(time.RFC3339), lastErr})
	}
	return printTable(w, []string{"INSTANCE", "ADDR", "BUILD", "CONFIG VERSION", "CURRENT", "LAST RELOAD", "LAST HEARTBEAT", "LAST ERROR"}, rows)
}
