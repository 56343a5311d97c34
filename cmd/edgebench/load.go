package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/accesslog"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
)

const (
	bareName       = "bare reverse proxy"
	sessionName    = "edge (session cookie)"
	sessionLogName = "edge (session cookie, access log on)"
)

// target is one server under load and the request it is sent.
type target struct {
	name       string
	proxied    bool // answered by the origin through a proxy (compared with bare)
	newRequest func(ctx context.Context) (*http.Request, error)
	wantStatus int
	wantBody   []byte // nil: not checked
	wantHeader string // a response header that must be present, if set
	// accessLog, if set, is the access log the target writes; its rows
	// written in the measured windows are counted.
	accessLog *accesslog.Logger
}

// targets returns the selected load targets, in the order they run.
func (s *stack) targets(names []string) ([]target, error) {
	all := map[string]target{
		"bare": {
			name: bareName, proxied: true, wantStatus: http.StatusOK, wantBody: originBody,
			newRequest: s.request(s.bareURL, http.MethodGet, nil),
		},
		"bare-cookie": {
			name: bareName + " + cookie", proxied: true, wantStatus: http.StatusOK, wantBody: originBody,
			newRequest: s.request(s.bareURL, http.MethodGet, s.withSession),
		},
		"session": {
			name: sessionName, proxied: true, wantStatus: http.StatusOK, wantBody: originBody,
			newRequest: s.request(s.edgeURL, http.MethodGet, func(r *http.Request) {
				r.Host = appHost
				s.withSession(r)
			}),
		},
		"session-log": {
			name: sessionLogName, proxied: true, wantStatus: http.StatusOK, wantBody: originBody, accessLog: s.accessLog,
			newRequest: s.request(s.logEdgeURL, http.MethodGet, func(r *http.Request) {
				r.Host = appHost
				s.withSession(r)
			}),
		},
		"token": {
			name: "edge (service token)", proxied: true, wantStatus: http.StatusOK, wantBody: originBody,
			newRequest: s.request(s.edgeURL, http.MethodGet, func(r *http.Request) {
				r.Host = appHost
				r.Header.Set(wire.HeaderClientID, s.token.ClientID)
				r.Header.Set(wire.HeaderClientSecret, s.token.ClientSecret)
			}),
		},
		"preflight": {
			name: "edge (CORS preflight)", wantStatus: http.StatusNoContent, wantHeader: "Access-Control-Max-Age",
			newRequest: s.request(s.edgeURL, http.MethodOptions, setPreflight),
		},
	}
	var out []target
	for _, n := range targetNames {
		if slices.Contains(names, n) {
			out = append(out, all[n])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no load targets selected")
	}
	return out, nil
}

// request returns a constructor of method requests to /bench/items on
// server, finished by set.
func (s *stack) request(server, method string, set func(*http.Request)) func(context.Context) (*http.Request, error) {
	return func(ctx context.Context) (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, method, server+"/bench/items?page=1", nil)
		if err != nil {
			return nil, err
		}
		if set != nil {
			set(r)
		}
		return r, nil
	}
}

// withSession adds the session cookie to r.
func (s *stack) withSession(r *http.Request) {
	r.AddCookie(&http.Cookie{Name: wire.CookieName, Value: s.session})
}

// setPreflight makes r a CORS preflight for the benchmark app that its
// settings allow, so that the edge answers it.
func setPreflight(r *http.Request) {
	r.Host = appHost
	r.Header.Set("Origin", webOrigin)
	r.Header.Set("Access-Control-Request-Method", preflightMethod)
	r.Header.Set("Access-Control-Request-Headers", preflightHeader)
}

// newLoadClient returns a keep-alive client that never follows redirects,
// so that a login redirect counts as an error.
func newLoadClient(t *http.Transport) *http.Client {
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// probe sends the target's request once and checks the answer, so that a
// broken setup fails before anything is measured.
func (t target) probe(ctx context.Context) error {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, err := t.newRequest(ctx)
	if err != nil {
		return err
	}
	resp, err := newLoadClient(tr).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode != t.wantStatus:
		return fmt.Errorf("status %d, want %d: %.300s", resp.StatusCode, t.wantStatus, body)
	case t.wantBody != nil && !bytes.Equal(body, t.wantBody):
		return fmt.Errorf("body %.300q, want the origin's", body)
	case t.wantHeader != "" && resp.Header.Get(t.wantHeader) == "":
		return fmt.Errorf("no %s header", t.wantHeader)
	}
	return nil
}

// result is one target's measurement.
type result struct {
	name       string
	proxied    bool
	requests   int
	errors     int
	firstError string
	window     time.Duration // measured time
	cpuTime    time.Duration // CPU time this process used in the window
	p50, p99   time.Duration
	// Access log targets: rows written in the window, and rows dropped
	// and still waiting when the run ended.
	logged, dropped uint64
	waiting         int
	logs            bool
}

func (r result) rate() float64 { return float64(r.requests) / r.window.Seconds() }

// cpus is how many CPUs this process kept busy on average.
func (r result) cpus() float64 { return float64(r.cpuTime) / float64(r.window) }

// cpuPerRequest is the CPU time of the whole process (client, servers,
// origin) per request: unlike req/s, it barely moves when other processes
// take CPU time.
func (r result) cpuPerRequest() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.cpuTime / time.Duration(r.requests)
}

// load is a target with its closed-loop clients, measured over one or
// more runs.
type load struct {
	target
	transport *http.Transport
	workers   []*worker
	window    time.Duration
	cpuTime   time.Duration
	logged    uint64
}

// worker is one closed-loop client: it sends its next request as soon as
// the previous answer has been read.
type worker struct {
	client     *http.Client
	req        *http.Request
	latencies  []time.Duration
	errors     int
	firstError string
}

// newLoad prepares concurrency keep-alive clients for t, sharing one
// connection pool.
func newLoad(ctx context.Context, t target, concurrency int) (*load, error) {
	l := &load{target: t, transport: &http.Transport{MaxIdleConnsPerHost: concurrency, DisableCompression: true}}
	for range concurrency {
		req, err := t.newRequest(ctx)
		if err != nil {
			return nil, err
		}
		l.workers = append(l.workers, &worker{client: newLoadClient(l.transport), req: req, latencies: make([]time.Duration, 0, 1<<14)})
	}
	return l, nil
}

func (l *load) close() { l.transport.CloseIdleConnections() }

// written is the access log's count of rows written, or 0 without one.
func (l *load) written() uint64 {
	if l.accessLog == nil {
		return 0
	}
	return l.accessLog.Written()
}

// run puts the clients on the target for warmup unmeasured, then for
// duration, recording the latency of every request sent in that window.
// Non-2xx answers and transport failures are errors.
func (l *load) run(ctx context.Context, warmup, duration time.Duration) error {
	start := time.Now().Add(warmup)
	end := start.Add(duration)
	var wg sync.WaitGroup
	for _, w := range l.workers {
		wg.Go(func() { w.loop(start, end) })
	}
	sleepUntil(ctx, start)
	written0 := l.written()
	cpu, ok := cpuTimeBetween(ctx, start, end)
	l.logged += l.written() - written0
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	l.window += duration
	if ok {
		l.cpuTime += cpu
	}
	return nil
}

// cpuTimeBetween waits until end and returns the CPU time this process
// used from start to end.
func cpuTimeBetween(ctx context.Context, start, end time.Time) (time.Duration, bool) {
	sleepUntil(ctx, start)
	cpu0, ok := processCPU()
	sleepUntil(ctx, end)
	cpu1, _ := processCPU()
	return cpu1 - cpu0, ok
}

func sleepUntil(ctx context.Context, t time.Time) {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}

// loop sends requests until end, recording those sent from start on. A
// request is reused once its answer has been read, as net/http allows.
func (w *worker) loop(start, end time.Time) {
	for {
		sent := time.Now()
		if !sent.Before(end) || w.req.Context().Err() != nil {
			return
		}
		err := w.roundTrip()
		if sent.Before(start) {
			continue
		}
		w.latencies = append(w.latencies, time.Since(sent))
		if err != nil {
			w.errors++
			if w.firstError == "" {
				w.firstError = err.Error()
			}
		}
	}
}

func (w *worker) roundTrip() error {
	resp, err := w.client.Do(w.req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// result summarizes every run so far.
func (l *load) result() result {
	r := result{name: l.name, proxied: l.proxied, window: l.window, cpuTime: l.cpuTime, logged: l.logged}
	if l.accessLog != nil {
		r.logs, r.dropped, r.waiting = true, l.accessLog.Dropped(), l.accessLog.QueueDepth()
	}
	var all []time.Duration
	for _, w := range l.workers {
		all = append(all, w.latencies...)
		r.errors += w.errors
		if r.firstError == "" {
			r.firstError = w.firstError
		}
	}
	slices.Sort(all)
	r.requests = len(all)
	r.p50 = percentile(all, 0.50)
	r.p99 = percentile(all, 0.99)
	return r
}

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
