// Package accesslog records the edge's decisions in PostgreSQL, off the
// request path: the edge hands each Record to a bounded in-memory queue,
// and a single writer drains it in batches with COPY. When the queue is
// full, or the database is away for long, rows are dropped and counted;
// a request is never slowed or failed by its log row.
package accesslog

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/edge"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Defaults of Config.
const (
	DefaultCapacity      = 65536
	DefaultBatchSize     = 1000
	DefaultFlushInterval = 200 * time.Millisecond
	DefaultMaxAge        = 720 * time.Hour
	DefaultMaxRows       = 10_000_000
	DefaultPruneInterval = 5 * time.Minute
	// DrainTimeout bounds writing what is queued when Run stops.
	DrainTimeout = 5 * time.Second
	pruneChunk   = 10_000
	maxBackoff   = 10 * time.Second
)

// Config tunes a Logger. Zero values take the defaults.
type Config struct {
	// Capacity is the queue's length; a record arriving when it is full
	// is dropped.
	Capacity int
	// FlushInterval is how long rows gather before they are written, in
	// batches of at most BatchSize rows.
	BatchSize     int
	FlushInterval time.Duration
	// MaxPending bounds the rows held while the database is failing; the
	// oldest beyond it are dropped. Default: Capacity.
	MaxPending int
	// MaxAge and MaxRows are the retention: older rows, and the oldest
	// rows beyond MaxRows, are deleted every PruneInterval. Negative turns
	// a limit off.
	MaxAge        time.Duration
	MaxRows       int64
	PruneInterval time.Duration
	Log           *slog.Logger
}

// Logger is an edge.Observer that writes an access log row per request.
//
// Records gather in batch-sized buffers under a mutex: a request copies
// its record into a buffer that is warm in the cache, and the writer
// takes whole buffers. (A channel as long as the queue cost the request
// path a cold cache line per record, and the collector a scan of the
// whole queue on every cycle.)
type Logger struct {
	st  *store.Store
	cfg Config

	mu     sync.Mutex
	cur    []edge.Record   // filling
	full   [][]edge.Record // filled, for the writer
	free   [][]edge.Record // written, for reuse
	queued int             // records in cur and full
	wake   chan struct{}   // a buffer filled

	pending atomic.Int64 // rows the writer holds (for a batch, or while the database fails)
	dropped atomic.Uint64
	written atomic.Uint64
}

var _ edge.Observer = (*Logger)(nil)

// New returns a Logger writing to st. Run must be running for rows to be
// written.
func New(st *store.Store, cfg Config) *Logger {
	if cfg.Capacity <= 0 {
		cfg.Capacity = DefaultCapacity
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = max(cfg.Capacity, cfg.BatchSize)
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MaxRows == 0 {
		cfg.MaxRows = DefaultMaxRows
	}
	if cfg.PruneInterval <= 0 {
		cfg.PruneInterval = DefaultPruneInterval
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Logger{st: st, cfg: cfg, wake: make(chan struct{}, 1)}
}

// Observe queues a copy of rec without ever blocking: when the queue is
// full the record is dropped and counted.
func (l *Logger) Observe(rec *edge.Record) {
	l.mu.Lock()
	if l.queued >= l.cfg.Capacity {
		l.mu.Unlock()
		l.dropped.Add(1)
		return
	}
	if l.cur == nil {
		if n := len(l.free); n > 0 {
			l.cur, l.free = l.free[n-1][:0], l.free[:n-1]
		} else {
			l.cur = make([]edge.Record, 0, min(l.cfg.BatchSize, l.cfg.Capacity))
		}
	}
	l.cur = append(l.cur, *rec)
	l.queued++
	filled := len(l.cur) == cap(l.cur)
	if filled {
		l.full = append(l.full, l.cur)
		l.cur = nil
	}
	l.mu.Unlock()
	if filled {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// takeQueued moves every queued record into rows and recycles the
// buffers.
func (l *Logger) takeQueued(rows []access.AccessLogEntry) []access.AccessLogEntry {
	l.mu.Lock()
	full, cur := l.full, l.cur
	l.full, l.cur, l.queued = nil, nil, 0
	l.mu.Unlock()
	if cur != nil {
		full = append(full, cur)
	}
	for _, b := range full {
		for i := range b {
			rows = append(rows, entryOf(&b[i]))
			b[i] = edge.Record{} // let what it names be collected
		}
	}
	l.mu.Lock()
	for _, b := range full {
		if len(l.free) < 4 {
			l.free = append(l.free, b[:0])
		}
	}
	l.mu.Unlock()
	return rows
}

// QueueDepth is the number of rows waiting to be written: queued, and
// held by the writer (for a batch, or while the database fails).
func (l *Logger) QueueDepth() int {
	l.mu.Lock()
	n := l.queued
	l.mu.Unlock()
	return n + int(l.pending.Load())
}

// Dropped is the number of rows dropped since start, because the queue
// was full or the database was away for too long.
func (l *Logger) Dropped() uint64 { return l.dropped.Load() }

// Written is the number of rows written since start.
func (l *Logger) Written() uint64 { return l.written.Load() }

// Run writes queued records until ctx ends, then writes what is left
// (for a few seconds at most), and prunes old rows periodically. A failed
// write is retried with backoff, keeping its rows.
func (l *Logger) Run(ctx context.Context) {
	pruned := make(chan struct{})
	go func() { defer close(pruned); l.pruneLoop(ctx) }()
	defer func() { <-pruned }()

	var pending []access.AccessLogEntry
	var backoff time.Duration
	failing := false
	take := func() {
		pending = l.takeQueued(pending)
		if over := len(pending) - l.cfg.MaxPending; over > 0 {
			pending = append(pending[:0], pending[over:]...)
			l.dropped.Add(uint64(over))
		}
		l.pending.Store(int64(len(pending)))
	}
	tick := time.NewTicker(l.cfg.FlushInterval)
	defer tick.Stop()
	for {
		// Rows wait at most FlushInterval, or until a batch is full; the
		// request path wakes the writer only for a full batch.
		if len(pending) < l.cfg.BatchSize {
			select {
			case <-ctx.Done():
			case <-tick.C:
			case <-l.wake:
			}
		}
		take()
		if ctx.Err() != nil {
			l.final(pending)
			return
		}
		// Batches are written from the front; what is written is cut off
		// once, after the last, or before waiting out a failure.
		done := 0
		for done < len(pending) {
			n := min(len(pending)-done, l.cfg.BatchSize)
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := l.st.InsertAccessLogs(wctx, pending[done:done+n])
			cancel()
			if err == nil {
				done += n
				l.written.Add(uint64(n))
				l.pending.Store(int64(len(pending) - done))
				if failing {
					l.cfg.Log.Info("access log: writing again")
				}
				failing, backoff = false, 0
				continue
			}
			pending = append(pending[:0], pending[done:]...)
			done = 0
			if ctx.Err() != nil {
				l.final(pending)
				return
			}
			if !failing {
				l.cfg.Log.Warn("access log: write failed; keeping rows and retrying", "rows", len(pending), "err", err)
			}
			failing = true
			backoff = min(max(2*backoff, 100*time.Millisecond), maxBackoff)
			// While waiting, keep taking rows from the queue, so that the
			// newest are kept and the oldest dropped.
			wait := time.NewTimer(backoff)
		retry:
			for {
				select {
				case <-ctx.Done():
					wait.Stop()
					l.final(pending)
					return
				case <-wait.C:
					break retry
				case <-tick.C:
					take()
				case <-l.wake:
					take()
				}
			}
		}
		clear(pending) // let the written entries' strings be collected
		pending = pending[:0]
	}
}

// final writes what is pending and queued when Run stops, giving up
// after DrainTimeout.
func (l *Logger) final(pending []access.AccessLogEntry) {
	pending = l.takeQueued(pending)
	if len(pending) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), DrainTimeout)
	defer cancel()
	for len(pending) > 0 {
		n := min(len(pending), l.cfg.BatchSize)
		if err := l.st.InsertAccessLogs(ctx, pending[:n]); err != nil {
			l.dropped.Add(uint64(len(pending)))
			l.cfg.Log.Warn("access log: rows lost at shutdown", "rows", len(pending), "err", err)
			break
		}
		l.written.Add(uint64(n))
		pending = pending[n:]
	}
	l.pending.Store(0)
}

// Prune deletes rows beyond the retention once.
func (l *Logger) Prune(ctx context.Context) (int64, error) {
	return l.st.PruneAccessLogs(ctx, max(l.cfg.MaxAge, 0), max(l.cfg.MaxRows, 0), pruneChunk)
}

func (l *Logger) pruneLoop(ctx context.Context) {
	if l.cfg.MaxAge < 0 && l.cfg.MaxRows < 0 {
		return
	}
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := l.Prune(ctx); err != nil {
			if ctx.Err() == nil {
				l.cfg.Log.Warn("access log: prune failed", "err", err)
			}
		} else if n > 0 {
			l.cfg.Log.Info("access log: pruned", "rows", n)
		}
		t.Reset(l.cfg.PruneInterval)
	}
}

func ipString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// entryOf turns an edge record into an access log row.
func entryOf(r *edge.Record) access.AccessLogEntry {
	return access.AccessLogEntry{
		CreatedAt:         r.Time,
		RayID:             r.RayID,
		AccountID:         r.AccountID,
		AppUID:            r.AppID,
		AppDomain:         r.AppDomain,
		Action:            r.Action,
		Allowed:           r.Allowed,
		Reason:            string(r.Reason),
		UserEmail:         r.Email,
		Connection:        r.Connection,
		ServiceTokenID:    r.TokenID,
		ServiceTokenName:  r.TokenName,
		NonIdentity:       r.NonIdentity,
		IPAddress:         ipString(r.IP),
		Country:           r.Country,
		Method:            r.Method,
		Path:              r.Path,
		Origin:            r.Origin,
		RequestMethod:     r.RequestMethod,
		RequestHeaders:    r.RequestHeaders,
		UpstreamStatus:    r.UpstreamStatus,
		UpstreamLatencyMS: float64(r.UpstreamLatency.Microseconds()) / 1000,
		DecisionUS:        r.Decision.Microseconds(),

		PurposeJustification: r.Purpose,
	}
}
