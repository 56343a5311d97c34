package edge_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// TestGroupEditReachesARunningEdge: a policy using an Access group is
// decided by the group's current rules. Editing the group over the API
// changes the running edge's decisions through the change feed (the
// periodic full reload is an hour away), and an edge restarted from its
// saved state decides by the edited group too.
func TestGroupEditReachesARunningEdge(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	origin := gatehousetest.StartOrigin(t)
	dir := t.TempDir()
	e := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, ReloadInterval: time.Hour, StateDir: dir})
	var g access.Group
	a.MustCall(t, "POST", "access/groups", map[string]any{"name": "on call",
		"include": rules(t, `{"email":{"email":"ann@example.test"}}`)}, &g)
	h := host(t, "app")
	app := a.CreateApp(t, h, origin.URL, nil, pol("on call", "allow", rules(t, `{"group":{"id":"`+g.ID+`"}}`)))
	e.Sync(t, a.Store)

	check := func(t *testing.T, e *gatehousetest.Edge, want map[string]int) {
		t.Helper()
		for email, status := range want {
			req := e.Request(t, "GET", h, "/", nil)
			req.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: e.MintSession(t, app.AUD, email, time.Hour)})
			if resp, body := e.Do(t, req); resp.StatusCode != status {
				t.Errorf("%s: %d %s, want %d", email, resp.StatusCode, body, status)
			}
		}
	}
	check(t, e, map[string]int{"ann@example.test": 200, "bob@example.test": 403})

	// Bob takes over: the same policy, the group edited.
	a.MustCall(t, "PUT", "access/groups/"+g.ID, map[string]any{"name": "on call",
		"include": rules(t, `{"email_domain":{"domain":"example.test"}}`),
		"exclude": rules(t, `{"email":{"email":"ann@example.test"}}`)}, nil)
	e.Sync(t, a.Store)
	check(t, e, map[string]int{"ann@example.test": 403, "bob@example.test": 200, "eve@evil.test": 403})

	// An edge that starts from the saved state has the edited group.
	v := e.Loader.State().Snap.Version
	waitForSavedState(t, dir, v)
	e.Started.Stop()
	// Other tests share the database: the edge may have applied their
	// changes too before it stopped and saved its last state.
	v = e.Loader.State().Snap.Version
	second := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, ReloadInterval: time.Hour, StateDir: dir})
	if second.Started.Restored != v {
		t.Fatalf("restored version %d, want %d (state files %v)", second.Started.Restored, v, dir)
	}
	check(t, second, map[string]int{"ann@example.test": 403, "bob@example.test": 200})
}
