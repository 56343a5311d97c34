package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestPruneAccessLogsByAgeAndCount(t *testing.T) {
	// Not parallel: retention is installation-wide.
	ctx := context.Background()
	now := time.Now()
	st, err := store.Open(ctx, gatehousetest.DatabaseURL(t), store.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct := uuid.NewString()
	var rows []access.AccessLogEntry
	for i := range 25 {
		// Ten rows older than a day, fifteen recent ones.
		at := now.Add(-time.Duration(25-i) * time.Minute)
		if i < 10 {
			at = now.Add(-48*time.Hour + time.Duration(i)*time.Minute)
		}
		rows = append(rows, access.AccessLogEntry{CreatedAt: at, RayID: fmt.Sprint("r", i), AccountID: acct, Action: "allow", Allowed: true})
	}
	if err := st.InsertAccessLogs(ctx, rows); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		got, err := st.ListAccessLogs(ctx, acct, access.AccessLogQuery{Ascending: true}, access.Page{Page: 1, PerPage: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	n, err := st.PruneAccessLogs(ctx, 24*time.Hour, 0, 3)
	if err != nil || n != 10 || count() != 15 {
		t.Fatalf("by age: deleted %d (%v), %d left", n, err, count())
	}
	if _, err := st.PruneAccessLogs(ctx, 0, 5, 2); err != nil || count() != 5 {
		t.Fatalf("by count: %v, %d left", err, count())
	}
	got, _ := st.ListAccessLogs(ctx, acct, access.AccessLogQuery{}, access.Page{Page: 1, PerPage: 1})
	if len(got) != 1 || got[0].RayID != "r24" {
		t.Fatalf("the newest row did not survive: %+v", got)
	}
}
