package api

import (
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// summaryBuckets are the bucket widths chosen when none is asked for:
// the narrowest giving at most autoBuckets whole buckets (so that a range
// a second longer than an hour still has minutes).
var summaryBuckets = []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

const autoBuckets = 60

// summarizeAccessLogs counts the access log of a time range (default the
// last 24 hours): requests over time, top block reasons, apps and
// identities, and preflights.
func (s *Server) summarizeAccessLogs(w http.ResponseWriter, r *http.Request) error {
	query := r.URL.Query()
	var since, until time.Time
	if err := timeParams(query, map[string]*time.Time{"since": &since, "until": &until}); err != nil {
		return err
	}
	if until.IsZero() {
		until = time.Now().Truncate(time.Second)
	}
	if since.IsZero() {
		since = until.Add(-24 * time.Hour)
	}
	since, until = since.UTC(), until.UTC()
	if !since.Before(until) {
		return access.Invalid("since", "must be before until")
	}
	if until.Sub(since) > access.MaxSummaryRange {
		return access.Invalid("since", "the range may span at most 31 days")
	}
	var bucket time.Duration
	if v := query.Get("bucket"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d%time.Minute != 0 {
			return access.Invalid("bucket", "must be a whole number of minutes, at least 1m, such as 5m or 1h")
		}
		bucket = d
		if (until.Sub(since)+bucket-1)/bucket > access.MaxSummaryBuckets {
			return access.Invalid("bucket", "makes more than %d buckets; choose a wider bucket or a shorter range", access.MaxSummaryBuckets)
		}
	} else {
		bucket = summaryBuckets[len(summaryBuckets)-1]
		for _, d := range summaryBuckets {
			if until.Sub(since)/d <= autoBuckets {
				bucket = d
				break
			}
		}
	}
	sum, err := s.store.SummarizeAccessLogs(r.Context(), accountID(r), since, until, bucket)
	if err != nil {
		return err
	}
	for i := range sum.BlockReasons {
		sum.BlockReasons[i].ReasonText = policy.Reason(sum.BlockReasons[i].Reason).Describe()
	}
	writeResult(w, sum)
	return nil
}
