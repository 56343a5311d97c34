package edge_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// TestEditingAReusablePolicyReachesEveryAppThatLinksIt: apps link a
// reusable policy compiled once in the snapshot, so editing it must change
// what the edge does on each app that links it, and on no other.
func TestEditingAReusablePolicyReachesEveryAppThatLinksIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var p access.Policy
	e.api.MustCall(t, "POST", "access/policies", pol("open", "bypass", rules(t, `{"everyone":{}}`)), &p)
	link := map[string]any{"policies": []string{p.ID}}
	one := e.app(t, host(t, "one"), link)
	two := e.app(t, host(t, "two"), link)
	other := e.app(t, host(t, "other"), nil, pol("all", "bypass", rules(t, `{"everyone":{}}`)))
	get := func(app access.App) int {
		t.Helper()
		resp, _ := e.edge.Do(t, e.edge.Request(t, "GET", app.Domain, "/", nil))
		return resp.StatusCode
	}
	for _, app := range []access.App{one, two, other} {
		if code := get(app); code != 200 {
			t.Fatalf("%s before the edit: %d", app.Name, code)
		}
	}

	// Bypass now only for an address the test client does not have.
	e.api.MustCall(t, "PUT", "access/policies/"+p.ID, pol("open", "bypass", rules(t, `{"ip":{"ip":"192.0.2.0/24"}}`)), nil)
	e.edge.Sync(t, e.api.Store)
	reached := len(e.origin.Requests())
	for _, app := range []access.App{one, two} {
		if code := get(app); code == 200 {
			t.Errorf("%s after the edit: still let through", app.Name)
		}
	}
	if n := len(e.origin.Requests()); n != reached {
		t.Errorf("the origin saw %d requests after the edit", n-reached)
	}
	if code := get(other); code != 200 {
		t.Errorf("%s after the edit: %d", other.Name, code)
	}
}
