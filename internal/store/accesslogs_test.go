package store_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestPruneAccessLogsByAgeAndCount(t *testing.T) {
	t.Parallel()
	// A database of its own: retention is installation-wide.
	ctx := context.Background()
	now := time.Now()
	url := gatehousetest.NewDatabase(t)
	if err := store.MigrateUp(url); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, url, store.WithClock(func() time.Time { return now }))
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
	// Written as three chunks: rows 0-5 (all old), 6-13 (straddling the
	// age limit) and 14-24 (straddling the count limit), the middle one
	// out of order, as rows from a busy edge may be.
	middle := slices.Clone(rows[6:14])
	slices.Reverse(middle)
	for _, batch := range [][]access.AccessLogEntry{rows[:6], middle, rows[14:]} {
		if err := st.InsertAccessLogs(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	list := func() []string {
		got, err := st.ListAccessLogs(ctx, acct, access.AccessLogQuery{Ascending: true}, access.Page{Page: 1, PerPage: 100})
		if err != nil {
			t.Fatal(err)
		}
		var rays []string
		for _, e := range got {
			rays = append(rays, e.RayID)
		}
		return rays
	}
	rays := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprint("r", i))
		}
		return out
	}
	n, err := st.PruneAccessLogs(ctx, 24*time.Hour, 0, 1)
	if got := list(); err != nil || n != 10 || !slices.Equal(got, rays(10, 25)) {
		t.Fatalf("by age: deleted %d (%v), left %v", n, err, got)
	}
	n, err = st.PruneAccessLogs(ctx, 0, 5, 1)
	if got := list(); err != nil || n != 10 || !slices.Equal(got, rays(20, 25)) {
		t.Fatalf("by count: deleted %d (%v), left %v", n, err, got)
	}
	// Nothing more to do.
	if n, err := st.PruneAccessLogs(ctx, 24*time.Hour, 5, 1); err != nil || n != 0 {
		t.Fatalf("again: deleted %d (%v)", n, err)
	}
}

// TestListAccessLogsMatchesAModel lists a log written as many chunks of
// uneven size and overlapping times (two edges writing at once), through
// every filter, in both directions and page by page, and compares each
// page with the same query answered by sorting and filtering in Go.
func TestListAccessLogsMatchesAModel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := gatehousetest.Store(t)
	acct, other := uuid.NewString(), uuid.NewString()
	apps := []string{uuid.NewString(), uuid.NewString(), ""}
	reasons := []string{"allow_policy", "no_policy_matched", "deny_policy"}
	emails := []string{"ann@example.test", "bob@example.test", ""}
	rng := rand.New(rand.NewPCG(7, 9))
	base := time.Now().Add(-time.Hour).Truncate(time.Second)

	type modelEntry struct {
		access.AccessLogEntry
		chunk, ord int
	}
	var model []modelEntry
	for chunk := range 60 {
		size := 1 + rng.IntN(40)
		if chunk%7 == 0 {
			size = 1
		}
		var batch []access.AccessLogEntry
		for i := range size {
			// Times from both "edges" interleave; some repeat exactly.
			at := base.Add(time.Duration(chunk*10+rng.IntN(25)) * time.Second)
			if i%5 == 0 {
				at = base.Add(time.Duration(chunk*10) * time.Second)
			}
			e := access.AccessLogEntry{
				CreatedAt: at, RayID: fmt.Sprintf("c%d-%d", chunk, i), AccountID: acct,
				AppUID: apps[rng.IntN(len(apps))], Action: "allow", Reason: reasons[rng.IntN(len(reasons))],
				UserEmail: emails[rng.IntN(len(emails))], IPAddress: "192.0.2.1", UpstreamStatus: 200,
				UpstreamLatencyMS: 1.5, DecisionUS: 12,
				PurposeJustification: []string{"", "incident 42", "ticket ✓ 7"}[rng.IntN(3)],
			}
			e.Allowed = e.Reason == "allow_policy"
			batch = append(batch, e)
		}
		// Another account's rows share the batch and are never listed.
		mixed := append(slices.Clone(batch), access.AccessLogEntry{CreatedAt: base, RayID: "other", AccountID: other, Action: "deny"})
		if err := st.InsertAccessLogs(ctx, mixed); err != nil {
			t.Fatal(err)
		}
		slices.SortStableFunc(batch, func(a, b access.AccessLogEntry) int { return a.CreatedAt.Compare(b.CreatedAt) })
		for i, e := range batch {
			model = append(model, modelEntry{e, chunk, i})
		}
	}

	yes, no := true, false
	queries := map[string]access.AccessLogQuery{
		"all":             {},
		"asc":             {Ascending: true},
		"app":             {AppID: apps[0]},
		"allowed":         {Allowed: &yes},
		"denied asc":      {Allowed: &no, Ascending: true},
		"reason":          {Reason: "deny_policy"},
		"email substring": {Email: "ANN@"},
		"email exact":     {Email: "bob@example.test", EmailExact: true},
		"window":          {Since: base.Add(100 * time.Second), Until: base.Add(300 * time.Second)},
		"window asc":      {Since: base.Add(100 * time.Second), Until: base.Add(300 * time.Second), Ascending: true},
		"nothing":         {Reason: "no_such_reason"},
	}
	for name, q := range queries {
		var want []modelEntry
		for _, e := range model {
			switch {
			case q.AppID != "" && e.AppUID != q.AppID,
				q.Allowed != nil && e.Allowed != *q.Allowed,
				q.Reason != "" && e.Reason != q.Reason,
				q.Email != "" && q.EmailExact && e.UserEmail != q.Email,
				q.Email != "" && !q.EmailExact && !strings.Contains(e.UserEmail, strings.ToLower(q.Email)),
				!q.Since.IsZero() && e.CreatedAt.Before(q.Since),
				!q.Until.IsZero() && !e.CreatedAt.Before(q.Until):
				continue
			}
			want = append(want, e)
		}
		slices.SortFunc(want, func(a, b modelEntry) int {
			c := cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.chunk, b.chunk), cmp.Compare(a.ord, b.ord))
			if q.Ascending {
				return c
			}
			return -c
		})
		for _, perPage := range []int{7, 25, 1000} {
			for page := 1; page <= len(want)/perPage+2; page++ {
				got, err := st.ListAccessLogs(ctx, acct, q, access.Page{Page: page, PerPage: perPage})
				if err != nil {
					t.Fatal(err)
				}
				from := min((page-1)*perPage, len(want))
				to := min(from+perPage, len(want))
				var wantRays, gotRays []string
				for _, e := range want[from:to] {
					wantRays = append(wantRays, e.RayID)
				}
				for _, e := range got {
					gotRays = append(gotRays, e.RayID)
				}
				if !slices.Equal(gotRays, wantRays) {
					t.Fatalf("%s, page %d of %d: got %v, want %v", name, page, perPage, gotRays, wantRays)
				}
				if page == 1 && len(got) > 0 {
					e, w := got[0], want[0].AccessLogEntry
					w.CreatedAt = w.CreatedAt.UTC()
					e.CreatedAt = e.CreatedAt.UTC()
					if e != w {
						t.Fatalf("%s: entry %+v, want %+v", name, e, w)
					}
				}
			}
		}
	}
}

// TestInsertAccessLogsSurvivesBytesPostgreSQLRefuses writes an entry
// whose request carried invalid UTF-8 and a NUL: the batch is stored
// (with replacement characters) instead of failing whole.
func TestInsertAccessLogsSurvivesBytesPostgreSQLRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := gatehousetest.Store(t)
	acct := uuid.NewString()
	at := time.Now()
	if err := st.InsertAccessLogs(ctx, []access.AccessLogEntry{
		{CreatedAt: at, RayID: "good", AccountID: acct, Action: "allow", Allowed: true},
		{CreatedAt: at.Add(time.Millisecond), RayID: "odd", AccountID: acct, Action: "preflight_refused", Origin: "https://a\xff.test\x00x", RequestHeaders: "x-\xc3"},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := st.ListAccessLogs(ctx, acct, access.AccessLogQuery{}, access.Page{Page: 1, PerPage: 10})
	if err != nil || len(got) != 2 {
		t.Fatalf("got %d entries, %v", len(got), err)
	}
	if got[0].RayID != "odd" || got[0].Origin != "https://a\uFFFD.test\uFFFDx" || got[0].RequestHeaders != "x-\uFFFD" || got[1].RayID != "good" {
		t.Fatalf("entries %q %q %q %q", got[0].RayID, got[0].Origin, got[0].RequestHeaders, got[1].RayID)
	}
}
