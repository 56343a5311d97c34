package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/spf13/pflag"

	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// metricsFlags configure the Prometheus metrics listener, in `serve` and
// `edge`.
type metricsFlags struct {
	addr        string
	allowRemote bool
}

func (f *metricsFlags) register(fs *pflag.FlagSet, env func(string, string) string) {
	fs.StringVar(&f.addr, "metrics-addr", env("GATEHOUSE_METRICS_ADDR", ""), "serve Prometheus metrics at http://ADDR/metrics (env GATEHOUSE_METRICS_ADDR; default off)")
	fs.BoolVar(&f.allowRemote, "metrics-allow-remote", env("GATEHOUSE_METRICS_ALLOW_REMOTE", "") == "true", "allow a --metrics-addr that is not loopback (env GATEHOUSE_METRICS_ALLOW_REMOTE=true)")
}

// validate refuses a metrics address other hosts can reach unless that is
// asked for: metrics name apps and show their traffic, without any auth.
func (f *metricsFlags) validate() error {
	if f.addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(f.addr)
	if err != nil {
		return fmt.Errorf("--metrics-addr %q: must be host:port", f.addr)
	}
	if f.allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("--metrics-addr " + f.addr + " is not a loopback address: metrics are served without authentication " +
			"and name your apps; use 127.0.0.1:PORT, or pass --metrics-allow-remote to expose them (and firewall the port)")
	}
	return nil
}

// newMetrics returns the metrics with the store's pool watched, or nil
// when metrics are off.
func (f *metricsFlags) newMetrics(st *store.Store) *metrics.Metrics {
	if f.addr == "" {
		return nil
	}
	m := metrics.New()
	m.WatchPool(st.Pool())
	return m
}

// serveMetrics serves m at /metrics on f.addr until ctx ends; with metrics
// off it returns at once.
func serveMetrics(ctx context.Context, log *slog.Logger, f metricsFlags, m *metrics.Metrics, stdout io.Writer) error {
	if m == nil {
		return nil
	}
	return serveHTTP(ctx, log, "metrics", f.addr, m.Handler(), "", "", nil, httpserver.Defaults(), stdout)
}
