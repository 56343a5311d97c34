// Package metrics exposes Gatehouse's Prometheus metrics: what the edge
// decided (from its Observer records), how fresh its config is, the access
// log's queue, the database pool and the control-plane API. Labels are
// bounded: app ids, actions and reason codes, route patterns, never raw
// paths or identities.
package metrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-dev/gatehouse/internal/edge"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// LogStats is what the access log reports about its write queue.
type LogStats interface {
	QueueDepth() int
	Dropped() uint64
	Written() uint64
}

// Metrics holds every Gatehouse metric in its own registry (with the Go
// runtime and process collectors). It is an edge.Observer and an
// api.Observer.
type Metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	decision      prometheus.Histogram
	upstream      *prometheus.HistogramVec
	responses     *prometheus.CounterVec
	preflights    *prometheus.CounterVec
	configVersion prometheus.Gauge
	build         prometheus.Histogram
	notifyLag     prometheus.Histogram
	lastApplied   atomic.Int64 // unix nanoseconds; 0 before the first apply

	apiRequests *prometheus.CounterVec
	apiDuration *prometheus.HistogramVec

	// Resolved children, so that Observe neither hashes label values nor
	// allocates once a series exists.
	requestSeries  cache[requestKey, prometheus.Counter]
	upstreamSeries cache[string, prometheus.Observer]
	responseSeries cache[responseKey, prometheus.Counter]
	preflightSrs   cache[preflightKey, prometheus.Counter]
}

type requestKey struct {
	app, action string
	reason      policy.Reason
}

type responseKey struct {
	app   string
	class int // status / 100
}

type preflightKey struct{ app, outcome string }

// New returns the metrics, registered and at zero.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_edge_requests_total",
		Help: "Requests the edge handled, by app id (empty for no matching app), action and reason code.",
	}, []string{"app_id", "action", "reason"})
	m.decision = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gatehouse_edge_decision_duration_seconds",
		Help:    "Time the edge took to decide about a request, before forwarding it.",
		Buckets: prometheus.ExponentialBuckets(5e-6, 4, 9), // 5µs … 330ms
	})
	m.upstream = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatehouse_edge_upstream_duration_seconds",
		Help:    "Time the origin took to answer forwarded requests, by app id.",
		Buckets: prometheus.DefBuckets,
	}, []string{"app_id"})
	m.responses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_edge_upstream_responses_total",
		Help: "Responses from origins to forwarded requests, by app id and status class (2xx, 4xx, …).",
	}, []string{"app_id", "code_class"})
	m.preflights = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_edge_preflights_total",
		Help: "CORS preflight requests, by app id and outcome: answered by the edge, bypassed to the origin, or refused.",
	}, []string{"app_id", "outcome"})
	m.configVersion = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatehouse_edge_config_version",
		Help: "Config version the edge enforces.",
	})
	m.build = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gatehouse_edge_snapshot_build_duration_seconds",
		Help:    "Time to load and compile a config snapshot that was then applied.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1ms … 8s
	})
	m.notifyLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gatehouse_edge_notify_to_applied_seconds",
		Help:    "Time from a config change notification arriving to the new config being enforced.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	sinceReload := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatehouse_edge_seconds_since_last_reload",
		Help: "Seconds since the edge last applied a config (0 before the first).",
	}, func() float64 {
		at := m.lastApplied.Load()
		if at == 0 {
			return 0
		}
		return time.Since(time.Unix(0, at)).Seconds()
	})
	m.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_api_requests_total",
		Help: "Control-plane API requests, by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	m.apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatehouse_api_request_duration_seconds",
		Help:    "Control-plane API request duration, by route pattern and method.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method"})

	m.requestSeries.resolve = func(k requestKey) prometheus.Counter {
		return m.requests.WithLabelValues(k.app, k.action, string(k.reason))
	}
	m.upstreamSeries.resolve = func(app string) prometheus.Observer { return m.upstream.WithLabelValues(app) }
	m.responseSeries.resolve = func(k responseKey) prometheus.Counter {
		return m.responses.WithLabelValues(k.app, codeClass(k.class))
	}
	m.preflightSrs.resolve = func(k preflightKey) prometheus.Counter {
		return m.preflights.WithLabelValues(k.app, k.outcome)
	}

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.decision, m.upstream, m.responses, m.preflights,
		m.configVersion, m.build, m.notifyLag, sinceReload,
		m.apiRequests, m.apiDuration,
	)
	return m
}

// Registry returns the registry every metric is in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format at /metrics.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

// Observe counts one edge request. It implements edge.Observer: it reads
// the record and keeps nothing of it but label values.
func (m *Metrics) Observe(r *edge.Record) {
	m.requestSeries.get(requestKey{r.AppID, r.Action, r.Reason}).Inc()
	if r.Decision > 0 {
		m.decision.Observe(r.Decision.Seconds())
	}
	if r.UpstreamStatus != 0 {
		m.upstreamSeries.get(r.AppID).Observe(r.UpstreamLatency.Seconds())
		m.responseSeries.get(responseKey{r.AppID, r.UpstreamStatus / 100}).Inc()
	}
	var outcome string
	switch r.Action {
	case edge.ActionPreflightAnswered:
		outcome = "answered"
	case edge.ActionPreflightBypassed:
		outcome = "bypassed"
	case edge.ActionPreflightRefused:
		outcome = "refused"
	default:
		return
	}
	m.preflightSrs.get(preflightKey{r.AppID, outcome}).Inc()
}

// Applied records a newly applied edge config; it fits edge.Loader.OnApply.
func (m *Metrics) Applied(st *edge.State, took time.Duration) {
	m.configVersion.Set(float64(st.Snap.Version))
	m.build.Observe(took.Seconds())
	if !st.NotifiedAt.IsZero() {
		m.notifyLag.Observe(st.LoadedAt.Sub(st.NotifiedAt).Seconds())
	}
	m.lastApplied.Store(st.LoadedAt.UnixNano())
}

// ObserveRequest counts one control-plane API request; it implements
// api.Observer. route is the matched route pattern, never the raw path.
func (m *Metrics) ObserveRequest(route, method string, status int, took time.Duration) {
	method = knownMethod(method)
	m.apiRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.apiDuration.WithLabelValues(route, method).Observe(took.Seconds())
}

// WatchAccessLog adds the access log's queue depth and its written and
// dropped entry counts.
func (m *Metrics) WatchAccessLog(s LogStats) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_access_log_queue_depth",
			Help: "Access log entries waiting to be written.",
		}, func() float64 { return float64(s.QueueDepth()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gatehouse_access_log_dropped_total",
			Help: "Access log entries dropped because the queue was full.",
		}, func() float64 { return float64(s.Dropped()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gatehouse_access_log_written_total",
			Help: "Access log entries written to the database.",
		}, func() float64 { return float64(s.Written()) }),
	)
}

// WatchPool adds the database connection pool's statistics.
func (m *Metrics) WatchPool(p *pgxpool.Pool) {
	m.reg.MustRegister(newPoolCollector(p))
}

var codeClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func codeClass(class int) string {
	if class >= 1 && class <= 5 {
		return codeClasses[class-1]
	}
	return "other"
}

// knownMethod bounds the method label: clients can send any token.
func knownMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}
