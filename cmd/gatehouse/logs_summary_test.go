package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// TestCLILogsSummaryPrintsTheAPIsNumbers runs `gatehouse logs summary`
// over a seeded log: the table's counts, the same JSON as the API with
// -o json, 7d meaning a week, and a range beyond 31 days refused by the
// API with its field.
func TestCLILogsSummaryPrintsTheAPIsNumbers(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	now := time.Now()
	pre := logRow(a, "p1", "preflight_refused", false, policy.ReasonPreflightOriginForbidden, now.Add(-3*time.Minute))
	pre.UserEmail = ""
	if err := a.Store.InsertAccessLogs(context.Background(), []access.AccessLogEntry{
		logRow(a, "old", "allow", true, policy.ReasonAllowPolicy, now.Add(-3*time.Hour)),
		logRow(a, "r1", "allow", true, policy.ReasonAllowPolicy, now.Add(-2*time.Minute)),
		logRow(a, "r2", "deny", false, policy.ReasonNoPolicyMatched, now.Add(-time.Minute)),
		pre,
	}); err != nil {
		t.Fatal(err)
	}
	out := ok(t, a, "", "logs", "summary", "--since", "1h", "--buckets")
	for _, want := range []string{"requests 3  allowed 1  blocked 2", "preflights answered 0  bypassed 0  refused 1",
		policy.ReasonNoPolicyMatched.Describe(), "ann@example.test", "Requests per 1m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs summary --since 1h: no %q in\n%s", want, out)
		}
	}
	var sum access.AccessLogSummary
	if err := json.Unmarshal([]byte(ok(t, a, "", "logs", "summary", "--since", "7d", "--bucket", "1d", "-o", "json")), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Requests != 4 || sum.BucketSeconds != 86400 || len(sum.Buckets) != 7 || sum.Until.Sub(sum.Since) != 7*24*time.Hour {
		t.Errorf("logs summary --since 7d -o json: %+v", sum)
	}
	if r := cli(t, a, "", "logs", "summary", "--since", "40d"); r.code == 0 || !strings.Contains(r.stderr, "since") {
		t.Errorf("--since 40d: exit %d, %s", r.code, r.stderr)
	}
}
