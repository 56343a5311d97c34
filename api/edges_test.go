package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// waitForEdges polls the edge list (with query, e.g. "?stale_after=1s")
// until ok accepts it, and returns that list.
func waitForEdges(t *testing.T, a *gatehousetest.API, query, what string, ok func(list access.EdgeList, byID map[string]access.EdgeStatus) bool) access.EdgeList {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var list access.EdgeList
		a.MustCall(t, "GET", "gatehouse/edges"+query, nil, &list)
		byID := map[string]access.EdgeStatus{}
		for _, e := range list.Edges {
			byID[e.ID] = e
		}
		if ok(list, byID) {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("edges never %s: %+v", what, list)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func currentAt(e access.EdgeStatus, found bool, v int64) bool {
	return found && e.Current && e.ConfigVersion >= v
}

func TestEdgesReportTheirConfigVersionAndLeaveOnShutdown(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	e1 := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, HeartbeatInterval: 50 * time.Millisecond})
	e2 := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, HeartbeatInterval: 50 * time.Millisecond})
	id1, id2 := e1.Registry.ID(), e2.Registry.ID()

	list := waitForEdges(t, a, "", "both current", func(l access.EdgeList, by map[string]access.EdgeStatus) bool {
		a, ok1 := by[id1]
		b, ok2 := by[id2]
		return currentAt(a, ok1, l.LatestVersion) && currentAt(b, ok2, l.LatestVersion)
	})
	for _, e := range list.Edges {
		if e.ID != id1 && e.ID != id2 {
			continue
		}
		if e.Hostname != "localhost" || e.Addr == "" || e.StartedAt.IsZero() || e.HeartbeatAt.IsZero() || e.LastReloadAt == nil || e.LastError != "" {
			t.Errorf("edge %s reported %+v", e.ID, e)
		}
	}

	// A change reaches both edges, and the list says so.
	createApp(t, a, appBody("edges", uniq(t, id1+".edges.example.test")))
	v, err := a.Store.ConfigVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitForEdges(t, a, "", "current at the new version", func(l access.EdgeList, by map[string]access.EdgeStatus) bool {
		a, ok1 := by[id1]
		b, ok2 := by[id2]
		return l.LatestVersion >= v && currentAt(a, ok1, v) && currentAt(b, ok2, v)
	})

	// An edge that shuts down deletes its row: it is gone at once, not
	// only after the stale window.
	e2.StopHeartbeat()
	var left access.EdgeList
	resp := a.Do(t, gatehousetest.Request{Method: "GET", Path: "gatehouse/edges?stale_after=1h", Token: a.ReadOnlyToken})
	if resp.Status != http.StatusOK {
		t.Fatalf("read-only token: status %d: %s", resp.Status, resp.Body)
	}
	resp.Decode(t, &left)
	var seen1, seen2 bool
	for _, e := range left.Edges {
		seen1 = seen1 || e.ID == id1
		seen2 = seen2 || e.ID == id2
	}
	if !seen1 || seen2 {
		t.Fatalf("after edge 2 stopped: edge 1 listed %v, edge 2 listed %v: %+v", seen1, seen2, left)
	}
}

func TestEdgeWhoseHeartbeatsAreBlockedAgesOut(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	cutStore, cutter := gatehousetest.StoreVia(t)
	healthy := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, HeartbeatInterval: 50 * time.Millisecond})
	blocked := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: cutStore, HeartbeatInterval: 50 * time.Millisecond})
	idH, idB := healthy.Registry.ID(), blocked.Registry.ID()

	waitForEdges(t, a, "?stale_after=1s", "both live", func(_ access.EdgeList, by map[string]access.EdgeStatus) bool {
		_, okH := by[idH]
		_, okB := by[idB]
		return okH && okB
	})
	cutter.Cut()
	waitForEdges(t, a, "?stale_after=1s", "without the blocked edge", func(_ access.EdgeList, by map[string]access.EdgeStatus) bool {
		_, okH := by[idH]
		_, okB := by[idB]
		return okH && !okB
	})
	goneAt := time.Now()
	// Its row stays (until swept an hour later): a longer window shows it,
	// and it left the 1s window only once its last heartbeat was that old
	// (measured from the heartbeat, not from the cut: on a busy machine the
	// last heartbeat can precede the cut).
	var lastBeat time.Time
	waitForEdges(t, a, "?stale_after=1h", "showing the blocked edge's last heartbeat", func(_ access.EdgeList, by map[string]access.EdgeStatus) bool {
		e, okB := by[idB]
		lastBeat = e.HeartbeatAt
		return okB
	})
	if age := goneAt.Sub(lastBeat); age < 900*time.Millisecond {
		t.Errorf("blocked edge left the 1s window when its last heartbeat was %v old", age)
	}
}

func TestEdgesStaleAfterMustBeADurationUpToAnHour(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	for _, q := range []string{"abc", "0s", "-5s", "2h"} {
		resp := a.Call(t, "GET", "gatehouse/edges?stale_after="+q, nil)
		if resp.Status != http.StatusBadRequest || len(resp.Fields()) != 1 || resp.Fields()[0] != "stale_after" {
			t.Errorf("stale_after=%s: status %d fields %v", q, resp.Status, resp.Fields())
		}
	}
	if resp := a.Do(t, gatehousetest.Request{Method: "GET", Path: "gatehouse/edges", Token: "-"}); resp.Status != http.StatusUnauthorized {
		t.Errorf("without a token: status %d", resp.Status)
	}
}

// TestEdgeReportsAnAppliedVersionAtOnce: an edge reports the version it
// applied as soon as it applies it, not at its next heartbeat; with a
// heartbeat interval of a minute the list must show the new version
// within seconds.
func TestEdgeReportsAnAppliedVersionAtOnce(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	e := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, HeartbeatInterval: time.Minute})
	id := e.Registry.ID()
	waitForEdges(t, a, "", "listing the edge", func(_ access.EdgeList, by map[string]access.EdgeStatus) bool {
		_, ok := by[id]
		return ok
	})
	for i := range 3 {
		createApp(t, a, appBody(fmt.Sprintf("at once %d", i), uniq(t, fmt.Sprintf("%d.atonce.example.test", i))))
		v, err := a.Store.ConfigVersion(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		deadline := start.Add(10 * time.Second) // far less than the minute
		for {
			var list access.EdgeList
			a.MustCall(t, "GET", "gatehouse/edges", nil, &list)
			var got access.EdgeStatus
			for _, s := range list.Edges {
				if s.ID == id {
					got = s
				}
			}
			if got.ConfigVersion >= v && got.Current {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("change %d: edge still reports %+v after %v, want version %d", i, got, time.Since(start), v)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
