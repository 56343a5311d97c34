package edge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/accesslog"
	"github.com/gatehouse-dev/gatehouse/internal/edge"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// TestAccessLogKeepsTheRequestPathWithoutTheQuery: each entry has the
// request's path as it was sent; the query string, which may hold
// secrets, is never stored; a long path is cut.
func TestAccessLogKeepsTheRequestPathWithoutTheQuery(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	logger := accesslog.New(a.Store, accesslog.Config{FlushInterval: 20 * time.Millisecond, Log: quiet})
	logged(t, logger)
	e := &env{api: a, edge: gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, Observers: []edge.Observer{logger}}),
		origin: gatehousetest.StartOrigin(t)}
	h := host(t, "paths")
	e.app(t, h, nil, pol("all", "bypass", rules(t, `{"everyone":{}}`)))

	long := "/" + strings.Repeat("a", 2*access.MaxLoggedPathLen)
	want := map[string]string{} // ray -> path
	for _, target := range []string{"/reports/2026/q1.csv?token=s3cret&x=1", "/caf%C3%A9/%20x", long} {
		resp, _ := e.edge.DoRaw(t, "GET", h, target, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", target, resp.StatusCode)
		}
		p, _, _ := strings.Cut(target, "?")
		want[resp.Header.Get("Cf-Ray")] = p
	}
	entries := accessLogs(t, a, "", len(want))
	for _, got := range entries {
		p, ok := want[got.RayID]
		if !ok {
			continue
		}
		if p == long {
			if len(got.Path) > access.MaxLoggedPathLen || !strings.HasPrefix(long, got.Path) || len(got.Path) < access.MaxLoggedPathLen-3 {
				t.Errorf("long path logged as %d bytes", len(got.Path))
			}
		} else if got.Path != p {
			t.Errorf("path %q, want %q", got.Path, p)
		}
		if strings.Contains(got.Path, "s3cret") {
			t.Error("the query string was logged")
		}
		delete(want, got.RayID)
	}
	if len(want) != 0 {
		t.Errorf("not logged: %v", want)
	}
}
