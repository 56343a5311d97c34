package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestEdgesAreLiveWithinTheStaleWindowAndSweptLater(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// In 2001, so that its rows are stale for every other test's real clock.
	clk := gatehousetest.NewClock(time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC))
	st, err := store.Open(ctx, gatehousetest.DatabaseURL(t), store.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	latest, err := st.ConfigVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reload := clk.Now()
	behind := access.EdgeStatus{ID: "store-test-behind", Hostname: "h1", Addr: "127.0.0.1:1", StartedAt: clk.Now(), ConfigVersion: latest - 1, LastReloadAt: &reload, LastError: "boom"}
	current := access.EdgeStatus{ID: "store-test-current", Hostname: "h2", Addr: "127.0.0.1:2", Version: "v1.2.3", StartedAt: clk.Now(), ConfigVersion: latest}
	for _, e := range []access.EdgeStatus{behind, current} {
		if err := st.UpsertEdgeHeartbeat(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	mine := func() map[string]access.EdgeStatus {
		t.Helper()
		list, err := st.ListEdges(ctx, 15*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if list.LatestVersion < latest {
			t.Fatalf("latest version %d, want at least %d", list.LatestVersion, latest)
		}
		out := map[string]access.EdgeStatus{}
		for _, e := range list.Edges {
			if e.ID == behind.ID || e.ID == current.ID {
				out[e.ID] = e
			}
			if e.Current != (e.ConfigVersion >= list.LatestVersion) {
				t.Errorf("edge %s at %d marked current=%v with latest %d", e.ID, e.ConfigVersion, e.Current, list.LatestVersion)
			}
		}
		return out
	}
	got := mine()
	if b := got[behind.ID]; b.Current || b.LastError != "boom" || b.LastReloadAt == nil || !b.HeartbeatAt.Equal(clk.Now()) {
		t.Errorf("behind edge: %+v", b)
	}
	if c, ok := got[current.ID]; !ok || c.Version != "v1.2.3" || c.LastReloadAt != nil {
		t.Errorf("current edge: %+v", c)
	}

	// Ten seconds later only one edge heartbeats; after 16s the other is
	// no longer live, but its row stays until swept.
	clk.Advance(10 * time.Second)
	if err := st.UpsertEdgeHeartbeat(ctx, current); err != nil {
		t.Fatal(err)
	}
	clk.Advance(6 * time.Second)
	if got := mine(); len(got) != 1 || got[current.ID].ID == "" {
		t.Fatalf("after 16s: %+v", got)
	}
	clk.Advance(time.Hour - 10*time.Second) // the behind edge's heartbeat is over an hour old, the other's not
	if n, err := st.DeleteStaleEdges(ctx, time.Hour); err != nil || n < 1 {
		t.Fatalf("sweep: %d rows, %v", n, err)
	}
	var left int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM edge_instances WHERE id IN ($1, $2)`, behind.ID, current.ID).Scan(&left); err != nil || left != 1 {
		t.Fatalf("%d rows left after the sweep, want 1 (%v)", left, err)
	}
	if err := st.DeleteEdge(ctx, current.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM edge_instances WHERE id IN ($1, $2)`, behind.ID, current.ID).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d rows left after delete (%v)", left, err)
	}
}
