package edge_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestAnotherAccountCannotCaptureAHostsTraffic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := host(t, "svc")
	appA := e.app(t, svc, nil, pol("staff", "allow", rules(t, `{"email":{"email":"ann@a.test"}}`)))

	// Account B, with its own origin and a policy that lets everyone in,
	// tries every form that would have won the longest-prefix match for
	// some of A's requests.
	b := gatehousetest.NewAPIOn(t, e.api.Store)
	originB := gatehousetest.StartOrigin(t)
	var open access.Policy
	b.MustCall(t, "POST", "access/policies", pol("open", "bypass", rules(t, `{"everyone":{}}`)), &open)
	for _, d := range []string{svc + "/x", svc + "/admin/sub", "*." + svc, "*." + gatehousetest.RunLabel(t) + ".test", "*.test"} {
		resp := b.Call(t, "POST", "access/apps", map[string]any{"type": "self_hosted", "name": d, "domain": d,
			"origin": originB.URL, "policies": []string{open.ID}})
		if resp.Status != http.StatusConflict {
			t.Fatalf("B's app %s: status %d, want 409: %s", d, resp.Status, resp.Body)
		}
	}
	e.edge.Sync(t, e.api.Store)

	cookie := e.edge.MintSession(t, appA.AUD, "ann@a.test", time.Hour)
	for _, tc := range []struct{ host, path string }{
		{svc, "/"}, {svc, "/x"}, {svc, "/x/y"}, {svc, "/admin/sub"}, {"a." + svc, "/"},
	} {
		req := e.edge.Request(t, "GET", tc.host, tc.path, nil)
		req.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: cookie})
		resp, _ := e.edge.Do(t, req)
		if tc.host == svc && resp.StatusCode != http.StatusOK {
			t.Errorf("%s%s with A's session: %d, want A's origin", tc.host, tc.path, resp.StatusCode)
		}
		anon, _ := e.edge.Do(t, e.edge.Request(t, "GET", tc.host, tc.path, nil))
		if anon.StatusCode == http.StatusOK {
			t.Errorf("%s%s without a session: 200", tc.host, tc.path)
		}
	}
	if n := len(originB.Requests()); n != 0 {
		t.Fatalf("B's origin received %d requests for A's host", n)
	}
}
