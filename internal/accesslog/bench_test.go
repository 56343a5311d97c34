package accesslog

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/edge"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// BenchmarkObserve is the access log's cost on the request path: a copy
// of the record into the batch being filled.
func BenchmarkObserve(b *testing.B) {
	l := New(nil, Config{Capacity: 4096, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rec := &edge.Record{Time: time.Now(), RayID: "0123abcd1f", AccountID: "acct", AppID: "6f1c0c4e-0000-4000-8000-000000000000",
		AppDomain: "app.example.test", Action: edge.ActionAllow, Allowed: true, Reason: policy.ReasonAllowPolicy,
		Email: "ann@example.test", Connection: "idp", IP: netip.MustParseAddr("192.0.2.1"), Method: "GET", UpstreamStatus: 200}
	b.ReportAllocs()
	for b.Loop() {
		if l.QueueDepth() == 4096 {
			b.StopTimer()
			l.takeQueued(nil)
			b.StartTimer()
		}
		l.Observe(rec)
	}
	if l.Dropped() != 0 {
		b.Fatalf("dropped %d", l.Dropped())
	}
}
