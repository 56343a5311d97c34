package edge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestLoaderLastErrorIsSetWhileTheDatabaseIsAwayAndClearedAfter(t *testing.T) {
	t.Parallel()
	viaCutter, cutter := gatehousetest.StoreVia(t)
	e := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: viaCutter, ReloadInterval: 100 * time.Millisecond})
	waitFor := func(what string, ok func(msg string, at time.Time) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			msg, at := e.Loader.LastError()
			if ok(msg, at) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("loader's last error never %s: %q at %v", what, msg, at)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("empty after the first load", func(msg string, _ time.Time) bool { return msg == "" })
	cut := time.Now()
	cutter.Cut()
	waitFor("set", func(msg string, at time.Time) bool {
		return strings.HasPrefix(msg, "database unreachable") && !at.Before(cut)
	})
	cutter.Restore()
	waitFor("cleared", func(msg string, at time.Time) bool { return msg == "" && at.IsZero() })
}
