package edge

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// LastSeen collects when service tokens were used and writes them in
// batches, so no request waits for the database.
type LastSeen struct {
	seen  sync.Map // token id -> time.Time
	store *store.Store
	log   *slog.Logger
}

// NewLastSeen returns a recorder that writes to st.
func NewLastSeen(st *store.Store, log *slog.Logger) *LastSeen {
	return &LastSeen{store: st, log: log}
}

func (l *LastSeen) touch(id string, now time.Time) {
	if l == nil {
		return
	}
	l.seen.Store(id, now)
}

// Flush writes everything recorded so far.
func (l *LastSeen) Flush(ctx context.Context) {
	batch := map[string]time.Time{}
	l.seen.Range(func(k, v any) bool {
		batch[k.(string)] = v.(time.Time)
		l.seen.CompareAndDelete(k, v)
		return true
	})
	if err := l.store.TouchServiceTokens(ctx, batch); err != nil {
		l.log.Warn("record service token last_seen_at", "err", err, "tokens", len(batch))
	}
}

// Run flushes every interval until ctx ends, then once more.
func (l *LastSeen) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			l.Flush(flushCtx)
			cancel()
			return
		case <-t.C:
			l.Flush(ctx)
		}
	}
}
