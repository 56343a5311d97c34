package edge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/version"
)

// Registry reports this edge to the control plane: a heartbeat with the
// config version it enforces, when it last reloaded and its last error,
// so that operators can see whether a change has reached every edge.
// Heartbeats never affect serving: a failed one is logged and retried.
type Registry struct {
	store  *store.Store
	loader *Loader
	log    *slog.Logger
	self   access.EdgeStatus

	// SweepAfter is how long the row of an edge that stopped without
	// deleting it is kept; each registry sweeps such rows now and then.
	SweepAfter time.Duration
}

// NewRegistry returns a registry for the edge described by self (ID,
// Hostname, Addr, Version, StartedAt), reporting loader's state.
func NewRegistry(st *store.Store, loader *Loader, log *slog.Logger, self access.EdgeStatus) *Registry {
	return &Registry{store: st, loader: loader, log: log, self: self, SweepAfter: time.Hour}
}

// InstanceID returns a new instance id for an edge on hostname: the
// hostname and a random suffix, so that restarts and several edges on one
// host are told apart.
func InstanceID(hostname string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hostname + "-" + hex.EncodeToString(b)
}

// Self describes this process as an edge listening on addr: a new
// instance id, the hostname, the binary's version and commit (see
// package version) and the start time (now).
func Self(addr string) access.EdgeStatus {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "edge"
	}
	return access.EdgeStatus{ID: InstanceID(host), Hostname: host, Addr: addr, Version: version.Get().Short(), StartedAt: time.Now().UTC()}
}

// ID is the instance id the registry reports.
func (r *Registry) ID() string { return r.self.ID }

// Run sends a heartbeat at once and then every interval (default 5s)
// until ctx ends, then deletes the edge's row. It also sends one as soon
// as the loader applies a new config, so that status shows the version
// the edge enforces without waiting for the interval; heartbeats are sent
// one at a time, and the applies during one coalesce into the next.
func (r *Registry) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	// A heartbeat may wait a little longer than the interval for a slow
	// database, never forever.
	timeout := max(interval, 5*time.Second)
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	var nextSweep time.Time
	for {
		// Shutdown does not cancel a heartbeat in flight: a cancelled
		// statement may still commit on the server after the row's
		// delete below, and bring the edge back to the list until it
		// goes stale. The timeout still bounds it.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		err := r.store.UpsertEdgeHeartbeat(hctx, r.status())
		if err == nil && time.Now().After(nextSweep) {
			if _, serr := r.store.DeleteStaleEdges(hctx, r.SweepAfter); serr != nil {
				r.log.Warn("edge registry: sweep stale edges", "err", serr)
			}
			nextSweep = time.Now().Add(time.Minute)
		}
		cancel()
		switch {
		case ctx.Err() != nil:
		case err != nil:
			r.log.Warn("edge heartbeat failed; retrying", "instance", r.self.ID, "err", err, "retry_in", interval)
			failing = true
		case failing:
			r.log.Info("edge heartbeat recovered", "instance", r.self.ID)
			failing = false
		}
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := r.store.DeleteEdge(dctx, r.self.ID); err != nil {
				r.log.Warn("edge registry: delete own row on shutdown", "instance", r.self.ID, "err", err)
			}
			cancel()
			return
		case <-t.C:
		case <-r.loader.Applied():
		}
	}
}

// status is the heartbeat: who the edge is and what it enforces now.
func (r *Registry) status() access.EdgeStatus {
	s := r.self
	s.ConfigVersion = -1
	if st := r.loader.State(); st != nil {
		s.ConfigVersion = st.Snap.Version
		loaded := st.LoadedAt.UTC()
		s.LastReloadAt = &loaded
	}
	s.LastError, _ = r.loader.LastError()
	return s
}
