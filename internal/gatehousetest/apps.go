package gatehousetest

import (
	"crypto/rand"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

var (
	hostLabelsMu sync.Mutex
	hostLabels   = map[testing.TB]string{}
)

// Host returns "<name>.<label>.test", where label is RunLabel's: domains
// are unique across accounts, so tests (and reruns with -count=N) must
// never share one.
func Host(tb testing.TB, name string) string { return name + "." + RunLabel(tb) + ".test" }

// RunLabel is a DNS label fixed for one run of one test and random across
// runs.
func RunLabel(tb testing.TB) string {
	hostLabelsMu.Lock()
	label, ok := hostLabels[tb]
	if !ok {
		h := fnv.New64a()
		h.Write([]byte(tb.Name()))
		label = fmt.Sprintf("t%x%s", h.Sum64()&0xffffffff, strings.ToLower(rand.Text()[:8]))
		hostLabels[tb] = label
		tb.Cleanup(func() {
			hostLabelsMu.Lock()
			delete(hostLabels, tb)
			hostLabelsMu.Unlock()
		})
	}
	hostLabelsMu.Unlock()
	return label
}

// CreateApp creates a self-hosted app protecting domain in front of
// origin, with extra app fields and app-scoped policies (in precedence
// order). It does not wait for an edge: call Edge.Sync for that.
func (a *API) CreateApp(tb testing.TB, domain, origin string, fields map[string]any, policies ...map[string]any) access.App {
	tb.Helper()
	body := map[string]any{"type": "self_hosted", "name": domain, "domain": domain, "origin": origin}
	for k, v := range fields {
		body[k] = v
	}
	var app access.App
	a.MustCall(tb, "POST", "access/apps", body, &app)
	for _, p := range policies {
		a.MustCall(tb, "POST", "access/apps/"+app.ID+"/policies", p, nil)
	}
	return app
}
