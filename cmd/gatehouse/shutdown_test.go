package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestShutdownLogsEveryRequestInFlight starts `serve`, holds requests in
// flight at a slow origin, and shuts down: every request is answered,
// and every one has its access log row, written before the database
// pool closed (stop accepting, finish in-flight, drain the log, close).
func TestShutdownLogsEveryRequestInFlight(t *testing.T) {
	url := gatehousetest.NewDatabase(t)
	const inFlight = 10
	var entered atomic.Int64
	release := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/in-flight" {
			entered.Add(1)
			<-release
			time.Sleep(200 * time.Millisecond) // answer after shutdown began
		}
		_, _ = io.WriteString(w, "origin ok")
	}))
	defer origin.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, logs syncBuffer
	env := map[string]string{"DATABASE_URL": url, "GATEHOUSE_API_ADDR": "127.0.0.1:0", "GATEHOUSE_BOOTSTRAP": "true",
		"GATEHOUSE_EDGE_ADDR": "127.0.0.1:0", "GATEHOUSE_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"GATEHOUSE_RELOAD_INTERVAL": "100ms"}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, &out, &logs) }()
	var apiBase, edgeBase string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && edgeBase == ""; time.Sleep(20 * time.Millisecond) {
		if m := regexp.MustCompile(`Gatehouse API on (http://[0-9.:]+)/client/v4`).FindStringSubmatch(out.String()); m != nil {
			if e := regexp.MustCompile(`Gatehouse edge on (http://[0-9.:]+)`).FindStringSubmatch(out.String()); e != nil {
				apiBase, edgeBase = m[1], e[1]
			}
		}
	}
	if edgeBase == "" {
		t.Fatalf("serve did not start: %s\n%s", out.String(), logs.String())
	}
	m := regexp.MustCompile(`account id: ([0-9a-f]{32})\n  admin token: (ghat_[0-9a-f]{64})`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no bootstrap output: %s", out.String())
	}
	accountID, token := m[1], m[2]
	host := gatehousetest.Host(t, "slow")
	body, _ := json.Marshal(map[string]any{"type": "self_hosted", "name": "slow", "domain": host, "origin": origin.URL})
	call := func(method, path string, body []byte) []byte {
		req, _ := http.NewRequest(method, apiBase+"/client/v4/accounts/"+accountID+"/"+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return b
	}
	var app struct {
		Result access.App `json:"result"`
	}
	if err := json.Unmarshal(call("POST", "access/apps", body), &app); err != nil {
		t.Fatal(err)
	}
	call("POST", "access/apps/"+app.Result.ID+"/policies", []byte(`{"name":"open","decision":"bypass","include":[{"everyone":{}}]}`))
	// Wait for the edge to serve the app.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequest("GET", edgeBase+"/ready-check", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the edge never served the app")
		}
	}
	before := entered.Load()

	var wg sync.WaitGroup
	statuses := make(chan int, inFlight)
	for i := 0; i < inFlight; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", edgeBase+"/in-flight", nil)
			req.Host = host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); entered.Load() < before+inFlight; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests reached the origin", entered.Load()-before)
		}
	}
	cancel() // shutdown begins with every request in flight
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 200 {
			t.Errorf("an in-flight request got %d", s)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not shut down")
	}

	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.ListAccessLogs(context.Background(), accountID, access.AccessLogQuery{AppID: app.Result.ID}, access.Page{Page: 1, PerPage: 100})
	if err != nil {
		t.Fatal(err)
	}
	logged := 0
	for _, r := range rows {
		if r.UpstreamStatus == 200 {
			logged++
		}
	}
	// One more: the readiness probe that the origin answered.
	if logged != inFlight+1 {
		t.Fatalf("%d of %d requests answered during shutdown are in the access log (%d rows with the probe's)\n%s", logged-1, inFlight, logged, filterLines(logs.String(), "access log"))
	}
}

func filterLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestTimeoutFlagsMustBePositive(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "postgres://unused/db"}
	for _, cmd := range []string{"serve", "edge"} {
		for _, flag := range []string{"--read-header-timeout", "--idle-timeout", "--body-read-timeout", "--shutdown-timeout", "--db-statement-timeout"} {
			if _, err := gatehouse(t, env, cmd, flag, "0s"); err == nil || !strings.Contains(err.Error(), flag) {
				t.Errorf("%s %s 0s: %v", cmd, flag, err)
			}
		}
	}
	if _, err := gatehouse(t, env, "serve", "--db-timeout", "-1s"); err == nil || !strings.Contains(err.Error(), "--db-timeout") {
		t.Errorf("serve --db-timeout -1s: %v", err)
	}
}
