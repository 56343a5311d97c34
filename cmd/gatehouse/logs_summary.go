package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// logsSummaryCommand is "gatehouse logs summary": the numbers of the
// dashboard's traffic overview.
func logsSummaryCommand(env func(string, string) string, stdout io.Writer) *cobra.Command {
	flags := &clientFlags{env: env}
	var since, until, bucket string
	var withBuckets bool
	cmd := &cobra.Command{
		Use:   "summary",
		Short: "Count the access log of a time range: allowed and blocked, top reasons, apps, identities, preflights",
		Long: `Prints the access log of a time range counted by the API's summary
(GET …/access/logs/access_requests/summary): requests allowed and blocked,
the top reasons for blocks, the top applications and identities, CORS
preflights answered, bypassed and refused, and, with --buckets, the
requests per time bucket. The range is at most 31 days; the default is
the last 24 hours. -o json prints the summary as the API returns it.`,
		Example: `  gatehouse logs summary --since 1h
  gatehouse logs summary --since 7d --bucket 24h -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := flags.client()
			if err != nil {
				return err
			}
			// Whole seconds, and until always sent: --since 1h is exactly an hour.
			now := time.Now().Truncate(time.Second)
			q := url.Values{}
			for _, f := range []struct{ name, v string }{{"since", since}, {"until", until}} {
				if f.v == "" {
					if f.name == "until" {
						q.Set("until", now.UTC().Format(time.RFC3339))
					}
					continue
				}
				t, err := sinceTime(dayDuration(f.v), now)
				if err != nil {
					return usageErrorf("--%s %q: %v", f.name, f.v, err)
				}
				q.Set(f.name, t.UTC().Format(time.RFC3339))
			}
			if bucket != "" {
				q.Set("bucket", dayDuration(bucket))
			}
			res, err := cl.AccessLogSummary(cmd.Context(), q)
			if err != nil {
				return err
			}
			if flags.output == "json" {
				return printJSON(stdout, res.Result)
			}
			var sum access.AccessLogSummary
			if err := json.Unmarshal(res.Result, &sum); err != nil {
				return &cliError{code: exitAPIOther, msg: fmt.Sprintf("unexpected summary in the response: %v", err)}
			}
			return printSummary(stdout, &sum, withBuckets)
		},
	}
	flags.register(cmd.Flags())
	cmd.Flags().StringVar(&since, "since", "", "start of the range: this long ago (1h, 7d) or a time (RFC 3339); default 24h before --until")
	cmd.Flags().StringVar(&until, "until", "", "end of the range, like --since; default now")
	cmd.Flags().StringVar(&bucket, "bucket", "", "width of the time buckets (5m, 1h, 1d); default: at most 60 buckets")
	cmd.Flags().BoolVar(&withBuckets, "buckets", false, "also print the requests per time bucket")
	return cmd
}

// dayDuration lets a duration flag say days: 7d is 168h.
func dayDuration(v string) string {
	if n, err := strconv.Atoi(v[:max(0, len(v)-1)]); err == nil && len(v) > 1 && v[len(v)-1] == 'd' {
		return strconv.Itoa(24*n) + "h"
	}
	return v
}

func printSummary(w io.Writer, s *access.AccessLogSummary, withBuckets bool) error {
	fmt.Fprintf(w, "%s to %s\n", s.Since.Local().Format("2006-01-02 15:04:05"), s.Until.Local().Format("2006-01-02 15:04:05"))
	fmt.Fprintf(w, "requests %d  allowed %d  blocked %d\n", s.Requests, s.Allowed, s.Blocked)
	fmt.Fprintf(w, "preflights answered %d  bypassed %d  refused %d\n", s.Preflights.Answered, s.Preflights.Bypassed, s.Preflights.Refused)
	section := func(title string, head []string, rows [][]string) error {
		if len(rows) == 0 {
			return nil
		}
		fmt.Fprintf(w, "\n%s\n", title)
		return printTable(w, head, rows)
	}
	var rows [][]string
	for _, r := range s.BlockReasons {
		rows = append(rows, []string{strconv.FormatInt(r.Blocked, 10), r.Reason, r.ReasonText})
	}
	if err := section("Top reasons for blocks", []string{"BLOCKED", "REASON", "IN WORDS"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, a := range s.Apps {
		rows = append(rows, []string{strconv.FormatInt(a.Requests, 10), strconv.FormatInt(a.Blocked, 10), a.AppDomain, a.AppID})
	}
	if err := section("Top applications", []string{"REQUESTS", "BLOCKED", "DOMAIN", "ID"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, i := range s.Identities {
		who := i.UserEmail
		if i.ServiceTokenID != "" {
			who = "token " + i.ServiceTokenName
		}
		rows = append(rows, []string{strconv.FormatInt(i.Requests, 10), strconv.FormatInt(i.Blocked, 10), who})
	}
	if err := section("Top identities", []string{"REQUESTS", "BLOCKED", "WHO"}, rows); err != nil {
		return err
	}
	if !withBuckets {
		return nil
	}
	rows = nil
	for _, b := range s.Buckets {
		rows = append(rows, []string{b.Start.Local().Format("2006-01-02 15:04"), strconv.FormatInt(b.Allowed, 10), strconv.FormatInt(b.Blocked, 10)})
	}
	return section(fmt.Sprintf("Requests per %s", time.Duration(s.BucketSeconds)*time.Second), []string{"FROM", "ALLOWED", "BLOCKED"}, rows)
}
