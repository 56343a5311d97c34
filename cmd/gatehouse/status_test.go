package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestCLIStatusShowsEveryEdgeAndExits4WhenOneIsBehind(t *testing.T) {
	t.Parallel()
	api := gatehousetest.NewAPI(t)
	e1 := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: api.Store, HeartbeatInterval: 50 * time.Millisecond})
	e2 := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: api.Store, HeartbeatInterval: 50 * time.Millisecond})
	ids := []string{e1.Registry.ID(), e2.Registry.ID()}

	// Other tests' changes may move the latest version on; the edges catch up.
	deadline := time.Now().Add(15 * time.Second)
	var r cliResult
	for {
		r = cli(t, api, "", "status")
		if r.code == 0 && strings.Contains(r.stdout, ids[0]) && strings.Contains(r.stdout, ids[1]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{"Latest config version:", "INSTANCE", "ADDR", "BUILD", "CONFIG VERSION", "CURRENT", "LAST RELOAD", "LAST HEARTBEAT", "LAST ERROR"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if (strings.HasPrefix(line, ids[0]) || strings.HasPrefix(line, ids[1])) && !strings.Contains(line, " yes ") {
			t.Errorf("edge not shown as current: %q", line)
		}
	}

	// An edge that has not applied the latest version: exit 4, in both formats.
	ctx := context.Background()
	behind := access.EdgeStatus{ID: "cli-test-behind", Hostname: "old", Addr: "127.0.0.1:1", Version: "v9.8.7 (0123456789ab)", StartedAt: time.Now(), ConfigVersion: -1, LastError: "reload failed"}
	if err := api.Store.UpsertEdgeHeartbeat(ctx, behind); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Store.DeleteEdge(ctx, behind.ID) })
	r = cli(t, api, "", "status")
	if r.code != exitEdgesBehind || !strings.Contains(r.stdout, "reload failed") || !strings.Contains(r.stdout, "v9.8.7 (0123456789ab)") || !strings.Contains(r.stderr, "have not applied config version") {
		t.Fatalf("status with an edge behind: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	r = cli(t, api, "", "status", "-o", "json")
	list := decodeOut[access.EdgeList](t, r.stdout)
	found := false
	for _, e := range list.Edges {
		if e.ID == behind.ID {
			found = !e.Current
		}
	}
	if r.code != exitEdgesBehind || !found {
		t.Fatalf("status -o json with an edge behind: exit %d, %+v", r.code, list)
	}
	if r := cli(t, api, "", "status", "--stale-after", "forever"); r.code != exitAPI4xx || !strings.Contains(r.stderr, "stale_after") {
		t.Fatalf("bad --stale-after: exit %d, stderr %s", r.code, r.stderr)
	}
}
