package accesslog_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/accesslog"
	"github.com/gatehouse-dev/gatehouse/internal/edge"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

func TestMain(m *testing.M) { gatehousetest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func record(account, ray string) *edge.Record {
	return &edge.Record{Time: time.Now(), RayID: ray, AccountID: account, Action: edge.ActionAllow, Allowed: true,
		Reason: policy.ReasonAllowPolicy, Email: "ann@example.test", UpstreamLatency: 1500 * time.Microsecond, Decision: 42 * time.Microsecond}
}

func TestObserveNeverBlocksAndCountsWhatItDrops(t *testing.T) {
	t.Parallel()
	l := accesslog.New(gatehousetest.Store(t), accesslog.Config{Capacity: 4, Log: quiet})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10 {
			l.Observe(record("a", string(rune('a'+i))))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Observe blocked with nobody draining the queue")
	}
	if l.QueueDepth() != 4 || l.Dropped() != 6 || l.Written() != 0 {
		t.Fatalf("depth %d dropped %d written %d", l.QueueDepth(), l.Dropped(), l.Written())
	}
}

func TestRunWritesWhatIsQueuedWhenItStops(t *testing.T) {
	t.Parallel()
	st := gatehousetest.Store(t)
	// Batches would wait an hour: only stopping writes them.
	l := accesslog.New(st, accesslog.Config{FlushInterval: time.Hour, Log: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); l.Run(ctx) }()
	account := uuid.NewString()
	rec := record(account, "r1")
	l.Observe(rec)
	rec.RayID = "r2" // the logger kept a copy
	l.Observe(rec)
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-stopped
	if l.Written() != 2 || l.QueueDepth() != 0 {
		t.Fatalf("written %d, waiting %d", l.Written(), l.QueueDepth())
	}
	got, err := st.ListAccessLogs(context.Background(), account, access.AccessLogQuery{Ascending: true}, access.Page{Page: 1, PerPage: 10})
	if err != nil || len(got) != 2 || got[0].RayID != "r1" || got[1].RayID != "r2" || got[0].UpstreamLatencyMS != 1.5 || got[0].DecisionUS != 42 {
		t.Fatalf("rows %+v %v", got, err)
	}
}
