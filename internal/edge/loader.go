package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
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

// Loader keeps the edge's State current. It loads it at start, then
// follows the control plane's change feed: on a notification (LISTEN/
// NOTIFY), or at the periodic version check, it applies the changes
// since its version to its snapshot, and loads everything when the feed
// cannot say what changed. When the database is unreachable it keeps the
// last State (fail static) and catches up when it returns.
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

	// saver, if set, persists what was applied (the on-disk state).
	saver Saver

	// unverified is set while the State was read from the state
	// directory and not yet checked against the database (see update).
	unverified atomic.Bool

	// applied holds a wake-up after each new State (see Applied).
	applied chan struct{}
}

// Saver persists what the loader applies, so that a restarted edge can
// serve it before the database answers. Its methods must not block: the
// loader calls them after each swap.
type Saver interface {
	// SaveBase records the whole config, as loaded, and its keys.
	SaveBase(cfg access.Config, keys *session.Keyring)
	// SaveDelta records changes applied on top of what was saved.
	SaveDelta(d access.Delta)
	// SaveKeys records a new keyring.
	SaveKeys(keys *session.Keyring)
}

// NewLoader returns a loader; interval is the period of the safety-net
// version check (and of reconnect attempts while the database is away).
func NewLoader(st *store.Store, keys *session.KeyStore, log *slog.Logger, interval time.Duration) *Loader {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	return &Loader{store: st, keys: keys, log: log, interval: interval, applied: make(chan struct{}, 1)}
}

// Applied receives after a new State is swapped in. Wake-ups coalesce:
// however many States were applied since the last receive, one is
// pending. It has one reader, the registry, which reports the new
// version at once instead of at its next heartbeat.
func (l *Loader) Applied() <-chan struct{} { return l.applied }

// signalApplied leaves a wake-up on applied unless one is pending.
func (l *Loader) signalApplied() {
	select {
	case l.applied <- struct{}{}:
	default:
	}
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

// useSaved makes snap (read from the state directory) the State to
// serve until the database answers, with keys if they were saved too
// (nil otherwise: the first update loads them). OnApply sees it as an
// apply that took took (reading and compiling the state).
func (l *Loader) useSaved(snap *policy.Snapshot, keys *session.Keyring, took time.Duration) {
	st := &State{Snap: snap, Keys: keys, LoadedAt: time.Now()}
	l.state.Store(st)
	l.unverified.Store(true)
	l.signalApplied()
	if l.OnApply != nil {
		l.OnApply(st, took)
	}
}

// Load reads the whole config from the database, compiles it and swaps
// it in. On failure the previous State stays.
func (l *Loader) Load(ctx context.Context) error { return l.full(ctx, time.Time{}, "") }

// full is Load for a notification that arrived at notifiedAt (zero for
// none), with why the change feed was not used.
func (l *Loader) full(ctx context.Context, notifiedAt time.Time, why string) error {
	start := time.Now()
	cfg, err := l.store.LoadConfig(ctx)
	if err != nil {
		return err
	}
	keys, err := l.keys.Load(ctx)
	if err != nil {
		return fmt.Errorf("edge: load signing keys: %w", err)
	}
	var prev *policy.Snapshot
	if st := l.state.Load(); st != nil {
		prev = st.Snap
	}
	snap, err := policy.Compile(cfg)
	if err != nil {
		return fmt.Errorf("edge: compile config version %d: %w", cfg.Version, err)
	}
	l.swap(prev, snap, keys, notifiedAt, start, "full", why)
	l.unverified.Store(false)
	if l.saver != nil {
		l.saver.SaveBase(cfg, keys)
	} else {
		// The config read is garbage now, as large as the snapshot or
		// larger: give its memory back to the system rather than keep
		// it as heap for the next full load (with a saver, the saver
		// does this once the config is written).
		go debug.FreeOSMemory()
	}
	return nil
}

// update brings the State up to the latest version: it applies the
// changes since the current version (the change feed) and falls back to a
// full load when the feed does not reach back that far or the changes do
// not apply.
func (l *Loader) update(ctx context.Context, notifiedAt time.Time) error {
	st := l.state.Load()
	if st == nil {
		return l.full(ctx, notifiedAt, "no config yet")
	}
	if l.unverified.Load() {
		// The saved state's versions are the database's only if the
		// database has the history they came from. One restored from a
		// backup and written to since may be past the saved version on
		// another history: its feed would not say that a token or an
		// app the saved state holds is gone. So the first time the
		// database answers, the edge loads it whole (serving the saved
		// state meanwhile); from then on it follows the feed.
		return l.full(ctx, notifiedAt, "the saved state is checked against the database once")
	}
	start := time.Now()
	from := st.Snap.Version
	d, err := l.store.Changes(ctx, from)
	switch {
	case errors.Is(err, store.ErrFeedGap):
		return l.full(ctx, notifiedAt, fmt.Sprintf("the change feed does not reach back to version %d", from))
	case err != nil:
		return fmt.Errorf("edge: read changes after version %d: %w", from, err)
	}
	snap := st.Snap
	if d.To > from {
		if snap, err = st.Snap.Apply(d); err != nil {
			return l.full(ctx, notifiedAt, fmt.Sprintf("changes %d..%d did not apply: %v", d.From, d.To, err))
		}
	}
	keys := st.Keys
	if keys == nil || d.SigningKeys || l.keyRetired() {
		if keys, err = l.keys.Load(ctx); err != nil {
			return fmt.Errorf("edge: load signing keys: %w", err)
		}
	}
	if snap == st.Snap && keys == st.Keys {
		l.setError(nil) // up to date and the database answers
		return nil
	}
	l.swap(st.Snap, snap, keys, notifiedAt, start, "delta", "")
	if l.saver != nil {
		if keys != st.Keys {
			l.saver.SaveKeys(keys)
		}
		if d.To > from {
			l.saver.SaveDelta(d)
		}
	}
	return nil
}

// swap makes snap and keys the State and reports it.
func (l *Loader) swap(prev, snap *policy.Snapshot, keys *session.Keyring, notifiedAt, start time.Time, mode, why string) {
	for _, bad := range newInvalidDomains(prev, snap) {
		l.log.Error("stored app domain is not a valid app domain: its host is closed (answers 503) until the app is updated",
			"app_id", bad.AppID, "domain", bad.Domain, "err", bad.Err)
	}
	st := &State{Snap: snap, Keys: keys, LoadedAt: time.Now(), NotifiedAt: notifiedAt}
	l.state.Store(st)
	l.setError(nil)
	took := time.Since(start)
	attrs := []any{"version", snap.Version, "apps", snap.Apps(), "mode", mode, "took", took}
	if why != "" {
		attrs = append(attrs, "why", why)
	}
	l.log.Info("config applied", attrs...)
	l.signalApplied()
	if l.OnApply != nil {
		l.OnApply(st, took)
	}
}

// kept records a failed update: the State stays as it was.
func (l *Loader) kept(err error) {
	if err != nil {
		l.log.Error("reload failed: keeping the last config", "version", l.version(), "err", err)
		l.setError(err)
	}
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

// listen holds one LISTEN connection and updates the State on every
// notification of a newer version and on the periodic check. A burst of
// notifications is applied at once: while one update runs, those that
// arrive are drained into one pending wake-up. It returns when the
// connection or the database fails.
func (l *Loader) listen(ctx context.Context) error {
	connectCtx, cancel := context.WithTimeout(ctx, l.interval+5*time.Second)
	ln, err := l.store.Listen(connectCtx)
	cancel()
	if err != nil {
		return err
	}
	defer ln.Close()
	// Catch up on anything committed while not listening.
	if err := l.check(ctx); err != nil {
		return err
	}

	waitCtx, stopWaiting := context.WithCancel(ctx)
	var latest atomic.Int64            // the newest version announced since the last update
	pending := make(chan time.Time, 1) // when the oldest unhandled notification arrived
	failed := make(chan error, 1)
	var waiter sync.WaitGroup
	waiter.Go(func() {
		for {
			v, err := ln.Wait(waitCtx)
			if err != nil {
				failed <- err
				return
			}
			if v < 0 {
				v = math.MaxInt64 // no version given: check
			}
			for cur := latest.Load(); v > cur && !latest.CompareAndSwap(cur, v); cur = latest.Load() {
			}
			select {
			case pending <- time.Now():
			default: // already pending: the update to come covers this one
			}
		}
	})
	defer func() { stopWaiting(); waiter.Wait() }()

	tick := time.NewTicker(l.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			return err
		case arrived := <-pending:
			if latest.Swap(-1) > l.version() {
				l.kept(l.update(ctx, arrived))
			}
		case <-tick.C:
			if err := l.check(ctx); err != nil {
				return err
			}
		}
	}
}

// keyRetired reports whether a signing key in the current State has
// reached its retirement: reloading drops it, so its tokens stop working
// even if no config change comes along.
func (l *Loader) keyRetired() bool {
	st := l.state.Load()
	if st == nil || st.Keys == nil {
		return false
	}
	next := st.Keys.NextRetirement()
	return !next.IsZero() && !time.Now().Before(next)
}

// check is the periodic safety net: it reads the latest version and
// updates when the State is behind it, has no keys yet, was read from
// the state directory and not yet checked, or holds a retired key. It fails only when the database does not answer.
func (l *Loader) check(ctx context.Context) error {
	qctx, cancel := context.WithTimeout(ctx, l.interval+5*time.Second)
	v, err := l.store.ConfigVersion(qctx)
	cancel()
	if err != nil {
		return err
	}
	st := l.state.Load()
	if st != nil && v < st.Snap.Version {
		// A database behind the config enforced: restored from a backup,
		// or another database than the saved state came from. Its
		// versions say nothing about ours: load it whole.
		l.kept(l.full(ctx, time.Time{}, fmt.Sprintf("the database is at version %d, behind the %d enforced", v, st.Snap.Version)))
		return nil
	}
	if st == nil || v > st.Snap.Version || st.Keys == nil || l.unverified.Load() || l.keyRetired() {
		l.kept(l.update(ctx, time.Time{}))
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
