package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// State is what the edge enforces: a compiled snapshot and the signing
// keys, swapped together and never modified.
type State struct {
	Snap     *policy.Snapshot
	Keys     *session.Keyring
	LoadedAt time.Time
	// NotifiedAt is when the change notification that caused this load
	// arrived; zero for loads not caused by one (start, periodic check).
	NotifiedAt time.Time
}

// Loader keeps the edge's State current: it loads it at start, then
// follows the control plane's change feed (LISTEN/NOTIFY) with a periodic
// version check as a safety net. When the database is unreachable it keeps
// the last State (fail static) and catches up when it returns.
type Loader struct {
	store    *store.Store
	keys     *session.KeyStore
	log      *slog.Logger
	interval time.Duration
	state    atomic.Pointer[State]

	errMu   sync.Mutex
	lastErr string
	errAt   time.Time

	// OnApply, if set, is called after each new State is swapped in.
	OnApply func(*State, time.Duration)
}

// NewLoader returns a loader; interval is the period of the safety-net
// version check (and of reconnect attempts while the database is away).
func NewLoader(st *store.Store, keys *session.KeyStore, log *slog.Logger, interval time.Duration) *Loader {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	return &Loader{store: st, keys: keys, log: log, interval: interval}
}

// State returns the current state; nil before the first Load.
func (l *Loader) State() *State { return l.state.Load() }

// LastError returns the loader's current problem following the config (a
// failed reload, the database unreachable) and when it happened, or ""
// when the last attempt succeeded.
func (l *Loader) LastError() (string, time.Time) {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.lastErr, l.errAt
}

// setError records err as the current problem; nil clears it.
func (l *Loader) setError(err error) {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	if err == nil {
		l.lastErr, l.errAt = "", time.Time{}
		return
	}
	l.lastErr, l.errAt = err.Error(), time.Now()
}

// Load builds a new State from the database and swaps it in. On failure
// the previous State stays.
func (l *Loader) Load(ctx context.Context) error { return l.load(ctx, time.Time{}) }

// load is Load for a change notification that arrived at notifiedAt.
func (l *Loader) load(ctx context.Context, notifiedAt time.Time) error {
	start := time.Now()
	cfg, err := l.store.LoadConfig(ctx)
	if err != nil {
		return err
	}
	keys, err := l.keys.Load(ctx)
	if err != nil {
		return fmt.Errorf("edge: load signing keys: %w", err)
	}
	// Rebuild from the current snapshot: apps whose inputs did not change
	// are reused as they are, the rest compiled afresh.
	var prev *policy.Snapshot
	if st := l.state.Load(); st != nil {
		prev = st.Snap
	}
	snap, err := policy.CompileFrom(prev, cfg)
	if err != nil {
		return fmt.Errorf("edge: compile config version %d: %w", cfg.Version, err)
	}
	for _, bad := range newInvalidDomains(prev, snap) {
		l.log.Error("stored app domain is not a valid app domain: its host is closed (answers 503) until the app is updated",
			"app_id", bad.AppID, "domain", bad.Domain, "err", bad.Err)
	}
	st := &State{Snap: snap, Keys: keys, LoadedAt: time.Now(), NotifiedAt: notifiedAt}
	l.state.Store(st)
	l.setError(nil)
	took := time.Since(start)
	l.log.Info("config applied", "version", snap.Version, "apps", snap.Apps(), "reused", snap.Reused(), "took", took)
	if l.OnApply != nil {
		l.OnApply(st, took)
	}
	return nil
}

func (l *Loader) version() int64 {
	if st := l.state.Load(); st != nil {
		return st.Snap.Version
	}
	return -1
}

// Run follows the change feed until ctx ends.
func (l *Loader) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := l.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		l.log.Error("database unreachable: serving the last config (fail static)", "version", l.version(), "err", err, "retry_in", backoff)
		l.setError(fmt.Errorf("database unreachable: %w", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, l.interval)
	}
}

// listen holds one LISTEN connection, reloading on every notification of a
// newer version and on the periodic check. It returns when the
// connection fails.
func (l *Loader) listen(ctx context.Context) error {
	cfg := l.store.Pool().Config().ConnConfig.Copy()
	connectCtx, cancel := context.WithTimeout(ctx, l.interval+5*time.Second)
	conn, err := pgx.ConnectConfig(connectCtx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+store.ConfigChannel); err != nil {
		return err
	}
	// Catch up on anything committed while not listening.
	if err := l.checkVersion(ctx, conn); err != nil {
		return err
	}
	for {
		waitCtx, cancel := context.WithTimeout(ctx, l.interval)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		arrived := time.Now()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			v, perr := strconv.ParseInt(n.Payload, 10, 64)
			if perr != nil || v > l.version() {
				if err := l.load(ctx, arrived); err != nil {
					l.log.Error("reload failed: keeping the last config", "version", l.version(), "err", err)
					l.setError(err)
				}
			}
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			if err := l.checkVersion(ctx, conn); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// keyRetired reports whether a signing key in the current State has
// reached its retirement: reloading drops it, so its tokens stop working
// even if no config change comes along.
func (l *Loader) keyRetired() bool {
	st := l.state.Load()
	if st == nil {
		return false
	}
	next := st.Keys.NextRetirement()
	return !next.IsZero() && !time.Now().Before(next)
}

func (l *Loader) checkVersion(ctx context.Context, conn *pgx.Conn) error {
	var v int64
	qctx, cancel := context.WithTimeout(ctx, l.interval+5*time.Second)
	defer cancel()
	if err := conn.QueryRow(qctx, `SELECT version FROM config_state`).Scan(&v); err != nil {
		return err
	}
	if v > l.version() || l.keyRetired() {
		if err := l.Load(ctx); err != nil {
			l.log.Error("reload failed: keeping the last config", "version", l.version(), "err", err)
			l.setError(err)
		}
	} else {
		l.setError(nil) // up to date and the database answers
	}
	return nil
}

// newInvalidDomains are snap's invalid stored domains that prev did not
// have: each is logged once, not on every periodic reload.
func newInvalidDomains(prev, snap *policy.Snapshot) []policy.InvalidDomain {
	seen := map[string]bool{}
	if prev != nil {
		for _, d := range prev.InvalidDomains() {
			seen[d.AppID+" "+d.Domain] = true
		}
	}
	var out []policy.InvalidDomain
	for _, d := range snap.InvalidDomains() {
		if !seen[d.AppID+" "+d.Domain] {
			out = append(out, d)
		}
	}
	return out
}
