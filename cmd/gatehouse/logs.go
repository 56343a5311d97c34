package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// followLag is how far back each poll of `logs -f` looks: the edge writes
// rows in batches, so a row can appear after a newer one.
const followLag = 5 * time.Second

// logsCommand is "gatehouse logs": the account's access log.
func logsCommand(env func(string, string) string, stdout io.Writer) *cobra.Command {
	flags := &clientFlags{env: env}
	var appID, since string
	var denied, follow bool
	var limit int
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Show the edge's access log: who was let in or refused, and why",
		Long: `Lists the account's access log, oldest of the shown entries first, with
each decision's reason in words. -f keeps polling (every second) for new
entries until interrupted. -o json prints the entries as the API returns
them (with -f, one JSON object per line).`,
		Example: `  gatehouse logs --since 10m --denied
  gatehouse logs --app api.example.com -f`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := flags.client()
			if err != nil {
				return err
			}
			if err := resolveAppFlag(cmd.Context(), flags, &appID); err != nil {
				return err
			}
			q := url.Values{}
			if appID != "" {
				q.Set("app_id", appID)
			}
			if denied {
				q.Set("allowed", "false")
			}
			if since != "" {
				t, err := sinceTime(since, time.Now())
				if err != nil {
					return usageErrorf("--since %q: %v", since, err)
				}
				q.Set("since", t.Format(time.RFC3339Nano))
			}
			if limit < 1 || limit > 1000 {
				return usageErrorf("--limit %d: must be from 1 to 1000", limit)
			}
			q.Set("limit", strconv.Itoa(limit))
			ctx := cmd.Context()
			raw, entries, err := fetchLogs(ctx, cl, q)
			if err != nil {
				return err
			}
			slices.Reverse(entries) // the API answers newest first
			if !follow {
				if flags.output == "json" {
					return printJSON(stdout, raw)
				}
				return printLogTable(stdout, entries, true)
			}
			return followLogs(ctx, cl, q, entries, flags.output == "json", stdout)
		},
	}
	flags.register(cmd.Flags())
	cmd.Flags().StringVar(&appID, "app", "", "only this application's entries (its id, name or domain)")
	cmd.Flags().StringVar(&since, "since", "", "only entries from this long ago (10m, 2h) or this time (RFC 3339)")
	cmd.Flags().BoolVar(&denied, "denied", false, "only refused requests (allowed=false)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new entries until interrupted")
	cmd.Flags().IntVar(&limit, "limit", 25, "how many of the newest entries to show first (1-1000)")
	cmd.AddCommand(logsSummaryCommand(env, stdout))
	return cmd
}

// sinceTime reads --since: a duration back from now, or a time.
func sinceTime(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be a duration such as 10m or an RFC 3339 time")
	}
	return t, nil
}

func fetchLogs(ctx context.Context, cl *client.Account, q url.Values) (json.RawMessage, []access.AccessLogEntry, error) {
	res, err := cl.AccessLogs(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	var entries []access.AccessLogEntry
	if err := json.Unmarshal(res.Result, &entries); err != nil {
		return nil, nil, &cliError{code: exitAPIOther, msg: fmt.Sprintf("unexpected access log in the response: %v", err)}
	}
	return res.Result, entries, nil
}

// followLogs prints first, then polls every second for entries newer than
// the last seen, until ctx ends (Ctrl-C), which is not an error.
func followLogs(ctx context.Context, cl *client.Account, q url.Values, first []access.AccessLogEntry, asJSON bool, stdout io.Writer) error {
	seen := map[string]time.Time{}
	last := time.Now().Add(-followLag)
	print := func(entries []access.AccessLogEntry, header bool) error {
		var fresh []access.AccessLogEntry
		for _, e := range entries {
			if _, ok := seen[e.RayID]; ok {
				continue
			}
			seen[e.RayID] = e.CreatedAt
			if e.CreatedAt.After(last) {
				last = e.CreatedAt
			}
			fresh = append(fresh, e)
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			for _, e := range fresh {
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
			return nil
		}
		if len(fresh) == 0 && !header {
			return nil
		}
		return printLogTable(stdout, fresh, header)
	}
	if err := print(first, true); err != nil {
		return err
	}
	q.Set("direction", "asc")
	q.Set("limit", "1000")
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		from := last.Add(-followLag)
		q.Set("since", from.Format(time.RFC3339Nano))
		_, entries, err := fetchLogs(ctx, cl, q)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for ray, at := range seen {
			if at.Before(from) {
				delete(seen, ray)
			}
		}
		if err := print(entries, false); err != nil {
			return err
		}
	}
}

func printLogTable(w io.Writer, entries []access.AccessLogEntry, header bool) error {
	rows := make([][]string, len(entries))
	for i, e := range entries {
		who := e.UserEmail
		if e.ServiceTokenName != "" {
			who = "token " + e.ServiceTokenName
		}
		if who == "" {
			who = "-"
		}
		result := "refused"
		if e.Allowed {
			result = "allowed"
		}
		path := e.Path
		if path == "" {
			path = "-" // written before the edge kept paths
		}
		rows[i] = []string{e.CreatedAt.Local().Format("2006-01-02 15:04:05"), e.Action, result, e.Method + " " + e.AppDomain, path, who, e.IPAddress,
			policy.Reason(e.Reason).Describe()}
	}
	if header {
		return printTable(w, []string{"TIME", "ACTION", "RESULT", "REQUEST", "PATH", "WHO", "IP", "REASON"}, rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}
