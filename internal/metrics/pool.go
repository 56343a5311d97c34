package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector reports a pgx pool's statistics at each scrape.
type poolCollector struct {
	pool *pgxpool.Pool

	acquired, idle, total, constructing, max *prometheus.Desc
	acquires, acquireSeconds, emptyAcquires  *prometheus.Desc
	canceledAcquires                         *prometheus.Desc
}

func newPoolCollector(p *pgxpool.Pool) *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("gatehouse_db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{
		pool:             p,
		acquired:         d("acquired_connections", "Connections currently in use."),
		idle:             d("idle_connections", "Connections idle in the pool."),
		total:            d("total_connections", "Connections open (acquired, idle and being opened)."),
		constructing:     d("constructing_connections", "Connections being opened."),
		max:              d("max_connections", "Most connections the pool will open."),
		acquires:         d("acquires_total", "Connections acquired from the pool."),
		acquireSeconds:   d("acquire_duration_seconds_total", "Total time spent acquiring connections."),
		emptyAcquires:    d("empty_acquires_total", "Acquires that had to wait for a connection because none was idle."),
		canceledAcquires: d("canceled_acquires_total", "Acquires canceled by their context before getting a connection."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.total, c.constructing, c.max,
		c.acquires, c.acquireSeconds, c.emptyAcquires, c.canceledAcquires} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.acquired, float64(s.AcquiredConns()))
	gauge(c.idle, float64(s.IdleConns()))
	gauge(c.total, float64(s.TotalConns()))
	gauge(c.constructing, float64(s.ConstructingConns()))
	gauge(c.max, float64(s.MaxConns()))
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.acquireSeconds, s.AcquireDuration().Seconds())
	counter(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	counter(c.canceledAcquires, float64(s.CanceledAcquireCount()))
}
