package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestMetricsAddrThatIsNotLoopbackIsRefusedWithoutAllowRemote(t *testing.T) {
	for _, cmd := range []string{"serve", "edge"} {
		for _, addr := range []string{"0.0.0.0:9100", ":9100", "192.0.2.1:9100", "metrics.example:9100"} {
			_, err := gatehouse(t, map[string]string{}, cmd, "--metrics-addr", addr)
			if err == nil || !strings.Contains(err.Error(), "not a loopback address") || !strings.Contains(err.Error(), "--metrics-allow-remote") {
				t.Errorf("%s --metrics-addr %s: %v, want a refusal naming --metrics-allow-remote", cmd, addr, err)
			}
		}
	}
	tests := []struct {
		addr   string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:9100", false, true},
		{"[::1]:9100", false, true},
		{"localhost:9100", false, true},
		{"0.0.0.0:9100", true, true},
		{"0.0.0.0:9100", false, false},
		{"127.0.0.1", false, false},
	}
	for _, tt := range tests {
		f := metricsFlags{addr: tt.addr, allowRemote: tt.remote}
		if err := f.validate(); (err == nil) != tt.ok {
			t.Errorf("validate(%q, allow remote %v) = %v, want ok %v", tt.addr, tt.remote, err, tt.ok)
		}
	}
}

func TestServeServesMetricsOnItsOwnListener(t *testing.T) {
	url := gatehousetest.NewDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	env := map[string]string{"DATABASE_URL": url, "GATEHOUSE_API_ADDR": "127.0.0.1:0", "GATEHOUSE_EDGE_ADDR": "127.0.0.1:0",
		"GATEHOUSE_METRICS_ADDR": "127.0.0.1:0", "GATEHOUSE_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, &out, io.Discard) }()

	apiRe := regexp.MustCompile(`Gatehouse API on (http://[0-9.:]+)/client/v4`)
	metricsRe := regexp.MustCompile(`Gatehouse metrics on (http://[0-9.:]+/metrics)`)
	var apiURL, metricsURL string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		a, m := apiRe.FindStringSubmatch(out.String()), metricsRe.FindStringSubmatch(out.String())
		if a != nil && m != nil && strings.Contains(out.String(), "Gatehouse edge on") {
			apiURL, metricsURL = a[1], m[1]
			break
		}
	}
	if metricsURL == "" {
		t.Fatalf("serve did not start its listeners: %s", out.String())
	}
	resp, err := http.Get(apiURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Get(metricsURL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %v %v", metricsURL, resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`gatehouse_api_requests_total{code="200",method="GET",route="/readyz"} 1`,
		"gatehouse_edge_config_version ",
		"gatehouse_edge_snapshot_build_duration_seconds_count 1",
		"gatehouse_db_pool_max_connections ",
		"gatehouse_access_log_queue_depth ",
		"go_goroutines ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if resp, err := http.Get(strings.TrimSuffix(metricsURL, "/metrics") + "/client/v4"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("the metrics listener serves more than /metrics: %d", resp.StatusCode)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not shut down")
	}
}
