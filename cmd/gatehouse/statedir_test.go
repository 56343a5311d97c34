package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/statefile"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestStateDirDefaultsBesideTheLocalDatabase(t *testing.T) {
	for _, tc := range []struct {
		flag, localPG, want string
	}{
		{"", "", ""},
		{"", ".gatehouse/pgdata", filepath.Join(".gatehouse", "edge-state")},
		{"/var/lib/gatehouse/state", ".gatehouse/pgdata", "/var/lib/gatehouse/state"},
		{"/var/lib/gatehouse/state", "", "/var/lib/gatehouse/state"},
		{"off", ".gatehouse/pgdata", ""},
	} {
		if got := stateDirFor(edgeFlags{stateDir: tc.flag}, tc.localPG); got != tc.want {
			t.Errorf("--state-dir %q, --local-postgres %q: %q, want %q", tc.flag, tc.localPG, got, tc.want)
		}
	}
}

// startEdgeCommand runs `gatehouse edge` with env until the test ends
// and returns its edge URL.
func startEdgeCommand(t *testing.T, env map[string]string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"edge"}, func(k string) string { return env[k] }, &out, io.Discard) }()
	edgeRe := regexp.MustCompile(`Gatehouse edge on (https?://[0-9.:]+)`)
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("edge returned %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("edge did not shut down")
		}
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := edgeRe.FindStringSubmatch(out.String()); m != nil {
			return m[1], stop
		}
		select {
		case err := <-done:
			t.Fatalf("edge exited: %v: %s", err, out.String())
		default:
		}
	}
	stop()
	t.Fatalf("edge did not start: %s", out.String())
	return "", nil
}

func TestEdgeCommandServesItsSavedStateWhileTheDatabaseIsDown(t *testing.T) {
	url := gatehousetest.NewDatabase(t)
	if err := store.MigrateUp(url); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), url, store.WithMasterKey(gatehousetest.MasterKey))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := gatehousetest.NewAPIOn(t, st)
	origin := gatehousetest.StartOrigin(t)
	h := gatehousetest.Host(t, "app")
	a.CreateApp(t, h, origin.URL, nil, gatehousetest.Policy("open", "bypass", gatehousetest.Rules(t, `{"everyone":{}}`)))

	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": url, "GATEHOUSE_EDGE_ADDR": "127.0.0.1:0", "GATEHOUSE_STATE_DIR": dir,
		"GATEHOUSE_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
	get := func(edgeURL string) int {
		req, _ := http.NewRequest("GET", edgeURL+"/", nil)
		req.Host = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	edgeURL, stop := startEdgeCommand(t, env)
	if code := get(edgeURL); code != 200 {
		t.Fatalf("with the database: %d", code)
	}
	stop()
	if _, err := os.Stat(filepath.Join(dir, statefile.BaseName)); err != nil {
		t.Fatalf("no saved state after the edge stopped: %v", err)
	}

	env["DATABASE_URL"] = "postgres://gatehouse@127.0.0.1:1/gone?connect_timeout=1"
	edgeURL, stop = startEdgeCommand(t, env)
	defer stop()
	if code := get(edgeURL); code != 200 {
		t.Fatalf("restarted with the database down: %d", code)
	}
}
