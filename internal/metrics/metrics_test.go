package metrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/edge"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

func TestMain(m *testing.M) { gatehousetest.Main(m) }

var host = gatehousetest.Host

type logStats struct{}

func (logStats) QueueDepth() int { return 3 }
func (logStats) Dropped() uint64 { return 2 }
func (logStats) Written() uint64 { return 40 }

// scrape fetches /metrics over HTTP and parses it.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value sums the samples of metric name whose labels include want: the
// value of counters and gauges, the sample count of histograms.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	var sum float64
	found := false
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum, found
}

func TestMetricsFollowEdgeAndAPITraffic(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	a := gatehousetest.NewAPI(t, api.WithObserver(m))
	m.WatchPool(a.Store.Pool())
	m.WatchAccessLog(logStats{})
	e := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, Observers: []edge.Observer{m}, OnApply: m.Applied, ReloadInterval: time.Minute})
	origin := gatehousetest.StartOrigin(t)
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)

	app := func(domain string, fields map[string]any, decision string) access.App {
		return a.CreateApp(t, domain, origin.URL, fields,
			map[string]any{"name": "all", "decision": decision, "include": []any{map[string]any{"everyone": map[string]any{}}}})
	}
	open := app(host(t, "open"), map[string]any{"cors_headers": map[string]any{
		"allowed_origins": []string{"https://example.test"}, "allowed_methods": []string{"GET"},
	}}, "bypass")
	closed := app(host(t, "closed"), nil, "deny")
	e.Sync(t, a.Store)

	do := func(method, h string, hdr map[string]string) {
		req := e.Request(t, method, h, "/data", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		e.Do(t, req)
	}
	preflight := map[string]string{"Origin": "https://example.test", "Access-Control-Request-Method": "GET"}
	do("GET", host(t, "open"), nil)
	do("GET", host(t, "open"), nil)
	do("GET", host(t, "closed"), nil)
	do("OPTIONS", host(t, "open"), preflight)
	do("OPTIONS", host(t, "closed"), preflight)
	do("GET", host(t, "nowhere"), nil)

	// The NOTIFY-to-applied lag is observed only for loads a notification
	// caused; a change made before the edge was listening is picked up by
	// its catch-up check instead. Keep committing changes until one has
	// arrived by NOTIFY, then wait for the edge to apply the last one.
	var fams map[string]*dto.MetricFamily
	var version float64
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		e.Sync(t, a.Store)
		version = float64(e.Loader.State().Snap.Version)
		fams = scrape(t, srv.URL)
		v, _ := value(fams, "gatehouse_edge_config_version", nil)
		lag, _ := value(fams, "gatehouse_edge_notify_to_applied_seconds", nil)
		if v == version && lag > 0 || time.Now().After(deadline) {
			break
		}
		a.MustCall(t, "POST", "access/policies", map[string]any{"name": fmt.Sprintf("nudge %d", i), "decision": "allow",
			"include": []any{map[string]any{"everyone": map[string]any{}}}}, nil)
		time.Sleep(10 * time.Millisecond)
	}

	tests := []struct {
		name    string
		labels  map[string]string
		want    float64 // exact, or at least with atLeast
		atLeast bool
	}{
		{"gatehouse_edge_requests_total", map[string]string{"app_id": open.ID, "action": edge.ActionAllow, "reason": string(policy.ReasonBypassPolicy)}, 2, false},
		{"gatehouse_edge_requests_total", map[string]string{"app_id": closed.ID, "action": edge.ActionDeny, "reason": string(policy.ReasonLoginRequired)}, 1, false},
		{"gatehouse_edge_requests_total", map[string]string{"app_id": "", "action": edge.ActionNotFound, "reason": string(policy.ReasonAppNotFound)}, 1, false},
		{"gatehouse_edge_requests_total", map[string]string{"app_id": open.ID, "action": edge.ActionPreflightAnswered}, 1, false},
		{"gatehouse_edge_preflights_total", map[string]string{"app_id": open.ID, "outcome": "answered"}, 1, false},
		{"gatehouse_edge_preflights_total", map[string]string{"app_id": closed.ID, "outcome": "refused"}, 1, false},
		{"gatehouse_edge_upstream_responses_total", map[string]string{"app_id": open.ID, "code_class": "2xx"}, 2, false},
		{"gatehouse_edge_upstream_duration_seconds", map[string]string{"app_id": open.ID}, 2, false},
		{"gatehouse_edge_decision_duration_seconds", nil, 5, false}, // all but not_found
		{"gatehouse_edge_config_version", nil, version, false},
		{"gatehouse_edge_snapshot_build_duration_seconds", nil, 2, true},
		{"gatehouse_edge_notify_to_applied_seconds", nil, 1, true},
		{"gatehouse_edge_seconds_since_last_reload", nil, 0, true},
		{"gatehouse_api_requests_total", map[string]string{"route": "/client/v4/accounts/{account_id}/access/apps", "method": "POST", "code": "200"}, 2, false},
		{"gatehouse_api_request_duration_seconds", map[string]string{"route": "/client/v4/accounts/{account_id}/access/apps/{app_id}/policies", "method": "POST"}, 2, false},
		{"gatehouse_access_log_queue_depth", nil, 3, false},
		{"gatehouse_access_log_dropped_total", nil, 2, false},
		{"gatehouse_access_log_written_total", nil, 40, false},
		{"gatehouse_db_pool_max_connections", nil, 1, true},
		{"gatehouse_db_pool_total_connections", nil, 1, true},
		{"gatehouse_db_pool_acquires_total", nil, 1, true},
		{"gatehouse_db_pool_acquired_connections", nil, 0, true},
		{"gatehouse_db_pool_idle_connections", nil, 0, true},
		{"gatehouse_db_pool_empty_acquires_total", nil, 0, true},
		{"gatehouse_db_pool_acquire_duration_seconds_total", nil, 0, true},
		{"go_goroutines", nil, 1, true},
	}
	for _, tt := range tests {
		got, ok := value(fams, tt.name, tt.labels)
		switch {
		case !ok:
			t.Errorf("%s%v: missing", tt.name, tt.labels)
		case tt.atLeast && got < tt.want, !tt.atLeast && got != tt.want:
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	for _, mf := range fams {
		for _, mm := range mf.Metric {
			for _, l := range mm.Label {
				if strings.Contains(l.GetValue(), a.AccountID) || strings.Contains(l.GetValue(), "/data") {
					t.Errorf("%s has an unbounded label %s=%q", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	m := metrics.New()
	rec := &edge.Record{AppID: "app-1", Action: edge.ActionAllow, Reason: policy.ReasonAllowPolicy,
		Decision: 20 * time.Microsecond, UpstreamStatus: 200, UpstreamLatency: time.Millisecond}
	pf := &edge.Record{AppID: "app-1", Action: edge.ActionPreflightAnswered, Reason: policy.ReasonPreflightAnswered}
	m.Observe(rec)
	m.Observe(pf)
	if n := testing.AllocsPerRun(1000, func() { m.Observe(rec); m.Observe(pf) }); n != 0 {
		t.Fatalf("Observe allocates %v times per call", n)
	}
}

func BenchmarkObserve(b *testing.B) {
	m := metrics.New()
	rec := &edge.Record{AppID: "app-1", Action: edge.ActionAllow, Reason: policy.ReasonAllowPolicy,
		Decision: 20 * time.Microsecond, UpstreamStatus: 200, UpstreamLatency: time.Millisecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Observe(rec)
		}
	})
}
