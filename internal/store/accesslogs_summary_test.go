package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestSummaryReadsOnlyTheChunksOfItsRange writes 240 hourly chunks of one
// account (and as many of another) and checks with EXPLAIN ANALYZE that
// the summary of one hour finds its chunks through an index and unnests
// only the chunk of that hour, and that the counts are that chunk's.
func TestSummaryReadsOnlyTheChunksOfItsRange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := gatehousetest.Store(t)
	acct, other := uuid.NewString(), uuid.NewString()
	start := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	const hours, perChunk = 240, 20
	for h := 0; h < hours; h++ {
		var batch []access.AccessLogEntry
		for i := 0; i < perChunk; i++ {
			at := start.Add(time.Duration(h)*time.Hour + time.Duration(i)*time.Minute)
			for _, a := range []string{acct, other} {
				batch = append(batch, access.AccessLogEntry{CreatedAt: at, RayID: uuid.NewString(), AccountID: a, Action: "deny",
					Reason: "no_policy_matched", UserEmail: "ann@example.test", Allowed: i%4 == 0})
			}
		}
		if err := st.InsertAccessLogs(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	db := st.Pool()
	if _, err := db.Exec(ctx, `ANALYZE access_log_chunks`); err != nil {
		t.Fatal(err)
	}
	since := start.Add(100 * time.Hour)
	until := since.Add(time.Hour)
	sum, err := st.SummarizeAccessLogs(ctx, acct, since, until, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Requests != perChunk || sum.Allowed != perChunk/4 || sum.ChunksRead != 1 || len(sum.Buckets) != 12 {
		t.Errorf("one hour: %d requests, %d allowed, %d chunks, %d buckets", sum.Requests, sum.Allowed, sum.ChunksRead, len(sum.Buckets))
	}

	var plan []struct {
		Plan planNode `json:"Plan"`
	}
	var raw []byte
	if err := db.QueryRow(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) `+store.SummarizeAccessLogsSQL,
		acct, since, until, int64(300), access.SummaryTop).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &plan); err != nil {
		t.Fatal(err)
	}
	var scans, unnests []planNode
	var walk func(n planNode)
	walk = func(n planNode) {
		if n.Relation == "access_log_chunks" {
			scans = append(scans, n)
		}
		if n.Type == "Function Scan" {
			unnests = append(unnests, n)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(plan[0].Plan)
	if len(scans) != 2 || len(unnests) != 1 {
		t.Fatalf("%d scans of access_log_chunks, %d unnests:\n%s", len(scans), len(unnests), raw)
	}
	for _, s := range scans {
		if s.Type != "Index Scan" && s.Type != "Index Only Scan" && s.Type != "Bitmap Heap Scan" {
			t.Errorf("access_log_chunks read by a %s, not an index:\n%s", s.Type, raw)
		}
		if s.Rows*s.Loops != 1 {
			t.Errorf("a scan of access_log_chunks returned %v chunks, want 1:\n%s", s.Rows*s.Loops, raw)
		}
	}
	if u := unnests[0]; u.Loops != 1 || u.Rows != perChunk {
		t.Errorf("unnest ran %v times for %v entries, want once for %d", u.Loops, u.Rows, perChunk)
	}
}

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	Type     string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Rows     float64    `json:"Actual Rows"`
	Loops    float64    `json:"Actual Loops"`
	Plans    []planNode `json:"Plans"`
}
